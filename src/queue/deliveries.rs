//! GitHub webhook delivery ids already handled, so a redelivery runs nothing twice.
//! Ids are kept for [`DELIVERY_RETENTION`]; GitHub does not redeliver older ones.

use chrono::{DateTime, Utc};
use rusqlite::{params, TransactionBehavior};

use super::time::format_time;
use super::{Queue, QueueError};

/// How long a delivery id is remembered.
pub const DELIVERY_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(3);

impl Queue {
    /// Records a delivery id seen at `now`: `true` if it is new (or was last seen more than
    /// [`DELIVERY_RETENTION`] ago), `false` if it was seen within that. Prunes older ids.
    pub fn record_delivery(
        &self,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let cutoff = now
            .checked_sub_signed(DELIVERY_RETENTION)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Pruning first makes an id older than the retention count as new below.
        tx.prepare_cached("DELETE FROM webhook_delivery WHERE seen_at < ?1")?
            .execute([format_time(cutoff)])?;
        let inserted = tx
            .prepare_cached(
                "INSERT INTO webhook_delivery (delivery_id, seen_at) VALUES (?1, ?2)
                 ON CONFLICT (delivery_id) DO NOTHING",
            )?
            .execute(params![delivery_id, format_time(now)])?;
        tx.commit()?;
        Ok(inserted == 1)
    }

    /// Forgets a recorded delivery, so that GitHub's redelivery of one that failed half-way
    /// is handled again rather than skipped as already seen.
    pub fn forget_delivery(&self, delivery_id: &str) -> Result<(), QueueError> {
        self.conn()
            .prepare_cached("DELETE FROM webhook_delivery WHERE delivery_id = ?1")?
            .execute([delivery_id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn a_forgotten_delivery_is_new_again() {
        let queue = Queue::open_in_memory().expect("open");
        assert!(queue.record_delivery("d1", t0()).expect("record"));
        assert!(!queue.record_delivery("d1", t0()).expect("record"));
        queue.forget_delivery("d1").expect("forget");
        assert!(queue.record_delivery("d1", t0()).expect("record"));
    }

    #[test]
    fn new_repeat_and_expired() {
        let queue = Queue::open_in_memory().expect("open");
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
