//! Reserving jobs for a dispatcher, its heartbeat, and reaping jobs whose dispatcher died, in
//! SQLite.
//!
//! A lease is a `job_run` row (run id, job id, owner, heartbeat) written in the same
//! transaction that marks the job started; its run id is never reused (see [`RunId`]). The
//! Python service wrote no leases, so a started job without one is either Python's or
//! orphaned, and is judged by its `started_at` alone.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::history::insert_history;
use super::jobs::{raw_job, JOB_COLUMNS};
use super::suppression::delete_expired;
use super::SqliteStore;
use crate::queue::history::{ExitKind, HistoryRow};
use crate::queue::job::{Job, RunId};
use crate::queue::runs::{dead_before, Reaped};
use crate::queue::time::format_time;
use crate::queue::QueueError;

/// The candidates `reserve` tries in turn, each one index range on `job_pending` (an `OR` of
/// the three would scan every pending row): rows whose `start_after` is NULL, rows whose
/// `start_after` cannot be a time (text from `:` up, i.e. not starting with a digit), then due
/// rows. Text below `0` and numbers compare below any time, so they fall in the due range.
/// Each skips types with a running job or a suppression active at `?1`.
static RESERVE_SQL: LazyLock<[String; 3]> = LazyLock::new(|| {
    let pick = |condition: &str| {
        format!(
            "SELECT {JOB_COLUMNS} FROM job
             WHERE job.started_at IS NULL AND {condition}
               AND NOT EXISTS (SELECT 1 FROM job AS r WHERE r.type = job.type AND r.started_at IS NOT NULL)
               AND NOT EXISTS (SELECT 1 FROM suppression AS s
                               WHERE s.job_type = job.type AND s.start_at <= ?1 AND s.end_at > ?1)
             ORDER BY job.start_after, job.id
             LIMIT 1"
        )
    };
    [
        pick("job.start_after IS NULL"),
        pick("job.start_after >= ':'"),
        pick("job.start_after <= ?1"),
    ]
});

impl SqliteStore {
    /// Reserves the next job for `owner`: due (`start_after <= now`), in `start_after` then id
    /// order, of a type with no running job and no active suppression. Marks it started and
    /// leased to `owner` atomically (`BEGIN IMMEDIATE`), so two dispatchers, in any processes,
    /// never get one job, nor two jobs of one type at once. Removes expired suppressions.
    ///
    /// A row that cannot be read (args not a JSON object of strings, a time that does not
    /// parse) is reserved all the same and returned as `Err(QueueError::BadRow(bad))`: the
    /// row is started and leased, so neither this nor another dispatcher picks it up again.
    /// The dispatcher should report `bad.reason` to `bad.channel` (if any) and call
    /// [`SqliteStore::finish`] with `bad.id` and [`ExitKind::Error`], which removes it and records
    /// it. Left alone, it is reaped like any job once its owner stops heartbeating. A
    /// `start_after` that is NULL or not even shaped like a time (not starting with a digit)
    /// counts as due, so such a row is reported at once rather than sitting unseen.
    pub fn reserve(&self, owner: &str, now: DateTime<Utc>) -> Result<Option<Job>, QueueError> {
        self.reserve_at(owner, || now)
    }

