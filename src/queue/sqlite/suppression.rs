//! Suppressions in SQLite. Expired ones (`end_at <= now`) are deleted whenever they are
//! looked at.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row};

use super::SqliteStore;
use crate::queue::suppression::{check_window, Suppression};
use crate::queue::time::{format_time, parse_time};
use crate::queue::QueueError;

/// The columns [`read_suppression`] reads.
pub(super) const SUPPRESSION_COLUMNS: &str = "id, job_type, start_at, end_at";

/// Reads a suppression row; its times are checked by [`parse_suppression`].
pub(super) fn read_suppression(
    row: &Row<'_>,
) -> rusqlite::Result<(i64, String, Option<String>, Option<String>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

/// The typed suppression, or which of its times is unreadable.
pub(super) fn parse_suppression(
    (id, job_type, start_at, end_at): (i64, String, Option<String>, Option<String>),
) -> Result<Suppression, QueueError> {
    let time = |text: Option<String>| {
        let text = text.unwrap_or_default();
        parse_time(&text).map_err(|source| QueueError::BadSuppression { id, source })
    };
    Ok(Suppression {
        id,
        job_type,
        start_at: time(start_at)?,
        end_at: time(end_at)?,
    })
}

/// Deletes suppressions that have ended by `now`.
pub(super) fn delete_expired(conn: &Connection, now: &str) -> Result<usize, QueueError> {
    Ok(conn
        .prepare_cached("DELETE FROM suppression WHERE end_at <= ?1")?
        .execute([now])?)
}

impl SqliteStore {
    /// Suppresses jobs of `job_type` from `start` until `end`; fails if `end <= start`.
    pub fn schedule_suppression(
        &self,
        job_type: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        check_window(start, end)?;
        self.conn()
            .prepare_cached(
                "INSERT INTO suppression (job_type, start_at, end_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![job_type, format_time(start), format_time(end)])?;
        tracing::info!(job_type, %start, %end, "suppression scheduled");
        Ok(())
    }

    /// Removes every suppression (active or future) of a type; returns how many.
    pub fn cancel_suppressions(&self, job_type: &str) -> Result<usize, QueueError> {
        let removed = self
            .conn()
            .prepare_cached("DELETE FROM suppression WHERE job_type = ?1")?
            .execute([job_type])?;
        tracing::info!(job_type, removed, "suppressions cancelled");
        // Jobs of that type may now be startable.
        self.wake();
        Ok(removed)
    }

    /// The suppression of `job_type` in force at `now` (the one ending last, if several),
    /// after deleting expired ones.
    pub fn active_suppression(
        &self,
        job_type: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Suppression>, QueueError> {
        active_suppression_in(&self.conn(), job_type, now)
    }
}

/// [`SqliteStore::active_suppression`] on a connection or inside a transaction.
pub(super) fn active_suppression_in(
    conn: &Connection,
    job_type: &str,
    now: DateTime<Utc>,
) -> Result<Option<Suppression>, QueueError> {
    let now = format_time(now);
    delete_expired(conn, &now)?;
    let sql = format!(
        "SELECT {SUPPRESSION_COLUMNS} FROM suppression
         WHERE job_type = ?1 AND start_at <= ?2 AND end_at > ?2 ORDER BY end_at DESC, id LIMIT 1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![job_type, now])?;
    match rows.next()? {
        Some(row) => Ok(Some(parse_suppression(read_suppression(row)?)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn active_only_within_its_window_and_expired_ones_are_removed() {
        let queue = SqliteStore::open_in_memory().expect("open");
        queue
            .schedule_suppression("t", at(10), at(20))
            .expect("suppress");
        assert_eq!(queue.active_suppression("t", at(9)).expect("active"), None);
        let active = queue
            .active_suppression("t", at(10))
            .expect("active")
            .expect("in window");
        assert_eq!(
            (active.job_type.as_str(), active.start_at, active.end_at),
            ("t", at(10), at(20))
        );
        assert_eq!(queue.active_suppression("u", at(10)).expect("active"), None);
        assert_eq!(count(&queue, "suppression"), 1);
        assert_eq!(queue.active_suppression("t", at(20)).expect("active"), None);
        assert_eq!(count(&queue, "suppression"), 0);
    }

    #[test]
    fn cancel_removes_all_of_a_type() {
        let queue = SqliteStore::open_in_memory().expect("open");
        queue
            .schedule_suppression("t", at(0), at(20))
            .expect("suppress");
        queue
            .schedule_suppression("t", at(30), at(40))
            .expect("suppress");
        queue
            .schedule_suppression("u", at(0), at(20))
            .expect("suppress");
        assert_eq!(queue.cancel_suppressions("t").expect("cancel"), 2);
        assert_eq!(queue.active_suppression("t", at(1)).expect("active"), None);
        assert!(queue
            .active_suppression("u", at(1))
            .expect("active")
            .is_some());
    }

    #[test]
    fn rejects_empty_window() {
        let queue = SqliteStore::open_in_memory().expect("open");
        assert!(matches!(
            queue.schedule_suppression("t", at(5), at(5)),
            Err(QueueError::EmptySuppression { .. })
        ));
    }

    #[test]
    fn python_written_suppression_applies() {
        let queue = SqliteStore::open_in_memory().expect("open");
        raw(
            &queue,
            "INSERT INTO suppression (job_type, start_at, end_at)
             VALUES ('t', '2030-06-01 11:00:00+00:00', '2030-06-01 13:00:00.5+00:00')",
        );
        let active = queue
            .active_suppression("t", t0())
            .expect("active")
            .expect("active");
        assert_eq!(
            active.end_at,
            at(3600) + chrono::TimeDelta::milliseconds(500)
        );
    }
}
