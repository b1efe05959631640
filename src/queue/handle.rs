//! [`Queue`]: the one interface the bot, the webhook server, the dispatcher and the shell use,
//! whatever store holds the queue. Every method is `async` and never blocks the runtime: the
//! SQLite store's calls (which may wait up to its 5 s busy timeout while another process
//! writes) run on tokio's blocking pool, so Socket Mode acks, pings and HTTP answers stay
//! prompt while the database is locked.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    Finished, HistoryEntry, Job, NewJob, QueueError, QueuedByDelivery, Reaped, Removal, RunId,
    Scheduled, SqliteStore, Status, Suppression,
};
use crate::config::Args;

/// A handle on the job queue: cheap to clone, safe to share between tasks.
#[derive(Clone, Debug)]
pub struct Queue {
    store: SqliteStore,
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
        }
    }
}

impl Queue {
    /// Opens (creating and migrating if needed) the SQLite database at `path`; its directory
    /// must exist. Blocking: call it at start-up, before serving.
    pub fn open(path: &Path) -> Result<Queue, QueueError> {
        Ok(Queue {
            store: SqliteStore::open(path)?,
        })
    }

    /// A private in-memory queue, for tests.
    pub fn open_in_memory() -> Result<Queue, QueueError> {
        Ok(Queue {
            store: SqliteStore::open_in_memory()?,
        })
    }

