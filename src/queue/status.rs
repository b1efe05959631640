//! A snapshot of the queue for the `status` command: what is running, waiting and
//! suppressed. Each store's `status.rs` reads it in one transaction.

use chrono::{DateTime, Utc};

use super::job::{BadRow, Job, RawJob};
use super::suppression::Suppression;

/// What is running, waiting and suppressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Started jobs, oldest start first.
    pub running: Vec<Job>,
    /// Pending jobs in the order they will be considered (`start_after`, then id).
    pub scheduled: Vec<Job>,
    /// Suppressions in force now.
    pub active_suppressions: Vec<Suppression>,
    /// Suppressions that start later.
    pub scheduled_suppressions: Vec<Suppression>,
    /// Job rows that cannot be read (also logged), so they can be shown and removed by id.
    pub unreadable: Vec<BadRow>,
}

impl Status {
    /// Files a job row under `running` or `scheduled`, or, if it cannot be read, under
    /// `unreadable` (and logs it). Rows come in display order.
    pub(crate) fn push_job(&mut self, raw: RawJob) {
        let started = raw.started_at.is_some();
        match raw.parse() {
            Ok(job) if started => self.running.push(job),
            Ok(job) => self.scheduled.push(job),
            Err(bad) => {
                tracing::warn!(job_id = bad.id, reason = %bad.reason, "unreadable job row");
                self.unreadable.push(bad);
            }
        }
    }

    /// Files a suppression that has not ended under `active_suppressions` if it has started
    /// by `now`, else under `scheduled_suppressions`.
    pub(crate) fn push_suppression(&mut self, suppression: Suppression, now: DateTime<Utc>) {
        if suppression.start_at <= now {
            self.active_suppressions.push(suppression);
        } else {
            self.scheduled_suppressions.push(suppression);
        }
    }
}
