//! [`Queue`]: the one interface the bot, the webhook server, the dispatcher and the shell use,
//! whatever store holds the queue: SQLite (the embedded default) or PostgreSQL (several
//! hosts). Every method is `async` and never blocks the runtime: the SQLite store's calls
//! (which may wait up to its 5 s busy timeout while another process writes) run on tokio's
//! blocking pool, so Socket Mode acks, pings and HTTP answers stay prompt while the database
//! is locked; the PostgreSQL store is async itself.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::database::Database;
use super::deliveries::QueuedByDelivery;
use super::history::{Finished, HistoryEntry};
use super::job::{Job, NewJob, Removal, Requested, RunId, Scheduled};
use super::outbox::{NewEntry, OutboxEntry};
use super::postgres::{PgStore, MIGRATIONS as POSTGRES_MIGRATIONS};
use super::runs::Reaped;
use super::schedule_runs::{ScheduleClaim, ScheduleRun};
use super::sqlite::{SqliteStore, SCHEMA_VERSION};
use super::status::Status;
use super::suppression::Suppression;
use super::time::start_after;
use super::QueueError;
use crate::config::Args;

/// A handle on the job queue: cheap to clone, safe to share between tasks.
#[derive(Clone, Debug)]
pub struct Queue {
    store: Store,
}

/// The store under a [`Queue`]: each method of `Queue` is one arm per store.
#[derive(Clone, Debug)]
enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// A [`NewJob`] that owns its text, to move onto the blocking pool.
struct OwnedJob {
    job_type: String,
    args: Args,
    channel: String,
    thread_ts: Option<String>,
    message_ts: Option<String>,
    is_im: bool,
    start_after: DateTime<Utc>,
    requester: Option<String>,
}

impl OwnedJob {
    fn new(job: &NewJob<'_>) -> OwnedJob {
        OwnedJob {
            job_type: job.job_type.to_owned(),
            args: job.args.clone(),
            channel: job.channel.to_owned(),
            thread_ts: job.thread_ts.map(str::to_owned),
            message_ts: job.message_ts.map(str::to_owned),
            is_im: job.is_im,
            start_after: job.start_after,
            requester: job.requester.map(str::to_owned),
        }
    }

    fn borrow(&self) -> NewJob<'_> {
        NewJob {
            job_type: &self.job_type,
            args: &self.args,
            channel: &self.channel,
            thread_ts: self.thread_ts.as_deref(),
            message_ts: self.message_ts.as_deref(),
            is_im: self.is_im,
            start_after: self.start_after,
            requester: self.requester.as_deref(),
        }
    }
}

/// Refuses an entry whose file is larger than the outbox keeps.
fn fits(entry: &NewEntry) -> Result<(), QueueError> {
    let bytes = entry.content.as_ref().map_or(0, Vec::len);
    if bytes > super::MAX_ENTRY_CONTENT_BYTES {
        return Err(QueueError::EntryTooLarge(bytes));
    }
    Ok(())
}

impl Queue {
    /// Opens (creating and migrating if needed) the SQLite database at `path`; its directory
    /// must exist. Blocking: call it at start-up, before serving.
    pub fn open(path: &Path) -> Result<Queue, QueueError> {
        Ok(Queue {
            store: Store::Sqlite(SqliteStore::open(path)?),
        })
    }

    /// Opens the store the settings name, creating and migrating its schema if needed.
    pub async fn open_database(database: &Database) -> Result<Queue, QueueError> {
        match database {
            Database::Sqlite(path) => {
                let path = path.clone();
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                    .await
                    .map_err(|_| QueueError::ShuttingDown)??;
                Ok(Queue {
                    store: Store::Sqlite(store),
                })
            }
            Database::Postgres(url) => Ok(Queue {
                store: Store::Postgres(PgStore::connect(url.expose()).await?),
            }),
        }
    }

    /// Which kind of store this is: `"sqlite"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        match &self.store {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// A private in-memory queue, for tests.
    pub fn open_in_memory() -> Result<Queue, QueueError> {
        Ok(Queue {
            store: Store::Sqlite(SqliteStore::open_in_memory()?),
        })
    }

