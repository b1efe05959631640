//! Adding, cancelling and removing jobs, and when the next one is due.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::history::insert_history;
use super::{PgStore, NOTIFY_SQL};
use crate::queue::args::encode_args;
use crate::queue::history::{ExitKind, HistoryRow};
use crate::queue::job::{NewJob, RawJob, Removal, RunId, Scheduled};
use crate::queue::time::format_time;
use crate::queue::QueueError;

/// The columns every job query selects, in the order [`raw_job`] reads them.
pub(super) const JOB_COLUMNS: &str = "job.id, job.type, job.args, job.channel, job.thread_ts,
     job.message_ts, job.start_after, job.started_at, job.is_im,
     (SELECT run_id FROM job_run WHERE job_run.job_id = job.id)";

/// A job row as the shared [`RawJob`], so both stores judge rows by the same rules.
pub(super) fn raw_job(row: &Row) -> RawJob {
    let time = |i: usize| row.get::<_, Option<DateTime<Utc>>>(i).map(format_time);
    RawJob {
        id: row.get(0),
        job_type: row.get(1),
        args: row.get(2),
        channel: row.get(3),
        thread_ts: row.get(4),
        message_ts: row.get(5),
        start_after: time(6),
        started_at: time(7),
        is_im: row.get::<_, Option<bool>>(8).unwrap_or(false),
        run: row.get::<_, Option<i64>>(9).map(RunId),
    }
}

impl PgStore {
    /// Schedules a job, deduplicating on type and args text: a pending job with both equal is
    /// updated instead of adding another.
    pub async fn schedule(&self, job: &NewJob<'_>) -> Result<Scheduled, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let scheduled = schedule_in(&tx, job).await?;
        tx.execute(NOTIFY_SQL, &[]).await?;
        tx.commit().await?;
        self.wake();
        Ok(scheduled)
    }

    /// Removes every pending job of a type; returns how many.
    pub async fn cancel_job(&self, job_type: &str) -> Result<usize, QueueError> {
        let removed = self
            .client()
            .await?
            .execute(
                "DELETE FROM job WHERE type = $1 AND started_at IS NULL",
                &[&job_type],
            )
            .await?;
        tracing::info!(job_type, removed, "pending jobs cancelled");
        Ok(removed as usize)
    }

    /// `remove job id N`, by user `by`: a pending job, or a started one no dispatcher runs, is
    /// deleted at once (a started one recorded in history as removed); a job a dispatcher
    /// runs is only marked, for that dispatcher to stop its processes and finish the run.
    pub async fn remove_job(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Removal, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM job WHERE id = $1 FOR UPDATE");
        let Some(row) = tx.query_opt(&sql, &[&id]).await? else {
            return Ok(Removal::NotFound);
        };
        let row = raw_job(&row);
        let running = row.started_at.is_some();
        if let (true, Some(run)) = (running, row.run) {
            tx.execute(
                "UPDATE job_run SET stop_requested_by = COALESCE(stop_requested_by, $2),
                                    stop_requested_at = COALESCE(stop_requested_at, $3)
                 WHERE run_id = $1",
                &[&run.0, &by, &now],
            )
            .await?;
            tx.execute(NOTIFY_SQL, &[]).await?;
            tx.commit().await?;
            tracing::info!(job_id = id, run_id = %run, job_type = %row.job_type, by, "running job to be stopped");
            self.wake();
            return Ok(Removal::Stopping);
        }
        tx.execute("DELETE FROM job WHERE id = $1", &[&id]).await?;
        tx.execute("DELETE FROM job_run WHERE job_id = $1", &[&id])
            .await?;
        if running {
            insert_history(&tx, &HistoryRow::ended(&row, &ExitKind::Removed, now)).await?;
        }
        tx.execute(NOTIFY_SQL, &[]).await?;
        tx.commit().await?;
        tracing::info!(job_id = id, job_type = %row.job_type, running, by, "job removed");
        self.wake();
        Ok(Removal::Removed)
    }

    /// When the dispatcher should next try to reserve: the earliest `start_after` of a pending
    /// job whose type is not running, pushed to the end of any suppression active at `now`;
    /// `None` if nothing waits.
    pub async fn next_start_after(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, QueueError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT MIN(GREATEST(COALESCE(job.start_after, $1),
                        COALESCE((SELECT MAX(s.end_at) FROM suppression AS s
                                  WHERE s.job_type = job.type AND s.start_at <= $1 AND s.end_at > $1),
                                 COALESCE(job.start_after, $1))))
                 FROM job
                 WHERE job.started_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM job AS r
                                   WHERE r.type = job.type AND r.started_at IS NOT NULL)",
                &[&now],
            )
            .await?;
        Ok(row.get(0))
    }
}

/// [`PgStore::schedule`] inside the caller's transaction (the caller notifies and commits).
pub(super) async fn schedule_in(
    tx: &Transaction<'_>,
    job: &NewJob<'_>,
) -> Result<Scheduled, QueueError> {
    let args = encode_args(job.args);
    // Schedules of one type take turns, so two of the same args cannot both insert.
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock(1, hashtext($1))")
        .await?;
    tx.execute(&lock, &[&job.job_type]).await?;
    let pending = tx
        .prepare_cached(
            "SELECT id FROM job WHERE type = $1 AND args = $2 AND started_at IS NULL
             ORDER BY id LIMIT 1 FOR UPDATE",
        )
        .await?;
    let pending: Option<i64> = tx
        .query_opt(&pending, &[&job.job_type, &args])
        .await?
        .map(|row| row.get(0));
    let id = match pending {
        Some(id) => {
            let update = tx
                .prepare_cached(
                    "UPDATE job SET channel = $2, thread_ts = $3, message_ts = $4,
                                    start_after = $5, is_im = $6
                     WHERE id = $1",
                )
                .await?;
            tx.execute(
                &update,
                &[
                    &id,
                    &job.channel,
                    &job.thread_ts,
                    &job.message_ts,
                    &job.start_after,
                    &job.is_im,
                ],
            )
            .await?;
            id
        }
        None => {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO job (type, args, channel, thread_ts, message_ts, start_after, started_at, is_im)
                     VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) RETURNING id",
                )
                .await?;
            tx.query_one(
                &insert,
                &[
                    &job.job_type,
                    &args,
                    &job.channel,
                    &job.thread_ts,
                    &job.message_ts,
                    &job.start_after,
                    &job.is_im,
                ],
            )
            .await?
            .get(0)
        }
    };
    super::requesters::record_in(tx, id, pending.is_none(), job.requester, Utc::now()).await?;
    let running = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM job WHERE type = $1 AND started_at IS NOT NULL)",
        )
        .await?;
    let already_running: bool = tx.query_one(&running, &[&job.job_type]).await?.get(0);
    Ok(Scheduled::logged(
        id,
        job.job_type,
        already_running,
        pending.is_some(),
    ))
}
