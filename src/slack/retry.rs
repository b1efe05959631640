//! The one retry policy for Slack calls: which failures are worth trying again, and when.
//!
//! - HTTP 429 and `ratelimited`: after Slack's `Retry-After`, never earlier.
//! - HTTP 5xx and failures to connect: after a jittered exponential backoff.
//! - Anything else (other 4xx, `ok: false` answers, answers that do not parse): never.
//!
//! [`SlackError::is_transient`] says which failures are which (the client sorts them when it
//! maps slack-morphism's errors). The client retries a call at once at most
//! `MAX_SLACK_NOTIFY_RETRIES` times ([`Policy::immediate`]); the dispatcher's outbox keeps
//! retrying a report through longer outages with the same rules ([`Policy::durable`]).

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::SlackError;

/// The longest `Retry-After` a call waits out itself. A longer one ends the call with its
/// [`SlackError::Unavailable`] (which carries the whole wait), so the caller can retry when
/// Slack allows, never earlier, without holding up whoever awaits the call.
pub const MAX_WAIT_IN_CALL: Duration = Duration::from_secs(60);

/// How failed calls are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The first backoff: the first wait is between half of it and all of it, at random, so
    /// that callers that failed together do not all come back at once. It doubles each time.
    pub first: Duration,
    /// The longest backoff (jittered the same way).
    pub max: Duration,
    /// How many times to try again; `None`: until the caller gives up.
    pub times: Option<u32>,
    /// The longest `Retry-After` to wait out; a longer one ends the retries.
    pub max_retry_after: Duration,
    /// Seeds the jitter's random numbers, making the waits repeatable; `None`: a random seed.
    pub jitter_seed: Option<u64>,
}

impl Policy {
    /// A call's own retries: `times` of them, from `first`.
    pub fn immediate(first: Duration, times: u32) -> Self {
        Policy {
            first,
            max: MAX_WAIT_IN_CALL,
            times: Some(times),
            max_retry_after: MAX_WAIT_IN_CALL,
            jitter_seed: None,
        }
    }

    /// Retries without a bound on their number (the caller bounds them in time), backing off
    /// from `first` up to `max`, and waiting out any `Retry-After`.
    pub fn durable(first: Duration, max: Duration) -> Self {
        Policy {
            first,
            max,
            times: None,
            max_retry_after: Duration::MAX,
            jitter_seed: None,
        }
    }

    /// This policy with its jitter drawn from a generator seeded with `seed`, so that the
    /// same failures are followed by the same waits.
    pub fn with_jitter_seed(self, seed: u64) -> Self {
        Policy {
            jitter_seed: Some(seed),
            ..self
        }
    }

    /// The backoff waits, jittered: in `[b/2, b)` for backoff `b`.
    fn backoff(&self) -> ExponentialBuilder {
        let mut builder = ExponentialBuilder::default()
            .with_min_delay(self.first / 2)
            .with_max_delay(self.max / 2)
            .with_factor(2.0)
            .with_jitter();
        if let Some(seed) = self.jitter_seed {
            builder = builder.with_jitter_seed(seed);
        }
        match self.times {
            Some(times) => builder.with_max_times(times as usize),
            None => builder.without_max_times(),
        }
    }

    /// How long to wait after `error` given the backoff's next wait, or `None` to stop:
    /// transient failures only, after `Retry-After` when Slack gave one.
    pub fn wait(&self, error: &SlackError, backoff: Option<Duration>) -> Option<Duration> {
        if !error.is_transient() {
            return None;
        }
        let backoff = backoff?;
        match error.retry_after() {
            Some(after) if after > self.max_retry_after => None,
            Some(after) => Some(after),
            None => Some(backoff),
        }
    }

    /// Makes `call` until it succeeds or fails in a way this policy does not retry.
    /// `adjust` sees each wait before it is waited and may shorten the retries (`None`);
    /// `notify` hears of each retry.
    pub async fn run<T, F, Fut>(
        &self,
        call: F,
        mut adjust: impl FnMut(&SlackError, Duration) -> Option<Duration>,
        mut notify: impl FnMut(&SlackError, Duration),
    ) -> Result<T, SlackError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SlackError>>,
    {
        call.retry(self.backoff())
            .when(SlackError::is_transient)
            .adjust(|error, backoff| {
                self.wait(error, backoff)
                    .and_then(|wait| adjust(error, wait))
            })
            .notify(|error, wait| notify(error, wait))
            .await
    }

