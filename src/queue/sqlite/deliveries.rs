//! GitHub webhook delivery ids already handled, in SQLite, recorded in the transaction that
//! queues the delivery's jobs; ids are kept for [`DELIVERY_RETENTION`](crate::queue::deliveries::DELIVERY_RETENTION).

use chrono::{DateTime, Utc};
use rusqlite::{params, Transaction, TransactionBehavior};

use super::jobs::schedule_in;
use super::suppression::active_suppression_in;
use super::SqliteStore;
use crate::queue::deliveries::{delivery_cutoff, QueuedByDelivery};
use crate::queue::job::NewJob;
use crate::queue::time::format_time;
use crate::queue::QueueError;

impl SqliteStore {
    /// Records a delivery id seen at `now`: `true` if it is new (or was last seen more than
    /// [`DELIVERY_RETENTION`](crate::queue::deliveries::DELIVERY_RETENTION) ago), `false` if it was seen within that. Prunes older ids.
    pub fn record_delivery(
        &self,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let new = record_in(&tx, delivery_id, now)?;
        tx.commit()?;
        Ok(new)
    }

    /// Records delivery `delivery_id` (when GitHub sent one) and schedules `jobs`, in one
    /// transaction: either the delivery is recorded with all its jobs queued, or nothing is
    /// (so a crash or an error never leaves a recorded delivery without its jobs, which would
    /// make GitHub's redelivery be skipped). `None` if the delivery was seen within
    /// [`DELIVERY_RETENTION`](crate::queue::deliveries::DELIVERY_RETENTION); otherwise each job's [`Scheduled`](crate::queue::job::Scheduled) with the end of the
    /// suppression of its type active at `now`, if any.
    pub fn schedule_delivery(
        &self,
        delivery_id: Option<&str>,
        jobs: &[NewJob<'_>],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<QueuedByDelivery>>, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(id) = delivery_id {
            if !record_in(&tx, id, now)? {
                return Ok(None);
            }
        }
        let mut queued = Vec::with_capacity(jobs.len());
        for job in jobs {
            let suppressed_until = active_suppression_in(&tx, job.job_type, now)?.map(|s| s.end_at);
            queued.push(QueuedByDelivery {
                scheduled: schedule_in(&tx, job)?,
                suppressed_until,
            });
        }
        tx.commit()?;
        drop(conn);
        self.wake();
        Ok(Some(queued))
    }
}

/// Records a delivery inside the caller's transaction, pruning expired ids first.
fn record_in(
    tx: &Transaction<'_>,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, QueueError> {
    let cutoff = delivery_cutoff(now);
    // Pruning first makes an id older than the retention count as new below.
    tx.prepare_cached("DELETE FROM webhook_delivery WHERE seen_at < ?1")?
        .execute([format_time(cutoff)])?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO webhook_delivery (delivery_id, seen_at) VALUES (?1, ?2)
             ON CONFLICT (delivery_id) DO NOTHING",
        )?
        .execute(params![delivery_id, format_time(now)])?;
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::queue::deliveries::DELIVERY_RETENTION;

    #[test]
    fn new_repeat_and_expired() {
        let queue = SqliteStore::open_in_memory().expect("open");
        assert!(queue.record_delivery("abc", at(0)).expect("record"));
        assert!(
            !queue.record_delivery("abc", at(10)).expect("record"),
            "repeat"
        );
        assert!(
            queue.record_delivery("def", at(10)).expect("record"),
            "another id"
        );
        let within = at(0) + DELIVERY_RETENTION;
        assert!(
            !queue.record_delivery("abc", within).expect("record"),
            "exactly 3 days is still seen"
        );
        let after = within + chrono::TimeDelta::seconds(1);
        assert!(
            queue.record_delivery("abc", after).expect("record"),
            "older than 3 days is new again"
        );
        assert_eq!(
            count(&queue, "webhook_delivery"),
            2,
            "def, seen 10 s in, is kept"
        );
    }
}
