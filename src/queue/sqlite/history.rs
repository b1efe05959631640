//! What ran and how it ended, in SQLite: `job_history`, written when a job finishes, is
//! removed while running, or is reaped; kept for [`HISTORY_RETENTION`](crate::queue::history::HISTORY_RETENTION).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::SqliteStore;
use crate::queue::history::{history_cutoff, ExitKind, Finished, HistoryEntry, HistoryRow};
use crate::queue::job::RunId;
use crate::queue::time::{format_time, parse_time};
use crate::queue::{NewEntry, QueueError};

/// Writes one history row inside the caller's transaction, its times in the queue's format.
pub(super) fn insert_history(tx: &Transaction<'_>, row: &HistoryRow<'_>) -> Result<(), QueueError> {
    let started_at = row.started_at.map(format_time);
    tx.prepare_cached(
        "INSERT INTO job_history (job_id, type, args, channel, started_at, ended_at, exit_kind, exit_code,
                                  exit_detail, log_dir, run_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        row.job_id,
        row.job_type,
        row.args,
        row.channel,
        started_at,
        format_time(row.ended_at),
        row.exit.kind(),
        row.exit.code(),
        row.exit.detail(),
        row.log_dir,
        row.run.map(|r| r.0)
    ])?;
    Ok(())
}

/// The raw columns of a history row, before its times are parsed.
type HistoryColumns = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn history_columns(row: &Row<'_>) -> rusqlite::Result<HistoryColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
    ))
}

impl SqliteStore {
    /// Records how run `run` ended and deletes its job row and run. If the run is gone (its
    /// lease was reaped, or a user removed a job that had no live run, either of which
    /// recorded it then), nothing is written and `false` is returned: the job id may belong
    /// to another job by now.
    pub fn finish(&self, run: RunId, record: &Finished) -> Result<bool, QueueError> {
        self.finish_reporting(run, record, &[], Utc::now())
            .map(|(finished, _)| finished)
    }

    /// [`SqliteStore::finish`], adding `reports` to the outbox in the same transaction (they
    /// are added even if the run was gone: the job did run); returns their ids too.
    pub fn finish_reporting(
        &self,
        run: RunId,
        record: &Finished,
        reports: &[NewEntry],
        now: DateTime<Utc>,
    ) -> Result<(bool, Vec<i64>), QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = reports
            .iter()
            .map(|entry| super::outbox::insert(&tx, entry, now))
            .collect::<Result<Vec<_>, _>>()?;
        let job_id: Option<i64> = tx
            .prepare_cached("SELECT job_id FROM job_run WHERE run_id = ?1")?
            .query_row([run.0], |row| row.get(0))
            .optional()?;
        let Some(job_id) = job_id else {
            tx.commit()?;
            tracing::info!(run_id = %run, exit = ?record.exit, "finished run was already removed");
            return Ok((false, ids));
        };
        let row: Option<(String, Option<String>, Option<String>)> = tx
            .prepare_cached("SELECT type, args, channel FROM job WHERE id = ?1")?
            .query_row([job_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()?;
        tx.prepare_cached("DELETE FROM job_run WHERE run_id = ?1")?
            .execute([run.0])?;
        if let Some((job_type, args, channel)) = &row {
            tx.prepare_cached("DELETE FROM job WHERE id = ?1")?
                .execute([job_id])?;
            insert_history(
                &tx,
                &HistoryRow {
                    job_id,
                    run: Some(run),
                    job_type,
                    args: args.as_deref(),
                    channel: channel.as_deref(),
                    started_at: Some(record.started_at),
                    ended_at: record.ended_at,
                    exit: &record.exit,
                    log_dir: record.log_dir.as_deref(),
                },
            )?;
        }
        tx.commit()?;
        drop(conn);
        tracing::debug!(job_id, run_id = %run, exit = ?record.exit, "job finished");
        self.wake();
        Ok((row.is_some(), ids))
    }

    /// Deletes run `run` and its job row without writing history: the last resort when
    /// [`SqliteStore::finish`] keeps failing (say its history insert hits a full disk), so the
    /// job's type is not blocked for good. `false` if the run was already gone.
    pub fn release(&self, run: RunId) -> Result<bool, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deleted = tx
            .prepare_cached(
                "DELETE FROM job WHERE id = (SELECT job_id FROM job_run WHERE run_id = ?1)",
            )?
            .execute([run.0])?;
        tx.prepare_cached("DELETE FROM job_run WHERE run_id = ?1")?
            .execute([run.0])?;
        tx.commit()?;
        drop(conn);
        tracing::warn!(run_id = %run, "run released without its history entry");
        self.wake();
        Ok(deleted == 1)
    }

