//! A snapshot of the queue for the `status` command.

use chrono::{DateTime, Utc};

use super::jobs::{raw_job, JOB_COLUMNS};
use super::suppression::suppressions;
use super::PgStore;
use crate::queue::status::Status;
use crate::queue::QueueError;

impl PgStore {
    /// The queue at `now`, after deleting expired suppressions. Unreadable job rows go to
    /// `unreadable`.
    pub async fn status(&self, now: DateTime<Utc>) -> Result<Status, QueueError> {
        let mut client = self.client().await?;
        // Repeatable read: the lists are one consistent snapshot.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await?;
        tx.execute("DELETE FROM suppression WHERE end_at <= $1", &[&now])
            .await?;
        let mut status = Status::default();
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM job
             ORDER BY job.started_at IS NULL, job.started_at, job.start_after, job.id"
        );
        for row in tx.query(&sql, &[]).await? {
            status.push_job(raw_job(&row));
        }
        for s in suppressions(&tx, None).await? {
            status.push_suppression(s, now);
        }
        tx.commit().await?;
        Ok(status)
    }
}
