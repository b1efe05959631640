//! Claims shared by replicas: Slack event ids acted on, and named leases.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::queue::claims::{event_cutoff, lease_expiry, support_call_cutoff, time_to_prune};
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

    /// Claims the call to support rule `rule` made by message `channel`/`ts`: `true` for the
    /// one caller, in any process, that should handle it.
    pub async fn claim_support_call(
        &self,
        rule: &str,
        channel: &str,
        ts: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let client = self.client().await?;
        if time_to_prune() {
            let cutoff = support_call_cutoff(now);
            client
                .execute("DELETE FROM support_call WHERE claimed_at < $1", &[&cutoff])
                .await?;
        }
        let claim = client
            .prepare_cached(
                "INSERT INTO support_call (rule, channel, ts, claimed_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (rule, channel, ts) DO NOTHING",
            )
            .await?;
        Ok(client
            .execute(&claim, &[&rule, &channel, &ts, &now])
            .await?
            == 1)
    }

    /// Gives a support call's claim back (its repost failed), so a later sighting retries.
    pub async fn release_support_call(
        &self,
        rule: &str,
        channel: &str,
        ts: &str,
    ) -> Result<(), QueueError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM support_call WHERE rule = $1 AND channel = $2 AND ts = $3",
                &[&rule, &channel, &ts],
            )
            .await?;
        Ok(())
    }

    /// Records shared file `name` as now holding `contents` (`None`: removed).
    pub async fn put_shared_file(
        &self,
        name: &str,
        contents: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO shared_file (name, contents, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET contents = EXCLUDED.contents,
                   updated_at = EXCLUDED.updated_at",
                &[&name, &contents, &now],
            )
            .await?;
        Ok(())
    }

    /// Shared file `name` as last recorded: `None` if never, `Some(None)` if removed.
    pub async fn shared_file(&self, name: &str) -> Result<Option<Option<String>>, QueueError> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT contents FROM shared_file WHERE name = $1", &[&name])
            .await?;
        Ok(row.map(|row| row.get(0)))
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
