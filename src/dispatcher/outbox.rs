//! Durable, ordered delivery of the dispatcher's reports: kept in the database ([`Entries`])
//! until Slack has them, delivered in order per channel by whichever process holds that
//! channel's lease, retried through Slack outages however long they last.
//!
//! A report is written to the outbox table before anything is tried, and deleted once Slack
//! has taken it (what its delivery leads to, such as the link that calls tech support, is
//! added in the same transaction), so a report outlives a crash, a restart or the replica that
//! made it: any live dispatcher delivers what is left ([`Outbox::recover`]). Delivery is
//! at-least-once: a process killed between Slack's answer and the delete posts that one entry
//! again. Each channel with entries has a worker that takes the channel's lease and delivers
//! the entries one at a time, oldest first. A report that fails transiently
//! ([`SlackError::is_transient`]: HTTP 429 or 5xx, `ratelimited`, no connection) is tried again
//! under the one retry policy ([`crate::slack::retry`]): after Slack's `Retry-After` when it gave
//! one, never earlier, else after a jittered backoff from [`FIRST_BACKOFF`] doubling up to
//! [`MAX_BACKOFF`]; entries behind it in its channel wait, other channels do not. A report Slack
//! refuses for good (`channel_not_found`, `invalid_blocks`...) is kept, marked, for inspection
//! (`bennettbot outbox`), and noted once in the logs channel.
//!
//! A job's end reports are written by the queue in the transaction that records its end, then
//! handed here ([`Outbox::deliver_kept`]); other reports are written here ([`Outbox::send`]).
//! A sender waits until its report is delivered, has failed, or its channel is waiting out an
//! outage or is delivered by another process ("stalled"): with Slack down, jobs are not held
//! up. The channel lease lasts at most [`MAX_LEASE`], renewed while delivering and given up
//! when the channel has nothing left, so a process that dies holds its channels up that long.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::entries::{decode, encode, Entries, Report};
use super::report::{could_not_notify, truncate_chars, MAX_QUOTED_CHARS};
use crate::queue::QueueError;
use crate::slack::retry::Policy;
use crate::slack::{OutgoingMessage, PostedMessage, SlackApi, SlackError};

/// The first wait before a report that failed transiently is tried again.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The longest backoff between tries (Slack's `Retry-After` may ask for longer): short enough
/// that reports follow within seconds of Slack coming back.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The longest a channel's delivery lease lasts unless renewed: how long a process that
/// died delivering holds up that channel's reports.
pub const MAX_LEASE: Duration = Duration::from_secs(15);

/// How long a worker waits before looking again at a channel another process delivers, or
/// after the database failed.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// How often a delivered entry's delete is tried before it is left (and, at worst, posted
/// again by the next worker: delivery is at-least-once).
const SETTLE_TRIES: u32 = 5;

/// What a sender learns about its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Slack took it (a post's message, if it was one).
    Delivered(Option<PostedMessage>),
    /// Slack refused it: kept, marked, and noted.
    Failed,
    /// Its channel is waiting out an outage, or is delivered by another process: it is
    /// delivered later, in order.
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

/// Completes once the channel is stalled; never if its lane is gone.
async fn stalled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stalled| *stalled).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A sender waiting on an entry.
struct Waiter {
    channel: String,
    done: oneshot::Sender<Settled>,
}

/// One channel's delivery.
struct Lane {
    worker: Option<AbortHandle>,
    /// An entry was added while the worker ran: it looks again before it ends.
    again: bool,
    /// The report being delivered, described.
    in_flight: Option<String>,
    /// Whether the head report is waiting to be retried, or another process delivers.
    stalled: watch::Sender<bool>,
}

impl Lane {
    fn new() -> Self {
        Lane {
            worker: None,
            again: false,
            in_flight: None,
            stalled: watch::Sender::new(false),
        }
    }
}

