//! Durable, ordered delivery of the dispatcher's reports: one queue per channel, retried
//! through Slack outages.
//!
//! Each channel with reports to deliver has a worker task that delivers them one at a time,
//! in the order they were made. A report that fails transiently ([`SlackError::is_transient`]:
//! HTTP 429 or 5xx, `ratelimited`, no connection) once the client's own immediate retries
//! (`MAX_SLACK_NOTIFY_RETRIES`) are spent is tried again under the same retry policy
//! ([`crate::slack::retry`]): after Slack's `Retry-After` when it gave one, never earlier, else
//! after a jittered backoff from [`FIRST_BACKOFF`] doubling up to [`MAX_BACKOFF`]. Reports
//! behind it in its channel wait; other channels do not. A report still undelivered
//! [`GIVE_UP_AFTER`] after it was made, or refused for good (any other error), is logged at
//! error level and noted in the logs channel.
//!
//! A sender waits until its report is delivered, has failed, or its channel is waiting out an
//! outage (it is "stalled"): with Slack answering, reports are out before the job's end is
//! recorded, as they always were; with Slack down, jobs are not held up, and their reports
//! follow when Slack is back.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::report::{could_not_notify, truncate_chars, MAX_QUOTED_CHARS};
use crate::slack::retry::Policy;
use crate::slack::{FileUpload, OutgoingMessage, PostedMessage, SlackApi, SlackError};

/// The first wait before a report that failed transiently is tried again.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The longest backoff between tries (Slack's `Retry-After` may ask for longer): short enough
/// that reports follow within seconds of Slack coming back.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How long after it was made a report is given up on, if Slack has not taken it by then.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(15 * 60);

/// Something to deliver to a channel.
#[derive(Debug, Clone)]
pub enum Report {
    /// `chat.postMessage`; with `link_in`, the message's permalink is then posted there.
    Post {
        message: OutgoingMessage,
        link_in: Option<String>,
    },
    /// A file upload.
    Upload(FileUpload),
    /// `reactions.add`
    React {
        channel: String,
        ts: String,
        name: String,
    },
}

impl Report {
    /// The channel it goes to: its queue.
    fn channel(&self) -> &str {
        match self {
            Report::Post { message, .. } => &message.channel,
            Report::Upload(upload) => &upload.channel,
            Report::React { channel, .. } => channel,
        }
    }

    /// What it is, for logs and the `Could not notify slack` note.
    fn describe(&self) -> String {
        match self {
            Report::Post { message, .. } => message.text.clone(),
            Report::Upload(upload) => format!(
                "file {} ({} bytes){}",
                upload.filename,
                upload.content.len(),
                upload
                    .initial_comment
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ),
            Report::React { channel, ts, name } => {
                format!("reaction :{name}: on message {ts} in {channel}")
            }
        }
    }
}

/// What a sender learns about its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Slack took it (a post's message, if it was one).
    Delivered(Option<PostedMessage>),
    /// Slack refused it, or it was given up on: logged and noted.
    Failed,
    /// Its channel is waiting out an outage: it is delivered later, in order.
    Pending,
}

/// How a report ended, and the report it led to (its link, or the failure note), if any.
struct Settled {
    result: Result<Option<PostedMessage>, SlackError>,
    then: Option<Ticket>,
}

/// A sender's hold on a queued report.
struct Ticket {
    done: oneshot::Receiver<Settled>,
    stalled: watch::Receiver<bool>,
}

impl Ticket {
    /// Waits for the report and what it led to, unless a channel on the way stalls.
    async fn wait(mut self) -> Sent {
        let mut first: Option<Sent> = None;
        loop {
            let settled = tokio::select! {
                biased;
                settled = &mut self.done => settled.ok(),
                () = stalled(&mut self.stalled) => None,
            };
            let Some(settled) = settled else {
                return first.unwrap_or(Sent::Pending);
            };
            let sent = first.get_or_insert(match settled.result {
                Ok(posted) => Sent::Delivered(posted),
                Err(_) => Sent::Failed,
            });
            match settled.then {
                Some(next) => self = next,
                None => return sent.clone(),
            }
        }
    }
}

/// Completes once the channel is stalled; never if its queue is gone.
async fn stalled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stalled| *stalled).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A report waiting in its channel's queue.
struct Queued {
    report: Report,
    made: Instant,
    done: oneshot::Sender<Settled>,
}

