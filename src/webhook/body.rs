//! Reading deliveries' bodies within one memory budget shared by every request. A body has to
//! be read whole before its signature can be checked, so anyone can make the server hold what
//! they send; the budget bounds what all of them hold at once ([`REQUEST_MEMORY_BYTES`]).
//!
//! A body is counted as it streams in, by the buffer it fills, not by the length it declares:
//! reserving the declared length up front would let a few clients that declare 20 MB and send
//! nothing hold the whole budget for the request time limit, while counting what arrives makes
//! them send what they hold. The first [`BODY_ALLOWANCE_BYTES`] of each body are its own, so an
//! ordinary delivery never waits for budget however much of it slow uploads hold; beyond that a
//! body's buffer grows only with budget taken from [`BODY_BUDGET_BYTES`]. A body that cannot get
//! budget within [`BUDGET_WAIT`] is refused (503 with `Retry-After`), giving back what it held,
//! so no request waits on the others for long. Waiting is not first come, first served: budget
//! given back goes to whichever waiting body it is enough for, so a small body is never stuck
//! behind a large one.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http_body_util::{BodyExt, LengthLimitError};
use tokio::sync::{Notify, Semaphore, TryAcquireError};
use tokio::time::Instant;

use crate::connections::{MAX_CONNECTIONS, MAX_READ_BUFFER_BYTES};

/// The largest body accepted: GitHub caps payloads at 25 MB and drops larger ones itself.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// What each body may hold without drawing on the shared budget. A typical delivery (a merged
/// pull request's is 20 to 40 KB) fits, so it is read at once however much of the budget slow
/// uploads hold. These need no budget of their own: HTTP/1 reads one request at a time per
/// connection, so at most [`MAX_CONNECTIONS`] bodies (256 × 64 KiB = 16 MiB) are being read.
pub const BODY_ALLOWANCE_BYTES: usize = 64 * 1024;

/// The budget shared by the bodies that outgrow their allowance: enough for one body at the
/// 25 MiB limit, and little more, since every byte of it may be held by strangers (a body
/// must be read before its signature can be checked). Large deliveries are rare; two at once
/// may make the second wait or be refused (503), and GitHub can redeliver it.
pub const BODY_BUDGET_BYTES: usize = 26 * 1024 * 1024;

/// The buffers that requests being read may hold at once, whatever clients send: the budget,
/// each connection's allowance and each connection's read buffer (26 + 16 + 4 = 46 MiB).
pub const BODY_BUFFERS_AT_MOST_BYTES: usize =
    BODY_BUDGET_BYTES + MAX_CONNECTIONS * (BODY_ALLOWANCE_BYTES + MAX_READ_BUFFER_BYTES);

/// What the webhook server may grow by, above its idle size, while requests are being read:
/// [`BODY_BUFFERS_AT_MOST_BYTES`] (46 MiB), and 26 MiB for the rest: each connection's own
/// state (about 32 KiB, so 8 MiB for 256) and the allocator's slack (memory freed by refused
/// bodies that it keeps; about 10 MiB measured). `tests/faults_resources.rs` measures the
/// growth under 200 slow uploads at once.
pub const REQUEST_MEMORY_BYTES: usize = 72 * 1024 * 1024;

/// How long a body may wait for budget before it is refused. Short: budget comes back as other
/// bodies finish (or are refused), and a waiting request holds its connection and what it has
/// read; GitHub's deliveries are answered well within its 10 s.
pub const BUDGET_WAIT: Duration = Duration::from_secs(1);

/// The `Retry-After` (in seconds) of a request refused for want of budget: most bodies hold
/// budget for far less, and none longer than the request time limit (60 s).
pub const BUDGET_RETRY_AFTER_SECONDS: u64 = 10;

// A body at the size limit must be able to get budget when no other body holds any.
const _: () = assert!(MAX_BODY_BYTES <= BODY_BUDGET_BYTES + BODY_ALLOWANCE_BYTES);
const _: () = assert!(BODY_BUFFERS_AT_MOST_BYTES < REQUEST_MEMORY_BYTES);

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// 413: the body is over the size limit (declared or as sent).
    #[error("Payload too large")]
    TooLarge,
    /// 503: no budget could be had in time.
    #[error("Too many deliveries are being received at once; try again later")]
    Busy,
    /// 400: the client stopped sending, or sent a malformed chunk.
    #[error("The body could not be read")]
    Unreadable(#[source] axum::Error),
}

/// The budget one server's requests share; clones share it too.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    shared: Arc<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    /// One permit a byte.
    bytes: Semaphore,
    /// Woken when a body gives budget back, for the bodies waiting for some.
    freed: Notify,
    total: usize,
    allowance: usize,
    wait: Duration,
}

impl Default for BodyBudget {
    fn default() -> Self {
        BodyBudget::new(BODY_BUDGET_BYTES, BODY_ALLOWANCE_BYTES, BUDGET_WAIT)
    }
}

