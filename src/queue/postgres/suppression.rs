//! Suppressions: windows during which jobs of a type are not started. Expired ones are
//! deleted whenever they are looked at.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{PgStore, NOTIFY_SQL};
use crate::queue::suppression::{check_window, Suppression};
use crate::queue::QueueError;

impl PgStore {
    /// Suppresses jobs of `job_type` from `start` until `end`; fails if `end <= start`.
    pub async fn schedule_suppression(
        &self,
        job_type: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        check_window(start, end)?;
        self.client()
            .await?
            .execute(
                "INSERT INTO suppression (job_type, start_at, end_at) VALUES ($1, $2, $3)",
                &[&job_type, &start, &end],
            )
            .await?;
        tracing::info!(job_type, %start, %end, "suppression scheduled");
        Ok(())
    }

    /// Removes every suppression of a type; returns how many.
    pub async fn cancel_suppressions(&self, job_type: &str) -> Result<usize, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let removed = tx
            .execute("DELETE FROM suppression WHERE job_type = $1", &[&job_type])
            .await?;
        tx.execute(NOTIFY_SQL, &[]).await?;
        tx.commit().await?;
        tracing::info!(job_type, removed, "suppressions cancelled");
        self.wake();
        Ok(removed as usize)
    }

    /// The suppression of `job_type` in force at `now`, if any.
    pub async fn active_suppression(
        &self,
        job_type: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Suppression>, QueueError> {
        active_in(&self.client().await?, job_type, now).await
    }
}

/// The suppression of `job_type` in force at `now`, after deleting expired ones.
pub(super) async fn active_in(
    client: &impl GenericClient,
    job_type: &str,
    now: DateTime<Utc>,
) -> Result<Option<Suppression>, QueueError> {
    client
        .execute("DELETE FROM suppression WHERE end_at <= $1", &[&now])
        .await?;
    let row = client
        .query_opt(
            "SELECT id, job_type, start_at, end_at FROM suppression
             WHERE job_type = $1 AND start_at <= $2 AND end_at > $2
             ORDER BY end_at DESC, id LIMIT 1",
            &[&job_type, &now],
        )
        .await?;
    Ok(row.map(|row| suppression(&row)))
}

/// Every suppression (or those of one type), in start order.
pub(super) async fn suppressions(
    client: &impl GenericClient,
    job_type: Option<&str>,
) -> Result<Vec<Suppression>, QueueError> {
    let rows = client
        .query(
            "SELECT id, job_type, start_at, end_at FROM suppression
             WHERE $1::TEXT IS NULL OR job_type = $1 ORDER BY start_at, id",
            &[&job_type],
        )
        .await?;
    Ok(rows.iter().map(suppression).collect())
}

fn suppression(row: &tokio_postgres::Row) -> Suppression {
    // Typed columns: a time is a time. A NULL (written by hand) reads as "always".
    Suppression {
        id: row.get(0),
        job_type: row.get(1),
        start_at: row
            .get::<_, Option<DateTime<Utc>>>(2)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
        end_at: row
            .get::<_, Option<DateTime<Utc>>>(3)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    }
}
