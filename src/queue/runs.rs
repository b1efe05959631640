//! Runs: a dispatcher's reservation of a job, kept alive by its heartbeats, and what reaping
//! the runs of a dispatcher that died returns. Each store's `runs.rs` holds its SQL.

use chrono::{DateTime, Utc};

use super::job::{Job, RawJob};
use super::time::minus;
use super::QueueError;

/// A run whose last heartbeat (or, without a run, whose start) is before this at `now` belongs
/// to a dispatcher taken for dead; fails for an absurd `lease_timeout`.
pub(crate) fn dead_before(
    now: DateTime<Utc>,
    lease_timeout: std::time::Duration,
) -> Result<DateTime<Utc>, QueueError> {
    minus(now, lease_timeout)
}

/// A job whose dispatcher died, removed from the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaped {
    /// The job, removed from the queue and recorded as interrupted.
    pub job: Job,
    /// The process group its processes ran in, if its dispatcher recorded one; they may still
    /// be running, orphaned.
    pub process_group: Option<i32>,
}

impl Reaped {
    /// The reaped job from its row as stored, unreadable parts replaced (the row is gone
    /// either way: see [`RawJob::parse_lossy`]); logs that its dispatcher died.
    pub(crate) fn from_raw(raw: RawJob, process_group: Option<i32>, now: DateTime<Utc>) -> Reaped {
        tracing::warn!(job_id = raw.id, job_type = %raw.job_type, "job's dispatcher died; job interrupted");
        Reaped {
            job: raw.parse_lossy(now),
            process_group,
        }
    }
}
