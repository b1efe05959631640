//! A snapshot of the queue for the `status` command: what is running, waiting and
//! suppressed. Each store's `status.rs` reads it in one transaction.

use super::job::{BadRow, Job};
use super::suppression::Suppression;

/// What is running, waiting and suppressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Started jobs, oldest start first.
    pub running: Vec<Job>,
    /// Pending jobs in the order they will be considered (`start_after`, then id).
    pub scheduled: Vec<Job>,
    /// Suppressions in force now.
    pub active_suppressions: Vec<Suppression>,
    /// Suppressions that start later.
    pub scheduled_suppressions: Vec<Suppression>,
    /// Job rows that cannot be read (also logged), so they can be shown and removed by id.
    pub unreadable: Vec<BadRow>,
}
