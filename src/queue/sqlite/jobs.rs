//! Job rows in SQLite: reading them, adding, cancelling and removing jobs, and when the next
//! one is due.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::history::insert_history;
use super::SqliteStore;
use crate::config::Args;
use crate::queue::args::encode_args;
use crate::queue::history::{ExitKind, HistoryRow};
use crate::queue::job::{NewJob, RawJob, Removal, RunId, Scheduled};
use crate::queue::time::{format_time, parse_time, start_after};
use crate::queue::QueueError;

/// The columns every job query selects, in the order [`raw_job`] reads them.
pub(super) const JOB_COLUMNS: &str =
    "job.id, job.type, job.args, job.channel, job.thread_ts, job.message_ts, job.start_after, job.started_at, job.is_im,
     (SELECT run_id FROM job_run WHERE job_run.job_id = job.id)";

/// Any SQLite value as text (`NULL` as `None`): Python's DATETIME and BOOLEAN columns have
/// numeric affinity, so what is stored is not always TEXT.
fn text(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<String>> {
    Ok(match row.get_ref(index)? {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    })
}

/// Python stores booleans as 0/1; anything else non-empty and not false-like counts as true.
fn flag(row: &Row<'_>, index: usize) -> rusqlite::Result<bool> {
    Ok(match row.get_ref(index)? {
        ValueRef::Null => false,
        ValueRef::Integer(i) => i != 0,
        ValueRef::Real(f) => f != 0.0,
        ValueRef::Text(t) | ValueRef::Blob(t) => !matches!(
            String::from_utf8_lossy(t)
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "" | "0" | "false"
        ),
    })
}

/// Reads the columns of [`JOB_COLUMNS`] as the shared [`RawJob`].
pub(super) fn raw_job(row: &Row<'_>) -> rusqlite::Result<RawJob> {
    Ok(RawJob {
        id: row.get(0)?,
        job_type: text(row, 1)?.unwrap_or_default(),
        args: text(row, 2)?,
        channel: text(row, 3)?,
        thread_ts: text(row, 4)?,
        message_ts: text(row, 5)?,
        start_after: text(row, 6)?,
        started_at: text(row, 7)?,
        is_im: flag(row, 8)?,
        run: row.get::<_, Option<i64>>(9)?.map(RunId),
    })
}

/// Pending jobs' `start_after` shaped like a time (starting with a digit; others are
/// `reserve`'s to report), earliest first, of types neither running nor suppressed at `?1`:
/// one range on the `job_pending` index, read only until a time parses.
const NEXT_FREE_SQL: &str = "SELECT job.start_after FROM job
     WHERE job.started_at IS NULL AND job.start_after >= '0' AND job.start_after < ':'
       AND NOT EXISTS (SELECT 1 FROM job AS r WHERE r.type = job.type AND r.started_at IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM suppression AS s
                       WHERE s.job_type = job.type AND s.start_at <= ?1 AND s.end_at > ?1)
     ORDER BY job.start_after, job.id";

/// The same for types suppressed at `?1` (few), each pushed to its latest suppression's end.
const NEXT_SUPPRESSED_SQL: &str = "SELECT MIN(MAX(job.start_after,
         (SELECT MAX(s.end_at) FROM suppression AS s
          WHERE s.job_type = job.type AND s.start_at <= ?1 AND s.end_at > ?1)))
     FROM job
     WHERE job.type IN (SELECT job_type FROM suppression WHERE start_at <= ?1 AND end_at > ?1)
       AND job.started_at IS NULL AND job.start_after >= '0' AND job.start_after < ':'
       AND NOT EXISTS (SELECT 1 FROM job AS r WHERE r.type = job.type AND r.started_at IS NOT NULL)";

impl SqliteStore {
    /// Schedules a job to start after `delay`, deduplicating on type and args text: a pending
    /// job with both equal is updated (channel, threads, start time, `is_im`) instead of
    /// adding another. Wakes this process's dispatcher.
    // The argument list is the API the other components were written against.
    #[allow(clippy::too_many_arguments)]
    pub fn schedule_job(
        &self,
        job_type: &str,
        args: &Args,
        channel: &str,
        thread_ts: Option<&str>,
        delay: std::time::Duration,
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
    }

    /// [`SqliteStore::schedule_job`] with an absolute start time.
    pub fn schedule(&self, job: &NewJob<'_>) -> Result<Scheduled, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let scheduled = schedule_in(&tx, job)?;
        tx.commit()?;
        drop(conn);
        self.wake();
        Ok(scheduled)
    }