    /// Runs one store call on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&SqliteStore) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || call(&store)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(QueueError::ShuttingDown),
        }
    }

    /// Resolves when this process has scheduled or changed something since the last wait
    /// (at once if it already has). Meant for one waiter, the dispatcher; other processes'
    /// changes show in [`Queue::data_version`] instead.
    pub fn notified(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.store.notified()
    }

    /// Changes when another process commits (SQLite's `PRAGMA data_version`).
    pub async fn data_version(&self) -> Result<i64, QueueError> {
        self.run(SqliteStore::data_version).await
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<i64, QueueError> {
        self.run(SqliteStore::schema_version).await
    }

    /// The journal mode in force (`wal` for a file database).
    pub async fn journal_mode(&self) -> Result<String, QueueError> {
        self.run(SqliteStore::journal_mode).await
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
        let start_after = super::start_after(Utc::now(), delay)?;
        self.schedule(&NewJob {
            job_type,
            args,
            channel,
            thread_ts,
            message_ts,
            is_im,
            start_after,
        })
        .await
    }

    /// Schedules a job with an absolute start time.
    pub async fn schedule(&self, job: &NewJob<'_>) -> Result<Scheduled, QueueError> {
        let job = OwnedJob::new(job);
        self.run(move |s| s.schedule(&job.borrow())).await
    }

    /// Records a webhook delivery and queues its jobs in one transaction (see
    /// [`SqliteStore::schedule_delivery`]); `None` for a delivery already seen.
    pub async fn schedule_delivery(
        &self,
        delivery_id: Option<&str>,
        jobs: &[NewJob<'_>],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<QueuedByDelivery>>, QueueError> {
        let delivery_id = delivery_id.map(str::to_owned);
        let jobs: Vec<OwnedJob> = jobs.iter().map(OwnedJob::new).collect();
        self.run(move |s| {
            let jobs: Vec<NewJob<'_>> = jobs.iter().map(OwnedJob::borrow).collect();
            s.schedule_delivery(delivery_id.as_deref(), &jobs, now)
        })
        .await
    }

    /// Records a delivery id: `true` if new (see [`SqliteStore::record_delivery`]).
    pub async fn record_delivery(
        &self,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let delivery_id = delivery_id.to_owned();
        self.run(move |s| s.record_delivery(&delivery_id, now))
            .await
    }

    /// Removes every pending job of a type; returns how many.
    pub async fn cancel_job(&self, job_type: &str) -> Result<usize, QueueError> {
        let job_type = job_type.to_owned();
        self.run(move |s| s.cancel_job(&job_type)).await
    }

    /// `remove job id N` by user `by` (see [`SqliteStore::remove_job`]).
    pub async fn remove_job(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Removal, QueueError> {
        let by = by.to_owned();
        self.run(move |s| s.remove_job(id, &by, now)).await
    }

    /// When the dispatcher should next try [`Queue::reserve`], with suppressions judged now.
    pub async fn next_start_after(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        self.run(SqliteStore::next_start_after).await
    }

    /// Reserves the next job due now for `owner` (see [`SqliteStore::reserve`]); "now" is
    /// read once the store's write lock is held ([`SqliteStore::reserve_at`]).
    pub async fn reserve(&self, owner: &str) -> Result<Option<Job>, QueueError> {
        let owner = owner.to_owned();
        self.run(move |s| s.reserve_at(&owner, Utc::now)).await
    }

    /// Renews every lease `owner` holds.
    pub async fn heartbeat(&self, owner: &str, now: DateTime<Utc>) -> Result<(), QueueError> {
        let owner = owner.to_owned();
        self.run(move |s| s.heartbeat(&owner, now)).await
    }

    /// Records the process group of run `run`; `false` if the run is gone.
    pub async fn set_process_group(
        &self,
        run: RunId,
        process_group: i32,
    ) -> Result<bool, QueueError> {
        self.run(move |s| s.set_process_group(run, process_group))
            .await
    }

    /// The runs `owner` holds, with who asked to stop each (see [`SqliteStore::run_states`]).
    pub async fn run_states(
        &self,
        owner: &str,
    ) -> Result<Vec<(RunId, Option<String>)>, QueueError> {
        let owner = owner.to_owned();
        self.run(move |s| s.run_states(&owner)).await
    }

    /// Removes jobs whose dispatcher died, recording them as interrupted.
    /// Runs of `reaper` (the calling dispatcher) are left alone.
    pub async fn reap_dead_leases(
        &self,
        now: DateTime<Utc>,
        lease_timeout: Duration,
        reaper: &str,
    ) -> Result<Vec<Reaped>, QueueError> {
        let reaper = reaper.to_owned();
        self.run(move |s| s.reap_dead_leases_with_groups(now, lease_timeout, &reaper))
            .await
    }

    /// Records how run `run` ended; `false` if the run was already gone.
    pub async fn finish(&self, run: RunId, record: &Finished) -> Result<bool, QueueError> {
        let record = record.clone();
        self.run(move |s| s.finish(run, &record)).await
    }

    /// Deletes run `run` and its job without history (see [`SqliteStore::release`]).
    pub async fn release(&self, run: RunId) -> Result<bool, QueueError> {
        self.run(move |s| s.release(run)).await
    }

    /// The latest `limit` history entries, newest first.
    pub async fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>, QueueError> {
        self.run(move |s| s.history(limit)).await
    }

    /// Deletes history older than [`super::HISTORY_RETENTION`]; returns how many.
    pub async fn prune_history(&self, now: DateTime<Utc>) -> Result<usize, QueueError> {
        self.run(move |s| s.prune_history(now)).await
    }

    /// What is running, waiting and suppressed at `now`.
    pub async fn status(&self, now: DateTime<Utc>) -> Result<Status, QueueError> {
        self.run(move |s| s.status(now)).await
    }

    /// Suppresses jobs of `job_type` from `start` until `end`.
    pub async fn schedule_suppression(
        &self,
        job_type: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let job_type = job_type.to_owned();
        self.run(move |s| s.schedule_suppression(&job_type, start, end))
            .await
    }

    /// Removes every suppression of a type; returns how many.
    pub async fn cancel_suppressions(&self, job_type: &str) -> Result<usize, QueueError> {
        let job_type = job_type.to_owned();
        self.run(move |s| s.cancel_suppressions(&job_type)).await
    }

    /// The suppression of `job_type` in force at `now`, if any.
    pub async fn active_suppression(
        &self,
        job_type: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Suppression>, QueueError> {
        let job_type = job_type.to_owned();
        self.run(move |s| s.active_suppression(&job_type, now))
            .await
    }

    /// Claims one due time of a scheduled job and queues it, once across every process on
    /// the database (see [`SqliteStore::claim_schedule_run`]).
    pub async fn claim_schedule_run(
        &self,
        claim: super::ScheduleClaim,
    ) -> Result<super::ScheduleRun, QueueError> {
        self.run(move |s| s.claim_schedule_run(&claim)).await
    }
}
