//! The outbox against a scripted Slack and entries kept in memory (the queue's own tables are
//! tested in each store), on a paused clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::Utc;

use super::*;
use crate::queue::NewEntry;
use crate::queue::OutboxEntry;
use crate::slack::FileUpload;

/// A Slack whose answers the test scripts, recording every call with its (paused) time.
#[derive(Default)]
struct Scripted {
    /// Per channel: errors for the next calls, in order.
    failures: Mutex<HashMap<String, VecDeque<SlackError>>>,
    /// (what, channel, when, succeeded)
    calls: Mutex<Vec<(String, String, Instant, bool)>>,
    /// Every call fails (HTTP 500) until then.
    down_until: Mutex<Option<Instant>>,
}

impl Scripted {
    fn fail(&self, channel: &str, errors: impl IntoIterator<Item = SlackError>) {
        self.failures
            .lock()
            .unwrap()
            .entry(channel.into())
            .or_default()
            .extend(errors);
    }

    /// Slack answers HTTP 500 to every call for `outage`.
    fn fail_all_for(&self, outage: Duration) {
        *self.down_until.lock().unwrap() = Some(Instant::now() + outage);
    }

    fn answer(&self, what: String, channel: &str) -> Result<(), SlackError> {
        let down = self
            .down_until
            .lock()
            .unwrap()
            .is_some_and(|t| Instant::now() < t);
        let error = if down {
            Some(down_error())
        } else {
            self.failures
                .lock()
                .unwrap()
                .get_mut(channel)
                .and_then(VecDeque::pop_front)
        };
        let ok = error.is_none();
        self.calls
            .lock()
            .unwrap()
            .push((what, channel.into(), Instant::now(), ok));
        error.map_or(Ok(()), Err)
    }

    /// What reached `channel` successfully, in order.
    fn delivered(&self, channel: &str) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.1 == channel && c.3)
            .map(|c| c.0.clone())
            .collect()
    }

    /// When each try of `what` came.
    fn tries(&self, what: &str) -> Vec<Instant> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.0 == what)
            .map(|c| c.2)
            .collect()
    }
}

impl SlackApi for Scripted {
    async fn post_message(&self, message: OutgoingMessage) -> Result<PostedMessage, SlackError> {
        self.answer(message.text.clone(), &message.channel)?;
        Ok(PostedMessage {
            channel: message.channel,
            ts: format!("1.{}", self.calls.lock().unwrap().len()),
        })
    }

    async fn add_reaction(&self, channel: &str, ts: &str, name: &str) -> Result<(), SlackError> {
        self.answer(format!(":{name}: on {ts}"), channel)
    }

    async fn upload_file(&self, upload: FileUpload) -> Result<(), SlackError> {
        self.answer(upload.filename, &upload.channel)
    }

    async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        self.answer(format!("permalink of {ts}"), channel)?;
        Ok(format!("https://slack/{channel}/{ts}"))
    }
}

fn down() -> SlackError {
    down_error()
}

fn down_error() -> SlackError {
    SlackError::Unavailable {
        method: "chat.postMessage".into(),
        detail: "HTTP 500 Internal Server Error".into(),
        retry_after: None,
    }
}

fn rate_limited(seconds: u64) -> SlackError {
    SlackError::Unavailable {
        method: "chat.postMessage".into(),
        detail: "HTTP 429 Too Many Requests".into(),
        retry_after: Some(Duration::from_secs(seconds)),
    }
}

fn post(channel: &str, text: &str) -> Report {
    Report::Post {
        message: OutgoingMessage {
            channel: channel.into(),
            text: text.into(),
            ..OutgoingMessage::default()
        },
        link_in: None,
    }
}

/// Entries kept in memory, shared by the outboxes of a test (as processes share a database).
#[derive(Default)]
struct Memory {
    entries: Mutex<Vec<OutboxEntry>>,
    next_id: Mutex<i64>,
    leases: Mutex<HashMap<String, (String, Instant)>>,
}