/// What one step of a channel's worker did.
enum Step {
    /// An entry was delivered or refused: look for the next.
    Done,
    /// Nothing left to deliver.
    Empty,
    /// Another process holds the channel's lease, or the database failed: look again later.
    Wait,
}

struct Inner<S, E> {
    slack: Arc<S>,
    entries: E,
    /// This process's name on the channels' leases.
    owner: String,
    /// How long a channel's lease lasts unless renewed (renewed every third of it while a
    /// worker delivers; given up when the channel has nothing left).
    lease: Duration,
    /// Where reports that failed for good are noted.
    notes_channel: String,
    lanes: Mutex<HashMap<String, Lane>>,
    /// Senders waiting on entries, by entry id.
    waiting: Mutex<HashMap<i64, Waiter>>,
    /// How many entries this process's senders wait on.
    pending: watch::Sender<usize>,
}

/// The dispatcher's outbox: reports kept in `E` (the queue) until Slack has them.
pub struct Outbox<S, E> {
    inner: Arc<Inner<S, E>>,
}

impl<S: SlackApi, E: Entries> Outbox<S, E> {
    /// Delivers through `slack` what is kept in `entries`, as `owner` on the channels' leases
    /// (held for `lease` unless renewed), noting failures in `notes_channel`.
    pub fn new(
        slack: Arc<S>,
        entries: E,
        owner: String,
        lease: Duration,
        notes_channel: String,
    ) -> Self {
        Outbox {
            inner: Arc::new(Inner {
                slack,
                entries,
                owner,
                lease: lease.min(MAX_LEASE),
                notes_channel,
                lanes: Mutex::new(HashMap::new()),
                waiting: Mutex::new(HashMap::new()),
                pending: watch::Sender::new(0),
            }),
        }
    }

    /// Keeps `report` behind its channel's earlier ones, and waits until it is delivered, has
    /// failed, or its channel stalls. A report the database cannot keep is delivered from
    /// memory, retried for at most [`UNKEPT_GIVE_UP`].
    pub async fn send(&self, report: Report) -> Sent {
        match Inner::enqueue(&self.inner, &report).await {
            Ok(ticket) => ticket.wait().await,
            Err(error) => {
                tracing::error!(%error, report = %truncate_chars(&report.describe(), MAX_QUOTED_CHARS), "could not keep a report in the outbox; delivering it from memory");
                self.inner.deliver_unkept(&report).await
            }
        }
    }

    /// Delivers entries kept already (`(id, channel)`, in the order they were added), and
    /// waits as [`Outbox::send`] does for each.
    pub async fn deliver_kept(&self, kept: &[(i64, &str)]) {
        let tickets: Vec<Ticket> = kept
            .iter()
            .map(|(id, channel)| Inner::watch(&self.inner, *id, channel))
            .collect();
        for ticket in tickets {
            ticket.wait().await;
        }
    }

    /// Starts delivering every channel with entries left (by a crash, a restart, or another
    /// replica that died): at start and now and then.
    pub async fn recover(&self) {
        match self.inner.entries.channels().await {
            Ok(channels) => {
                for channel in channels {
                    Inner::wake(&self.inner, &channel);
                }
            }
            Err(error) => tracing::warn!(%error, "could not look for reports left in the outbox"),
        }
    }

