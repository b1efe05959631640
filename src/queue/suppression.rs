//! Suppressions: windows during which jobs of a type are not started (they stay queued).
//! Each store's `suppression.rs` holds its SQL.

use chrono::{DateTime, Utc};

use super::QueueError;

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

/// Refuses a window that ends when or before it starts: it would never apply.
pub(crate) fn check_window(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), QueueError> {
    if end <= start {
        return Err(QueueError::EmptySuppression { start, end });
    }
    Ok(())
}