impl Memory {
    fn insert(&self, entry: NewEntry) -> i64 {
        let mut next = self.next_id.lock().unwrap();
        *next += 1;
        self.entries.lock().unwrap().push(OutboxEntry {
            id: *next,
            channel: entry.channel,
            report: entry.report,
            content: entry.content,
            created_at: Utc::now(),
            failure: None,
        });
        *next
    }

    /// Entries left, as (channel, failure).
    fn left(&self) -> Vec<(String, Option<String>)> {
        let entries = self.entries.lock().unwrap();
        entries
            .iter()
            .map(|e| (e.channel.clone(), e.failure.clone()))
            .collect()
    }
}

impl Entries for Arc<Memory> {
    async fn add(&self, entry: NewEntry) -> Result<i64, QueueError> {
        Ok(self.insert(entry))
    }

    async fn next(&self, channel: &str) -> Result<Option<OutboxEntry>, QueueError> {
        let entries = self.entries.lock().unwrap();
        Ok(entries
            .iter()
            .find(|e| e.channel == channel && e.failure.is_none())
            .cloned())
    }

    async fn settle(&self, id: i64, then: Option<NewEntry>) -> Result<Option<i64>, QueueError> {
        self.entries.lock().unwrap().retain(|e| e.id != id);
        Ok(then.map(|t| self.insert(t)))
    }