    /// Waits until this process's senders' reports are delivered or failed, or `until`; then
    /// stops delivering. What is left stays in the outbox for the next start or another
    /// replica.
    pub async fn drain(&self, until: Instant) {
        let mut pending = self.inner.pending.subscribe();
        // Mapped at once: the borrow `wait_for` returns would hold `pending` read-locked.
        let drained = tokio::time::timeout_at(until, pending.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|waited| waited.is_ok());
        let channels: Vec<String> = {
            let mut lanes = self.inner.lanes();
            for (channel, lane) in lanes.iter_mut() {
                if let Some(worker) = lane.worker.take() {
                    worker.abort();
                }
                if let Some(what) = lane.in_flight.take() {
                    tracing::warn!(%channel, report = %truncate_chars(&what, MAX_QUOTED_CHARS), "shutting down: report not delivered yet, kept in the outbox");
                }
            }
            lanes.keys().cloned().collect()
        };
        // Nothing of this process delivers any more: the next process need not wait out
        // its leases.
        for channel in channels {
            if let Err(error) = self
                .inner
                .entries
                .release(&channel, &self.inner.owner)
                .await
            {
                tracing::warn!(%channel, %error, "could not give up the channel's outbox lease; it runs out by itself");
            }
        }
        if !drained {
            let left = self.inner.waiting().len();
            tracing::warn!(left, "shutting down with reports Slack has not taken: they stay in the outbox and are delivered after a restart, or by another replica");
        }
        self.inner.waiting().clear();
        self.inner.pending.send_replace(0);
    }
}

/// How long a report the database could not keep is retried from memory.
pub const UNKEPT_GIVE_UP: Duration = Duration::from_secs(60);

impl<S: SlackApi, E: Entries> Inner<S, E> {
    fn lanes(&self) -> MutexGuard<'_, HashMap<String, Lane>> {
        // A panic elsewhere cannot leave a lane half-changed: every change is one statement.
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn waiting(&self) -> MutexGuard<'_, HashMap<i64, Waiter>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `report` and starts its channel's worker if it has none.
    async fn enqueue(this: &Arc<Self>, report: &Report) -> Result<Ticket, QueueError> {
        let channel = report.channel();
        let id = this.entries.add(encode(report.clone())).await?;
        Ok(Self::watch(this, id, channel))
    }

    /// A ticket for entry `id` of `channel`, whose worker is started if need be.
    fn watch(this: &Arc<Self>, id: i64, channel: &str) -> Ticket {
        let (done, rx) = oneshot::channel();
        let waiter = Waiter {
            channel: channel.to_string(),
            done,
        };
        let waiting = {
            let mut waiting = this.waiting();
            waiting.insert(id, waiter);
            waiting.len()
        };
        this.pending.send_replace(waiting);
        Ticket {
            done: rx,
            stalled: Self::wake(this, channel),
        }
    }

    /// Makes sure `channel` has a worker; returns its stalled flag.
    fn wake(this: &Arc<Self>, channel: &str) -> watch::Receiver<bool> {
        let mut lanes = this.lanes();
        let lane = lanes.entry(channel.to_string()).or_insert_with(Lane::new);
        if lane.worker.is_none() {
            let worker = tokio::spawn(Self::work(this.clone(), channel.to_string()));
            lane.worker = Some(worker.abort_handle());
        } else {
            lane.again = true;
        }
        lane.stalled.subscribe()
    }

    /// Delivers `channel`'s entries in order until none is left.
    async fn work(this: Arc<Self>, channel: String) {
        loop {
            let step = tokio::select! {
                step = Self::step(&this, &channel) => step,
                never = this.keep_holding(&channel) => match never {},
            };
            match step {
                Step::Done => {}
                Step::Wait => {
                    this.set_stalled(&channel, true);
                    tokio::time::sleep(LOOK_AGAIN).await;
                }
                Step::Empty => {
                    // Let go at once: a process that dies later leaves this channel free.
                    if let Err(error) = this.entries.release(&channel, &this.owner).await {
                        tracing::warn!(%channel, %error, "could not give up the channel's outbox lease; it runs out by itself");
                    }
                    let mut lanes = this.lanes();
                    let Some(lane) = lanes.get_mut(&channel) else {
                        return;
                    };
                    if std::mem::take(&mut lane.again) {
                        continue;
                    }
                    lane.worker = None;
                    lane.stalled.send_replace(false);
                    drop(lanes);
                    // Whatever this process's senders still wait on here was delivered by
                    // another process: they hear no more (as for an outage).
                    let mut waiting = this.waiting();
                    waiting.retain(|_, w| w.channel != channel);
                    this.pending.send_replace(waiting.len());
                    return;
                }
            }
        }
    }

