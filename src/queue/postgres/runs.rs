//! Reserving jobs, heartbeats, and reaping jobs whose dispatcher died, in PostgreSQL: one
//! running job per type and each dead job reaped once, across hosts.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::history::insert_history;
use super::jobs::{raw_job, JOB_COLUMNS};
use super::{is_unique_violation, PgStore, NOTIFY_SQL};
use crate::queue::history::{ExitKind, HistoryRow};
use crate::queue::job::{Job, RunId};
use crate::queue::runs::{dead_before, Reaped};
use crate::queue::QueueError;

/// How often `reserve` retries after losing a race for a job type to another dispatcher.
const RESERVE_ATTEMPTS: usize = 5;

impl PgStore {
    /// Reserves the next due job for `owner`, stamped with the server's clock: due, in
    /// `start_after` then id order, of a type with no running job and no active suppression.
    /// Rows another dispatcher is reserving are skipped (`SKIP LOCKED`); two dispatchers that
    /// pick two jobs of one type at once collide on the one-running-per-type index (the
    /// server logs a unique violation), and the loser tries again. An unreadable row is
    /// reserved and returned as [`QueueError::BadRow`], so that no dispatcher picks it up
    /// again.
    pub async fn reserve(&self, owner: &str) -> Result<Option<Job>, QueueError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_reserve(owner).await {
                Err(QueueError::Postgres(e)) if is_unique_violation(&e) => {
                    if attempt == RESERVE_ATTEMPTS {
                        // Others keep winning: nothing is lost, their commits wake this
                        // dispatcher again.
                        tracing::debug!(attempt, "lost every race for a job; trying later");
                        return Ok(None);
                    }
                    tracing::debug!(
                        attempt,
                        "another dispatcher started a job of that type; retrying"
                    );
                }
                outcome => return outcome,
            }
        }
    }

    /// Two statements, so two round trips: expired suppressions go; then, on a snapshot taken
    /// after any wait for their locks, the next due job of a free type is picked (in
    /// `job_pending`'s order, so the index serves the sort however long the queue), stamped
    /// and given its run.
    async fn try_reserve(&self, owner: &str) -> Result<Option<Job>, QueueError> {
        let client = self.client().await?;
        let expire = client
            .prepare_cached("DELETE FROM suppression WHERE end_at <= statement_timestamp()")
            .await?;
        client.execute(&expire, &[]).await?;
        let reserve = client
            .prepare_cached(
                "WITH pick AS (
                     SELECT job.id FROM job
                     WHERE job.started_at IS NULL
                       AND (job.start_after <= statement_timestamp() OR job.start_after IS NULL)
                       AND NOT EXISTS (SELECT 1 FROM job AS r
                                       WHERE r.type = job.type AND r.started_at IS NOT NULL)
                       AND NOT EXISTS (SELECT 1 FROM suppression AS s
                                       WHERE s.job_type = job.type
                                         AND s.start_at <= statement_timestamp()
                                         AND s.end_at > statement_timestamp())
                     ORDER BY job.start_after, job.id
                     LIMIT 1
                     FOR UPDATE SKIP LOCKED
                 ),
                 started AS (
                     UPDATE job SET started_at = clock_timestamp() FROM pick WHERE job.id = pick.id
                     RETURNING job.id, job.type, job.args, job.channel, job.thread_ts,
                               job.message_ts, job.start_after, job.started_at, job.is_im
                 ),
                 run AS (
                     INSERT INTO job_run (job_id, owner, heartbeat_at)
                     SELECT id, $1::text, started_at FROM started
                     RETURNING run_id, job_id
                 )
                 SELECT started.id, started.type, started.args, started.channel, started.thread_ts,
                        started.message_ts, started.start_after, started.started_at, started.is_im,
                        run.run_id
                 FROM started JOIN run ON run.job_id = started.id",
            )
            .await?;
        // `started_at` is the clock when the row was updated, after the pick's snapshot, so
        // never before the end of a run of the type another dispatcher committed meanwhile.
        // Unlike SQLite's, PostgreSQL's job ids are never reused, so no stale run can hold
        // this job's id.
        let Some(row) = client.query_opt(&reserve, &[&owner]).await? else {
            return Ok(None);
        };
        let started_at: DateTime<Utc> = row.get(7);
        raw_job(&row).reserved(started_at, owner).map(Some)
    }

    /// Renews every lease `owner` holds.
    pub async fn heartbeat(&self, owner: &str, now: DateTime<Utc>) -> Result<(), QueueError> {
        self.client()
            .await?
            .execute(
                "UPDATE job_run SET heartbeat_at = $2 WHERE owner = $1",
                &[&owner, &now],
            )
            .await?;
        Ok(())
    }

    /// Records the process group of run `run`; `false` if the run is gone.
    pub async fn set_process_group(
        &self,
        run: RunId,
        process_group: i32,
    ) -> Result<bool, QueueError> {
        let updated = self
            .client()
            .await?
            .execute(
                "UPDATE job_run SET process_group = $2 WHERE run_id = $1",
                &[&run.0, &process_group],
            )
            .await?;
        Ok(updated == 1)
    }

    /// The runs `owner` holds, each with who asked to stop it, if anyone.
    pub async fn run_states(
        &self,
        owner: &str,
    ) -> Result<Vec<(RunId, Option<String>)>, QueueError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT run_id, stop_requested_by FROM job_run WHERE owner = $1",
                &[&owner],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (RunId(row.get(0)), row.get(1)))
            .collect())
    }

    /// Removes started jobs whose owner has not heartbeaten for `lease_timeout` (never
    /// `reaper`'s own), recording each as interrupted. Rows another reaper is removing are
    /// skipped, so each dead job is reported once.
    pub async fn reap_dead_leases(
        &self,
        now: DateTime<Utc>,
        lease_timeout: Duration,
        reaper: &str,
    ) -> Result<Vec<Reaped>, QueueError> {
        let cutoff = dead_before(now, lease_timeout)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sql = format!(
            "SELECT {JOB_COLUMNS}, l.process_group FROM job LEFT JOIN job_run AS l ON l.job_id = job.id
             WHERE job.started_at IS NOT NULL
               AND ((l.job_id IS NOT NULL AND l.heartbeat_at < $1 AND l.owner <> $2)
                    OR (l.job_id IS NULL AND job.started_at < $1))
             ORDER BY job.id
             FOR UPDATE OF job SKIP LOCKED"
        );
        let dead = tx.query(&sql, &[&cutoff, &reaper]).await?;
        let mut reaped = Vec::with_capacity(dead.len());
        for row in &dead {
            let raw = raw_job(row);
            let process_group: Option<i32> = row.get(10);
            tx.execute("DELETE FROM job WHERE id = $1", &[&raw.id])
                .await?;
            tx.execute("DELETE FROM job_run WHERE job_id = $1", &[&raw.id])
                .await?;
            // The typed column, not the row's text: PostgreSQL's times always read.
            let started_at: Option<DateTime<Utc>> = row.get(7);
            let history = HistoryRow {
                started_at,
                ..HistoryRow::ended(&raw, &ExitKind::Interrupted, now)
            };
            insert_history(&tx, &history).await?;
            reaped.push(Reaped::from_raw(raw, process_group, now));
        }
        tx.execute(
            "DELETE FROM job_run WHERE NOT EXISTS (SELECT 1 FROM job WHERE job.id = job_run.job_id)",
            &[],
        )
        .await?;
        if !reaped.is_empty() {
            tx.execute(NOTIFY_SQL, &[]).await?;
        }
        tx.commit().await?;
        if !reaped.is_empty() {
            self.wake();
        }
        Ok(reaped)
    }
}
