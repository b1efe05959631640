//! Telling people when the queue database fails and when it works again. The dispatcher
//! retries failed calls every second, and start-up retries opening the database every few
//! seconds: each failure is logged, but the logs channel hears of a failure once, then at most
//! every [`REPEAT_EVERY`] while it lasts, and once more when it is over.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rusqlite::ErrorCode;

use crate::queue::QueueError;

/// How often the logs channel is told again of a failure that goes on.
pub const REPEAT_EVERY: Duration = Duration::from_secs(300);

/// A failure to tell the logs channel of: its first notice, or a reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// Whether this is the first notice of this failure.
    pub first: bool,
    /// Failed calls so far in this failure.
    pub failures: u64,
    /// How long it has failed.
    pub failing_for: Duration,
}

/// The end of a failure the logs channel was told of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Failed calls in all.
    pub failures: u64,
    /// How long it failed.
    pub failed_for: Duration,
}

/// Which calls fail now, and what the logs channel was told.
#[derive(Debug, Default)]
pub struct QueueHealth {
    /// Calls whose latest attempt failed.
    failing: BTreeSet<&'static str>,
    /// When the current failure began, if one goes on.
    since: Option<Instant>,
    failures: u64,
    /// Whether the current failure was told.
    told: bool,
    /// When a failure was last told, so that one coming and going is not told every time.
    told_at: Option<Instant>,
}

impl QueueHealth {
    /// Healthy, nothing told yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether some call's latest attempt failed.
    pub fn is_failing(&self) -> bool {
        self.since.is_some()
    }

    /// Records that `call` failed at `now`; says what to tell, if the time has come.
    pub fn failed(&mut self, call: &'static str, now: Instant) -> Option<Failing> {
        self.failing.insert(call);
        let since = *self.since.get_or_insert(now);
        self.failures += 1;
        let due = self
            .told_at
            .is_none_or(|at| now.saturating_duration_since(at) >= REPEAT_EVERY);
        if !due {
            return None;
        }
        let first = !self.told;
        self.told = true;
        self.told_at = Some(now);
        Some(Failing {
            first,
            failures: self.failures,
            failing_for: now.saturating_duration_since(since),
        })
    }

    /// Records that `call` worked at `now`; once every failing call has worked again, the
    /// failure is over, and is told if its start was.
    pub fn worked(&mut self, call: &'static str, now: Instant) -> Option<Recovered> {
        self.failing.remove(call);
        if !self.failing.is_empty() {
            return None;
        }
        let since = self.since.take()?;
        let failures = std::mem::take(&mut self.failures);
        std::mem::take(&mut self.told).then(|| Recovered {
            failures,
            failed_for: now.saturating_duration_since(since),
        })
    }
}

/// What a database error likely means, for people who have to fix it.
pub fn hint(error: &QueueError) -> Option<&'static str> {
    let QueueError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) = error else {
        return None;
    };
    Some(match e.code {
        ErrorCode::DiskFull => "The disk is full.",
        ErrorCode::ReadOnly => {
            "The database file, its `-wal` or `-shm` file, or its folder cannot be written: \
             check their owner and mode, and that the filesystem is not mounted read-only."
        }
        ErrorCode::SystemIoFailure => {
            "Reading or writing the disk failed: it may be full (or past a file size limit), \
             or failing."
        }
        ErrorCode::CannotOpen => {
            "The database file cannot be opened: check that it and its folder can be read \
             and written."
        }
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            "Another process has held the database locked for longer than the 5 s wait."
        }
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => "The database file is damaged.",
        _ => return None,
    })
}

/// `error`, then its [`hint`] if it has one.
fn explained(error: &QueueError) -> String {
    match hint(error) {
        Some(hint) => format!("{error}. {hint}"),
        None => format!("{error}."),
    }
}

/// The dispatcher's notice of a failing call (`call` says what it was doing).
pub fn cannot_use(failing: &Failing, call: &str, error: &QueueError) -> String {
    if failing.first {
        format!(
            ":warning: bennettbot cannot use its job queue database ({call}): {}\n\
             Jobs cannot start or be recorded until this is fixed. It keeps trying, and will \
             say here when the database works again.",
            explained(error)
        )
    } else {
        format!(
            ":warning: bennettbot still cannot use its job queue database ({call}), after \
             {} failed calls in {}: {}",
            failing.failures,
            minutes(failing.failing_for),
            explained(error)
        )
    }
}

