//! The queue's gauges, set at each scrape from numbers the queue's owner reads then, rather
//! than kept up to date by every process that changes the queue (several may, and any may die).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::families::{JobLabels, Metrics};

/// One job type's pending jobs, as the queue gauges show them.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingGauge {
    /// `<namespace>_<job>`.
    pub job_type: String,
    /// How many jobs of the type are pending.
    pub depth: i64,
    /// The longest wait past a start time, in seconds (0 if none is due).
    pub oldest_age_seconds: f64,
}

/// An error reading the queue for its gauges.
pub type GaugeError = Box<dyn std::error::Error + Send + Sync>;

/// Where `/metrics` reads the queue gauges' numbers from, at each scrape: whoever owns the
/// queue reads them for it.
#[async_trait]
pub trait QueueGauges: Send + Sync {
    /// Each job type with pending jobs, as of `now`.
    async fn pending(&self, now: DateTime<Utc>) -> Result<Vec<PendingGauge>, GaugeError>;
}

/// Sets the queue depth and oldest pending age of every type in `pending`, and drops the
/// types that have none left (a gauge left at its last value would say a drained queue is
/// still backed up).
pub fn set_queue_gauges(metrics: &Metrics, pending: &[PendingGauge]) {
    metrics.queue_depth.clear();
    metrics.oldest_pending_age.clear();
    for gauge in pending {
        let labels = JobLabels {
            job_type: gauge.job_type.clone(),
        };
        metrics.queue_depth.get_or_create(&labels).set(gauge.depth);
        metrics
            .oldest_pending_age
            .get_or_create(&labels)
            .set(gauge.oldest_age_seconds);
    }
}