    /// The latest `limit` history entries, newest (by end time) first.
    pub fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, job_id, type, args, channel, started_at, ended_at, exit_kind, exit_code, exit_detail, log_dir, run_id
             FROM job_history ORDER BY ended_at DESC, id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], history_columns)?;
        let mut entries = Vec::new();
        for row in rows {
            let (
                id,
                job_id,
                job_type,
                args_json,
                channel,
                started_at,
                ended_at,
                kind,
                code,
                detail,
                log_dir,
                run_id,
            ) = row?;
            let time = |text: &str| {
                parse_time(text).map_err(|source| QueueError::BadTime {
                    table: "job_history",
                    id,
                    source,
                })
            };
            entries.push(HistoryEntry {
                id,
                job_id,
                run: run_id.map(RunId),
                job_type,
                args_json,
                channel,
                started_at: started_at.as_deref().map(time).transpose()?,
                ended_at: time(&ended_at)?,
                exit: ExitKind::from_columns(&kind, code, detail),
                log_dir,
            });
        }
        Ok(entries)
    }

    /// Deletes history that ended more than [`HISTORY_RETENTION`](crate::queue::history::HISTORY_RETENTION) before `now`; returns how many.
    pub fn prune_history(&self, now: DateTime<Utc>) -> Result<usize, QueueError> {
        let cutoff = history_cutoff(now);
        let pruned = self
            .conn()
            .prepare_cached("DELETE FROM job_history WHERE ended_at < ?1")?
            .execute([format_time(cutoff)])?;
        let requesters = self.prune_requesters()?;
        tracing::debug!(pruned, requesters, "job history pruned");
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::queue::history::HISTORY_RETENTION;
    use crate::queue::job::Removal;

    #[test]
    fn finish_deletes_the_job_and_records_every_exit_kind() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let kinds = [
            ExitKind::Code(0),
            ExitKind::Code(3),
            ExitKind::Signal(9),
            ExitKind::Timeout,
            ExitKind::Interrupted,
            ExitKind::Error("no such script".into()),
        ];
        for (i, exit) in kinds.iter().enumerate() {
            let n = i.to_string();
            add(&queue, "t", &args(&[("n", &n)]), 0);
            let job = queue.reserve("d", at(0)).expect("reserve").expect("job");
            let secs = i64::try_from(i).expect("small");
            let record = Finished {
                started_at: at(secs),
                ended_at: at(secs + 1),
                exit: exit.clone(),
                log_dir: Some(format!("/logs/{n}")),
            };
            queue
                .finish(job.run.expect("run"), &record)
                .expect("finish");
        }
        assert_eq!(count(&queue, "job"), 0);
        assert_eq!(count(&queue, "job_run"), 0);
        let history = queue.history(100).expect("history");
        let exits: Vec<ExitKind> = history.iter().rev().map(|h| h.exit.clone()).collect();
        assert_eq!(exits, kinds);
        let newest = &history[0];
        assert_eq!(newest.job_type, "t");
        assert_eq!(newest.args_json.as_deref(), Some(r#"{"n": "5"}"#));
        assert_eq!(newest.channel.as_deref(), Some("C1"));
        assert_eq!(newest.started_at, Some(at(5)));
        assert_eq!(newest.ended_at, at(6));
        assert_eq!(newest.log_dir.as_deref(), Some("/logs/5"));
        assert_eq!(queue.history(2).expect("history").len(), 2);
    }

    fn done(exit: ExitKind) -> Finished {
        Finished {
            started_at: at(0),
            ended_at: at(1),
            exit,
            log_dir: None,
        }
    }

    #[test]
    fn a_removed_running_job_is_finished_as_removed_by_its_run() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "t", &args(&[]), 0);
        let job = queue.reserve("d", at(0)).expect("reserve").expect("job");
        assert_eq!(
            queue.remove_job(job.id, "U1", at(1)).expect("remove"),
            Removal::Stopping
        );
        assert_eq!(
            queue.run_states("d").expect("states"),
            vec![(job.run.expect("run"), Some("U1".to_owned()))]
        );
        assert!(
            queue.status(at(1)).expect("status").running.len() == 1,
            "the type stays blocked until the process is gone"
        );
        let run = job.run.expect("run");
        assert!(queue.finish(run, &done(ExitKind::Removed)).expect("finish"));
        let history = queue.history(10).expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(
            (history[0].exit.clone(), history[0].run),
            (ExitKind::Removed, Some(run))
        );
    }

    /// Job N runs, its row goes (reaped, or removed with no live run) and a new job gets id
    /// N: the old run's finish must leave the new job alone.
    #[test]
    fn a_stale_run_never_finishes_a_job_that_reused_its_id() {
        let queue = SqliteStore::open_in_memory().expect("open");
        add(&queue, "t", &args(&[]), 0);
        let old = queue.reserve("d", at(0)).expect("reserve").expect("job");
        // Its dispatcher went silent: reaped (row and run deleted, reported interrupted).
        let reaped = queue
            .reap_dead_leases(at(120), std::time::Duration::from_secs(60))
            .expect("reap");
        assert_eq!(reaped.len(), 1);
        let new = add(&queue, "u", &args(&[("n", "new")]), 0);
        assert_eq!(new.id, old.id, "SQLite reuses the deleted row's id");
        let reserved = queue
            .reserve("e", at(121))
            .expect("reserve")
            .expect("new job");
        assert_eq!(reserved.id, old.id);
        assert_ne!(reserved.run, old.run, "a run id is never reused");
        // The old process ends now: its finish and process group must not touch the new job.
        assert!(!queue
            .finish(old.run.expect("run"), &done(ExitKind::Code(0)))
            .expect("finish"));
        assert!(!queue
            .set_process_group(old.run.expect("run"), 4242)
            .expect("pgid"));
        let status = queue.status(at(122)).expect("status");
        assert_eq!(status.running.len(), 1, "the new job still runs");
        assert_eq!(status.running[0].job_type, "u");
        assert_eq!(status.running[0].run, reserved.run);
        assert_eq!(
            queue.history(10).expect("history").len(),
            1,
            "only the reaping was recorded"
        );
    }

    #[test]
    fn prune_removes_entries_older_than_30_days() {
        let queue = SqliteStore::open_in_memory().expect("open");
        for (n, ended) in [("old", at(0)), ("new", at(3600))] {
            add(&queue, n, &args(&[]), 0);
            let job = queue.reserve("d", at(0)).expect("reserve").expect("job");
            let record = Finished {
                started_at: at(0),
                ended_at: ended,
                exit: ExitKind::Code(0),
                log_dir: None,
            };
            queue
                .finish(job.run.expect("run"), &record)
                .expect("finish");
        }
        let now = at(0) + HISTORY_RETENTION + chrono::TimeDelta::seconds(1);
        assert_eq!(queue.prune_history(now).expect("prune"), 1);
        let left = queue.history(10).expect("history");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].job_type, "new");
        assert_eq!(queue.prune_history(now).expect("prune again"), 0);
    }
}
