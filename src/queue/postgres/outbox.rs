//! The outbox in PostgreSQL (see `queue/outbox.rs`).

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::PgStore;
use crate::queue::outbox::{NewEntry, OutboxEntry};
use crate::queue::QueueError;

fn entry(row: &Row) -> OutboxEntry {
    OutboxEntry {
        id: row.get(0),
        channel: row.get(1),
        report: row.get(2),
        content: row.get(3),
        created_at: row.get(4),
        failure: row.get(5),
    }
}

/// Adds `entry` within `tx`; returns its id.
pub(super) async fn insert(
    tx: &Transaction<'_>,
    entry: &NewEntry,
    now: DateTime<Utc>,
) -> Result<i64, QueueError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox (channel, report, content, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[&entry.channel, &entry.report, &entry.content, &now],
        )
        .await?;
    Ok(row.get(0))
}

impl PgStore {
    /// Adds an entry; returns its id.
    pub async fn add_outbox(
        &self,
        entry: &NewEntry,
        now: DateTime<Utc>,
    ) -> Result<i64, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let id = insert(&tx, entry, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// `channel`'s first entry still to deliver.
    pub async fn next_outbox(&self, channel: &str) -> Result<Option<OutboxEntry>, QueueError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT id, channel, report, content, created_at, failure FROM outbox
                 WHERE channel = $1 AND failure IS NULL ORDER BY id LIMIT 1",
                &[&channel],
            )
            .await?;
        Ok(row.as_ref().map(entry))
    }

    /// Deletes delivered entry `id` and adds `then` in one transaction; returns `then`'s id.
    pub async fn settle_outbox(
        &self,
        id: i64,
        then: Option<&NewEntry>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("DELETE FROM outbox WHERE id = $1", &[&id])
            .await?;
        let then = match then {
            Some(t) => Some(insert(&tx, t, now).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(then)
    }

    /// Marks entry `id` refused for good and adds `note` in one transaction.
    pub async fn fail_outbox(
        &self,
        id: i64,
        failure: &str,
        note: Option<&NewEntry>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE outbox SET failure = $2, content = NULL WHERE id = $1",
            &[&id, &failure],
        )
        .await?;
        let note = match note {
            Some(n) => Some(insert(&tx, n, now).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(note)
    }

    /// Channels with entries to deliver.
    pub async fn outbox_channels(&self) -> Result<Vec<String>, QueueError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT DISTINCT channel FROM outbox WHERE failure IS NULL ORDER BY channel",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Every entry not delivered, oldest first, without file bytes.
    pub async fn undelivered(&self) -> Result<Vec<OutboxEntry>, QueueError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, channel, report, NULL::BYTEA, created_at, failure FROM outbox ORDER BY id",
                &[],
            )
            .await?;
        Ok(rows.iter().map(entry).collect())
    }
}