/// Start-up's notice of a database that does not open (`error` with its causes, `hint` from
/// [`hint`]); it tries again every `retry`.
pub fn cannot_open(
    failing: &Failing,
    path: &str,
    error: &str,
    hint: Option<&str>,
    retry: Duration,
) -> String {
    let hint = hint.map(|h| format!(" {h}")).unwrap_or_default();
    if failing.first {
        format!(
            ":warning: bennettbot cannot open its job queue database `{path}`: {error}.{hint}\n\
             It is not answering Slack or webhooks, nor running jobs, until this is fixed. It \
             tries again every {} s, and will say here when the database works again.",
            retry.as_secs()
        )
    } else {
        format!(
            ":warning: bennettbot still cannot open its job queue database `{path}`, after \
             {} tries in {}: {error}.{hint}",
            failing.failures,
            minutes(failing.failing_for)
        )
    }
}

/// The notice that a failure is over.
pub fn works_again(recovered: &Recovered) -> String {
    format!(
        ":white_check_mark: bennettbot's job queue database works again (it failed for {}, \
         {} failed calls).",
        minutes(recovered.failed_for),
        recovered.failures
    )
}

/// A duration in whole minutes, or seconds below one.
fn minutes(d: Duration) -> String {
    match d.as_secs() {
        s if s < 60 => format!("{s} s"),
        s => format!("{} min", s / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn a_failure_is_told_once_then_every_five_minutes_then_when_over() {
        let t0 = Instant::now();
        let mut health = QueueHealth::new();
        assert_eq!(
            health.worked("reserve", t0),
            None,
            "nothing to recover from"
        );
        assert!(matches!(
            health.failed("reserve", t0),
            Some(Failing {
                first: true,
                failures: 1,
                ..
            })
        ));
        for s in 1..300 {
            assert_eq!(health.failed("reserve", at(t0, s)), None, "{s} s");
        }
        assert_eq!(
            health.failed("reserve", at(t0, 300)),
            Some(Failing {
                first: false,
                failures: 301,
                failing_for: Duration::from_secs(300)
            })
        );
        assert!(health.is_failing());
        assert_eq!(
            health.worked("reserve", at(t0, 310)),
            Some(Recovered {
                failures: 301,
                failed_for: Duration::from_secs(310)
            })
        );
        assert!(!health.is_failing());
        assert_eq!(health.worked("reserve", at(t0, 311)), None);
    }

    #[test]
    fn over_only_once_every_failing_call_has_worked() {
        let t0 = Instant::now();
        let mut health = QueueHealth::new();
        assert!(health.failed("reserve", t0).is_some());
        assert_eq!(health.failed("heartbeat", at(t0, 1)), None);
        assert_eq!(health.worked("reserve", at(t0, 2)), None, "heartbeat fails");
        assert!(matches!(
            health.worked("heartbeat", at(t0, 3)),
            Some(Recovered { failures: 2, .. })
        ));
    }

    #[test]
    fn a_failure_that_comes_and_goes_is_not_told_each_time() {
        let t0 = Instant::now();
        let mut health = QueueHealth::new();
        assert!(health.failed("reserve", t0).is_some());
        assert!(health.worked("reserve", at(t0, 1)).is_some());
        // Back within five minutes of the last notice: logged only, and so is its end.
        assert_eq!(health.failed("reserve", at(t0, 2)), None);
        assert_eq!(health.worked("reserve", at(t0, 3)), None);
        assert!(matches!(
            health.failed("reserve", at(t0, 300)),
            Some(Failing { first: true, .. })
        ));
    }

    #[test]
    fn notices_name_the_call_the_error_and_what_it_means() {
        let full = QueueError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        ));
        let first = Failing {
            first: true,
            failures: 1,
            failing_for: Duration::ZERO,
        };
        let text = cannot_use(&first, "reserving a job", &full);
        assert!(text.contains("(reserving a job)"), "{text}");
        assert!(text.contains("The disk is full."), "{text}");
        assert!(text.contains("will say here when"), "{text}");
        let again = Failing {
            first: false,
            failures: 301,
            failing_for: Duration::from_secs(300),
        };
        let text = cannot_use(&again, "reserving a job", &full);
        assert!(text.contains("301 failed calls in 5 min"), "{text}");
        let over = Recovered {
            failures: 3,
            failed_for: Duration::from_secs(12),
        };
        assert!(works_again(&over).contains("works again (it failed for 12 s, 3 failed calls)"));
        let text = cannot_open(
            &first,
            "/db",
            "locked",
            Some("Hint."),
            Duration::from_secs(2),
        );
        assert!(text.contains("`/db`: locked. Hint.\n"), "{text}");
        assert!(text.contains("every 2 s"), "{text}");
        assert_eq!(hint(&QueueError::ShuttingDown), None);
    }
}
