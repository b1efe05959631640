//! Who asked for each queued job (`job_requester`), so that they may remove it.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};

use super::PgStore;
use crate::queue::job::Requested;
use crate::queue::QueueError;

/// Records `requester` of job `id` in the scheduling transaction (ids are never reused here,
/// but a new row is cleared as on SQLite, so both stores keep one rule).
pub(super) async fn record_in(
    tx: &Transaction<'_>,
    id: i64,
    added: bool,
    requester: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), QueueError> {
    if added {
        tx.execute("DELETE FROM job_requester WHERE job_id = $1", &[&id])
            .await?;
    }
    if let Some(user) = requester {
        let insert = tx
            .prepare_cached(
                "INSERT INTO job_requester (job_id, user_id, requested_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(&insert, &[&id, &user, &now]).await?;
    }
    Ok(())
}

impl PgStore {
    /// Job `id`'s type and requesters, if it is queued or running.
    pub async fn requested(&self, id: i64) -> Result<Option<Requested>, QueueError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt("SELECT type FROM job WHERE id = $1", &[&id])
            .await?
        else {
            return Ok(None);
        };
        let requesters = client
            .query(
                "SELECT user_id FROM job_requester WHERE job_id = $1 ORDER BY requested_at, user_id",
                &[&id],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(Some(Requested {
            job_type: row.get(0),
            requesters,
        }))
    }

    /// Forgets the requesters of jobs no longer queued; returns how many rows.
    pub(super) async fn prune_requesters(&self) -> Result<usize, QueueError> {
        let pruned = self
            .client()
            .await?
            .execute(
                "DELETE FROM job_requester WHERE job_id NOT IN (SELECT id FROM job)",
                &[],
            )
            .await?;
        Ok(pruned as usize)
    }
}