    /// Renews `channel`'s lease while its worker delivers, however long Slack keeps it
    /// waiting (a `Retry-After` may be longer than the lease), so no other process comes in.
    async fn keep_holding(&self, channel: &str) -> std::convert::Infallible {
        loop {
            tokio::time::sleep(self.lease / 3).await;
            match self.entries.hold(channel, &self.owner, self.lease).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(%channel, "another process took the channel's outbox lease while this one delivered")
                }
                Err(error) => {
                    tracing::warn!(%channel, %error, "could not renew the channel's outbox lease")
                }
            }
        }
    }

    /// Delivers `channel`'s first entry, if this process may.
    async fn step(this: &Arc<Self>, channel: &str) -> Step {
        // The lease first, then the entry: what is read under the lease is what no other
        // process delivers (one that let go had deleted what it delivered).
        match this.entries.hold(channel, &this.owner, this.lease).await {
            Ok(true) => {}
            Ok(false) => return Step::Wait,
            Err(error) => {
                tracing::warn!(%channel, %error, "could not take the channel's outbox lease");
                return Step::Wait;
            }
        }
        let entry = match this.entries.next(channel).await {
            Ok(Some(entry)) => entry,
            Ok(None) => return Step::Empty,
            Err(error) => {
                tracing::warn!(%channel, %error, "could not read the outbox; trying again");
                return Step::Wait;
            }
        };
        let report = match decode(&entry.report, entry.content) {
            Ok(report) => report,
            Err(error) => {
                let error = SlackError::Api {
                    method: "outbox".into(),
                    error: format!("unreadable entry {}: {error}", entry.id),
                };
                Self::refuse(this, entry.id, channel, &error, &entry.report).await;
                return Step::Done;
            }
        };
        let what = report.describe();
        if let Some(lane) = this.lanes().get_mut(channel) {
            lane.in_flight = Some(what.clone());
        }
        let result = this
            .retrying(channel, &what, || this.attempt(&report))
            .await;
        if let Some(lane) = this.lanes().get_mut(channel) {
            lane.in_flight = None;
        }
        match result {
            Ok(posted) => Self::delivered(this, entry.id, &report, posted).await,
            Err(error) => Self::refuse(this, entry.id, channel, &error, &what).await,
        }
        Step::Done
    }

    /// Deletes delivered entry `id` with what it leads to (a link to a post that asks for
    /// one), and tells its sender.
    async fn delivered(this: &Arc<Self>, id: i64, report: &Report, posted: Option<PostedMessage>) {
        let follow_up = match (report, &posted) {
            (
                Report::Post {
                    link_in: Some(link_channel),
                    ..
                },
                Some(message),
            ) => Some(Report::Link {
                channel: link_channel.clone(),
                to: message.clone(),
            }),
            _ => None,
        };
        let then = follow_up.clone().map(encode);
        let mut settled = None;
        for attempt in 1..=SETTLE_TRIES {
            match this.entries.settle(id, then.clone()).await {
                Ok(then_id) => {
                    settled = Some(then_id);
                    break;
                }
                Err(error) => {
                    tracing::warn!(id, attempt, %error, "Slack took a report, but it could not be marked delivered");
                    tokio::time::sleep(LOOK_AGAIN).await;
                }
            }
        }
        let then_ticket = match (settled, follow_up) {
            (Some(Some(then_id)), Some(follow_up)) => {
                Some(Self::follow(this, id, then_id, follow_up.channel()))
            }
            (None, _) => {
                tracing::error!(
                    id,
                    "a report Slack took stays in the outbox: it may be posted twice"
                );
                None
            }
            _ => None,
        };
        this.settle_waiter(id, Ok(posted), then_ticket);
    }

    /// Keeps entry `id`, which Slack refused for good, and notes it in the logs channel
    /// (unless it was for that channel: noting a failed note would only fail again).
    async fn refuse(this: &Arc<Self>, id: i64, channel: &str, error: &SlackError, what: &str) {
        tracing::error!(%channel, %error, original = %truncate_chars(what, MAX_QUOTED_CHARS), "could not notify Slack; the report is kept in the outbox");
        let note = (channel != this.notes_channel).then(|| {
            encode(Report::Post {
                message: OutgoingMessage {
                    channel: this.notes_channel.clone(),
                    thread_ts: None,
                    text: could_not_notify(error, what),
                    blocks: None,
                },
                link_in: None,
            })
        });
        let then = match this.entries.fail(id, &error.to_string(), note).await {
            Ok(Some(note_id)) => Some(Self::follow(this, id, note_id, &this.notes_channel)),
            Ok(None) => None,
            Err(store) => {
                tracing::error!(id, error = %store, "could not mark a refused report in the outbox");
                None
            }
        };
        this.settle_waiter(id, Err(error.clone()), then);
    }

    /// A ticket for `then_id`, which entry `id` led to, if a sender waits on `id`; else just
    /// its channel woken.
    fn follow(this: &Arc<Self>, id: i64, then_id: i64, channel: &str) -> Ticket {
        let waited = this.waiting().contains_key(&id);
        if waited {
            Self::watch(this, then_id, channel)
        } else {
            // No one to tell; the ticket is dropped and the entry still delivered.
            let (_done, rx) = oneshot::channel();
            Ticket {
                done: rx,
                stalled: Self::wake(this, channel),
            }
        }
    }

    /// Tells entry `id`'s sender, if any, how it ended.
    fn settle_waiter(
        &self,
        id: i64,
        result: Result<Option<PostedMessage>, SlackError>,
        then: Option<Ticket>,
    ) {
        let waiter = {
            let mut waiting = self.waiting();
            let waiter = waiting.remove(&id);
            self.pending.send_replace(waiting.len());
            waiter
        };
        if let Some(waiter) = waiter {
            let _ = waiter.done.send(Settled { result, then });
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
            Report::Link { channel, to } => {
                let link = self.slack.permalink(&to.channel, &to.ts).await?;
                let message = OutgoingMessage {
                    channel: channel.clone(),
                    thread_ts: None,
                    text: link,
                    blocks: None,
                };
                self.slack.post_message(message).await.map(Some)
            }
        }
    }

    /// A report the outbox could not keep, delivered from memory for at most
    /// [`UNKEPT_GIVE_UP`].
    async fn deliver_unkept(&self, report: &Report) -> Sent {
        let give_up_at = Instant::now() + UNKEPT_GIVE_UP;
        let result = Policy::durable(FIRST_BACKOFF, MAX_BACKOFF)
            .run(
                || self.attempt(report),
                |_, wait| (Instant::now() + wait <= give_up_at).then_some(wait),
                |_, _| {},
            )
            .await;
        match result {
            Ok(posted) => Sent::Delivered(posted),
            Err(error) => {
                tracing::error!(%error, report = %truncate_chars(&report.describe(), MAX_QUOTED_CHARS), "could not notify Slack; the report was not kept and is lost");
                Sent::Failed
            }
        }
    }

    /// Makes `call` under the Slack retry policy ([`Policy::durable`]) until it succeeds or
    /// fails for good, however long Slack is unavailable; the channel is stalled meanwhile.
    async fn retrying<T, F, Fut>(&self, channel: &str, what: &str, call: F) -> Result<T, SlackError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SlackError>>,
    {
        let result = Policy::durable(FIRST_BACKOFF, MAX_BACKOFF)
            .run(call, |_, wait| Some(wait), |error, wait| {
                self.set_stalled(channel, true);
                tracing::warn!(%channel, %error, wait_ms = wait.as_millis() as u64, report = %truncate_chars(what, 80), "Slack is unavailable; the report will be retried");
            })
            .await;
        self.set_stalled(channel, false);
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
}

#[cfg(test)]
mod tests;