    async fn fail(
        &self,
        id: i64,
        failure: &str,
        note: Option<NewEntry>,
    ) -> Result<Option<i64>, QueueError> {
        for e in self
            .entries
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|e| e.id == id)
        {
            e.failure = Some(failure.into());
        }
        Ok(note.map(|n| self.insert(n)))
    }

    async fn channels(&self) -> Result<Vec<String>, QueueError> {
        let mut channels: Vec<String> = (self.entries.lock().unwrap().iter())
            .filter(|e| e.failure.is_none())
            .map(|e| e.channel.clone())
            .collect();
        channels.dedup();
        Ok(channels)
    }

    async fn hold(&self, channel: &str, owner: &str, ttl: Duration) -> Result<bool, QueueError> {
        let mut leases = self.leases.lock().unwrap();
        let now = Instant::now();
        match leases.get(channel) {
            Some((holder, until)) if holder != owner && *until > now => Ok(false),
            _ => {
                leases.insert(channel.into(), (owner.into(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn release(&self, channel: &str, owner: &str) -> Result<(), QueueError> {
        let mut leases = self.leases.lock().unwrap();
        if leases
            .get(channel)
            .is_some_and(|(holder, _)| holder == owner)
        {
            leases.remove(channel);
        }
        Ok(())
    }
}

const LEASE: Duration = Duration::from_secs(12);

fn outbox_on(
    slack: &Arc<Scripted>,
    memory: &Arc<Memory>,
    owner: &str,
) -> Outbox<Scripted, Arc<Memory>> {
    Outbox::new(
        slack.clone(),
        memory.clone(),
        owner.into(),
        LEASE,
        "LOGS".into(),
    )
}

fn outbox() -> (Arc<Scripted>, Arc<Memory>, Outbox<Scripted, Arc<Memory>>) {
    let slack = Arc::new(Scripted::default());
    let memory = Arc::new(Memory::default());
    let outbox = outbox_on(&slack, &memory, "one");
    (slack, memory, outbox)
}

/// Runs the paused clock on until `done`, or panics after an hour of it.
async fn until(what: &str, done: impl Fn() -> bool) {
    let limit = Instant::now() + Duration::from_secs(3600);
    while !done() {
        assert!(Instant::now() < limit, "an hour passed without {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_channel_keeps_its_order_and_holds_up_no_other() {
    let (slack, memory, outbox) = outbox();
    slack.fail("A", [down(), down(), down(), rate_limited(2)]);
    assert_eq!(outbox.send(post("A", "a1")).await, Sent::Pending);
    assert_eq!(outbox.send(post("A", "a2")).await, Sent::Pending);
    let react = Report::React {
        channel: "A".into(),
        ts: "1.1".into(),
        name: "x".into(),
    };
    assert_eq!(outbox.send(react).await, Sent::Pending);
    let b = outbox.send(post("B", "b1")).await;
    assert!(matches!(b, Sent::Delivered(Some(_))), "{b:?}");
    assert!(slack.delivered("A").is_empty());

    outbox
        .drain(Instant::now() + Duration::from_secs(600))
        .await;
    assert_eq!(slack.delivered("A"), ["a1", "a2", ":x: on 1.1"]);
    assert_eq!(slack.delivered("B"), ["b1"]);
    let a1 = slack.tries("a1");
    assert_eq!(a1.len(), 5, "four failures, then delivered");
    let waits: Vec<Duration> = a1.windows(2).map(|w| w[1] - w[0]).collect();
    for (i, wait) in waits[..3].iter().enumerate() {
        let backoff = FIRST_BACKOFF * 2u32.pow(i as u32);
        assert!(
            *wait >= backoff / 2 && *wait <= backoff,
            "try {i}: {wait:?}"
        );
    }
    assert!(
        waits[3] >= Duration::from_secs(2),
        "Retry-After honoured: {waits:?}"
    );
    let a2 = slack.tries("a2");
    assert_eq!(a2.len(), 1, "a2 waited behind a1, then went at once");
    assert!(a2[0] >= *a1.last().unwrap(), "a2 waited behind a1");
    assert!(slack.delivered("LOGS").is_empty(), "nothing was lost");
    assert!(memory.left().is_empty(), "delivered entries are deleted");
}

#[tokio::test(start_paused = true)]
async fn refused_reports_are_kept_marked_and_noted_once() {
    let (slack, memory, outbox) = outbox();
    let refused = SlackError::Api {
        method: "chat.postMessage".into(),
        error: "channel_not_found".into(),
    };
    slack.fail("A", [refused]);
    assert_eq!(outbox.send(post("A", "hello")).await, Sent::Failed);
    assert_eq!(slack.tries("hello").len(), 1);
    let notes = slack.delivered("LOGS");
    assert_eq!(notes.len(), 1, "noted before the sender hears: {notes:?}");
    assert!(notes[0].starts_with("Could not notify slack: Slack API chat.postMessage failed: channel_not_found\nOriginal message:\nhello"), "{}", notes[0]);
    let next = outbox.send(post("A", "next")).await;
    assert!(matches!(next, Sent::Delivered(Some(_))), "{next:?}");
    assert_eq!(slack.delivered("A"), ["next"]);
    assert_eq!(
        memory.left(),
        [(
            "A".to_string(),
            Some("Slack API chat.postMessage failed: channel_not_found".to_string())
        )],
        "kept for inspection"
    );
}

#[tokio::test(start_paused = true)]
async fn twenty_minutes_of_outage_lose_nothing_and_keep_each_channels_order() {
    let (slack, memory, outbox) = outbox();
    slack.fail_all_for(Duration::from_secs(20 * 60));
    for i in 0..5 {
        for channel in ["A", "B"] {
            let sent = outbox.send(post(channel, &format!("{channel}{i}"))).await;
            assert_eq!(sent, Sent::Pending);
        }
    }
    until("every report delivered", || {
        slack.delivered("A").len() == 5 && slack.delivered("B").len() == 5
    })
    .await;
    assert_eq!(slack.delivered("A"), ["A0", "A1", "A2", "A3", "A4"]);
    assert_eq!(slack.delivered("B"), ["B0", "B1", "B2", "B3", "B4"]);
    let first = slack.tries("A0");
    assert!(
        *first.last().unwrap() - first[0] >= Duration::from_secs(20 * 60),
        "tried through the outage"
    );
    assert!(slack.delivered("LOGS").is_empty(), "never given up on");
    assert!(memory.left().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_linked_post_is_followed_by_its_link_even_after_an_outage() {
    let (slack, memory, outbox) = outbox();
    slack.fail("A", [down(), down()]);
    let report = Report::Post {
        message: OutgoingMessage {
            channel: "A".into(),
            text: "failed".into(),
            ..OutgoingMessage::default()
        },
        link_in: Some("TECH".into()),
    };
    assert_eq!(outbox.send(report.clone()).await, Sent::Pending);
    until("the link", || !slack.delivered("TECH").is_empty()).await;
    assert_eq!(slack.delivered("A"), ["failed", "permalink of 1.3"]);
    assert_eq!(slack.delivered("TECH"), ["https://slack/A/1.3"]);

    // With Slack answering, the sender hears once the link is posted.
    let sent = outbox.send(report).await;
    assert!(matches!(sent, Sent::Delivered(Some(_))), "{sent:?}");
    assert_eq!(slack.delivered("TECH").len(), 2);
    assert!(memory.left().is_empty());
}

#[tokio::test(start_paused = true)]
async fn what_a_stop_leaves_is_delivered_by_the_next_process_once() {
    let (slack, memory, outbox) = outbox();
    slack.fail("A", std::iter::repeat_n(down(), 6));
    assert_eq!(outbox.send(post("A", "stuck")).await, Sent::Pending);
    assert_eq!(outbox.send(post("A", "behind")).await, Sent::Pending);
    let until_at = Instant::now() + Duration::from_secs(2);
    outbox.drain(until_at).await;
    assert_eq!(
        Instant::now(),
        until_at,
        "waited for the stalled channel, no longer"
    );
    let tries = slack.tries("stuck").len();
    tokio::time::sleep(MAX_BACKOFF * 2).await;
    assert_eq!(slack.tries("stuck").len(), tries, "delivery stopped");
    assert_eq!(memory.left().len(), 2, "both kept");

    assert!(
        memory.leases.lock().unwrap().is_empty(),
        "a stopped process lets its leases go"
    );

    // A process that died delivering the channel holds it up until its lease runs out; then
    // another process (a restart, or a replica) delivers what is left, in order, once.
    let died_at = Instant::now();
    memory
        .leases
        .lock()
        .unwrap()
        .insert("A".into(), ("dead".into(), died_at + LEASE));
    let next = outbox_on(&slack, &memory, "two");
    next.recover().await;
    until("the kept reports", || slack.delivered("A").len() == 2).await;
    assert_eq!(slack.delivered("A"), ["stuck", "behind"]);
    assert!(
        Instant::now() >= died_at + LEASE,
        "the dead process's lease was respected"
    );
    assert!(memory.left().is_empty());
}

#[tokio::test(start_paused = true)]
async fn two_processes_never_deliver_one_channel_at_once() {
    let slack = Arc::new(Scripted::default());
    let memory = Arc::new(Memory::default());
    let one = outbox_on(&slack, &memory, "one");
    let two = outbox_on(&slack, &memory, "two");
    slack.fail("A", [down(), down()]);
    assert_eq!(one.send(post("A", "first")).await, Sent::Pending);
    // The second process's report waits behind the first's, which holds the lease.
    assert_eq!(two.send(post("A", "second")).await, Sent::Pending);
    until("both", || slack.delivered("A").len() == 2).await;
    assert_eq!(slack.delivered("A"), ["first", "second"]);
    assert_eq!(
        slack.tries("second").len(),
        1,
        "delivered once, by one process"
    );
    let upload = Report::Upload(FileUpload {
        channel: "B".into(),
        thread_ts: None,
        filename: "f.txt".into(),
        title: "f".into(),
        content: vec![1, 2, 3],
        initial_comment: None,
    });
    assert!(matches!(two.send(upload).await, Sent::Delivered(None)));
    assert_eq!(slack.delivered("B"), ["f.txt"]);
}