/// One channel's queue.
struct Lane {
    queue: VecDeque<Queued>,
    /// The report being delivered, described.
    in_flight: Option<String>,
    worker: Option<AbortHandle>,
    /// Whether the head report is waiting to be retried.
    stalled: watch::Sender<bool>,
}

impl Lane {
    fn new() -> Self {
        Lane {
            queue: VecDeque::new(),
            in_flight: None,
            worker: None,
            stalled: watch::Sender::new(false),
        }
    }
}

struct Inner<S> {
    slack: Arc<S>,
    /// Where reports that failed for good are noted.
    notes_channel: String,
    /// Every channel reported to so far (a handful), by channel as addressed.
    lanes: Mutex<HashMap<String, Lane>>,
    /// Reports queued or being delivered.
    pending: watch::Sender<usize>,
}

/// The dispatcher's queues of reports, one per channel.
pub struct Outbox<S> {
    inner: Arc<Inner<S>>,
}

impl<S: SlackApi> Outbox<S> {
    /// Delivers through `slack`, noting failures in `notes_channel`.
    pub fn new(slack: Arc<S>, notes_channel: String) -> Self {
        Outbox {
            inner: Arc::new(Inner {
                slack,
                notes_channel,
                lanes: Mutex::new(HashMap::new()),
                pending: watch::Sender::new(0),
            }),
        }
    }

    /// Queues `report` behind its channel's earlier ones, and waits until it is delivered,
    /// has failed, or its channel stalls.
    pub async fn send(&self, report: Report) -> Sent {
        Inner::enqueue(&self.inner, report).wait().await
    }

    /// Waits until every queued report is delivered or failed, or `until`; then stops
    /// delivering and logs each report left at error level.
    pub async fn drain(&self, until: Instant) {
        let mut pending = self.inner.pending.subscribe();
        let drained = tokio::time::timeout_at(until, pending.wait_for(|n| *n == 0)).await;
        if matches!(drained, Ok(Ok(_))) {
            return;
        }
        let mut lanes = self.inner.lanes();
        for (channel, lane) in lanes.iter_mut() {
            if let Some(worker) = lane.worker.take() {
                worker.abort();
            }
            let left = lane
                .in_flight
                .take()
                .into_iter()
                .chain(lane.queue.drain(..).map(|q| q.report.describe()));
            for what in left {
                tracing::error!(
                    %channel,
                    report = %truncate_chars(&what, MAX_QUOTED_CHARS),
                    "shutting down: report not delivered to Slack, lost"
                );
            }
        }
        self.inner.pending.send_replace(0);
    }
}

impl<S: SlackApi> Inner<S> {
    fn lanes(&self) -> MutexGuard<'_, HashMap<String, Lane>> {
        // A panic elsewhere cannot leave a lane half-changed: every change is one statement.
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `report`, starting its channel's worker if it has none.
    fn enqueue(this: &Arc<Self>, report: Report) -> Ticket {
        let (done, rx) = oneshot::channel();
        let channel = report.channel().to_string();
        let mut lanes = this.lanes();
        let lane = lanes.entry(channel.clone()).or_insert_with(Lane::new);
        lane.queue.push_back(Queued {
            report,
            made: Instant::now(),
            done,
        });
        this.pending.send_modify(|n| *n += 1);
        if lane.worker.is_none() {
            let worker = tokio::spawn(Self::work(this.clone(), channel));
            lane.worker = Some(worker.abort_handle());
        }
        Ticket {
            done: rx,
            stalled: lane.stalled.subscribe(),
        }
    }

    /// Delivers `channel`'s reports in order until its queue is empty.
    async fn work(this: Arc<Self>, channel: String) {
        loop {
            let queued = {
                let mut lanes = this.lanes();
                let Some(lane) = lanes.get_mut(&channel) else {
                    return;
                };
                let Some(queued) = lane.queue.pop_front() else {
                    lane.worker = None;
                    return;
                };
                lane.in_flight = Some(queued.report.describe());
                queued
            };
            let settled = Self::deliver(&this, &channel, queued.report, queued.made).await;
            if let Some(lane) = this.lanes().get_mut(&channel) {
                lane.in_flight = None;
            }
            let _ = queued.done.send(settled);
            this.pending.send_modify(|n| *n = n.saturating_sub(1));
        }
    }

