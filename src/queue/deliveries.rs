//! GitHub webhook delivery ids already handled, so a redelivery runs nothing twice: what a
//! delivery queued, and how long its id is remembered. Each store's `deliveries.rs` holds its
//! SQL.

use chrono::{DateTime, Utc};

use super::job::Scheduled;
use super::time::kept_since;

/// One job a delivery queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedByDelivery {
    /// What scheduling did.
    pub scheduled: Scheduled,
    /// The end of the suppression of its type in force when it was queued, if any.
    pub suppressed_until: Option<DateTime<Utc>>,
}

/// How long a delivery id is remembered; GitHub does not redeliver older ones.
pub const DELIVERY_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(3);

/// Delivery ids seen before this are forgotten (pruned) at `now`, so such a delivery counts
/// as new again.
pub(crate) fn delivery_cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
    kept_since(now, DELIVERY_RETENTION)
}
