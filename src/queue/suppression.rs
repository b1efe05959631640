//! Suppressions: windows during which jobs of a type are not started (they stay queued).
//! Each store's `suppression.rs` holds its SQL.

use chrono::{DateTime, Utc};

/// A window during which jobs of one type are not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Row id.
    pub id: i64,
    /// The suppressed job type.
    pub job_type: String,
    /// First instant suppressed.
    pub start_at: DateTime<Utc>,
    /// First instant no longer suppressed.
    pub end_at: DateTime<Utc>,
}
