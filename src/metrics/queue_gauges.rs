//! The queue's gauges, computed from a snapshot of the queue at each scrape rather than kept
//! up to date by every process that changes the queue (several may, and any may die).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::families::{JobLabels, Metrics};
use crate::queue::Status;

/// Sets the queue depth and oldest pending age of every type with pending jobs in `status`,
/// as of `now`, and drops the types that have none left (a gauge left at its last value would
/// say a drained queue is still backed up).
pub fn set_queue_gauges(metrics: &Metrics, status: &Status, now: DateTime<Utc>) {
    // Per type: how many are pending, and the longest wait past a start time (0 if none is due).
    let mut types: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
    for job in &status.scheduled {
        let waited = (now - job.start_after).num_milliseconds().max(0) as f64 / 1000.0;
        let entry = types.entry(job.job_type.as_str()).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 = entry.1.max(waited);
    }
    metrics.queue_depth.clear();
    metrics.oldest_pending_age.clear();
    for (job_type, (depth, age)) in types {
        let labels = JobLabels {
            job_type: job_type.to_owned(),
        };
        metrics.queue_depth.get_or_create(&labels).set(depth);
        metrics.oldest_pending_age.get_or_create(&labels).set(age);
    }
}
