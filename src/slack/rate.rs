//! Slack's rate limits, kept by the bot itself. Each Web API method has a tier: how many calls
//! a minute Slack allows per workspace, whatever the number of the app's processes. A
//! [`Pacer`] spaces one caller's calls of a method evenly within its tier, and waits out a
//! `Retry-After` Slack gave, so that a loop never runs into a 429 (each of which would stall
//! it for the whole wait).

use std::time::Duration;

use tokio::time::Instant;

/// A Web API rate tier (<https://api.slack.com/apis/rate-limits>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// 1+ a minute.
    One,
    /// 20+ a minute.
    Two,
    /// 50+ a minute.
    Three,
    /// 100+ a minute.
    Four,
}

impl Tier {
    /// The calls a minute the tier allows.
    pub const fn per_minute(self) -> u32 {
        match self {
            Tier::One => 1,
            Tier::Two => 20,
            Tier::Three => 50,
            Tier::Four => 100,
        }
    }

    /// The gap between evenly spaced calls that keeps within the tier.
    pub fn spacing(self) -> Duration {
        Duration::from_secs(60) / self.per_minute()
    }
}

/// `search.messages`, the support search checker's call.
pub const SEARCH_MESSAGES: Tier = Tier::Two;

/// Spaces one caller's calls of a method: at most one per [`Tier::spacing`], none before a
/// `Retry-After` is over. The support search checker runs in one process at a time (under a
/// database lease), so its pacer is the whole workspace's budget for the method.
#[derive(Debug)]
pub struct Pacer {
    spacing: Duration,
    next: Option<Instant>,
}

impl Pacer {
    /// A pacer keeping within `tier`.
    pub fn new(tier: Tier) -> Self {
        Pacer::spaced(tier.spacing())
    }

    /// A pacer allowing one call per `spacing`.
    pub fn spaced(spacing: Duration) -> Self {
        Pacer {
            spacing,
            next: None,
        }
    }

    /// Waits until a call is within the budget, and counts it as made.
    pub async fn ready(&mut self) {
        if let Some(at) = self.next {
            tokio::time::sleep_until(at).await;
        }
        self.next = Some(Instant::now() + self.spacing);
    }

    /// Slack asked for a pause (`Retry-After`): no call before it is over.
    pub fn hold_off(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        self.next = Some(self.next.map_or(until, |next| next.max(until)));
    }

    /// How long `calls` evenly spaced calls take: a round of the search checker.
    pub fn round(&self, calls: usize) -> Duration {
        self.spacing * u32::try_from(calls).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_minute_holds_more_calls_than_the_tier_allows() {
        let mut pacer = Pacer::new(SEARCH_MESSAGES);
        let start = Instant::now();
        let mut calls = Vec::new();
        while Instant::now() - start < Duration::from_secs(3600) {
            pacer.ready().await;
            calls.push(Instant::now() - start);
            if calls.len() == 100 {
                // Slack answered 429 with `Retry-After: 30`.
                pacer.hold_off(Duration::from_secs(30));
            }
        }
        for (i, at) in calls.iter().enumerate() {
            let in_minute = calls[i..]
                .iter()
                .take_while(|later| **later < *at + Duration::from_secs(60))
                .count();
            assert!(
                in_minute <= 20,
                "{in_minute} calls in the minute from {at:?}"
            );
        }
        let paused = calls[100] - calls[99];
        assert!(paused >= Duration::from_secs(30), "{paused:?}");
        assert!(
            calls.len() >= 20 * 59,
            "the budget is used: {}",
            calls.len()
        );
    }
}