    /// Removes every pending job of a type; running ones are left alone. Returns how many.
    pub fn cancel_job(&self, job_type: &str) -> Result<usize, QueueError> {
        let removed = self
            .conn()
            .prepare_cached("DELETE FROM job WHERE type = ?1 AND started_at IS NULL")?
            .execute([job_type])?;
        tracing::info!(job_type, removed, "pending jobs cancelled");
        Ok(removed)
    }

    /// `remove job id N`, by user `by`. A pending job, or a started one that no dispatcher
    /// runs (a row left by the Python service), is deleted at once (a started one recorded in
    /// history as [`ExitKind::Removed`]). A job a dispatcher runs is only marked: that
    /// dispatcher stops its process group and then finishes the run as removed, so the type
    /// stays blocked until the process is gone and two jobs of a type never run at once.
    pub fn remove_job(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<Removal, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM job WHERE id = ?1");
        let row = tx
            .prepare_cached(&sql)?
            .query_row([id], raw_job)
            .optional()?;
        let Some(row) = row else {
            return Ok(Removal::NotFound);
        };
        let now_text = format_time(now);
        let running = row.started_at.is_some();
        if let (true, Some(run)) = (running, row.run) {
            // The first request names who removed it; a repeated one changes nothing.
            tx.prepare_cached(
                "UPDATE job_run SET stop_requested_by = COALESCE(stop_requested_by, ?2),
                                    stop_requested_at = COALESCE(stop_requested_at, ?3)
                 WHERE run_id = ?1",
            )?
            .execute(params![run.0, by, now_text])?;
            tx.commit()?;
            drop(conn);
            tracing::info!(job_id = id, run_id = %run, job_type = %row.job_type, by, "running job to be stopped");
            self.wake();
            return Ok(Removal::Stopping);
        }
        tx.prepare_cached("DELETE FROM job WHERE id = ?1")?
            .execute([id])?;
        tx.prepare_cached("DELETE FROM job_run WHERE job_id = ?1")?
            .execute([id])?;
        if running {
            insert_history(&tx, &HistoryRow::ended(&row, &ExitKind::Removed, now))?;
        }
        tx.commit()?;
        drop(conn);
        tracing::info!(job_id = id, job_type = %row.job_type, running, by, "job removed");
        self.wake();
        Ok(Removal::Removed)
    }

    /// When the dispatcher should next try [`SqliteStore::reserve`]: the earliest `start_after` of a
    /// pending job whose type is not running, pushed to the end of any suppression active now
    /// (so a suppressed job does not make the dispatcher spin). `None` if nothing waits.
    /// A finishing job wakes the dispatcher through [`SqliteStore::notified`] / `data_version`.
    pub fn next_start_after(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        self.next_start_after_at(Utc::now())
    }

