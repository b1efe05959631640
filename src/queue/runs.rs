//! Runs: a dispatcher's reservation of a job, kept alive by its heartbeats, and what reaping
//! the runs of a dispatcher that died returns. Each store's `runs.rs` holds its SQL.

use super::job::Job;

/// A job whose dispatcher died, removed from the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaped {
    /// The job, removed from the queue and recorded as interrupted.
    pub job: Job,
    /// The process group its processes ran in, if its dispatcher recorded one; they may still
    /// be running, orphaned.
    pub process_group: Option<i32>,
}
