//! Claims shared by every process on the database: Slack event ids already acted on (Slack
//! redelivers an envelope to any of the app's connections, so with replicas, or an old and a
//! new `serve` overlapping in a rolling restart, each event must be claimed before it is acted
//! on), and named leases, so that one process at a time runs a singleton task such as the
//! support search checker. The rules both stores keep; each store's `claims.rs` holds its SQL.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::time::{kept_since, plus};
use super::QueueError;

/// How long a claimed event id is remembered: Slack retries for minutes, never a day later.
pub const EVENT_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// How long a claimed support call is remembered: the search checker looks two days back.
pub const SUPPORT_CALL_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Support calls claimed before this are forgotten (pruned) at `now`.
pub(crate) fn support_call_cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
    kept_since(now, SUPPORT_CALL_RETENTION)
}

/// Expired event ids are deleted on one claim in this many.
pub(crate) const PRUNE_EVERY_N_CLAIMS: u64 = 100;

static CLAIMS: AtomicU64 = AtomicU64::new(0);

/// Whether this claim should also prune expired ids (the first, then one in
/// [`PRUNE_EVERY_N_CLAIMS`]), so the common claim is one insert.
pub(crate) fn time_to_prune() -> bool {
    CLAIMS
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(PRUNE_EVERY_N_CLAIMS)
}

/// Event ids claimed before this are forgotten (pruned) at `now`.
pub(crate) fn event_cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
    kept_since(now, EVENT_RETENTION)
}

/// When a lease taken or renewed at `now` for `ttl` expires; fails for an absurd `ttl`.
pub(crate) fn lease_expiry(
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<DateTime<Utc>, QueueError> {
    plus(now, ttl)
}
