//! What ran and how it ended: `job_history` rows written when a run finishes, is removed or
//! is reaped, read back newest first and pruned after [`HISTORY_RETENTION`](crate::queue::history::HISTORY_RETENTION).

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::{PgStore, NOTIFY_SQL};
use crate::queue::history::{history_cutoff, ExitKind, Finished, HistoryEntry, HistoryRow};
use crate::queue::job::RunId;
use crate::queue::{NewEntry, QueueError};

/// Writes one history row inside the caller's transaction.
pub(super) async fn insert_history(
    tx: &Transaction<'_>,
    row: &HistoryRow<'_>,
) -> Result<(), QueueError> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO job_history (job_id, type, args, channel, started_at, ended_at, exit_kind,
                                      exit_code, exit_detail, log_dir, run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &row.job_id,
            &row.job_type,
            &row.args,
            &row.channel,
            &row.started_at,
            &row.ended_at,
            &row.exit.kind(),
            &row.exit.code(),
            &row.exit.detail(),
            &row.log_dir,
            &row.run.map(|r| r.0),
        ],
    )
    .await?;
    Ok(())
}

impl PgStore {
    /// Records how run `run` ended and deletes its job and run; `false` if the run was gone
    /// (then nothing is written). One statement, so one round trip.
    pub async fn finish(&self, run: RunId, record: &Finished) -> Result<bool, QueueError> {
        self.finish_reporting(run, record, &[], Utc::now())
            .await
            .map(|(finished, _)| finished)
    }

    /// [`PgStore::finish`], adding `reports` to the outbox in the same transaction (even if
    /// the run was gone: the job did run); returns their ids too.
    pub async fn finish_reporting(
        &self,
        run: RunId,
        record: &Finished,
        reports: &[NewEntry],
        now: DateTime<Utc>,
    ) -> Result<(bool, Vec<i64>), QueueError> {
        let mut client = self.client().await?;
        let client = client.transaction().await?;
        let mut ids = Vec::with_capacity(reports.len());
        for entry in reports {
            ids.push(super::outbox::insert(&client, entry, now).await?);
        }
        let finish = client
            .prepare_cached(
                "WITH gone AS (
                     DELETE FROM job WHERE id = (SELECT job_id FROM job_run WHERE run_id = $1::int8)
                     RETURNING id, type, args, channel
                 ),
                 ended AS (
                     DELETE FROM job_run WHERE run_id = $1 RETURNING run_id
                 ),
                 recorded AS (
                     INSERT INTO job_history (job_id, type, args, channel, started_at, ended_at,
                                              exit_kind, exit_code, exit_detail, log_dir, run_id)
                     SELECT gone.id, gone.type, gone.args, gone.channel, $2::timestamptz,
                            $3::timestamptz, $4::text, $5::int4, $6::text, $7::text,
                            ended.run_id
                     FROM gone, ended
                     RETURNING 1
                 )
                 SELECT (SELECT COUNT(*) FROM recorded), pg_notify('bennettbot_queue', '')",
            )
            .await?;
        let row = client
            .query_one(
                &finish,
                &[
                    &run.0,
                    &record.started_at,
                    &record.ended_at,
                    &record.exit.kind(),
                    &record.exit.code(),
                    &record.exit.detail(),
                    &record.log_dir,
                ],
            )
            .await?;
        client.commit().await?;
        let finished = row.get::<_, i64>(0) == 1;
        if finished {
            tracing::debug!(run_id = %run, exit = ?record.exit, "job finished");
        } else {
            tracing::info!(run_id = %run, exit = ?record.exit, "finished run was already removed");
        }
        self.wake();
        Ok((finished, ids))
    }

    /// Deletes run `run` and its job without history; `false` if the run was gone.
    pub async fn release(&self, run: RunId) -> Result<bool, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let deleted = tx
            .execute(
                "DELETE FROM job WHERE id = (SELECT job_id FROM job_run WHERE run_id = $1)",
                &[&run.0],
            )
            .await?;
        tx.execute("DELETE FROM job_run WHERE run_id = $1", &[&run.0])
            .await?;
        tx.execute(NOTIFY_SQL, &[]).await?;
        tx.commit().await?;
        tracing::warn!(run_id = %run, "run released without its history entry");
        self.wake();
        Ok(deleted == 1)
    }

    /// The latest `limit` history entries, newest first.
    pub async fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, job_id, type, args, channel, started_at, ended_at, exit_kind, exit_code,
                        exit_detail, log_dir, run_id
                 FROM job_history ORDER BY ended_at DESC, id DESC LIMIT $1",
                &[&limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| HistoryEntry {
                id: row.get(0),
                job_id: row.get(1),
                job_type: row.get(2),
                args_json: row.get(3),
                channel: row.get(4),
                started_at: row.get(5),
                ended_at: row.get(6),
                exit: ExitKind::from_columns(row.get(7), row.get(8), row.get(9)),
                log_dir: row.get(10),
                run: row.get::<_, Option<i64>>(11).map(RunId),
            })
            .collect())
    }

    /// Deletes history older than [`HISTORY_RETENTION`](crate::queue::history::HISTORY_RETENTION); returns how many.
    pub async fn prune_history(&self, now: DateTime<Utc>) -> Result<usize, QueueError> {
        let cutoff = history_cutoff(now);
        let pruned = self
            .client()
            .await?
            .execute("DELETE FROM job_history WHERE ended_at < $1", &[&cutoff])
            .await?;
        self.prune_requesters().await?;
        Ok(pruned as usize)
    }
}