    /// Makes the Slack call `method` under this policy, logging and counting each retry.
    pub async fn call<T, F, Fut>(&self, method: &str, call: F) -> Result<T, SlackError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SlackError>>,
    {
        self.run(
            call,
            |_, wait| Some(wait),
            |error, wait| {
                tracing::warn!(method, %error, wait_ms = wait.as_millis() as u64, "retrying Slack call");
                crate::metrics::record::slack_retry(method);
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;

    fn unavailable(detail: &str, retry_after: Option<Duration>) -> SlackError {
        SlackError::Unavailable {
            method: "chat.postMessage".into(),
            detail: detail.into(),
            retry_after,
        }
    }

    /// Answers each call with the next scripted result (then success), recording when.
    struct Script {
        answers: Mutex<VecDeque<SlackError>>,
        calls: Mutex<Vec<Instant>>,
    }

    impl Script {
        fn new(errors: impl IntoIterator<Item = SlackError>) -> Self {
            Script {
                answers: Mutex::new(errors.into_iter().collect()),
                calls: Mutex::new(Vec::new()),
            }
        }

        async fn call(&self) -> Result<(), SlackError> {
            self.calls.lock().unwrap().push(Instant::now());
            self.answers.lock().unwrap().pop_front().map_or(Ok(()), Err)
        }

        fn waits(&self) -> Vec<Duration> {
            let calls = self.calls.lock().unwrap();
            calls.windows(2).map(|w| w[1] - w[0]).collect()
        }
    }

    const FIRST: Duration = Duration::from_millis(100);

    /// A fixed jitter seed. The waits below are measured on tokio's clock, whose timers round
    /// a sleep up to the next millisecond: a jittered wait in the last millisecond below its
    /// bound would be measured at the bound. Seeded, the waits are the same on every run.
    const SEED: u64 = 17;

    #[tokio::test(start_paused = true)]
    async fn rate_limits_wait_for_retry_after_and_no_longer() {
        let policy = Policy::immediate(FIRST, 2);
        let script = Script::new([unavailable("HTTP 429", Some(Duration::from_secs(3)))]);
        policy.call("m", || script.call()).await.unwrap();
        assert_eq!(script.waits(), [Duration::from_secs(3)]);

        let too_long = MAX_WAIT_IN_CALL + Duration::from_secs(1);
        let script = Script::new([unavailable("HTTP 429", Some(too_long))]);
        let error = policy.call("m", || script.call()).await.unwrap_err();
        assert_eq!(error.retry_after(), Some(too_long), "handed to the caller");
        assert!(
            script.waits().is_empty(),
            "never retried before Retry-After"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_back_off_jittered_and_exponentially_up_to_the_bound() {
        let policy = Policy::immediate(FIRST, 3).with_jitter_seed(SEED);
        let script = Script::new((0..10).map(|_| unavailable("HTTP 503", None)));
        let error = policy.call("m", || script.call()).await.unwrap_err();
        assert!(error.to_string().contains("503"), "{error}");
        let waits = script.waits();
        assert_eq!(waits.len(), 3, "three retries, then the last error");
        for (i, wait) in waits.iter().enumerate() {
            let backoff = FIRST * 2u32.pow(i as u32);
            assert!(
                *wait >= backoff / 2 && *wait < backoff,
                "retry {i}: {wait:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn connection_failures_are_retried() {
        let policy = Policy::immediate(FIRST, 2);
        let refused = unavailable("error trying to connect: Connection refused", None);
        let script = Script::new([refused.clone(), refused]);
        policy.call("m", || script.call()).await.unwrap();
        assert_eq!(script.calls.lock().unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn other_failures_are_never_retried() {
        let policy = Policy::immediate(FIRST, 5);
        for error in [
            SlackError::Transport {
                method: "m".into(),
                detail: "HTTP 404 Not Found".into(),
            },
            SlackError::Api {
                method: "m".into(),
                error: "channel_not_found".into(),
            },
        ] {
            let script = Script::new([error.clone()]);
            assert_eq!(policy.call("m", || script.call()).await, Err(error));
            assert_eq!(script.calls.lock().unwrap().len(), 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn durable_retries_cap_the_backoff_and_stop_when_told() {
        let policy = Policy::durable(FIRST, Duration::from_millis(400)).with_jitter_seed(SEED);
        let script = Script::new((0..6).map(|_| unavailable("HTTP 500", None)));
        let mut seen = 0;
        let result = policy
            .run(
                || script.call(),
                |_, wait| {
                    seen += 1;
                    (seen <= 5).then_some(wait)
                },
                |_, _| {},
            )
            .await;
        assert!(result.is_err(), "stopped by adjust before the sixth retry");
        let waits = script.waits();
        assert_eq!(waits.len(), 5);
        assert!(
            waits[3..]
                .iter()
                .all(|w| *w >= Duration::from_millis(200) && *w < Duration::from_millis(400)),
            "{waits:?}"
        );
    }
}
