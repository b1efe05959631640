//! A `job` row: the typed [`Job`], and the raw row it is read from, which may hold anything
//! the Python service (or a hand edit) left there; the rules that judge a raw row are shared
//! by both stores, each of which reads its rows into a [`RawJob`].

use chrono::{DateTime, Utc};

use super::args::decode_args;
use super::time::parse_time;
use crate::config::Args;

/// One reservation of a job by a dispatcher. Unlike job ids, which the Python-compatible
/// `job` table reuses once a row is deleted, a run id is never reused, so every write made
/// after reservation (finish, process group, stop) names the run it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub i64);

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A queued or running job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Row id (`remove job id N`).
    pub id: i64,
    /// The job type from the config (`namespace_job`).
    pub job_type: String,
    /// The job's arguments.
    pub args: Args,
    /// Slack channel to report to.
    pub channel: String,
    /// Thread to report in, if any.
    pub thread_ts: Option<String>,
    /// The message that asked for the job, if any (for reactions).
    pub message_ts: Option<String>,
    /// Not run before this.
    pub start_after: DateTime<Utc>,
    /// When a dispatcher reserved it; `None` while pending.
    pub started_at: Option<DateTime<Utc>>,
    /// Whether the request came from a direct message.
    pub is_im: bool,
    /// Its current run, while a dispatcher has it (`None` while pending, or for a started
    /// row left by the Python service).
    pub run: Option<RunId>,
}

/// A job to schedule at an absolute time (see [`super::Queue::schedule`]).
#[derive(Debug, Clone, Copy)]
pub struct NewJob<'a> {
    /// The job type.
    pub job_type: &'a str,
    /// Its arguments.
    pub args: &'a Args,
    /// Slack channel to report to.
    pub channel: &'a str,
    /// Thread to report in.
    pub thread_ts: Option<&'a str>,
    /// The requesting message.
    pub message_ts: Option<&'a str>,
    /// Whether the request came from a direct message.
    pub is_im: bool,
    /// Not run before this.
    pub start_after: DateTime<Utc>,
    /// The Slack user who asked for it, who may then remove it (webhooks and schedules: none).
    pub requester: Option<&'a str>,
}

/// What scheduling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduled {
    /// The new or updated job's id.
    pub id: i64,
    /// Whether a job of the same type (any args) is running now, so this one will wait.
    pub already_running: bool,
    /// Whether a job was added (`false`: a pending one with the same type and args was updated).
    pub added: bool,
}

impl Scheduled {
    /// What scheduling job `id` of `job_type` did, logged: `updated` when a pending job with
    /// the same type and args was pushed back rather than a row added.
    pub(crate) fn logged(id: i64, job_type: &str, already_running: bool, updated: bool) -> Self {
        tracing::debug!(job_id = id, job_type, updated, "job scheduled");
        Scheduled {
            id,
            already_running,
            added: !updated,
        }
    }
}

/// What `remove job id N` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// No such job.
    NotFound,
    /// Removed from the queue.
    Removed,
    /// A dispatcher runs it: it was asked to stop the job's processes, then remove it.
    Stopping,
}

/// A job row that cannot be read, with what is known of it so it can be reported and removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {id} ({job_type}) cannot be read: {reason}")]
pub struct BadRow {
    /// Row id, for `finish` or `remove_job`.
    pub id: i64,
    /// The job type as stored.
    pub job_type: String,
    /// The channel as stored, to report to if present.
    pub channel: Option<String>,
    /// The thread as stored.
    pub thread_ts: Option<String>,
    /// Its run, when it was just reserved (finish it with this).
    pub run: Option<RunId>,
    /// What is wrong with it.
    pub reason: String,
}

