//! Prometheus metrics: the families ([`families`]), the calls that record into them
//! ([`record`]), the queue's gauges read at scrape time, and `GET /metrics` ([`http`]).
//! Callers hand in plain values and this module's own label types; of the rest of the bot it
//! uses only [`crate::connections`], to serve `/metrics` on an address of its own.
//! README's "Metrics" section lists the families, with alerts worth setting.

pub mod families;
pub mod http;
pub mod queue_gauges;
pub mod record;