impl BodyBudget {
    /// `total` bytes shared, `allowance` each body's own, waiting at most `wait` for budget
    /// (the server uses the constants above; tests smaller ones).
    pub fn new(total: usize, allowance: usize, wait: Duration) -> Self {
        BodyBudget {
            shared: Arc::new(BudgetState {
                bytes: Semaphore::new(total),
                freed: Notify::new(),
                total,
                allowance,
                wait,
            }),
        }
    }

    /// The budget no body holds now.
    pub fn available(&self) -> usize {
        self.shared.bytes.available_permits()
    }

    /// Reads `body`, which declares `declared` bytes (`Content-Length`) or none (chunked), of
    /// at most `limit` bytes, counting its buffer against the budget as it grows.
    pub async fn read(
        &self,
        mut body: Body,
        declared: Option<u64>,
        limit: usize,
    ) -> Result<HeldBody, BodyError> {
        // The middleware refuses a declared length over the limit before this; checked again
        // so the routes hold without it.
        let most = match declared {
            Some(length) => usize::try_from(length)
                .ok()
                .filter(|&length| length <= limit)
                .ok_or(BodyError::TooLarge)?,
            None => limit,
        };
        let mut charge = Charge {
            shared: self.shared.clone(),
            bytes: 0,
        };
        let mut bytes = Vec::new();
        // What `bytes` was given room for (and so what is counted).
        let mut capacity = 0;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(unreadable)?.into_data() else {
                continue; // trailers
            };
            let needed = bytes.len() + data.len();
            if needed > most {
                return Err(BodyError::TooLarge);
            }
            if needed > capacity {
                // Doubling, so a body is copied O(1) times per byte; never past what it may be.
                capacity = needed
                    .max(capacity * 2)
                    .max(self.shared.allowance)
                    .min(most);
                let counted = capacity.saturating_sub(self.shared.allowance);
                charge.take(counted - charge.bytes).await?;
                bytes.reserve_exact(capacity - bytes.len());
            }
            bytes.extend_from_slice(&data);
        }
        Ok(HeldBody {
            bytes,
            _charge: charge,
        })
    }
}

/// 413 when the size limit's middleware cut the body off, else 400.
fn unreadable(error: axum::Error) -> BodyError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = cause {
        if e.is::<LengthLimitError>() {
            return BodyError::TooLarge;
        }
        cause = e.source();
    }
    BodyError::Unreadable(error)
}

/// A body read whole, holding its share of the budget until it is dropped.
#[derive(Debug)]
pub struct HeldBody {
    bytes: Vec<u8>,
    _charge: Charge,
}

