//! Claims shared by replicas: Slack event ids acted on, and named leases.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::queue::claims::{event_cutoff, lease_expiry, time_to_prune};
use crate::queue::QueueError;

impl PgStore {
    /// Claims Slack event `event_id` at `now`: `true` for the one caller that should act on it.
    pub async fn claim_event(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let client = self.client().await?;
        if time_to_prune() {
            let cutoff = event_cutoff(now);
            client
                .execute("DELETE FROM slack_event WHERE claimed_at < $1", &[&cutoff])
                .await?;
        }
        let claim = client
            .prepare_cached(
                "INSERT INTO slack_event (event_id, claimed_at) VALUES ($1, $2)
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .await?;
        Ok(client.execute(&claim, &[&event_id, &now]).await? == 1)
    }

    /// Takes or renews lease `name` for `owner` until `now + ttl`: `true` if `owner` holds it.
    pub async fn hold_lease(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<bool, QueueError> {
        let until = lease_expiry(now, ttl)?;
        let row = self
            .client()
            .await?
            .query_opt(
                "INSERT INTO service_lease (name, owner, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
                 WHERE service_lease.owner = EXCLUDED.owner OR service_lease.expires_at <= $4
                 RETURNING owner",
                &[&name, &owner, &until, &now],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Gives up lease `name` if `owner` holds it, so another owner need not wait it out.
    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<(), QueueError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM service_lease WHERE name = $1 AND owner = $2",
                &[&name, &owner],
            )
            .await?;
        Ok(())
    }
}
