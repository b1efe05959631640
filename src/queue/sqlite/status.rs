//! A snapshot of the queue for the `status` command, read from SQLite in one transaction.

use chrono::{DateTime, Utc};
use rusqlite::TransactionBehavior;

use super::jobs::{raw_job, JOB_COLUMNS};
use super::suppression::{
    delete_expired, parse_suppression, read_suppression, SUPPRESSION_COLUMNS,
};
use super::SqliteStore;
use crate::queue::status::Status;
use crate::queue::time::format_time;
use crate::queue::QueueError;

impl SqliteStore {
    /// The queue at `now`, after deleting expired suppressions. Unreadable job rows go to
    /// `unreadable`; unreadable suppression rows are logged and left out.
    pub fn status(&self, now: DateTime<Utc>) -> Result<Status, QueueError> {
        let mut status = Status::default();
        let mut conn = self.conn();
        // One transaction, so the lists are one consistent snapshot.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        delete_expired(&tx, &format_time(now))?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM job
             ORDER BY job.started_at IS NULL, job.started_at, job.start_after, job.id"
        );
        for raw in tx.prepare_cached(&sql)?.query_map([], raw_job)? {
            status.push_job(raw?);
        }
        let sql = format!("SELECT {SUPPRESSION_COLUMNS} FROM suppression ORDER BY start_at, id");
        for row in tx.prepare_cached(&sql)?.query_map([], read_suppression)? {
            match parse_suppression(row?) {
                Ok(s) => status.push_suppression(s, now),
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable suppression row left out of status")
                }
            }
        }
        tx.commit()?;
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn lists_running_scheduled_and_suppressions() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "r", &args(&[]), 0);
        let running = queue.reserve("d", at(0)).expect("reserve").expect("job");
        let later = add(&queue, "s", &args(&[("n", "2")]), 20);
        let sooner = add(&queue, "s", &args(&[("n", "1")]), 10);
        queue
            .schedule_suppression("x", at(-100), at(-1))
            .expect("expired");
        queue
            .schedule_suppression("y", at(-5), at(100))
            .expect("active");
        queue
            .schedule_suppression("z", at(50), at(100))
            .expect("future");
        raw(&queue, "INSERT INTO job (type, args, channel, start_after) VALUES ('bad', '{oops', 'C', '2030-06-01 12:00:00+00:00')");
        raw(
            &queue,
            "INSERT INTO suppression (job_type, start_at, end_at) VALUES ('w', 'soon', 'later')",
        );

        let status = queue.status(at(0)).expect("status");
        assert_eq!(
            status.running.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![running.id]
        );
        assert_eq!(
            status.scheduled.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![sooner.id, later.id]
        );
        assert_eq!(
            status
                .active_suppressions
                .iter()
                .map(|s| s.job_type.as_str())
                .collect::<Vec<_>>(),
            vec!["y"]
        );
        assert_eq!(
            status
                .scheduled_suppressions
                .iter()
                .map(|s| s.job_type.as_str())
                .collect::<Vec<_>>(),
            vec!["z"]
        );
        assert_eq!(status.unreadable.len(), 1);
        assert_eq!(status.unreadable[0].job_type, "bad");
        // The expired one was deleted; the unreadable one is kept for a human to cancel.
        assert_eq!(count(&queue, "suppression"), 3);
    }
}