impl HeldBody {
    /// The body.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The budget one body holds, given back (waking the bodies waiting) when it is dropped.
#[derive(Debug)]
struct Charge {
    shared: Arc<BudgetState>,
    bytes: usize,
}

impl Charge {
    /// Takes `more` bytes of budget, waiting at most the budget's wait for them.
    async fn take(&mut self, more: usize) -> Result<(), BodyError> {
        if more == 0 {
            return Ok(());
        }
        // More than the whole budget can never come: refused at once rather than after a wait.
        let Some(permits) = u32::try_from(more)
            .ok()
            .filter(|_| more <= self.shared.total)
        else {
            return Err(BodyError::Busy);
        };
        let deadline = Instant::now() + self.shared.wait;
        loop {
            let freed = self.shared.freed.notified();
            tokio::pin!(freed);
            // Listening before trying, so budget given back in between still wakes this.
            freed.as_mut().enable();
            match self.shared.bytes.try_acquire_many(permits) {
                Ok(permit) => {
                    // Given back by `drop`, with the rest of this body's.
                    permit.forget();
                    self.bytes += more;
                    return Ok(());
                }
                Err(TryAcquireError::NoPermits) => {}
                // Never closed; were it, no budget would ever come.
                Err(TryAcquireError::Closed) => return Err(BodyError::Busy),
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(BodyError::Busy);
            }
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.shared.bytes.add_permits(self.bytes);
            self.shared.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use futures_util::stream;

    const KIB: usize = 1024;

    fn budget(total: usize, allowance: usize) -> BodyBudget {
        BodyBudget::new(total, allowance, Duration::from_secs(1))
    }

    /// A chunked body (no length declared) of `chunks`.
    fn chunked(chunks: Vec<Vec<u8>>) -> Body {
        Body::from_stream(stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
        ))
    }

    /// A chunked body that sends `first` and then nothing, ever.
    fn stalled(first: usize) -> Body {
        let first = stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; first]))]);
        Body::from_stream(futures_util::StreamExt::chain(first, stream::pending()))
    }

    #[tokio::test]
    async fn a_body_within_its_allowance_takes_no_budget() {
        let budget = budget(100 * KIB, 64 * KIB);
        let held = budget
            .read(
                Body::from(vec![b'x'; 60 * KIB]),
                Some(60 * KIB as u64),
                1 << 20,
            )
            .await
            .unwrap();
        assert_eq!(held.bytes().len(), 60 * KIB);
        assert_eq!(budget.available(), 100 * KIB);
    }

    #[tokio::test]
    async fn a_chunked_body_is_counted_as_it_streams_and_given_back_when_dropped() {
        let budget = budget(1 << 20, 16 * KIB);
        let chunks = vec![
            vec![b'a'; 10 * KIB],
            vec![b'b'; 30 * KIB],
            vec![b'c'; 60 * KIB],
        ];
        let held = budget.read(chunked(chunks), None, 1 << 20).await.unwrap();
        assert_eq!(held.bytes().len(), 100 * KIB);
        assert!(held.bytes().starts_with(&[b'a'; 10 * KIB]));
        assert!(held.bytes().ends_with(&[b'c'; 60 * KIB]));
        // Its buffer (16, 40, then 100 KiB) beyond the allowance.
        assert_eq!(budget.available(), (1 << 20) - (100 - 16) * KIB);
        drop(held);
        assert_eq!(budget.available(), 1 << 20);
    }

    #[tokio::test]
    async fn a_declared_length_is_not_taken_before_it_arrives() {
        let total = 1 << 20;
        let budget = budget(total, 16 * KIB);
        let reading = tokio::spawn({
            let budget = budget.clone();
            // Declares 20 MB, more than the whole budget; sends 100 KiB, then stalls.
            async move {
                budget
                    .read(stalled(100 * KIB), Some(20_000_000), 25 << 20)
                    .await
            }
        });
        for _ in 0..100 {
            if budget.available() < total {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(budget.available(), total - (100 - 16) * KIB);
        assert!(!reading.is_finished(), "still waiting for the rest");
        reading.abort();
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_too_large_declared_or_sent() {
        let budget = budget(1 << 20, 16 * KIB);
        let declared = budget
            .read(Body::from("x".repeat(10)), Some(2 << 20), 1 << 20)
            .await;
        assert!(matches!(declared, Err(BodyError::TooLarge)), "{declared:?}");
        let sent = budget
            .read(chunked(vec![vec![b'x'; 600 * KIB]; 2]), None, 1 << 20)
            .await;
        assert!(matches!(sent, Err(BodyError::TooLarge)), "{sent:?}");
        assert_eq!(budget.available(), 1 << 20, "given back");
        // As the limit's middleware cuts a chunked body off.
        let limited = Body::new(http_body_util::Limited::new(Body::from(vec![0u8; 100]), 10));
        let cut = budget.read(limited, None, 1 << 20).await;
        assert!(matches!(cut, Err(BodyError::TooLarge)), "{cut:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_cannot_get_budget_in_time_is_busy_and_gives_back_what_it_held() {
        let budget = budget(100 * KIB, 16 * KIB);
        let hog = budget
            .read(chunked(vec![vec![b'x'; 96 * KIB]]), None, 1 << 20)
            .await
            .unwrap();
        assert_eq!(budget.available(), 20 * KIB);
        // Fits its allowance and the 20 KiB left at first, then needs more than there is.
        let chunks = vec![vec![b'y'; 30 * KIB], vec![b'y'; 30 * KIB]];
        let refused = budget.read(chunked(chunks), None, 1 << 20).await;
        assert!(matches!(refused, Err(BodyError::Busy)), "{refused:?}");
        assert_eq!(budget.available(), 20 * KIB);
        drop(hog);
        assert_eq!(budget.available(), 100 * KIB);
        let whole = budget
            .read(chunked(vec![vec![b'z'; 200 * KIB]]), None, 1 << 20)
            .await;
        assert!(
            matches!(whole, Err(BodyError::Busy)),
            "more than the whole budget"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_body_is_not_stuck_behind_a_large_one_waiting() {
        let budget = budget(100 * KIB, 0);
        let hog = budget
            .read(chunked(vec![vec![b'x'; 90 * KIB]]), None, 1 << 20)
            .await
            .unwrap();
        let large = tokio::spawn({
            let budget = budget.clone();
            async move {
                budget
                    .read(chunked(vec![vec![b'l'; 50 * KIB]]), None, 1 << 20)
                    .await
            }
        });
        tokio::task::yield_now().await;
        assert!(!large.is_finished(), "waits for the hog's budget");
        // A queue served in order would keep this behind the large body, though there is room.
        let small = budget
            .read(chunked(vec![vec![b's'; 8 * KIB]]), None, 1 << 20)
            .await
            .unwrap();
        assert_eq!(small.bytes().len(), 8 * KIB);
        assert!(!large.is_finished());
        drop(hog);
        let large = large.await.unwrap().unwrap();
        assert_eq!(large.bytes().len(), 50 * KIB);
        assert_eq!(budget.available(), 42 * KIB);
    }
}