    /// [`SqliteStore::next_start_after`] with suppressions judged at `now`.
    pub fn next_start_after_at(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, QueueError> {
        let now = format_time(now);
        let conn = self.conn();
        let mut free = None;
        {
            let mut stmt = conn.prepare_cached(NEXT_FREE_SQL)?;
            let mut rows = stmt.query([&now])?;
            while let Some(row) = rows.next()? {
                let text: String = row.get(0)?;
                // Digits then garbage: skipped here (reserve reports it once its text is due).
                match parse_time(&text) {
                    Ok(time) => {
                        free = Some(time);
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "unreadable start_after skipped when planning")
                    }
                }
            }
        }
        let suppressed: Option<String> = conn
            .prepare_cached(NEXT_SUPPRESSED_SQL)?
            .query_row([&now], |row| row.get(0))?;
        drop(conn);
        // The aggregate cannot skip a bad row; then suppressed types are left to the poll.
        let suppressed = suppressed.and_then(|text| {
            parse_time(&text)
                .map_err(
                    |e| tracing::warn!(error = %e, "unreadable start_after ignored when planning"),
                )
                .ok()
        });
        Ok(match (free, suppressed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }
}

/// [`SqliteStore::schedule`] inside the caller's transaction (the caller wakes the dispatcher
/// once it commits).
pub(super) fn schedule_in(tx: &Transaction<'_>, job: &NewJob<'_>) -> Result<Scheduled, QueueError> {
    let args = encode_args(job.args);
    let start_after = format_time(job.start_after);
    let pending: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM job WHERE type = ?1 AND args = ?2 AND started_at IS NULL ORDER BY id LIMIT 1",
        )?
        .query_row(params![job.job_type, args], |row| row.get(0))
        .optional()?;
    let id = match pending {
        Some(id) => {
            tx.prepare_cached(
                "UPDATE job SET channel = ?2, thread_ts = ?3, message_ts = ?4, start_after = ?5, is_im = ?6
                 WHERE id = ?1",
            )?
            .execute(params![id, job.channel, job.thread_ts, job.message_ts, start_after, job.is_im])?;
            id
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO job (type, args, channel, thread_ts, message_ts, start_after, started_at, is_im)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
            )?
            .execute(params![
                job.job_type,
                args,
                job.channel,
                job.thread_ts,
                job.message_ts,
                start_after,
                job.is_im
            ])?;
            tx.last_insert_rowid()
        }
    };
    super::requesters::record_in(tx, id, pending.is_none(), job.requester, &start_after)?;
    let already_running: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM job WHERE type = ?1 AND started_at IS NOT NULL)",
        )?
        .query_row([job.job_type], |row| row.get(0))?;
    Ok(Scheduled::logged(
        id,
        job.job_type,
        already_running,
        pending.is_some(),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_util::*;
    use super::*;

    #[test]
    fn same_type_and_args_updates_the_pending_job() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let a = args(&[("name", "Bob")]);
        let first = add(&queue, "greet", &a, 10);
        let second = queue
            .schedule(&NewJob {
                job_type: "greet",
                args: &a,
                channel: "C2",
                thread_ts: Some("1.2"),
                message_ts: Some("3.4"),
                is_im: true,
                start_after: at(20),
                requester: None,
            })
            .expect("schedule");
        assert_eq!(first.id, second.id);
        assert_eq!(count(&queue, "job"), 1);
        let status = queue.status(at(0)).expect("status");
        let job = &status.scheduled[0];
        assert_eq!(job.channel, "C2");
        assert_eq!(job.thread_ts.as_deref(), Some("1.2"));
        assert_eq!(job.message_ts.as_deref(), Some("3.4"));
        assert!(job.is_im);
        assert_eq!(job.start_after, at(20));
    }

    #[test]
    fn different_args_queue_separately() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let a = add(&queue, "greet", &args(&[("name", "Bob")]), 0);
        let b = add(&queue, "greet", &args(&[("name", "Ann")]), 0);
        let c = add(&queue, "other", &args(&[("name", "Bob")]), 0);
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(count(&queue, "job"), 3);
    }

    #[test]
    fn dedupes_against_python_written_args() {
        let queue = SqliteStore::open_in_memory().expect("open");
        raw(
            &queue,
            r#"INSERT INTO job (type, args, channel, start_after, is_im)
               VALUES ('greet', '{"a": "\u00e9", "b": "x\"y"}', 'C1', '2024-01-01 10:00:00+00:00', 0)"#,
        );
        let s = add(&queue, "greet", &args(&[("b", "x\"y"), ("a", "é")]), 0);
        assert_eq!(count(&queue, "job"), 1);
        assert_eq!(s.id, 1);
    }

    #[test]
    fn running_job_is_not_updated_and_flag_is_set() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let a = args(&[("x", "1")]);
        let first = add(&queue, "t", &a, 0);
        assert!(!first.already_running);
        let running = queue.reserve("d", at(0)).expect("reserve").expect("job");
        // Same args while running: a new pending row, flagged.
        let second = add(&queue, "t", &a, 0);
        assert!(second.already_running);
        assert_ne!(second.id, running.id);
        // Different args of the same type: also flagged.
        assert!(add(&queue, "t", &args(&[("x", "2")]), 0).already_running);
        assert!(!add(&queue, "u", &a, 0).already_running);
    }

    #[test]
    fn schedule_job_uses_delay_from_now() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let before = Utc::now();
        queue
            .schedule_job(
                "t",
                &args(&[]),
                "C1",
                Some("9.9"),
                Duration::from_secs(60),
                true,
                Some("8.8"),
            )
            .expect("schedule");
        let job = queue.status(before).expect("status").scheduled.remove(0);
        assert!(job.start_after >= before + chrono::TimeDelta::seconds(60));
        assert!(job.start_after <= Utc::now() + chrono::TimeDelta::seconds(60));
        assert_eq!(job.thread_ts.as_deref(), Some("9.9"));
        assert_eq!(job.message_ts.as_deref(), Some("8.8"));
        assert!(job.is_im);
        assert!(matches!(
            queue.schedule_job("t", &args(&[]), "C1", None, Duration::MAX, false, None),
            Err(QueueError::DurationTooLong(_))
        ));
    }

    #[test]
    fn cancel_never_removes_running() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "t", &args(&[("x", "1")]), 0);
        let running = queue.reserve("d", at(0)).expect("reserve").expect("job");
        add(&queue, "t", &args(&[("x", "2")]), 0);
        add(&queue, "t", &args(&[("x", "3")]), 5);
        add(&queue, "u", &args(&[]), 0);
        assert_eq!(queue.cancel_job("t").expect("cancel"), 2);
        let status = queue.status(at(0)).expect("status");
        assert_eq!(status.running.len(), 1);
        assert_eq!(status.running[0].id, running.id);
        assert_eq!(status.scheduled.len(), 1);
        assert_eq!(status.scheduled[0].job_type, "u");
    }

    #[test]
    fn remove_job_removes_pending_and_marks_running() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let pending = add(&queue, "p", &args(&[]), 100);
        add(&queue, "r", &args(&[]), 0);
        let running = queue.reserve("d", at(0)).expect("reserve").expect("job");
        add(&queue, "r", &args(&[("n", "2")]), 0);
        assert!(
            queue.reserve("d", at(1)).expect("reserve").is_none(),
            "type r is blocked"
        );
        assert_eq!(
            queue.remove_job(running.id, "U1", at(1)).expect("remove"),
            Removal::Stopping,
            "a dispatcher runs it: it stops it first"
        );
        assert!(
            queue.reserve("d", at(1)).expect("reserve").is_none(),
            "r stays blocked while its process may run"
        );
        assert_eq!(
            queue.remove_job(pending.id, "U1", at(1)).expect("remove"),
            Removal::Removed
        );
        assert_eq!(
            queue
                .remove_job(pending.id, "U1", at(1))
                .expect("remove again"),
            Removal::NotFound
        );
        // A started row no dispatcher runs (left by the Python service) goes at once.
        raw(&queue, "INSERT INTO job (type, args, channel, start_after, started_at) VALUES ('py', '{}', 'C1', '2030-06-01 12:00:00+00:00', '2030-06-01 12:00:00+00:00')");
        let py = queue.status(at(1)).expect("status").running;
        let py = py.iter().find(|j| j.job_type == "py").expect("python row");
        assert_eq!(py.run, None);
        assert_eq!(
            queue.remove_job(py.id, "U1", at(1)).expect("remove"),
            Removal::Removed
        );
        let history = queue.history(10).expect("history");
        assert_eq!(history.len(), 1, "only the started python row ran");
        assert_eq!(history[0].exit, ExitKind::Removed);
        assert_eq!(count(&queue, "job_run"), 1, "r's run is still there");
    }

    #[test]
    fn next_start_after_skips_running_types_and_waits_out_suppressions() {
        let queue = SqliteStore::open_in_memory().expect("open");
        assert_eq!(queue.next_start_after_at(at(0)).expect("next"), None);
        add(&queue, "a", &args(&[]), 0);
        queue.reserve("d", at(0)).expect("reserve").expect("job");
        add(&queue, "a", &args(&[("n", "1")]), 5);
        assert_eq!(
            queue.next_start_after_at(at(0)).expect("next"),
            None,
            "a is running"
        );
        add(&queue, "b", &args(&[]), 30);
        add(&queue, "c", &args(&[]), 10);
        assert_eq!(
            queue.next_start_after_at(at(0)).expect("next"),
            Some(at(10))
        );
        queue
            .schedule_suppression("c", at(-5), at(60))
            .expect("suppress");
        assert_eq!(
            queue.next_start_after_at(at(0)).expect("next"),
            Some(at(30))
        );
        // Python rows without a fraction parse too.
        raw(&queue, "INSERT INTO job (type, args, channel, start_after) VALUES ('e', '{}', 'C', '2030-06-01 12:00:01+00:00')");
        assert_eq!(queue.next_start_after_at(at(0)).expect("next"), Some(at(1)));
        // Rows that are not times are reserve's to report, not the planner's to choke on.
        raw(
            &queue,
            "INSERT INTO job (type, args, channel, start_after) VALUES ('f', '{}', 'C', 'soon');
             INSERT INTO job (type, args, channel, start_after) VALUES ('g', '{}', 'C', '2030-06-01 11:99:00+00:00');",
        );
        assert_eq!(
            queue.next_start_after_at(at(0)).expect("next"),
            Some(at(1)),
            "g skipped"
        );
        raw(
            &queue,
            "DELETE FROM job WHERE type IN ('a', 'b', 'e', 'f', 'g')",
        );
        assert_eq!(
            queue.next_start_after_at(at(0)).expect("next"),
            Some(at(60)),
            "only c, suppressed, is left"
        );
        queue
            .schedule_suppression("c", at(-5), at(90))
            .expect("overlapping suppression");
        assert_eq!(
            queue.next_start_after_at(at(0)).expect("next"),
            Some(at(90)),
            "latest end of active ones"
        );
    }
}
