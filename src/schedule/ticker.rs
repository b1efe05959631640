//! The scheduler task: at each tick, claims and queues the schedules' due times.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Clock, SystemClock, Timetable};
use crate::config::{CatchUp, Config};
use crate::queue::{Queue, QueueError, ScheduleClaim, ScheduleRun};
use crate::shutdown::{Shutdown, Stop};

/// The longest the scheduler sleeps between ticks (it wakes sooner for a due time).
pub const TICK: Duration = Duration::from_secs(10);

/// A due time seen more than this after it was missed (see the module docs): a few ticks, so
/// a slow database write or a busy machine does not count as downtime.
pub const LATE_AFTER: TimeDelta = TimeDelta::seconds(60);

/// What one tick did: each due time it tried, with what the claim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// The time the tick went by.
    pub at: DateTime<Utc>,
    /// `(schedule key, due time, outcome)`.
    pub runs: Vec<(&'static str, DateTime<Utc>, ScheduleRun)>,
}

/// Queues the config's scheduled jobs when due.
pub struct Scheduler {
    queue: Queue,
    timetables: Vec<Timetable>,
    clock: Arc<dyn Clock>,
    /// The last tick that reached the database; `None` before the first.
    last_tick: Option<DateTime<Utc>>,
    /// For each timetable, the latest due time this scheduler has claimed or seen claimed:
    /// later ticks do not ask the database about it again.
    settled: Vec<Option<DateTime<Utc>>>,
}

impl Scheduler {
    /// A scheduler of `timetables` on `queue`, going by `clock`.
    pub fn new(queue: Queue, timetables: Vec<Timetable>, clock: Arc<dyn Clock>) -> Scheduler {
        Scheduler {
            queue,
            settled: vec![None; timetables.len()],
            timetables,
            clock,
            last_tick: None,
        }
    }

    /// A scheduler of every schedule in `config`, on the system clock.
    pub fn for_config(
        config: &'static Config,
        queue: Queue,
    ) -> Result<Scheduler, super::TimetableError> {
        Ok(Scheduler::new(
            queue,
            Timetable::all(config)?,
            Arc::new(SystemClock),
        ))
    }

    /// Claims and queues what is due now: each due time of the last [`LATE_AFTER`], and, on
    /// the first tick or after a stall longer than that, the latest missed due time of each
    /// `catch_up = "latest"` schedule. Claims make a repeat (by this or another process) do
    /// nothing. On an error the tick counts as not having happened, so the next one catches
    /// up.
    pub async fn tick(&mut self) -> Result<Tick, QueueError> {
        let now = self.clock.now();
        let on_time_from = now - LATE_AFTER;
        let catching_up = self.last_tick.is_none_or(|last| now - last > LATE_AFTER);
        let mut runs = Vec::new();
        for (t, settled) in self.timetables.iter().zip(&mut self.settled) {
            let mut due: Vec<(DateTime<Utc>, bool)> = Vec::new();
            if catching_up && t.spec.catch_up == CatchUp::Latest {
                if let Some(missed) = t.latest_at_or_before(on_time_from) {
                    due.push((missed, true));
                }
            }
            due.extend(
                t.due_between(on_time_from, now)
                    .into_iter()
                    .map(|d| (d, false)),
            );
            for (due_at, only_after_earlier_run) in due {
                if settled.is_some_and(|s| due_at <= s) {
                    continue;
                }
                let claim = ScheduleClaim {
                    schedule_key: t.spec.key.to_owned(),
                    due_at,
                    job_type: t.spec.job_type.to_owned(),
                    args: t
                        .spec
                        .args
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    channel: t.spec.channel.to_owned(),
                    only_after_earlier_run,
                    now,
                };
                let run = self.queue.claim_schedule_run(claim).await?;
                log(t, due_at, only_after_earlier_run, &run);
                if run != ScheduleRun::NeverRan {
                    *settled = Some(due_at);
                }
                runs.push((t.spec.key, due_at, run));
            }
        }
        self.last_tick = Some(now);
        Ok(Tick { at: now, runs })
    }

    /// How long to wait before the next tick: until the next due time, at most [`TICK`].
    fn wait(&self) -> Duration {
        let now = self.clock.now();
        let next = self
            .timetables
            .iter()
            .filter_map(|t| t.next_after(now))
            .min();
        next.and_then(|n| (n - now).to_std().ok())
            .map_or(TICK, |d| d.min(TICK))
    }

    /// Ticks until `shutdown` asks for a stop. Errors are logged and the next tick tries again.
    pub async fn run(mut self, shutdown: impl Into<Shutdown>) {
        let mut shutdown = shutdown.into();
        if self.timetables.is_empty() {
            return;
        }
        tracing::info!(schedules = self.timetables.len(), "scheduler started");
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "scheduler: could not queue due jobs; trying again next tick");
            }
            tokio::select! {
                () = tokio::time::sleep(self.wait()) => {}
                () = shutdown.reached(Stop::Graceful) => break,
            }
        }
        tracing::info!("scheduler stopped");
    }
}

fn log(t: &Timetable, due_at: DateTime<Utc>, catch_up: bool, run: &ScheduleRun) {
    let job_type = t.spec.job_type;
    let schedule = t.spec.key;
    match run {
        ScheduleRun::Queued(s) => {
            tracing::info!(job_type, schedule, %due_at, catch_up, job_id = s.id, "scheduled job queued")
        }
        ScheduleRun::Suppressed { until } => tracing::info!(
            job_type, schedule, %due_at, %until,
            "scheduled job skipped: its job type is suppressed"
        ),
        ScheduleRun::AlreadyClaimed => {
            tracing::debug!(job_type, schedule, %due_at, "due time already claimed")
        }
        ScheduleRun::NeverRan => {
            tracing::debug!(job_type, schedule, %due_at, "no catch-up: the schedule never ran")
        }
    }
}
