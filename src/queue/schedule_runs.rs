//! Claims of scheduled jobs' due times (`[[ns.schedule]]`): each (schedule, due time) is
//! claimed once in the database, in the transaction that queues its job, so several
//! dispatchers on one database queue it exactly once between them. What a claim asks and
//! what it did; each store's `schedule_runs.rs` holds its SQL.

use chrono::{DateTime, TimeDelta, Utc};

use super::job::{NewJob, Scheduled};
use super::time::kept_since;
use crate::config::Args;

/// How long claims are kept; the latest of each schedule is kept whatever its age, as
/// catch-up's proof that the schedule ran before.
pub const SCHEDULE_RUN_RETENTION: TimeDelta = TimeDelta::days(7);

/// One due time of one schedule, and the job it queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleClaim {
    /// The schedule's key (`ScheduleSpec::key`).
    pub schedule_key: String,
    /// The due time claimed; also the job's `start_after`.
    pub due_at: DateTime<Utc>,
    /// The job type to queue.
    pub job_type: String,
    /// Its arguments.
    pub args: Args,
    /// The channel it reports to.
    pub channel: String,
    /// Claim only if the schedule has claimed an earlier due time (catch-up of a missed time:
    /// a schedule that never ran has missed nothing).
    pub only_after_earlier_run: bool,
    /// When the claim is made (suppressions are judged at this time).
    pub now: DateTime<Utc>,
}

/// What claiming a due time did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleRun {
    /// Claimed here, and the job queued (or merged into a pending duplicate).
    Queued(Scheduled),
    /// Claimed here, but the job type is suppressed until this time: nothing queued.
    Suppressed {
        /// The end of the suppression in force.
        until: DateTime<Utc>,
    },
    /// Another scheduler (or an earlier tick) claimed it: nothing done.
    AlreadyClaimed,
    /// A catch-up of a schedule that never ran: nothing claimed or queued.
    NeverRan,
}

impl ScheduleClaim {
    /// The job a claim queues: due at the claimed time, in the schedule's channel, as no
    /// message's reply.
    pub(crate) fn job(&self) -> NewJob<'_> {
        NewJob {
            job_type: &self.job_type,
            args: &self.args,
            channel: &self.channel,
            thread_ts: None,
            message_ts: None,
            is_im: false,
            start_after: self.due_at,
            requester: None,
        }
    }

    /// The schedule's claims of due times before this are pruned, except its latest (the one
    /// just made, whatever its age: catch-up's proof that the schedule ran before).
    pub(crate) fn prune_cutoff(&self) -> DateTime<Utc> {
        kept_since(self.now, SCHEDULE_RUN_RETENTION)
    }
}

impl ScheduleRun {
    /// Whether a claim was made here; if not ([`ScheduleRun::AlreadyClaimed`],
    /// [`ScheduleRun::NeverRan`]) the transaction changed nothing and is dropped.
    pub(crate) fn claimed_here(&self) -> bool {
        !matches!(self, ScheduleRun::AlreadyClaimed | ScheduleRun::NeverRan)
    }

    /// Whether a job was queued, so dispatchers are woken.
    pub(crate) fn queued(&self) -> bool {
        matches!(self, ScheduleRun::Queued(_))
    }

    /// The `outcome` and `job_id` recorded for a claim made here (`None` otherwise): `queued`
    /// with the job's id, or `suppressed`.
    pub(crate) fn outcome(&self) -> Option<(&'static str, Option<i64>)> {
        match self {
            ScheduleRun::Queued(scheduled) => Some(("queued", Some(scheduled.id))),
            ScheduleRun::Suppressed { .. } => Some(("suppressed", None)),
            ScheduleRun::AlreadyClaimed | ScheduleRun::NeverRan => None,
        }
    }
}
