//! Claims shared by every process on the database, in SQLite: Slack event ids acted on, and
//! named leases (the rules are in `queue/claims.rs`).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::queue::claims::{event_cutoff, lease_expiry, support_call_cutoff, time_to_prune};
use crate::queue::time::format_time;
use crate::queue::QueueError;

impl SqliteStore {
    /// Claims Slack event `event_id` at `now`: `true` for the one caller, in any process,
    /// that should act on it; `false` if it was claimed within [`EVENT_RETENTION`](crate::queue::claims::EVENT_RETENTION).
    pub fn claim_event(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, QueueError> {
        let conn = self.conn();
        if time_to_prune() {
            conn.prepare_cached("DELETE FROM slack_event WHERE claimed_at < ?1")?
                .execute([format_time(event_cutoff(now))])?;
        }
        let inserted = conn
            .prepare_cached(
                "INSERT INTO slack_event (event_id, claimed_at) VALUES (?1, ?2)
                 ON CONFLICT (event_id) DO NOTHING",
            )?
            .execute(params![event_id, format_time(now)])?;
        Ok(inserted == 1)
    }

    /// Takes lease `name` for `owner` until `now + ttl`, or renews it if `owner` holds it:
    /// `true` if `owner` holds it now. Another owner's lease is taken only once it expired.
    pub fn hold_lease(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<bool, QueueError> {
        let until = lease_expiry(now, ttl)?;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "INSERT INTO service_lease (name, owner, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
             WHERE service_lease.owner = excluded.owner OR service_lease.expires_at <= ?4
             RETURNING owner",
        )?;
        let mut rows = stmt.query(params![name, owner, format_time(until), format_time(now)])?;
        Ok(rows.next()?.is_some())
    }

    /// Claims the call to support rule `rule` made by message `channel`/`ts`: `true` for the
    /// one caller, in any process, that should handle it.
    pub fn claim_support_call(
        &self,
        rule: &str,
        channel: &str,
        ts: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let conn = self.conn();
        if time_to_prune() {
            conn.prepare_cached("DELETE FROM support_call WHERE claimed_at < ?1")?
                .execute([format_time(support_call_cutoff(now))])?;
        }
        let inserted = conn
            .prepare_cached(
                "INSERT INTO support_call (rule, channel, ts, claimed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (rule, channel, ts) DO NOTHING",
            )?
            .execute(params![rule, channel, ts, format_time(now)])?;
        Ok(inserted == 1)
    }

    /// Gives a support call's claim back (its repost failed), so a later sighting retries.
    pub fn release_support_call(
        &self,
        rule: &str,
        channel: &str,
        ts: &str,
    ) -> Result<(), QueueError> {
        self.conn()
            .prepare_cached(
                "DELETE FROM support_call WHERE rule = ?1 AND channel = ?2 AND ts = ?3",
            )?
            .execute([rule, channel, ts])?;
        Ok(())
    }

    /// Records shared file `name` as now holding `contents` (`None`: removed).
    pub fn put_shared_file(
        &self,
        name: &str,
        contents: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO shared_file (name, contents, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET contents = excluded.contents,
                   updated_at = excluded.updated_at",
            )?
            .execute(params![name, contents, format_time(now)])?;
        Ok(())
    }

    /// Shared file `name` as last recorded: `None` if never, `Some(None)` if removed.
    pub fn shared_file(&self, name: &str) -> Result<Option<Option<String>>, QueueError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT contents FROM shared_file WHERE name = ?1")?
            .query_row([name], |row| row.get(0))
            .optional()?)
    }

    /// Gives up lease `name` if `owner` holds it, so another owner need not wait it out.
    pub fn release_lease(&self, name: &str, owner: &str) -> Result<(), QueueError> {
        self.conn()
            .prepare_cached("DELETE FROM service_lease WHERE name = ?1 AND owner = ?2")?
            .execute([name, owner])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_util::{at, count, raw};
    use super::*;
    use crate::queue::claims::PRUNE_EVERY_N_CLAIMS;

    #[test]
    fn an_event_is_claimed_once_across_connections() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("q.db");
        let (a, b) = (
            SqliteStore::open(&path).expect("open"),
            SqliteStore::open(&path).expect("open"),
        );
        assert!(a.claim_event("Ev1", at(0)).expect("claim"));
        assert!(!b.claim_event("Ev1", at(1)).expect("claim"));
        assert!(!a.claim_event("Ev1", at(2)).expect("claim"));
        assert!(b.claim_event("Ev2", at(2)).expect("claim"));
    }

    #[test]
    fn event_ids_older_than_a_day_are_pruned() {
        let queue = SqliteStore::open_in_memory().expect("open");
        raw(
            &queue,
            "INSERT INTO slack_event VALUES ('old', '2000-01-01 00:00:00.000000+00:00')",
        );
        // Enough claims that one of them prunes, whatever other tests did to the counter.
        for i in 0..=PRUNE_EVERY_N_CLAIMS {
            queue.claim_event(&format!("E{i}"), at(0)).expect("claim");
        }
        assert!(queue.claim_event("old", at(0)).expect("claim"));
        assert_eq!(
            count(&queue, "slack_event"),
            PRUNE_EVERY_N_CLAIMS as i64 + 2
        );
    }

    #[test]
    fn a_lease_is_held_by_one_owner_until_it_expires() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let ttl = Duration::from_secs(30);
        assert!(queue.hold_lease("search", "a", at(0), ttl).expect("lease"));
        assert!(!queue.hold_lease("search", "b", at(10), ttl).expect("lease"));
        // The holder renews it.
        assert!(queue.hold_lease("search", "a", at(20), ttl).expect("lease"));
        assert!(!queue.hold_lease("search", "b", at(45), ttl).expect("lease"));
        // Once it expires, another takes it and the old holder no longer has it.
        assert!(queue.hold_lease("search", "b", at(50), ttl).expect("lease"));
        assert!(!queue.hold_lease("search", "a", at(51), ttl).expect("lease"));
        // Other leases are independent.
        assert!(queue.hold_lease("other", "a", at(51), ttl).expect("lease"));
    }
}
