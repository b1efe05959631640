//! How long tests wait, and the one helper that polls.
//!
//! Tests wait on signals the code emits (the fake Slack's calls, the fake socket's acks, the
//! bot's handled-events count, `Queue::notified`); every such wait gives up after [`WAIT`] and
//! panics with what it saw. Only what cannot signal (another process's files, `/proc`, a
//! scraped endpoint, a server's own state) is polled, through [`eventually`] and its
//! variants.

use std::time::{Duration, Instant};

/// How long any wait in a test may take before it fails: far beyond what a loaded 2-core
/// machine needs, so only a broken test waits this long.
pub const WAIT: Duration = Duration::from_secs(60);

/// How often [`eventually`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Waits until `check` gives `Some`, looking every few milliseconds; panics naming `what` after
/// `timeout`. For effects that cannot signal: another process's files, `/proc`, a scrape.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "waited {timeout:?} for {what}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`eventually`] for a look that is itself async (a query, a scrape).
pub async fn eventually_async<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "waited {timeout:?} for {what}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`eventually`] over a state the look updates (logs read so far, say), whose failure
/// message `explain` builds from that state.
pub async fn eventually_explained<S, T>(
    state: &mut S,
    timeout: Duration,
    mut check: impl FnMut(&mut S) -> Option<T>,
    explain: impl Fn(&S) -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check(state) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "waited {timeout:?}: {}",
            explain(state)
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`eventually`] for code off the async runtime: `None` once `timeout` has passed.
pub fn eventually_blocking<T>(
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