    /// [`SqliteStore::reserve`] at the time `clock` gives once the write lock is held, so a
    /// job's `started_at` is never earlier than the end of the run it waited for (which may
    /// have been committed by another process while this one waited for the lock).
    pub fn reserve_at(
        &self,
        owner: &str,
        clock: impl FnOnce() -> DateTime<Utc>,
    ) -> Result<Option<Job>, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = clock();
        let now_text = format_time(now);
        delete_expired(&tx, &now_text)?;
        let mut raw = None;
        for sql in RESERVE_SQL.iter() {
            let mut stmt = tx.prepare_cached(sql)?;
            let mut rows = stmt.query([&now_text])?;
            if let Some(row) = rows.next()? {
                raw = Some(raw_job(row)?);
                break;
            }
        }
        let Some(raw) = raw else {
            tx.commit()?;
            return Ok(None);
        };
        tx.prepare_cached("UPDATE job SET started_at = ?2 WHERE id = ?1")?
            .execute(params![raw.id, now_text])?;
        // A run left behind by a row deleted outside this crate (the Python service's
        // `remove`) would hold the reused id: it belongs to no job any more.
        tx.prepare_cached("DELETE FROM job_run WHERE job_id = ?1")?
            .execute([raw.id])?;
        tx.prepare_cached("INSERT INTO job_run (job_id, owner, heartbeat_at) VALUES (?1, ?2, ?3)")?
            .execute(params![raw.id, owner, now_text])?;
        let mut raw = raw;
        raw.run = Some(RunId(tx.last_insert_rowid()));
        tx.commit()?;
        drop(conn);
        raw.reserved(now, owner).map(Some)
    }

    /// Renews every lease `owner` holds; call it well within the lease timeout while jobs run.
    pub fn heartbeat(&self, owner: &str, now: DateTime<Utc>) -> Result<(), QueueError> {
        self.conn()
            .prepare_cached("UPDATE job_run SET heartbeat_at = ?2 WHERE owner = ?1")?
            .execute(params![owner, format_time(now)])?;
        Ok(())
    }

    /// Records the process group run `run` runs in (see [`Reaped`]); `false` if the run is
    /// gone (reaped meanwhile), in which case nothing is written.
    pub fn set_process_group(&self, run: RunId, process_group: i32) -> Result<bool, QueueError> {
        let updated = self
            .conn()
            .prepare_cached("UPDATE job_run SET process_group = ?2 WHERE run_id = ?1")?
            .execute(params![run.0, process_group])?;
        Ok(updated == 1)
    }

    /// The runs `owner` holds, each with who asked to stop it (`remove job id N`), if anyone.
    /// A run its dispatcher still runs but that is missing here was reaped by another
    /// dispatcher: its process must stop too.
    pub fn run_states(&self, owner: &str) -> Result<Vec<(RunId, Option<String>)>, QueueError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT run_id, stop_requested_by FROM job_run WHERE owner = ?1")?;
        let rows = stmt.query_map([owner], |row| Ok((RunId(row.get(0)?), row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// [`SqliteStore::reap_dead_leases`], without the process groups.
    pub fn reap_dead_leases(
        &self,
        now: DateTime<Utc>,
        lease_timeout: std::time::Duration,
    ) -> Result<Vec<Job>, QueueError> {
        Ok(self
            .reap_dead_leases_with_groups(now, lease_timeout, "")?
            .into_iter()
            .map(|r| r.job)
            .collect())
    }

    /// Removes started jobs whose owner has not heartbeaten for `lease_timeout`, and started
    /// jobs with no lease (left by the Python service) started more than `lease_timeout` ago,
    /// recording each in history as [`ExitKind::Interrupted`]. They are never re-run: the
    /// caller reports each returned job to its channel. Unreadable parts of such rows are
    /// replaced (args empty, times from what parses) since the row is gone either way.
    ///
    /// Runs of `reaper` itself are never reaped: the dispatcher calling this is alive, and a
    /// run of its own that looks stale only means its heartbeats failed for a while (say the
    /// database was unwritable); reaping it would kill a job that is running fine.
    pub fn reap_dead_leases_with_groups(
        &self,
        now: DateTime<Utc>,
        lease_timeout: std::time::Duration,
        reaper: &str,
    ) -> Result<Vec<Reaped>, QueueError> {
        let cutoff = dead_before(now, lease_timeout)?;
        let cutoff = format_time(cutoff);
        // Text from `:` up cannot be a time: such a Python-left row is reaped at once.
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM job LEFT JOIN job_run AS l ON l.job_id = job.id
             WHERE job.started_at IS NOT NULL
               AND ((l.job_id IS NOT NULL AND l.heartbeat_at < ?1 AND l.owner <> ?2)
                    OR (l.job_id IS NULL AND (job.started_at < ?1 OR job.started_at >= ':')))
             ORDER BY job.id"
        );
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let dead = tx
            .prepare_cached(&sql)?
            .query_map(params![cutoff, reaper], raw_job)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut groups = Vec::with_capacity(dead.len());
        for raw in &dead {
            let group: Option<i32> = tx
                .prepare_cached("SELECT process_group FROM job_run WHERE job_id = ?1")?
                .query_row([raw.id], |row| row.get(0))
                .optional()?
                .flatten();
            groups.push(group);
            tx.prepare_cached("DELETE FROM job WHERE id = ?1")?
                .execute([raw.id])?;
            tx.prepare_cached("DELETE FROM job_run WHERE job_id = ?1")?
                .execute([raw.id])?;
            insert_history(&tx, &HistoryRow::ended(raw, &ExitKind::Interrupted, now))?;
        }
        // Also drops leases whose job was removed by other means (e.g. by the Python service).
        tx.prepare_cached("DELETE FROM job_run WHERE job_id NOT IN (SELECT id FROM job)")?
            .execute([])?;
        tx.commit()?;
        drop(conn);
        if !dead.is_empty() {
            self.wake();
        }
        Ok(dead
            .into_iter()
            .zip(groups)
            .map(|(raw, process_group)| Reaped::from_raw(raw, process_group, now))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_util::*;
    use super::*;

    #[test]
    fn a_dispatcher_never_reaps_its_own_runs() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "t", &args(&[]), 0);
        queue
            .reserve("alive", at(0))
            .expect("reserve")
            .expect("job");
        // Its heartbeats failed for longer than the lease (an unwritable database, say).
        let late = at(600);
        let timeout = Duration::from_secs(60);
        let own = queue
            .reap_dead_leases_with_groups(late, timeout, "alive")
            .expect("reap");
        assert!(own.is_empty(), "reaped its own running job: {own:?}");
        let other = queue
            .reap_dead_leases_with_groups(late, timeout, "another")
            .expect("reap");
        assert_eq!(other.len(), 1, "another dispatcher sees it dead");
    }

    #[test]
    fn never_reserves_a_job_not_yet_due() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "t", &args(&[]), 10);
        assert!(queue.reserve("d", at(9)).expect("reserve").is_none());
        let job = queue
            .reserve("d", at(10))
            .expect("reserve")
            .expect("due now");
        assert_eq!(job.started_at, Some(at(10)));
    }

    #[test]
    fn one_job_per_type_at_a_time() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "t", &args(&[("n", "1")]), 0);
        add(&queue, "t", &args(&[("n", "2")]), 0);
        add(&queue, "u", &args(&[]), 1);
        let first = queue.reserve("d", at(5)).expect("reserve").expect("job");
        assert_eq!(first.args, args(&[("n", "1")]));
        let second = queue.reserve("d", at(5)).expect("reserve").expect("job");
        assert_eq!(second.job_type, "u", "t is busy, u is next");
        assert!(queue.reserve("d", at(5)).expect("reserve").is_none());
        queue
            .finish(first.run.expect("run"), &finished(ExitKind::Code(0)))
            .expect("finish");
        let third = queue.reserve("d", at(5)).expect("reserve").expect("job");
        assert_eq!(third.args, args(&[("n", "2")]));
    }

    fn finished(exit: ExitKind) -> crate::queue::history::Finished {
        crate::queue::history::Finished {
            started_at: at(0),
            ended_at: at(1),
            exit,
            log_dir: None,
        }
    }

    #[test]
    fn reserves_in_start_after_then_id_order() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let late = add(&queue, "a", &args(&[]), 3);
        let tie_first = add(&queue, "b", &args(&[]), 1);
        let tie_second = add(&queue, "c", &args(&[]), 1);
        let early = add(&queue, "d", &args(&[]), 0);
        let order: Vec<i64> = std::iter::from_fn(|| queue.reserve("d", at(10)).expect("reserve"))
            .map(|job| job.id)
            .collect();
        assert_eq!(order, vec![early.id, tie_first.id, tie_second.id, late.id]);
    }

    #[test]
    fn suppression_blocks_reserve_until_it_expires() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "t", &args(&[]), 0);
        add(&queue, "u", &args(&[]), 0);
        queue
            .schedule_suppression("t", at(0), at(60))
            .expect("suppress");
        let job = queue.reserve("d", at(1)).expect("reserve").expect("u runs");
        assert_eq!(job.job_type, "u");
        assert!(queue.reserve("d", at(59)).expect("reserve").is_none());
        assert_eq!(count(&queue, "suppression"), 1);
        let job = queue
            .reserve("d", at(60))
            .expect("reserve")
            .expect("t runs once expired");
        assert_eq!(job.job_type, "t");
        assert_eq!(
            count(&queue, "suppression"),
            0,
            "expired suppression removed"
        );
    }

    #[test]
    fn future_suppression_does_not_block_yet() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "t", &args(&[]), 0);
        queue
            .schedule_suppression("t", at(30), at(60))
            .expect("suppress");
        assert!(queue.reserve("d", at(1)).expect("reserve").is_some());
    }

    #[test]
    fn unreadable_row_is_reserved_as_an_error_and_finished() {
        let queue = SqliteStore::open_in_memory().expect("open");
        raw(
            &queue,
            "INSERT INTO job (type, args, channel, thread_ts, start_after)
               VALUES ('bad', 'not json', 'C7', '1.1', '2030-06-01 12:00:00+00:00');
             INSERT INTO job (type, args, channel, start_after) VALUES ('future', '{}', 'C7', '2030-06-01 13:00:00+00:00');
             INSERT INTO job (type, args, channel, start_after) VALUES ('text', '{}', 'C7', 'garbage');
             INSERT INTO job (type, args, channel, start_after) VALUES ('null', '{}', 'C7', NULL);
             INSERT INTO job (type, args, channel, start_after) VALUES ('number', '{}', 'C7', 12345);
             INSERT INTO job (type, args, channel, start_after) VALUES ('month', '{}', 'C7', '2030-13-01 00:00:00+00:00');",
        );
        add(&queue, "good", &args(&[]), 5);
        let mut bad_rows = Vec::new();
        let mut good = Vec::new();
        while let Some(result) = queue.reserve("d", at(10)).transpose() {
            match result {
                Ok(job) => good.push(job.job_type),
                Err(QueueError::BadRow(bad)) => bad_rows.push(*bad),
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert_eq!(good, vec!["good"]);
        // Not-a-time start_after (NULL, text, number) counts as due; a digit-led bad date is
        // compared as text, so it is due only once the text says so.
        let mut types: Vec<&str> = bad_rows.iter().map(|b| b.job_type.as_str()).collect();
        types.sort_unstable();
        assert_eq!(types, vec!["bad", "null", "number", "text"]);
        let bad = bad_rows
            .iter()
            .find(|b| b.job_type == "bad")
            .expect("bad row");
        assert_eq!(
            (bad.channel.as_deref(), bad.thread_ts.as_deref()),
            (Some("C7"), Some("1.1"))
        );
        assert!(bad.reason.contains("not json"), "{}", bad.reason);
        let null = bad_rows
            .iter()
            .find(|b| b.job_type == "null")
            .expect("null row");
        assert_eq!(null.reason, "start_after is NULL");
        let text = bad_rows
            .iter()
            .find(|b| b.job_type == "text")
            .expect("text row");
        assert!(text.reason.contains("start_after"), "{}", text.reason);

        let status = queue.status(at(10)).expect("status");
        assert_eq!(status.running.len(), 1, "good runs");
        assert_eq!(
            status.unreadable.len(),
            5,
            "four reserved bad rows and the pending bad month"
        );
        for bad in &bad_rows {
            queue
                .finish(
                    bad.run.expect("run"),
                    &finished(ExitKind::Error(bad.reason.clone())),
                )
                .expect("finish");
        }
        let history = queue.history(10).expect("history");
        assert_eq!(history.len(), 4);
        assert!(history
            .iter()
            .any(|h| h.args_json.as_deref() == Some("not json")));
        assert!(history.iter().all(|h| matches!(h.exit, ExitKind::Error(_))));
        assert_eq!(queue.status(at(10)).expect("status").unreadable.len(), 1);
    }

    #[test]
    fn reaping_returns_the_dead_jobs_process_group() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "t", &args(&[]), 0);
        add(&queue, "u", &args(&[]), 0);
        let with_group = queue.reserve("d", at(0)).expect("reserve").expect("job");
        let without = queue.reserve("d", at(0)).expect("reserve").expect("job");
        queue
            .set_process_group(with_group.run.expect("run"), 4321)
            .expect("record group");
        let reaped = queue
            .reap_dead_leases_with_groups(at(100), Duration::from_secs(30), "")
            .expect("reap");
        let groups: Vec<(i64, Option<i32>)> =
            reaped.iter().map(|r| (r.job.id, r.process_group)).collect();
        assert_eq!(
            groups,
            vec![(with_group.id, Some(4321)), (without.id, None)]
        );
    }

    #[test]
    fn heartbeat_keeps_a_lease_alive_and_silence_reaps_it() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let timeout = Duration::from_secs(30);
        add(&queue, "t", &args(&[("n", "1")]), 0);
        add(&queue, "u", &args(&[]), 0);
        let alive = queue
            .reserve("alive", at(0))
            .expect("reserve")
            .expect("job");
        let dead = queue.reserve("dead", at(0)).expect("reserve").expect("job");
        queue.heartbeat("alive", at(50)).expect("heartbeat");
        assert!(
            queue
                .reap_dead_leases(at(30), timeout)
                .expect("reap")
                .is_empty(),
            "not older than the timeout"
        );
        let reaped = queue.reap_dead_leases(at(60), timeout).expect("reap");
        assert_eq!(
            reaped.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![dead.id]
        );
        assert_eq!(reaped[0].channel, "C1");
        let status = queue.status(at(60)).expect("status");
        assert_eq!(
            status.running.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![alive.id]
        );
        let history = queue.history(10).expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].exit, ExitKind::Interrupted);
        assert_eq!(history[0].job_id, dead.id);
        assert_eq!(history[0].started_at, Some(at(0)));
        assert_eq!(history[0].ended_at, at(60));
        // Never re-run: the row is gone, and the type is free for new work.
        assert!(queue.reserve("alive", at(61)).expect("reserve").is_none());
    }

    #[test]
    fn python_left_started_rows_are_reaped_after_the_timeout() {
        let queue = SqliteStore::open_in_memory().expect("open");
        raw(
            &queue,
            r#"INSERT INTO job (type, args, channel, thread_ts, start_after, started_at, is_im)
                 VALUES ('old', '{"x": "1"}', 'C5', '5.5', '2030-06-01 11:00:00+00:00', '2030-06-01 11:59:00+00:00', 0);
               INSERT INTO job (type, args, channel, start_after, started_at, is_im)
                 VALUES ('fresh', '{}', 'C5', '2030-06-01 11:00:00+00:00', '2030-06-01 11:59:50.5+00:00', 0);
               INSERT INTO job (type, args, channel, start_after, started_at, is_im)
                 VALUES ('broken', 'nope', 'C6', 'x', 'y', 0);"#,
        );
        let reaped = queue
            .reap_dead_leases(t0(), Duration::from_secs(30))
            .expect("reap");
        let types: Vec<&str> = reaped.iter().map(|j| j.job_type.as_str()).collect();
        assert_eq!(types, vec!["old", "broken"]);
        assert_eq!(reaped[0].args, args(&[("x", "1")]));
        assert_eq!(reaped[0].thread_ts.as_deref(), Some("5.5"));
        assert_eq!(reaped[1].channel, "C6");
        assert!(reaped[1].args.is_empty());
        let history = queue.history(10).expect("history");
        assert_eq!(history.len(), 2);
        assert!(history.iter().all(|h| h.exit == ExitKind::Interrupted));
        let started: Vec<_> = history
            .iter()
            .map(|h| (h.job_type.as_str(), h.started_at))
            .collect();
        assert!(started.contains(&("broken", None)), "{started:?}");
        assert!(
            started.contains(&("old", Some(t0() - chrono::TimeDelta::seconds(60)))),
            "{started:?}"
        );
        assert_eq!(count(&queue, "job"), 1, "fresh one stays");
    }
}
