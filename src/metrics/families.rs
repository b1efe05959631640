//! The metric families and the registry that exposes them.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Every family, registered once per process.
///
/// Process-global rather than passed around: jobs, Slack clients, the Socket Mode loop and
/// the webhook handler all record into it, and threading a handle through every constructor
/// (and every test that builds one) would change a dozen signatures for no behaviour. One
/// process serves one scrape endpoint, so one registry is what it exposes.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// A label set of one job type.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// `<namespace>_<job>`.
    pub job_type: String,
}

/// A job type and how its run ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FinishedLabels {
    /// `<namespace>_<job>`.
    pub job_type: String,
    /// `succeeded`, `failed`, `timed_out`, `interrupted` or `removed`.
    pub outcome: &'static str,
}

/// A Slack Web API method and what came of the call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SlackCallLabels {
    /// e.g. `chat.postMessage`.
    pub method: String,
    /// `ok`, `api_error`, `unavailable` or `transport_error`.
    pub outcome: &'static str,
}

/// A Slack Web API method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SlackMethodLabels {
    /// e.g. `chat.postMessage`.
    pub method: String,
}

/// Why Socket Mode connected again.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconnectLabels {
    /// `requested` (Slack's `disconnect`) or `dropped` (the socket failed or went silent).
    pub reason: &'static str,
}

/// A GitHub project and what its delivery did.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// The namespace named in the URL, or `unknown` for one without GitHub rules.
    pub project: String,
    /// `queued`, `ignored`, `refused` or `duplicate`.
    pub result: &'static str,
}

/// Labels of a permission refusal.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// What was refused: `run`, `remove` or `logs`.
    pub action: &'static str,
    /// The namespace of the command or job.
    pub namespace: String,
}

/// A histogram family keyed by job type.
pub type JobHistograms = Family<JobLabels, Histogram, fn() -> Histogram>;

/// The metric families, and the registry they are registered in.
pub struct Metrics {
    /// Jobs newly added to the queue (a request merged into a pending job is not counted).
    pub jobs_queued: Family<JobLabels, Counter>,
    /// Jobs a dispatcher reserved and started.
    pub jobs_started: Family<JobLabels, Counter>,
    /// Runs that ended, by outcome.
    pub jobs_finished: Family<FinishedLabels, Counter>,
    /// How long runs took, from reservation to their end.
    pub job_duration: JobHistograms,
    /// Pending jobs, set at each scrape.
    pub queue_depth: Family<JobLabels, Gauge>,
    /// How long the longest-waiting due job has waited past its start time, set at each scrape.
    pub oldest_pending_age: Family<JobLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Slack Web API calls, by their final outcome (after the client's own retries).
    pub slack_calls: Family<SlackCallLabels, Counter>,
    /// Attempts a Slack client made again after a transient failure.
    pub slack_retries: Family<SlackMethodLabels, Counter>,
    /// Socket Mode connections opened again after one ended.
    pub socket_reconnects: Family<ReconnectLabels, Counter>,
    /// From receiving a Socket Mode envelope to handing back its ack.
    pub ack_latency: Histogram,
    /// GitHub webhook deliveries, by project and result.
    pub webhook_deliveries: Family<DeliveryLabels, Counter>,
    /// Actions the permission rules refused, by action and namespace.
    pub permission_refusals: Family<RefusalLabels, Counter>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Job durations: a quarter of a second to about 4.5 hours (jobs may run for hours).
fn job_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.25, 2.0, 17))
}

impl Metrics {
    /// Fresh families in a fresh registry (the process uses [`METRICS`]; tests their own).
    pub fn new() -> Metrics {
        let mut metrics = Metrics {
            jobs_queued: Family::default(),
            jobs_started: Family::default(),
            jobs_finished: Family::default(),
            job_duration: Family::new_with_constructor(job_duration_histogram),
            queue_depth: Family::default(),
            oldest_pending_age: Family::default(),
            slack_calls: Family::default(),
            slack_retries: Family::default(),
            socket_reconnects: Family::default(),
            // 1 ms to about 4 s: Slack redelivers envelopes not acked within 3 s.
            ack_latency: Histogram::new(exponential_buckets(0.001, 2.0, 13)),
            webhook_deliveries: Family::default(),
            permission_refusals: Family::default(),
            registry: Registry::default(),
        };
        let mut registry = Registry::with_prefix("bennettbot");
        let m = &metrics;
        registry.register(
            "jobs_queued",
            "Jobs newly added to the queue, by type",
            m.jobs_queued.clone(),
        );
        registry.register(
            "jobs_started",
            "Jobs a dispatcher started, by type",
            m.jobs_started.clone(),
        );
        registry.register(
            "jobs_finished",
            "Job runs that ended, by type and outcome (succeeded, failed, timed_out, interrupted, removed)",
            m.jobs_finished.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "How long job runs took, from start to end, by type",
            m.job_duration.clone(),
        );
        registry.register(
            "queue_depth",
            "Pending jobs in the queue, by type (read at scrape time)",
            m.queue_depth.clone(),
        );
        registry.register(
            "queue_oldest_pending_age_seconds",
            "How long the longest-waiting due job of each type has waited past its start time (read at scrape time)",
            m.oldest_pending_age.clone(),
        );
        registry.register(
            "slack_api_calls",
            "Slack Web API calls, by method and final outcome (ok, api_error, unavailable, transport_error)",
            m.slack_calls.clone(),
        );
        registry.register(
            "slack_api_retries",
            "Slack Web API attempts made again after a transient failure, by method",
            m.slack_retries.clone(),
        );
        registry.register(
            "socket_mode_reconnects",
            "Socket Mode connections opened again after one ended, by reason (requested, dropped)",
            m.socket_reconnects.clone(),
        );
        registry.register(
            "socket_mode_ack_latency_seconds",
            "From receiving a Socket Mode envelope to handing back its ack (slack-morphism then writes it)",
            m.ack_latency.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "GitHub webhook deliveries, by project and result (queued, ignored, refused, duplicate)",
            m.webhook_deliveries.clone(),
        );
        registry.register(
            "permission_refusals",
            "Actions refused by the permission rules, by action (run, remove, logs) and namespace",
            m.permission_refusals.clone(),
        );
        metrics.registry = registry;
        metrics
    }

    /// The registry to encode.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
