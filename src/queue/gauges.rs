//! The queue gauges' numbers for `/metrics`, read from the queue at each scrape: how many jobs
//! of each type are pending, and how long the longest-waiting due one has waited.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::handle::Queue;
use super::job::Job;
use super::status::Status;
use crate::metrics::queue_gauges::{GaugeError, PendingGauge, QueueGauges};

#[async_trait]
impl QueueGauges for Queue {
    async fn pending(&self, now: DateTime<Utc>) -> Result<Vec<PendingGauge>, GaugeError> {
        Ok(pending_gauges(&self.status(now).await?, now))
    }
}

/// The depth and oldest pending age of every type with pending jobs in `status`, as of `now`.
fn pending_gauges(status: &Status, now: DateTime<Utc>) -> Vec<PendingGauge> {
    // A suppressed type's jobs are held on purpose, not late: they count from the
    // suppression's end, so an alert on the age does not fire for every suppression.
    let due_from = |job: &Job| {
        status
            .active_suppressions
            .iter()
            .filter(|s| s.job_type == job.job_type)
            .map(|s| s.end_at)
            .fold(job.start_after, DateTime::max)
    };
    // Per type: how many are pending, and the longest wait past a start time (0 if none is due).
    let mut types: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
    for job in &status.scheduled {
        let waited = (now - due_from(job)).num_milliseconds().max(0) as f64 / 1000.0;
        let entry = types.entry(job.job_type.as_str()).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 = entry.1.max(waited);
    }
    types
        .into_iter()
        .map(|(job_type, (depth, age))| PendingGauge {
            job_type: job_type.to_owned(),
            depth,
            oldest_age_seconds: age,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use prometheus_client::encoding::prometheus_text::encode;

    use super::*;
    use crate::metrics::families::Metrics;
    use crate::metrics::queue_gauges::set_queue_gauges;
    use crate::queue::suppression::Suppression;

    /// Sets `metrics`' queue gauges from `status`, as a scrape does.
    fn set(metrics: &Metrics, status: &Status, now: DateTime<Utc>) {
        set_queue_gauges(metrics, &pending_gauges(status, now));
    }

    fn pending(job_type: &str, start_after: DateTime<Utc>) -> Job {
        Job {
            id: 1,
            job_type: job_type.to_string(),
            args: Default::default(),
            channel: "C1".to_string(),
            thread_ts: None,
            message_ts: None,
            start_after,
            started_at: None,
            is_im: false,
            run: None,
        }
    }

    /// The value of the series written exactly as `series`, if it is exposed.
    fn value(metrics: &Metrics, series: &str) -> Option<f64> {
        let mut text = String::new();
        encode(&mut text, metrics.registry()).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn gauges_follow_the_queue_and_drop_a_type_once_its_queue_is_empty() {
        let metrics = Metrics::new();
        let now = Utc::now();
        let status = |jobs: Vec<Job>| Status {
            scheduled: jobs,
            ..Status::default()
        };
        let depth = |t: &str| {
            value(
                &metrics,
                &format!("bennettbot_queue_depth{{job_type=\"{t}\"}}"),
            )
        };
        let age = |t: &str| {
            let series = format!("bennettbot_queue_oldest_pending_age_seconds{{job_type=\"{t}\"}}");
            value(&metrics, &series)
        };

        set(
            &metrics,
            &status(vec![
                pending("test_a", now - TimeDelta::seconds(30)),
                pending("test_a", now + TimeDelta::seconds(60)),
                pending("test_b", now + TimeDelta::seconds(10)),
            ]),
            now,
        );
        assert_eq!(depth("test_a"), Some(2.0));
        assert_eq!(age("test_a"), Some(30.0));
        assert_eq!(depth("test_b"), Some(1.0));
        assert_eq!(age("test_b"), Some(0.0), "not due yet: it has not waited");

        // Suppressed for another minute: held on purpose, not waiting.
        let mut suppressed = status(vec![pending("test_a", now - TimeDelta::seconds(30))]);
        suppressed.active_suppressions.push(Suppression {
            id: 1,
            job_type: "test_a".to_string(),
            start_at: now - TimeDelta::seconds(60),
            end_at: now + TimeDelta::seconds(60),
        });
        set(&metrics, &suppressed, now);
        assert_eq!(depth("test_a"), Some(1.0));
        assert_eq!(age("test_a"), Some(0.0));

        set(
            &metrics,
            &status(vec![pending("test_b", now + TimeDelta::seconds(10))]),
            now,
        );
        assert_eq!(depth("test_a"), None, "a drained type is no longer exposed");
        assert_eq!(age("test_a"), None);
        assert_eq!(depth("test_b"), Some(1.0));
    }
}
