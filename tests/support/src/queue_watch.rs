//! Waiting until a queue handle hears other handles' changes, before a test relies on it.

use std::future::Future;
use std::time::Duration;

use bennettbot::queue::Queue;

use crate::wait::WAIT;

/// Returns once `watcher.notified()` has been woken by `change(n)` (a change made through
/// another handle) twice: the first wake-up may be one pending from before, the second can only
/// come from the watcher thread (SQLite) or the listener (PostgreSQL), which then runs. A change
/// made before the watching began is not seen, so after a short wait another one is made.
pub async fn until_watching<F: Future<Output = ()>>(
    watcher: &Queue,
    mut change: impl FnMut(u32) -> F,
) {
    let mut n = 0;
    for _ in 0..2 {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // Made before the change: a wake-up in between is kept for it.
            let woken = watcher.notified();
            n += 1;
            change(n).await;
            if tokio::time::timeout(Duration::from_millis(100), woken)
                .await
                .is_ok()
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no change from another handle woke this one in {WAIT:?}"
            );
        }
    }
}
