//! What ran and how it ended: how a job ended ([`ExitKind`]), what the dispatcher reports
//! ([`Finished`]), one `job_history` row as read back ([`HistoryEntry`]), and how long rows
//! are kept. Each store's `history.rs` holds its SQL.

use chrono::{DateTime, Utc};

use super::job::{RawJob, RunId};
use super::time::{kept_since, parse_time};

/// How long history entries are kept (see [`super::Queue::prune_history`]).
pub const HISTORY_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitKind {
    /// The process exited with this code.
    Code(i32),
    /// The process was killed by this signal.
    Signal(i32),
    /// The job ran past its timeout and was killed.
    Timeout,
    /// The dispatcher stopped (or died) while it ran.
    Interrupted,
    /// A user removed it while it ran (`remove job id N`).
    Removed,
    /// It could not be run at all, with why.
    Error(String),
}

impl ExitKind {
    /// The `exit_kind` column's value.
    pub fn kind(&self) -> &'static str {
        match self {
            ExitKind::Code(_) => "code",
            ExitKind::Signal(_) => "signal",
            ExitKind::Timeout => "timeout",
            ExitKind::Interrupted => "interrupted",
            ExitKind::Removed => "removed",
            ExitKind::Error(_) => "error",
        }
    }

    pub(crate) fn code(&self) -> Option<i32> {
        match self {
            ExitKind::Code(code) | ExitKind::Signal(code) => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn detail(&self) -> Option<&str> {
        match self {
            ExitKind::Error(detail) => Some(detail),
            _ => None,
        }
    }

    pub(crate) fn from_columns(kind: &str, code: Option<i32>, detail: Option<String>) -> ExitKind {
        match (kind, code) {
            ("code", Some(code)) => ExitKind::Code(code),
            ("signal", Some(signal)) => ExitKind::Signal(signal),
            ("timeout", _) => ExitKind::Timeout,
            ("interrupted", _) => ExitKind::Interrupted,
            ("removed", _) => ExitKind::Removed,
            ("error", _) => ExitKind::Error(detail.unwrap_or_default()),
            _ => ExitKind::Error(format!("unrecognised exit `{kind}` ({code:?})")),
        }
    }
}

/// What the dispatcher tells [`super::Queue::finish`] about a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// When the job started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// How it ended.
    pub exit: ExitKind,
    /// Where its logs are, if it got that far.
    pub log_dir: Option<String>,
}

/// One `job_history` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// History row id.
    pub id: i64,
    /// The job's id while it was queued.
    pub job_id: i64,
    /// The run that ended, when it had one (rows before schema 6, and Python-left jobs, not).
    pub run: Option<RunId>,
    /// The job type.
    pub job_type: String,
    /// The args text as it was stored (possibly unreadable; see `decode_args`).
    pub args_json: Option<String>,
    /// The channel it reported to.
    pub channel: Option<String>,
    /// When it started, if known.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// How it ended.
    pub exit: ExitKind,
    /// Where its logs are.
    pub log_dir: Option<String>,
}

/// History that ended before this is pruned at `now`.
pub(crate) fn history_cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
    kept_since(now, HISTORY_RETENTION)
}

/// A history row to write, as both stores insert it into `job_history`.
pub(crate) struct HistoryRow<'a> {
    pub job_id: i64,
    pub run: Option<RunId>,
    pub job_type: &'a str,
    pub args: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub exit: &'a ExitKind,
    pub log_dir: Option<&'a str>,
}

impl<'a> HistoryRow<'a> {
    /// The history of a job row that ends without its dispatcher finishing it (removed, or
    /// reaped): args and channel as stored, no logs. The start is the row's, which the Python
    /// service may have written in another shape (or garbage): kept only if it reads as a
    /// time, so history rows always parse.
    pub(crate) fn ended(
        job: &'a RawJob,
        exit: &'a ExitKind,
        ended_at: DateTime<Utc>,
    ) -> HistoryRow<'a> {
        HistoryRow {
            job_id: job.id,
            run: job.run,
            job_type: &job.job_type,
            args: job.args.as_deref(),
            channel: job.channel.as_deref(),
            started_at: job
                .started_at
                .as_deref()
                .and_then(|text| parse_time(text).ok()),
            ended_at,
            exit,
            log_dir: None,
        }
    }
}