    /// Delivers one report (and, for a linked post, fetches its permalink and queues the link).
    async fn deliver(this: &Arc<Self>, channel: &str, report: Report, made: Instant) -> Settled {
        let give_up_at = made + GIVE_UP_AFTER;
        let what = report.describe();
        let result = this
            .retrying(channel, give_up_at, &what, || this.attempt(&report))
            .await;
        let posted = match result {
            Ok(posted) => posted,
            Err(error) => {
                return Settled {
                    then: Self::note_failure(this, channel, &error, &what),
                    result: Err(error),
                }
            }
        };
        let (
            Report::Post {
                link_in: Some(link_channel),
                ..
            },
            Some(message),
        ) = (report, &posted)
        else {
            return Settled {
                result: Ok(posted),
                then: None,
            };
        };
        let what = format!("permalink of message {} in {}", message.ts, message.channel);
        let link = this
            .retrying(channel, give_up_at, &what, || {
                this.slack.permalink(&message.channel, &message.ts)
            })
            .await;
        let then = match link {
            Ok(link) => Some(Self::enqueue(
                this,
                Report::Post {
                    message: OutgoingMessage {
                        channel: link_channel,
                        thread_ts: None,
                        text: link,
                        blocks: None,
                    },
                    link_in: None,
                },
            )),
            Err(error) => Self::note_failure(this, channel, &error, &what),
        };
        Settled {
            result: Ok(posted),
            then,
        }
    }

    async fn attempt(&self, report: &Report) -> Result<Option<PostedMessage>, SlackError> {
        match report {
            Report::Post { message, .. } => {
                self.slack.post_message(message.clone()).await.map(Some)
            }
            Report::Upload(upload) => self.slack.upload_file(upload.clone()).await.map(|()| None),
            Report::React { channel, ts, name } => self
                .slack
                .add_reaction(channel, ts, name)
                .await
                .map(|()| None),
        }
    }

    /// Makes `call` under the Slack retry policy ([`Policy::durable`]) until it succeeds,
    /// fails for good, or its next try would come after `give_up_at`; the channel is stalled
    /// while a try is awaited.
    async fn retrying<T, F, Fut>(
        &self,
        channel: &str,
        give_up_at: Instant,
        what: &str,
        call: F,
    ) -> Result<T, SlackError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SlackError>>,
    {
        let result = Policy::durable(FIRST_BACKOFF, MAX_BACKOFF)
            .run(
                call,
                |error, wait| {
                    if Instant::now() + wait <= give_up_at {
                        return Some(wait);
                    }
                    tracing::error!(%channel, %error, report = %truncate_chars(what, MAX_QUOTED_CHARS), "giving up on a report Slack has not taken for {} minutes", GIVE_UP_AFTER.as_secs() / 60);
                    None
                },
                |error, wait| {
                    self.set_stalled(channel, true);
                    tracing::warn!(%channel, %error, wait_ms = wait.as_millis() as u64, "Slack is unavailable; the report will be retried");
                },
            )
            .await;
        // Slack answered (or took it): the channel is not stalled, a refused report is just
        // refused. A report given up on leaves the channel as it was.
        if !matches!(&result, Err(error) if error.is_transient()) {
            self.set_stalled(channel, false);
        }
        result
    }

    fn set_stalled(&self, channel: &str, stalled: bool) {
        if let Some(lane) = self.lanes().get(channel) {
            lane.stalled.send_if_modified(|now| {
                let changed = *now != stalled;
                *now = stalled;
                changed
            });
        }
    }

