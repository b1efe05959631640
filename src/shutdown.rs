//! How far a process's shutdown has gone, and how long it may take.
//!
//! The first SIGTERM or SIGINT asks for a graceful stop: no new jobs, running ones may finish
//! for `SHUTDOWN_GRACE_SECONDS`, then their groups get SIGTERM and, [`kill_grace`] later,
//! SIGKILL; final reports get [`FINAL_REPORTS`]. A second signal stops running jobs at once,
//! leaving [`STOP_NOW`] for them to end and be reported. So a process stops within
//! [`longest_stop`] of the first signal, whatever Slack does.
//!
//! [`kill_grace`]: crate::dispatcher::DispatcherSettings::kill_grace

use std::time::Duration;

use tokio::sync::watch;

/// How long reports may take once running jobs have been stopped (Slack retries included);
/// jobs still unreported then are left for the next dispatcher to report as interrupted.
pub const FINAL_REPORTS: Duration = Duration::from_secs(10);

/// After a second signal: how long running jobs have to end on SIGTERM and be reported
/// before their groups are killed.
pub const STOP_NOW: Duration = Duration::from_secs(5);

/// The longest a process takes to stop after the first signal, for a shutdown grace and a
/// kill grace: deploy/bennettbot.service's `TimeoutStopSec` must be above this.
pub fn longest_stop(shutdown_grace: Duration, kill_grace: Duration) -> Duration {
    shutdown_grace + kill_grace + FINAL_REPORTS
}

/// A shutdown level; later levels compare greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Stop {
    /// Working.
    #[default]
    Running,
    /// Take no new work; let running jobs finish for the grace period.
    Graceful,
    /// Stop running jobs now.
    Now,
}

impl From<bool> for Stop {
    /// `true` is a graceful stop: what a plain stop flag means.
    fn from(stop: bool) -> Self {
        if stop {
            Stop::Graceful
        } else {
            Stop::Running
        }
    }
}

/// What a part watches for shutdown: a [`Stop`] level, or a flag whose `true` is
/// [`Stop::Graceful`] (for callers that only ever stop gracefully).
#[derive(Debug, Clone)]
pub struct Shutdown(Watched);

#[derive(Debug, Clone)]
enum Watched {
    Level(watch::Receiver<Stop>),
    Flag(watch::Receiver<bool>),
}

impl From<watch::Receiver<Stop>> for Shutdown {
    fn from(level: watch::Receiver<Stop>) -> Self {
        Shutdown(Watched::Level(level))
    }
}

impl From<watch::Receiver<bool>> for Shutdown {
    fn from(flag: watch::Receiver<bool>) -> Self {
        Shutdown(Watched::Flag(flag))
    }
}

impl Shutdown {
    /// The level now.
    pub fn level(&self) -> Stop {
        match &self.0 {
            Watched::Level(rx) => *rx.borrow(),
            Watched::Flag(rx) => Stop::from(*rx.borrow()),
        }
    }

    /// Completes once the level is at least `level`. A sender that is gone counts as a
    /// graceful stop, never as [`Stop::Now`].
    pub async fn reached(&mut self, level: Stop) {
        let reached = match &mut self.0 {
            Watched::Level(rx) => rx.wait_for(|l| *l >= level).await.is_ok(),
            Watched::Flag(rx) => rx.wait_for(|f| Stop::from(*f) >= level).await.is_ok(),
        };
        if !reached && level > Stop::Graceful {
            std::future::pending::<()>().await;
        }
    }

    /// Completes once a stop is asked for, graceful or not.
    pub async fn stopping(mut self) {
        self.reached(Stop::Graceful).await;
    }
}

/// Raises `tx` to `level` unless it is already there or beyond.
pub fn raise(tx: &watch::Sender<Stop>, level: Stop) {
    tx.send_if_modified(|now| {
        let raised = *now < level;
        *now = (*now).max(level);
        raised
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn levels_are_reached_in_order_and_a_gone_sender_is_graceful() {
        let (tx, rx) = watch::channel(Stop::Running);
        let mut shutdown = Shutdown::from(rx);
        raise(&tx, Stop::Graceful);
        shutdown.reached(Stop::Graceful).await;
        assert_eq!(shutdown.level(), Stop::Graceful);
        raise(&tx, Stop::Now);
        raise(&tx, Stop::Graceful);
        assert_eq!(shutdown.level(), Stop::Now, "never lowered");
        shutdown.reached(Stop::Now).await;

        let (tx, rx) = watch::channel(false);
        let mut flag = Shutdown::from(rx);
        drop(tx);
        flag.reached(Stop::Graceful).await;
        let now = tokio::time::timeout(Duration::from_millis(50), flag.reached(Stop::Now)).await;
        assert!(now.is_err(), "a gone sender never means stop now");
    }
}
