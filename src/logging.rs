//! `tracing` to stderr: human-readable by default, JSON with `LOG_FORMAT=json`; the filter
//! comes from `LOG_LEVEL` or `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `default_level` applies when neither variable is set.
pub fn init(json: bool, default_level: &str) {
    let filter = std::env::var("LOG_LEVEL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (e.g. in tests) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