    /// Runs one SQLite store call on the blocking pool.
    async fn blocking<T: Send + 'static>(
        store: &SqliteStore,
        call: impl FnOnce(&SqliteStore) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let store = store.clone();
        match tokio::task::spawn_blocking(move || call(&store)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(QueueError::ShuttingDown),
        }
    }

    /// Resolves when the queue has changed since the last wait (at once if it has), in this
    /// process or, once this has been called, in any other: SQLite's `data_version` is
    /// watched every few milliseconds, PostgreSQL's `NOTIFY` is listened for. Meant for one
    /// waiter, the dispatcher.
    pub fn notified(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        use futures_util::future::{Either, FutureExt};
        match &self.store {
            Store::Sqlite(s) => Either::Left(s.notified()),
            Store::Postgres(p) => Either::Right(p.notified().boxed()),
        }
    }

    /// Changes when another process commits (SQLite's `PRAGMA data_version`; PostgreSQL's
    /// notifications heard).
    pub async fn data_version(&self) -> Result<i64, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, SqliteStore::data_version).await,
            Store::Postgres(p) => Ok(p.data_version()),
        }
    }

    /// The schema version recorded in the database (SQLite's `user_version`; the last
    /// PostgreSQL migration applied).
    pub async fn schema_version(&self) -> Result<i64, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, SqliteStore::schema_version).await,
            Store::Postgres(p) => p.schema_version().await,
        }
    }

    /// The schema version this build brings the store to.
    pub fn supported_schema_version(&self) -> i64 {
        match &self.store {
            Store::Sqlite(_) => SCHEMA_VERSION,
            Store::Postgres(_) => POSTGRES_MIGRATIONS.len() as i64,
        }
    }

    /// How the store runs: SQLite's journal mode (`wal` for a file), or PostgreSQL's server
    /// version.
    pub async fn describe_server(&self) -> Result<String, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, SqliteStore::journal_mode)
                .await
                .map(|mode| format!("journal mode {mode}")),
            Store::Postgres(p) => p.server_version().await.map(|v| format!("PostgreSQL {v}")),
        }
    }

    /// Schedules a job to start after `delay`, merging with a pending job of the same type and
    /// args (see [`SqliteStore::schedule_job`]).
    // The argument list is the API the other components were written against.
    #[allow(clippy::too_many_arguments)]
    pub async fn schedule_job(
        &self,
        job_type: &str,
        args: &Args,
        channel: &str,
        thread_ts: Option<&str>,
        delay: Duration,
        is_im: bool,
        message_ts: Option<&str>,
    ) -> Result<Scheduled, QueueError> {
        let start_after = start_after(Utc::now(), delay)?;
        self.schedule(&NewJob {
            job_type,
            args,
            channel,
            thread_ts,
            message_ts,
            is_im,
            start_after,
            requester: None,
        })
        .await
    }

    /// Schedules a job with an absolute start time.
    pub async fn schedule(&self, job: &NewJob<'_>) -> Result<Scheduled, QueueError> {
        let scheduled = match &self.store {
            Store::Sqlite(s) => {
                let job = OwnedJob::new(job);
                Self::blocking(s, move |s| s.schedule(&job.borrow())).await
            }
            Store::Postgres(p) => p.schedule(job).await,
        };
        scheduled.inspect(|scheduled| {
            crate::metrics::record::job_scheduled(job.job_type, scheduled.added)
        })
    }

    /// Records a webhook delivery and queues its jobs in one transaction (see
    /// [`SqliteStore::schedule_delivery`]); `None` for a delivery already seen.
    pub async fn schedule_delivery(
        &self,
        delivery_id: Option<&str>,
        jobs: &[NewJob<'_>],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<QueuedByDelivery>>, QueueError> {
        let types: Vec<&str> = jobs.iter().map(|job| job.job_type).collect();
        let queued = match &self.store {
            Store::Sqlite(s) => {
                let delivery_id = delivery_id.map(str::to_owned);
                let jobs: Vec<OwnedJob> = jobs.iter().map(OwnedJob::new).collect();
                Self::blocking(s, move |s| {
                    let jobs: Vec<NewJob<'_>> = jobs.iter().map(OwnedJob::borrow).collect();
                    s.schedule_delivery(delivery_id.as_deref(), &jobs, now)
                })
                .await
            }
            Store::Postgres(p) => p.schedule_delivery(delivery_id, jobs, now).await,
        };
        queued.inspect(|queued| {
            let added = queued.iter().flatten().map(|q| q.scheduled.added);
            crate::metrics::record::delivery_scheduled(&types, added)
        })
    }

    /// Records a delivery id: `true` if new (see [`SqliteStore::record_delivery`]).
    pub async fn record_delivery(
        &self,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let delivery_id = delivery_id.to_owned();
                Self::blocking(s, move |s| s.record_delivery(&delivery_id, now)).await
            }
            Store::Postgres(p) => p.record_delivery(delivery_id, now).await,
        }
    }

    /// Claims Slack event `event_id`: `true` for the one caller, in any process on this
    /// database, that should act on it (see [`SqliteStore::claim_event`]).
    pub async fn claim_event(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let event_id = event_id.to_owned();
                Self::blocking(s, move |s| s.claim_event(&event_id, now)).await
            }
            Store::Postgres(p) => p.claim_event(event_id, now).await,
        }
    }

    /// Takes or renews lease `name` for `owner` until `now + ttl`: `true` if `owner` holds it
    /// (see [`SqliteStore::hold_lease`]).
    pub async fn hold_lease(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let (name, owner) = (name.to_owned(), owner.to_owned());
                Self::blocking(s, move |s| s.hold_lease(&name, &owner, now, ttl)).await
            }
            Store::Postgres(p) => p.hold_lease(name, owner, now, ttl).await,
        }
    }

    /// Claims the call to support rule `rule` made by message `channel`/`ts`: `true` for the
    /// one caller, in any process, that should handle it (see [`SqliteStore::claim_support_call`]).
    pub async fn claim_support_call(
        &self,
        rule: &str,
        channel: &str,
        ts: &str,
    ) -> Result<bool, QueueError> {
        let now = Utc::now();
        match &self.store {
            Store::Sqlite(s) => {
                let (rule, channel, ts) = (rule.to_owned(), channel.to_owned(), ts.to_owned());
                Self::blocking(s, move |s| s.claim_support_call(&rule, &channel, &ts, now)).await
            }
            Store::Postgres(p) => p.claim_support_call(rule, channel, ts, now).await,
        }
    }

    /// Gives a support call's claim back, so a later sighting retries it.
    pub async fn release_support_call(
        &self,
        rule: &str,
        channel: &str,
        ts: &str,
    ) -> Result<(), QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let (rule, channel, ts) = (rule.to_owned(), channel.to_owned(), ts.to_owned());
                Self::blocking(s, move |s| s.release_support_call(&rule, &channel, &ts)).await
            }
            Store::Postgres(p) => p.release_support_call(rule, channel, ts).await,
        }
    }

    /// Records shared file `name` as now holding `contents` (`None`: removed).
    pub async fn put_shared_file(
        &self,
        name: &str,
        contents: Option<&str>,
    ) -> Result<(), QueueError> {
        let now = Utc::now();
        match &self.store {
            Store::Sqlite(s) => {
                let (name, contents) = (name.to_owned(), contents.map(str::to_owned));
                Self::blocking(s, move |s| {
                    s.put_shared_file(&name, contents.as_deref(), now)
                })
                .await
            }
            Store::Postgres(p) => p.put_shared_file(name, contents, now).await,
        }
    }

    /// Shared file `name` as last recorded: `None` if never, `Some(None)` if removed.
    pub async fn shared_file(&self, name: &str) -> Result<Option<Option<String>>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let name = name.to_owned();
                Self::blocking(s, move |s| s.shared_file(&name)).await
            }
            Store::Postgres(p) => p.shared_file(name).await,
        }
    }

    /// Gives up lease `name` if `owner` holds it.
    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<(), QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let (name, owner) = (name.to_owned(), owner.to_owned());
                Self::blocking(s, move |s| s.release_lease(&name, &owner)).await
            }
            Store::Postgres(p) => p.release_lease(name, owner).await,
        }
    }

    /// Removes every pending job of a type; returns how many.
    pub async fn cancel_job(&self, job_type: &str) -> Result<usize, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let job_type = job_type.to_owned();
                Self::blocking(s, move |s| s.cancel_job(&job_type)).await
            }
            Store::Postgres(p) => p.cancel_job(job_type).await,
        }
    }

    /// `remove job id N` by user `by` (see [`SqliteStore::remove_job`]).
    pub async fn remove_job(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Removal, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let by = by.to_owned();
                Self::blocking(s, move |s| s.remove_job(id, &by, now)).await
            }
            Store::Postgres(p) => p.remove_job(id, by, now).await,
        }
    }

    /// Job `id`'s type and who asked for it, if it is queued or running.
    pub async fn requested(&self, id: i64) -> Result<Option<Requested>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, move |s| s.requested(id)).await,
            Store::Postgres(p) => p.requested(id).await,
        }
    }

    /// Adds an outbox entry; returns its id.
    pub async fn add_outbox(&self, entry: NewEntry) -> Result<i64, QueueError> {
        fits(&entry)?;
        let now = Utc::now();
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, move |s| s.add_outbox(&entry, now)).await,
            Store::Postgres(p) => p.add_outbox(&entry, now).await,
        }
    }

    /// `channel`'s first outbox entry still to deliver.
    pub async fn next_outbox(&self, channel: &str) -> Result<Option<OutboxEntry>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let channel = channel.to_owned();
                Self::blocking(s, move |s| s.next_outbox(&channel)).await
            }
            Store::Postgres(p) => p.next_outbox(channel).await,
        }
    }

    /// Slack took outbox entry `id`: deletes it and adds `then` in one transaction.
    pub async fn settle_outbox(
        &self,
        id: i64,
        then: Option<NewEntry>,
    ) -> Result<Option<i64>, QueueError> {
        let now = Utc::now();
        match &self.store {
            Store::Sqlite(s) => {
                Self::blocking(s, move |s| s.settle_outbox(id, then.as_ref(), now)).await
            }
            Store::Postgres(p) => p.settle_outbox(id, then.as_ref(), now).await,
        }
    }

    /// Slack refused outbox entry `id` for good: keeps it marked, adds `note`, in one
    /// transaction.
    pub async fn fail_outbox(
        &self,
        id: i64,
        failure: &str,
        note: Option<NewEntry>,
    ) -> Result<Option<i64>, QueueError> {
        let now = Utc::now();
        match &self.store {
            Store::Sqlite(s) => {
                let failure = failure.to_owned();
                Self::blocking(s, move |s| s.fail_outbox(id, &failure, note.as_ref(), now)).await
            }
            Store::Postgres(p) => p.fail_outbox(id, failure, note.as_ref(), now).await,
        }
    }

    /// Channels with outbox entries to deliver.
    pub async fn outbox_channels(&self) -> Result<Vec<String>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, SqliteStore::outbox_channels).await,
            Store::Postgres(p) => p.outbox_channels().await,
        }
    }

    /// Every outbox entry not delivered (refused ones included), oldest first.
    pub async fn undelivered(&self) -> Result<Vec<OutboxEntry>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, SqliteStore::undelivered).await,
            Store::Postgres(p) => p.undelivered().await,
        }
    }

    /// When the dispatcher should next try [`Queue::reserve`], with suppressions judged now.
    pub async fn next_start_after(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, SqliteStore::next_start_after).await,
            Store::Postgres(p) => p.next_start_after(Utc::now()).await,
        }
    }

    /// Reserves the next job due now for `owner` (see [`SqliteStore::reserve`]): "now" is
    /// read once the store's write lock is held ([`SqliteStore::reserve_at`]), or from
    /// PostgreSQL's clock.
    pub async fn reserve(&self, owner: &str) -> Result<Option<Job>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let owner = owner.to_owned();
                Self::blocking(s, move |s| s.reserve_at(&owner, Utc::now)).await
            }
            Store::Postgres(p) => p.reserve(owner).await,
        }
    }

    /// Renews every lease `owner` holds.
    pub async fn heartbeat(&self, owner: &str, now: DateTime<Utc>) -> Result<(), QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let owner = owner.to_owned();
                Self::blocking(s, move |s| s.heartbeat(&owner, now)).await
            }
            Store::Postgres(p) => p.heartbeat(owner, now).await,
        }
    }

    /// Records the process group of run `run`; `false` if the run is gone.
    pub async fn set_process_group(
        &self,
        run: RunId,
        process_group: i32,
    ) -> Result<bool, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                Self::blocking(s, move |s| s.set_process_group(run, process_group)).await
            }
            Store::Postgres(p) => p.set_process_group(run, process_group).await,
        }
    }

    /// The runs `owner` holds, with who asked to stop each (see [`SqliteStore::run_states`]).
    pub async fn run_states(
        &self,
        owner: &str,
    ) -> Result<Vec<(RunId, Option<String>)>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let owner = owner.to_owned();
                Self::blocking(s, move |s| s.run_states(&owner)).await
            }
            Store::Postgres(p) => p.run_states(owner).await,
        }
    }

    /// Removes jobs whose dispatcher died, recording them as interrupted.
    /// Runs of `reaper` (the calling dispatcher) are left alone.
    pub async fn reap_dead_leases(
        &self,
        now: DateTime<Utc>,
        lease_timeout: Duration,
        reaper: &str,
    ) -> Result<Vec<Reaped>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let reaper = reaper.to_owned();
                Self::blocking(s, move |s| {
                    s.reap_dead_leases_with_groups(now, lease_timeout, &reaper)
                })
                .await
            }
            Store::Postgres(p) => p.reap_dead_leases(now, lease_timeout, reaper).await,
        }
    }

    /// Records how run `run` ended; `false` if the run was already gone.
    pub async fn finish(&self, run: RunId, record: &Finished) -> Result<bool, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let record = record.clone();
                Self::blocking(s, move |s| s.finish(run, &record)).await
            }
            Store::Postgres(p) => p.finish(run, record).await,
        }
    }

    /// [`Queue::finish`], adding `reports` to the outbox in the same transaction; returns
    /// whether the run was there, and the reports' ids.
    pub async fn finish_reporting(
        &self,
        run: RunId,
        record: &Finished,
        reports: Arc<[NewEntry]>,
    ) -> Result<(bool, Vec<i64>), QueueError> {
        reports.iter().try_for_each(fits)?;
        let now = Utc::now();
        match &self.store {
            Store::Sqlite(s) => {
                let record = record.clone();
                Self::blocking(s, move |s| s.finish_reporting(run, &record, &reports, now)).await
            }
            Store::Postgres(p) => p.finish_reporting(run, record, &reports, now).await,
        }
    }

    /// Deletes run `run` and its job without history (see [`SqliteStore::release`]).
    pub async fn release(&self, run: RunId) -> Result<bool, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, move |s| s.release(run)).await,
            Store::Postgres(p) => p.release(run).await,
        }
    }

    /// The latest `limit` history entries, newest first.
    pub async fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, move |s| s.history(limit)).await,
            Store::Postgres(p) => p.history(limit).await,
        }
    }

    /// Deletes history older than [`HISTORY_RETENTION`](super::history::HISTORY_RETENTION); returns how many.
    pub async fn prune_history(&self, now: DateTime<Utc>) -> Result<usize, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, move |s| s.prune_history(now)).await,
            Store::Postgres(p) => p.prune_history(now).await,
        }
    }

    /// What is running, waiting and suppressed at `now`.
    pub async fn status(&self, now: DateTime<Utc>) -> Result<Status, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, move |s| s.status(now)).await,
            Store::Postgres(p) => p.status(now).await,
        }
    }

    /// Suppresses jobs of `job_type` from `start` until `end`.
    pub async fn schedule_suppression(
        &self,
        job_type: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let job_type = job_type.to_owned();
                Self::blocking(s, move |s| s.schedule_suppression(&job_type, start, end)).await
            }
            Store::Postgres(p) => p.schedule_suppression(job_type, start, end).await,
        }
    }

    /// Removes every suppression of a type; returns how many.
    pub async fn cancel_suppressions(&self, job_type: &str) -> Result<usize, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let job_type = job_type.to_owned();
                Self::blocking(s, move |s| s.cancel_suppressions(&job_type)).await
            }
            Store::Postgres(p) => p.cancel_suppressions(job_type).await,
        }
    }

    /// The suppression of `job_type` in force at `now`, if any.
    pub async fn active_suppression(
        &self,
        job_type: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Suppression>, QueueError> {
        match &self.store {
            Store::Sqlite(s) => {
                let job_type = job_type.to_owned();
                Self::blocking(s, move |s| s.active_suppression(&job_type, now)).await
            }
            Store::Postgres(p) => p.active_suppression(job_type, now).await,
        }
    }

    /// Claims one due time of a scheduled job and queues it, once across every process on
    /// the database (see [`SqliteStore::claim_schedule_run`]).
    pub async fn claim_schedule_run(
        &self,
        claim: ScheduleClaim,
    ) -> Result<ScheduleRun, QueueError> {
        match &self.store {
            Store::Sqlite(s) => Self::blocking(s, move |s| s.claim_schedule_run(&claim)).await,
            Store::Postgres(p) => p.claim_schedule_run(&claim).await,
        }
    }
}