/// A job row as stored, every column read leniently so that one odd row cannot fail a query.
#[derive(Debug, Clone)]
pub(crate) struct RawJob {
    pub id: i64,
    pub job_type: String,
    pub args: Option<String>,
    pub channel: Option<String>,
    pub thread_ts: Option<String>,
    pub message_ts: Option<String>,
    pub start_after: Option<String>,
    pub started_at: Option<String>,
    pub is_im: bool,
    pub run: Option<RunId>,
}

impl RawJob {
    fn bad(&self, reason: String) -> BadRow {
        BadRow {
            id: self.id,
            job_type: self.job_type.clone(),
            channel: self.channel.clone(),
            thread_ts: self.thread_ts.clone(),
            run: self.run,
            reason,
        }
    }

    /// The typed job, or why this row is unreadable.
    pub(crate) fn parse(self) -> Result<Job, BadRow> {
        let args = match &self.args {
            Some(text) => decode_args(text).map_err(|e| self.bad(e.to_string()))?,
            None => return Err(self.bad("args are NULL".into())),
        };
        let Some(channel) = self.channel.clone() else {
            return Err(self.bad("channel is NULL".into()));
        };
        let start_after = match &self.start_after {
            Some(text) => parse_time(text).map_err(|e| self.bad(format!("start_after: {e}")))?,
            None => return Err(self.bad("start_after is NULL".into())),
        };
        let started_at = match &self.started_at {
            Some(text) => Some(parse_time(text).map_err(|e| self.bad(format!("started_at: {e}")))?),
            None => None,
        };
        Ok(Job {
            id: self.id,
            job_type: self.job_type,
            args,
            channel,
            thread_ts: self.thread_ts,
            message_ts: self.message_ts,
            start_after,
            started_at,
            is_im: self.is_im,
            run: self.run,
        })
    }

    /// The job a dispatcher (`owner`) just reserved, started at `started_at`; an unreadable
    /// row is [`super::QueueError::BadRow`] (it stays reserved: see `Queue::reserve`).
    /// Shared by both stores.
    pub(crate) fn reserved(
        self,
        started_at: DateTime<Utc>,
        owner: &str,
    ) -> Result<Job, super::QueueError> {
        match self.parse() {
            Ok(mut job) => {
                job.started_at = Some(started_at);
                tracing::debug!(job_id = job.id, run_id = ?job.run, job_type = %job.job_type, owner, "job reserved");
                Ok(job)
            }
            Err(bad) => {
                tracing::warn!(job_id = bad.id, job_type = %bad.job_type, reason = %bad.reason, "reserved an unreadable job");
                Err(super::QueueError::BadRow(Box::new(bad)))
            }
        }
    }

    /// The job with unreadable parts replaced (args empty, times `fallback`), for reporting a
    /// row that is being removed anyway; logs what was replaced.
    pub(crate) fn parse_lossy(self, fallback: DateTime<Utc>) -> Job {
        let args = match self.args.as_deref().map(decode_args) {
            Some(Ok(args)) => args,
            Some(Err(e)) => {
                tracing::warn!(job_id = self.id, error = %e, "unreadable args; reporting without them");
                Args::new()
            }
            None => Args::new(),
        };
        let time = |text: &Option<String>| -> Option<DateTime<Utc>> {
            let text = text.as_deref()?;
            parse_time(text)
                .map_err(|e| tracing::warn!(job_id = self.id, error = %e, "unreadable time"))
                .ok()
        };
        let started_at = time(&self.started_at);
        let start_after = time(&self.start_after).or(started_at).unwrap_or(fallback);
        Job {
            id: self.id,
            job_type: self.job_type,
            args,
            channel: self.channel.unwrap_or_default(),
            thread_ts: self.thread_ts,
            message_ts: self.message_ts,
            start_after,
            started_at,
            is_im: self.is_im,
            run: self.run,
        }
    }
}

/// A queued job's type and who asked for it, to decide who may remove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// The job type.
    pub job_type: String,
    /// Slack users who asked for it (several when requests merged into one pending job).
    pub requesters: Vec<String>,
}