    /// Logs a report that failed for good, and notes it in the logs channel (unless it was
    /// for that channel: noting a failed note would only fail again).
    fn note_failure(
        this: &Arc<Self>,
        channel: &str,
        error: &SlackError,
        what: &str,
    ) -> Option<Ticket> {
        tracing::error!(%channel, %error, original = %truncate_chars(what, MAX_QUOTED_CHARS), "could not notify Slack");
        if channel == this.notes_channel {
            return None;
        }
        let note = OutgoingMessage {
            channel: this.notes_channel.clone(),
            thread_ts: None,
            text: could_not_notify(error, what),
            blocks: None,
        };
        Some(Self::enqueue(
            this,
            Report::Post {
                message: note,
                link_in: None,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Slack whose answers the test scripts, recording every call with its (paused) time.
    #[derive(Default)]
    struct Scripted {
        /// Per channel: errors for the next calls, in order.
        failures: Mutex<HashMap<String, VecDeque<SlackError>>>,
        /// (what, channel, when, succeeded)
        calls: Mutex<Vec<(String, String, Instant, bool)>>,
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

        fn answer(&self, what: String, channel: &str) -> Result<(), SlackError> {
            let error = self
                .failures
                .lock()
                .unwrap()
                .get_mut(channel)
                .and_then(VecDeque::pop_front);
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
        async fn post_message(
            &self,
            message: OutgoingMessage,
        ) -> Result<PostedMessage, SlackError> {
            self.answer(message.text.clone(), &message.channel)?;
            Ok(PostedMessage {
                channel: message.channel,
                ts: format!("1.{}", self.calls.lock().unwrap().len()),
            })
        }

        async fn add_reaction(
            &self,
            channel: &str,
            ts: &str,
            name: &str,
        ) -> Result<(), SlackError> {
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

    fn outbox() -> (Arc<Scripted>, Arc<Outbox<Scripted>>) {
        let slack = Arc::new(Scripted::default());
        (slack.clone(), Arc::new(Outbox::new(slack, "LOGS".into())))
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_channel_keeps_its_order_and_holds_up_no_other() {
        let (slack, outbox) = outbox();
        slack.fail("A", [down(), down(), down(), rate_limited(2)]);
        let started = Instant::now();
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

        outbox.drain(started + GIVE_UP_AFTER).await;
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
    }

    #[tokio::test(start_paused = true)]
    async fn refused_reports_are_not_retried_and_are_noted() {
        let (slack, outbox) = outbox();
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
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_is_given_up_after_the_bound_and_noted() {
        let (slack, outbox) = outbox();
        slack.fail("A", std::iter::repeat_n(down(), 1_000));
        let started = Instant::now();
        assert_eq!(outbox.send(post("A", "lost")).await, Sent::Pending);
        outbox.drain(started + GIVE_UP_AFTER * 2).await;
        let tries = slack.tries("lost");
        let last = *tries.last().unwrap() - started;
        assert!(last <= GIVE_UP_AFTER, "no try after the bound: {last:?}");
        assert!(
            last >= GIVE_UP_AFTER - MAX_BACKOFF,
            "tried until close to the bound: {last:?}"
        );
        let notes = slack.delivered("LOGS");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("HTTP 500"), "{}", notes[0]);
        assert!(
            notes[0].ends_with("Original message:\nlost"),
            "{}",
            notes[0]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_linked_post_is_followed_by_its_permalink_even_after_an_outage() {
        let (slack, outbox) = outbox();
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
        outbox.drain(Instant::now() + Duration::from_secs(60)).await;
        assert_eq!(slack.delivered("A"), ["failed", "permalink of 1.3"]);
        assert_eq!(slack.delivered("TECH"), ["https://slack/A/1.3"]);

        // With Slack answering, the sender hears once the link is posted.
        let sent = outbox.send(report).await;
        assert!(matches!(sent, Sent::Delivered(Some(_))), "{sent:?}");
        assert_eq!(slack.delivered("TECH").len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_drains_until_its_deadline_then_drops_the_rest() {
        let (slack, outbox) = outbox();
        slack.fail("A", std::iter::repeat_n(down(), 1_000));
        assert_eq!(outbox.send(post("A", "stuck")).await, Sent::Pending);
        assert_eq!(outbox.send(post("A", "behind")).await, Sent::Pending);
        let fine = outbox.send(post("B", "fine")).await;
        assert!(matches!(fine, Sent::Delivered(Some(_))), "{fine:?}");
        let until = Instant::now() + Duration::from_secs(10);
        outbox.drain(until).await;
        assert_eq!(
            Instant::now(),
            until,
            "waited for the stalled channel, no longer"
        );
        let tries = slack.tries("stuck").len();
        tokio::time::sleep(MAX_BACKOFF * 2).await;
        assert_eq!(slack.tries("stuck").len(), tries, "delivery stopped");
        assert!(slack.tries("behind").is_empty());
        assert_eq!(*outbox.inner.pending.borrow(), 0);
    }
}
