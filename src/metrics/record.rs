//! What the rest of the code calls to record an event: one function per kind of event, so
//! callers never see label types or the registry.

use std::time::Duration;

use super::families::{
    DeliveryLabels, FinishedLabels, JobLabels, ReconnectLabels, RefusalLabels, SlackCallLabels,
    SlackMethodLabels, METRICS,
};

fn job(job_type: &str) -> JobLabels {
    JobLabels {
        job_type: job_type.to_owned(),
    }
}

/// A job was newly added to the queue.
pub fn job_queued(job_type: &str) {
    METRICS.jobs_queued.get_or_create(&job(job_type)).inc();
}

/// A job of `job_type` was scheduled: counted if it was `added` (not merged into a pending one).
pub fn job_scheduled(job_type: &str, added: bool) {
    if added {
        job_queued(job_type);
    }
}

/// A delivery's jobs of `job_types` were scheduled, each `added` or not (none for a repeated
/// delivery).
pub fn delivery_scheduled(job_types: &[&str], added: impl IntoIterator<Item = bool>) {
    for (job_type, added) in job_types.iter().zip(added) {
        job_scheduled(job_type, added);
    }
}

/// A dispatcher started a job.
pub fn job_started(job_type: &str) {
    METRICS.jobs_started.get_or_create(&job(job_type)).inc();
}

/// How a run ended, as its metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Exited 0.
    Succeeded,
    /// Exited non-zero, was killed by a signal, or could not run.
    Failed,
    /// Stopped at its time limit.
    TimedOut,
    /// Stopped by a shutdown, or its dispatcher died.
    Interrupted,
    /// Stopped because a user removed it.
    Removed,
}

impl JobOutcome {
    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Failed => "failed",
            JobOutcome::TimedOut => "timed_out",
            JobOutcome::Interrupted => "interrupted",
            JobOutcome::Removed => "removed",
        }
    }
}

/// A run this process ran ended with `outcome` after `took`.
pub fn job_finished(job_type: &str, outcome: JobOutcome, took: Duration) {
    job_ended(job_type, outcome);
    METRICS
        .job_duration
        .get_or_create(&job(job_type))
        .observe(took.as_secs_f64());
}

/// A run ended with no duration worth observing: a dead dispatcher's run reaped as
/// interrupted, or a row that could not be read and was dropped.
pub fn job_ended(job_type: &str, outcome: JobOutcome) {
    let labels = FinishedLabels {
        job_type: job_type.to_owned(),
        outcome: outcome.label(),
    };
    METRICS.jobs_finished.get_or_create(&labels).inc();
}

/// How a Slack Web API call ended, after its retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackCall {
    /// Slack answered `ok`.
    Ok,
    /// Slack answered with an error.
    ApiError,
    /// Slack could not take the call (HTTP 429 or 5xx, `ratelimited`, no connection) until the
    /// retries ran out.
    Unavailable,
    /// No usable answer (an unexpected HTTP status, bad JSON).
    TransportError,
}

/// A Slack Web API call to `method` ended (after its retries) as `outcome`.
pub fn slack_call(method: &str, outcome: SlackCall) {
    let outcome = match outcome {
        SlackCall::Ok => "ok",
        SlackCall::ApiError => "api_error",
        SlackCall::Unavailable => "unavailable",
        SlackCall::TransportError => "transport_error",
    };
    let labels = SlackCallLabels {
        method: method.to_owned(),
        outcome,
    };
    METRICS.slack_calls.get_or_create(&labels).inc();
}

/// A Slack Web API call to `method` is being tried again.
pub fn slack_retry(method: &str) {
    METRICS
        .slack_retries
        .get_or_create(&SlackMethodLabels {
            method: method.to_owned(),
        })
        .inc();
}

/// Why Socket Mode connected again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// Slack asked for it (`disconnect`).
    Requested,
    /// The socket failed, closed or went silent.
    Dropped,
}

/// Socket Mode is connecting again after a connection ended.
pub fn socket_reconnect(reason: Reconnect) {
    let reason = match reason {
        Reconnect::Requested => "requested",
        Reconnect::Dropped => "dropped",
    };
    METRICS
        .socket_reconnects
        .get_or_create(&ReconnectLabels { reason })
        .inc();
}

/// A Socket Mode envelope was acked `took` after it was read.
pub fn envelope_acked(took: Duration) {
    METRICS.ack_latency.observe(took.as_secs_f64());
}

/// What a webhook delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Jobs were queued.
    Queued,
    /// A ping, or no rule wanted it.
    Ignored,
    /// Answered with an error (bad signature, body or project; the queue failed).
    Refused,
    /// Its delivery id was handled before.
    Duplicate,
}

/// A webhook delivery for `project` (already mapped to a known name or `unknown`) ended so.
pub fn webhook_delivery(project: &str, result: Delivery) {
    let result = match result {
        Delivery::Queued => "queued",
        Delivery::Ignored => "ignored",
        Delivery::Refused => "refused",
        Delivery::Duplicate => "duplicate",
    };
    let labels = DeliveryLabels {
        project: project.to_owned(),
        result,
    };
    METRICS.webhook_deliveries.get_or_create(&labels).inc();
}

/// The permission rules refused `action` (`run`, `remove`, `logs`) in `namespace`.
pub fn permission_refused(action: &'static str, namespace: &str) {
    let labels = RefusalLabels {
        action,
        namespace: namespace.to_owned(),
    };
    METRICS.permission_refusals.get_or_create(&labels).inc();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Args;

    fn queued(job_type: &str) -> u64 {
        METRICS.jobs_queued.get_or_create(&job(job_type)).get()
    }

    #[tokio::test]
    async fn a_job_merged_into_a_pending_one_is_not_counted_again() {
        // A type no other test schedules: the registry is the process's.
        let job_type = "metrics_merge_test";
        let queue = crate::queue::Queue::open_in_memory().unwrap();
        let args = Args::new();
        let schedule =
            || queue.schedule_job(job_type, &args, "C1", None, Duration::ZERO, false, None);
        schedule().await.unwrap();
        assert_eq!(queued(job_type), 1);
        let merged = schedule().await.unwrap();
        assert!(!merged.added);
        assert_eq!(queued(job_type), 1, "merged into the pending job");
    }
}
