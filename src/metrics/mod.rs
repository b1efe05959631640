//! Prometheus metrics: the families ([`families`]), the calls that record into them
//! ([`record`]), the queue's gauges read at scrape time, and `GET /metrics` ([`http`]).
//! README's "Metrics" section lists the families, with alerts worth setting.

pub mod families;
pub mod http;
mod queue_gauges;
pub mod record;

pub use families::{Metrics, METRICS};
pub use http::{router, MetricsServer};
pub use queue_gauges::set_queue_gauges;
