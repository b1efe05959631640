//! GitHub webhook delivery ids already handled, recorded in the transaction that queues the
//! delivery's jobs, so a redelivery runs nothing twice.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::jobs::schedule_in;
use super::suppression::active_in;
use super::{PgStore, NOTIFY_SQL};
use crate::queue::deliveries::{delivery_cutoff, QueuedByDelivery};
use crate::queue::job::NewJob;
use crate::queue::QueueError;

impl PgStore {
    /// Records a delivery id: `true` if new within [`DELIVERY_RETENTION`](crate::queue::deliveries::DELIVERY_RETENTION).
    pub async fn record_delivery(
        &self,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let new = record_in(&tx, delivery_id, now).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Records a delivery and queues its jobs in one transaction; `None` for one already seen.
    pub async fn schedule_delivery(
        &self,
        delivery_id: Option<&str>,
        jobs: &[NewJob<'_>],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<QueuedByDelivery>>, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(id) = delivery_id {
            if !record_in(&tx, id, now).await? {
                return Ok(None);
            }
        }
        let mut queued = Vec::with_capacity(jobs.len());
        for job in jobs {
            let suppressed_until = active_in(&tx, job.job_type, now).await?.map(|s| s.end_at);
            queued.push(QueuedByDelivery {
                scheduled: schedule_in(&tx, job).await?,
                suppressed_until,
            });
        }
        tx.execute(NOTIFY_SQL, &[]).await?;
        tx.commit().await?;
        self.wake();
        Ok(Some(queued))
    }
}

/// Records a delivery inside the caller's transaction, pruning expired ids first.
async fn record_in(
    tx: &Transaction<'_>,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, QueueError> {
    let cutoff = delivery_cutoff(now);
    tx.execute(
        "DELETE FROM webhook_delivery WHERE seen_at < $1",
        &[&cutoff],
    )
    .await?;
    let inserted = tx
        .execute(
            "INSERT INTO webhook_delivery (delivery_id, seen_at) VALUES ($1, $2)
             ON CONFLICT (delivery_id) DO NOTHING",
            &[&delivery_id, &now],
        )
        .await?;
    Ok(inserted == 1)
}
