//! Adding, cancelling and removing jobs, and when the next one is due.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::args::encode_args;
use super::history::{insert_history, ExitKind, HistoryRow};
use super::job::{NewJob, RawJob, Scheduled, JOB_COLUMNS};
use super::time::{format_time, parse_time, to_delta};
use super::{Queue, QueueError};
use crate::config::Args;

/// A `start_after` that looks like a time; anything else is handed to `reserve` at once so it
/// is reported instead of sitting unseen (see [`Queue::reserve`]).
pub(crate) const TIME_GLOB: &str =
    "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'";

impl Queue {
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
        let start_after = to_delta(delay)
            .and_then(|delta| Utc::now().checked_add_signed(delta))
            .ok_or(QueueError::DurationTooLong(delay))?;
        self.schedule(&NewJob {
            job_type,
            args,
            channel,
            thread_ts,
            message_ts,
            is_im,
            start_after,
        })
    }

    /// [`Queue::schedule_job`] with an absolute start time.
    pub fn schedule(&self, job: &NewJob<'_>) -> Result<Scheduled, QueueError> {
        let args = encode_args(job.args);
        let start_after = format_time(job.start_after);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
        let already_running: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM job WHERE type = ?1 AND started_at IS NOT NULL)",
            )?
            .query_row([job.job_type], |row| row.get(0))?;
        tx.commit()?;
        drop(conn);
        tracing::debug!(
            job_id = id,
            job_type = job.job_type,
            updated = pending.is_some(),
            "job scheduled"
        );
        self.wake();
        Ok(Scheduled {
            id,
            already_running,
        })
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

    /// Removes one job row, running or pending (`remove job id N`, to unblock a type whose
    /// job is stuck). A running one is recorded in history as [`ExitKind::Removed`]; its
    /// process, if any, is the dispatcher's to stop. Returns whether the row existed.
    pub fn remove_job(&self, id: i64) -> Result<bool, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM job WHERE id = ?1");
        let row = tx
            .prepare_cached(&sql)?
            .query_row([id], RawJob::from_row)
            .optional()?;
        let Some(row) = row else {
            return Ok(false);
        };
        tx.prepare_cached("DELETE FROM job WHERE id = ?1")?
            .execute([id])?;
        tx.prepare_cached("DELETE FROM job_lease WHERE job_id = ?1")?
            .execute([id])?;
        let running = row.started_at.is_some();
        if running {
            insert_history(
                &tx,
                &HistoryRow {
                    job_id: id,
                    job_type: &row.job_type,
                    args: row.args.as_deref(),
                    channel: row.channel.as_deref(),
                    started_at: row.started_at.as_deref(),
                    ended_at: &format_time(Utc::now()),
                    exit: &ExitKind::Removed,
                    log_dir: None,
                },
            )?;
        }
        tx.commit()?;
        drop(conn);
        tracing::info!(job_id = id, job_type = %row.job_type, running, "job removed");
        self.wake();
        Ok(true)
    }

    /// When the dispatcher should next try [`Queue::reserve`]: the earliest `start_after` of a
    /// pending job whose type is not running, pushed to the end of any suppression active now
    /// (so a suppressed job does not make the dispatcher spin). `None` if nothing waits.
    /// A finishing job wakes the dispatcher through [`Queue::notified`] / `data_version`.
    pub fn next_start_after(&self) -> Result<Option<DateTime<Utc>>, QueueError> {
        self.next_start_after_at(Utc::now())
    }

    /// [`Queue::next_start_after`] with suppressions judged at `now`.
    pub fn next_start_after_at(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, QueueError> {
        let sql = format!(
            "SELECT MIN(MAX(j.start_after, COALESCE(
                 (SELECT MAX(s.end_at) FROM suppression s
                  WHERE s.job_type = j.type AND s.start_at <= ?1 AND s.end_at > ?1), '')))
             FROM job j
             WHERE j.started_at IS NULL AND j.start_after GLOB {TIME_GLOB}
               AND NOT EXISTS (SELECT 1 FROM job r WHERE r.type = j.type AND r.started_at IS NOT NULL)"
        );
        let next: Option<String> = self
            .conn()
            .prepare_cached(&sql)?
            .query_row([format_time(now)], |row| row.get(0))?;
        match next {
            Some(text) => Ok(Some(parse_time(&text).map_err(|source| {
                QueueError::BadTime {
                    table: "job",
                    id: 0,
                    source,
                }
            })?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_util::*;
    use super::*;

    #[test]
    fn same_type_and_args_updates_the_pending_job() {
        let queue = Queue::open_in_memory().expect("open");
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
        let queue = Queue::open_in_memory().expect("open");
        let a = add(&queue, "greet", &args(&[("name", "Bob")]), 0);
        let b = add(&queue, "greet", &args(&[("name", "Ann")]), 0);
        let c = add(&queue, "other", &args(&[("name", "Bob")]), 0);
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(count(&queue, "job"), 3);
    }

    #[test]
    fn dedupes_against_python_written_args() {
        let queue = Queue::open_in_memory().expect("open");
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
        let queue = Queue::open_in_memory().expect("open");
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
        let queue = Queue::open_in_memory().expect("open");
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
        let queue = Queue::open_in_memory().expect("open");
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
    fn remove_job_removes_pending_or_running() {
        let queue = Queue::open_in_memory().expect("open");
        let pending = add(&queue, "p", &args(&[]), 100);
        add(&queue, "r", &args(&[]), 0);
        let running = queue.reserve("d", at(0)).expect("reserve").expect("job");
        add(&queue, "r", &args(&[("n", "2")]), 0);
        assert!(
            queue.reserve("d", at(1)).expect("reserve").is_none(),
            "type r is blocked"
        );
        assert!(queue.remove_job(running.id).expect("remove"));
        assert!(queue.remove_job(pending.id).expect("remove"));
        assert!(!queue.remove_job(pending.id).expect("remove again"));
        assert_eq!(count(&queue, "job_lease"), 0);
        let history = queue.history(10).expect("history");
        assert_eq!(history.len(), 1, "only the running one ran");
        assert_eq!(history[0].exit, ExitKind::Removed);
        // The type is unblocked.
        let next = queue.reserve("d", at(1)).expect("reserve").expect("job");
        assert_eq!(next.args, args(&[("n", "2")]));
    }

    #[test]
    fn next_start_after_skips_running_types_and_waits_out_suppressions() {
        let queue = Queue::open_in_memory().expect("open");
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
    }
}
