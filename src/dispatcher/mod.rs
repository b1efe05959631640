//! The dispatcher: runs due jobs from the queue, one task each, and reports them to Slack.
//!
//! Jobs scheduled in this process start at once ([`Queue::notified`]); jobs scheduled by
//! other processes are seen within a second ([`Queue::data_version`]). While jobs run the
//! dispatcher heartbeats its leases; jobs of dispatchers that died are reaped and reported as
//! interrupted. A queue call that fails is logged and retried; the logs channel hears of
//! the failure once (and when it is over: see [`health`]). On shutdown it stops reserving, lets running jobs finish for
//! [`DispatcherSettings::shutdown_grace`], then stops their process groups.

pub mod entries;
pub mod environment;
pub mod health;
mod job;
pub mod logs;
pub mod orphans;
pub mod outbox;
pub mod reaper;
pub mod report;
pub mod reporter;
pub mod runner;
pub mod secrets;
mod shared_files;
pub mod undelivered;
pub mod workspace;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::Config;
use crate::queue::{Queue, QueueError, RunId};
use crate::shutdown::{longest_stop, Shutdown, Stop, FINAL_REPORTS, STOP_NOW};
use job::StopReason;

/// Each running job's stop switch, by run.
type Stops = HashMap<RunId, watch::Sender<Option<StopReason>>>;
use crate::slack::SlackApi;
use environment::BotEnvironment;
use health::QueueHealth;
use reporter::Reporter;
use secrets::SecretMask;

/// How long a job's process group has between SIGTERM and SIGKILL.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(10);

/// The longest the loop sleeps: jobs from other processes are seen within this.
const POLL: Duration = Duration::from_secs(1);

/// Reserve even when nothing seems to have changed this often, in case a change was missed
/// (e.g. a suppression ending).
const RESERVE_ANYWAY: Duration = Duration::from_secs(30);

/// How often history is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Where jobs run and report; filled from the environment by the binary.
#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    /// Shipped workspaces: `<workspace_dir>/<namespace>`.
    pub workspace_dir: PathBuf,
    /// Workspaces of namespaces that ship none, created on demand.
    pub writeable_workspace_dir: PathBuf,
    /// Where log folders are created (`LOGS_DIR`).
    pub logs_dir: PathBuf,
    /// The same folder as the host sees it (`HOST_LOGS_DIR`), shown to users.
    pub host_logs_dir: PathBuf,
    /// Scripts' writeable state (`WRITEABLE_DIR`).
    pub writeable_dir: PathBuf,
    /// The application's root, given to jobs as `PYTHONPATH`.
    pub app_root: PathBuf,
    /// Put first on jobs' `PATH` when set.
    pub absolute_bin: Option<PathBuf>,
    /// Where ``Command `x` about to start`` and Slack failures go.
    pub logs_channel: String,
    /// Where failures of jobs with `call_tech_support_on_error` are linked.
    pub tech_support_channel: String,
    /// The bot's name as users mention it, for `@<name> showlogs ...` hints.
    pub app_username: String,
    /// A lease not heartbeaten for this long is dead.
    pub lease_timeout: Duration,
    /// How long running jobs may go on after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// How long a stopped job's group has between SIGTERM and SIGKILL ([`DEFAULT_KILL_GRACE`]).
    pub kill_grace: Duration,
    /// The bot's environment at start: what namespaces' `env` and `secret_env` name is read
    /// from it, and the secret values masked in every report.
    pub environment: BotEnvironment,
}

/// What a job task shares with the loop.
pub(crate) struct Shared<S> {
    /// The jobs' namespaces (workspaces, fabfiles).
    pub(crate) config: &'static Config,
    pub(crate) queue: Queue,
    pub(crate) reporter: Reporter<S>,
    pub(crate) settings: DispatcherSettings,
    pub(crate) http: reqwest::Client,
    /// Files jobs write that every replica must see.
    pub(crate) shared_files: shared_files::SharedFiles,
}

/// The dispatcher loop. Generic over Slack so the local shell can print reports instead.
pub struct Dispatcher<S> {
    context: Arc<Shared<S>>,
    owner: String,
    health: Mutex<QueueHealth>,
}

impl<S: SlackApi> Dispatcher<S> {
    /// A dispatcher running `config`'s jobs from `queue` and reporting through `slack`.
    pub fn new(
        config: &'static Config,
        queue: Queue,
        slack: Arc<S>,
        settings: DispatcherSettings,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        let secrets = SecretMask::new(settings.environment.secret_values(config));
        let owner = format!("dispatcher-{}-{}", std::process::id(), uuid::Uuid::new_v4());
        let reporter = Reporter::new(
            slack,
            queue.clone(),
            owner.clone(),
            settings.lease_timeout,
            settings.logs_channel.clone(),
            secrets,
        );
        let shared_files = shared_files::SharedFiles::new(config, settings.writeable_dir.clone());
        Dispatcher {
            context: Arc::new(Shared {
                config,
                queue,
                reporter,
                settings,
                http,
                shared_files,
            }),
            owner,
            health: Mutex::new(QueueHealth::new()),
        }
    }

    /// The lease owner name this dispatcher reserves jobs under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs until `shutdown` asks for a stop (or its sender is dropped), then winds down
    /// running jobs as [`DispatcherSettings::shutdown_grace`] allows, or at once on
    /// [`Stop::Now`]. Errors of single jobs or of the queue are logged and reported, never
    /// returned: the loop keeps going.
    pub async fn run(self, shutdown: impl Into<Shutdown>) {
        let mut shutdown = shutdown.into();
        let settings = &self.context.settings;
        let beat_every = (settings.lease_timeout / 3).max(Duration::from_millis(100));
        let reap_every = settings.lease_timeout.max(Duration::from_secs(1));
        let (kill_tx, kill_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut last_beat = Instant::now();
        let mut last_reap = Instant::now();
        let mut last_prune = Instant::now();
        let mut last_reserve = Instant::now();
        let mut last_version = None;
        let mut woken = true;
        let mut stops = Stops::new();
        self.reap(&mut tasks).await;
        self.prune().await;
        // Reports left by a crash, a restart or a dead replica go out first.
        self.context.reporter.recover().await;
        tracing::info!(owner = %self.owner, "dispatcher started");

        while shutdown.level() == Stop::Running {
            // Taken before reserving, so a job scheduled meanwhile still wakes the wait below.
            let notified = self.context.queue.notified();
            let version = self.context.queue.data_version().await.ok();
            let next = self.context.queue.next_start_after().await.ok().flatten();
            let due = next.is_some_and(|at| at <= Utc::now());
            if woken || due || version != last_version || last_reserve.elapsed() >= RESERVE_ANYWAY {
                last_version = version;
                last_reserve = Instant::now();
                self.reserve_all(&mut tasks, &kill_rx, &mut stops).await;
            }
            self.check_stops(&mut stops).await;
            if last_beat.elapsed() >= beat_every {
                self.heartbeat().await;
                last_beat = Instant::now();
            }
            if last_reap.elapsed() >= reap_every {
                self.reap(&mut tasks).await;
                self.context.reporter.recover().await;
                last_reap = Instant::now();
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                self.prune().await;
                last_prune = Instant::now();
            }
            while let Some(done) = tasks.try_join_next() {
                log_task_end(done);
            }
            let wait = next
                .and_then(|at| (at - Utc::now()).to_std().ok())
                .map_or(POLL, |until| until.min(POLL));
            woken = false;
            tokio::select! {
                () = notified => woken = true,
                () = tokio::time::sleep(wait) => {}
                () = shutdown.reached(Stop::Graceful) => break,
            }
        }

        tracing::info!(running = tasks.len(), "dispatcher stopping");
        let stop_by = self.wind_down(tasks, kill_tx, beat_every, shutdown).await;
        // Reports queued behind a Slack outage get what is left of the bounded stop.
        let until = stop_by.min(Instant::now() + FINAL_REPORTS);
        self.context.reporter.drain(until).await;
        tracing::info!("dispatcher stopped");
    }

    /// Lets running jobs finish for the grace period (heartbeating), then stops the rest; on
    /// [`Stop::Now`] stops them at once. Bounded (see [`crate::shutdown`]): tasks still going
    /// at the end are dropped, killing their jobs' groups; their rows stay leased, so the next
    /// dispatcher reports them as interrupted. Returns when the whole stop must be over.
    async fn wind_down(
        &self,
        mut tasks: JoinSet<()>,
        kill_tx: watch::Sender<bool>,
        beat_every: Duration,
        mut shutdown: Shutdown,
    ) -> Instant {
        let settings = &self.context.settings;
        let grace_end = Instant::now() + settings.shutdown_grace;
        let mut give_up =
            Instant::now() + longest_stop(settings.shutdown_grace, settings.kill_grace);
        let mut killed = false;
        let mut now = false;
        while !tasks.is_empty() {
            let tick = Instant::now() + beat_every;
            tokio::select! {
                done = tasks.join_next() => {
                    if let Some(done) = done {
                        log_task_end(done);
                    }
                }
                () = shutdown.reached(Stop::Now), if !now => {
                    tracing::warn!(running = tasks.len(), "asked again to stop: stopping running jobs now");
                    let _ = kill_tx.send(true);
                    (killed, now) = (true, true);
                    give_up = give_up.min(Instant::now() + STOP_NOW);
                }
                () = tokio::time::sleep_until(grace_end), if !killed => {
                    tracing::warn!(running = tasks.len(), "shutdown grace over; stopping running jobs");
                    // Tasks see this, stop their groups, and report the jobs as interrupted.
                    let _ = kill_tx.send(true);
                    killed = true;
                }
                () = tokio::time::sleep_until(give_up) => {
                    tracing::error!(running = tasks.len(), "shutdown time is up; killing the jobs left and dropping their reports");
                    tasks.shutdown().await;
                }
                () = tokio::time::sleep_until(tick) => self.heartbeat().await,
            }
        }
        give_up
    }

    /// Reserves every due job, each started in its own task with its own stop switch.
    async fn reserve_all(
        &self,
        tasks: &mut JoinSet<()>,
        kill: &watch::Receiver<bool>,
        stops: &mut Stops,
    ) {
        loop {
            match self.context.queue.reserve(&self.owner).await {
                Ok(Some(job)) => {
                    self.queue_worked(RESERVE);
                    tracing::info!(job_id = job.id, run_id = ?job.run, job_type = %job.job_type, "starting job");
                    let (stop_tx, stop_rx) = watch::channel(None);
                    if let Some(run) = job.run {
                        stops.insert(run, stop_tx);
                    }
                    tasks.spawn(job::run_job(
                        self.context.clone(),
                        job,
                        kill.clone(),
                        stop_rx,
                    ));
                }
                Ok(None) => {
                    self.queue_worked(RESERVE);
                    return;
                }
                Err(QueueError::BadRow(bad)) => {
                    // The store works: only this row cannot be read.
                    self.queue_worked(RESERVE);
                    tasks.spawn(job::drop_bad_row(self.context.clone(), *bad));
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not reserve a job");
                    self.queue_failed(RESERVE, &e);
                    return;
                }
            }
        }
    }

    /// Stops runs a user removed, and runs another dispatcher reaped (gone from the queue).
    async fn check_stops(&self, stops: &mut Stops) {
        // A task that ended dropped its receiver.
        stops.retain(|_, tx| !tx.is_closed());
        if stops.is_empty() {
            return;
        }
        let states = match self.context.queue.run_states(&self.owner).await {
            Ok(states) => {
                self.queue_worked(CHECK_STOPS);
                states.into_iter().collect::<HashMap<_, _>>()
            }
            Err(e) => {
                tracing::error!(error = %e, "could not check for removed jobs");
                self.queue_failed(CHECK_STOPS, &e);
                return;
            }
        };
        for (run, tx) in stops.iter() {
            let stop = match states.get(run) {
                Some(Some(by)) => StopReason::Removed { by: by.clone() },
                Some(None) => continue,
                None => StopReason::Lost,
            };
            tx.send_if_modified(|current| {
                let first = current.is_none();
                if first {
                    tracing::info!(run_id = %run, ?stop, "stopping a running job");
                    *current = Some(stop);
                }
                first
            });
        }
    }

    async fn heartbeat(&self) {
        match self.context.queue.heartbeat(&self.owner, Utc::now()).await {
            Ok(()) => self.queue_worked(HEARTBEAT),
            Err(e) => {
                tracing::error!(error = %e, "could not heartbeat the dispatcher's leases");
                self.queue_failed(HEARTBEAT, &e);
            }
        }
    }

    /// Reports jobs whose dispatcher died as interrupted (the queue already removed them),
    /// in tasks: slow Slack calls must not delay this dispatcher's own heartbeats.
    async fn reap(&self, tasks: &mut JoinSet<()>) {
        let timeout = self.context.settings.lease_timeout;
        match self
            .context
            .queue
            .reap_dead_leases(Utc::now(), timeout, &self.owner)
            .await
        {
            Ok(dead) => {
                self.queue_worked(REAP);
                for reaped in dead {
                    tasks.spawn(job::report_reaped(self.context.clone(), reaped));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "could not reap dead leases");
                self.queue_failed(REAP, &e);
            }
        }
    }

    async fn prune(&self) {
        match self.context.queue.prune_history(Utc::now()).await {
            Ok(_) => self.queue_worked(PRUNE),
            Err(e) => {
                tracing::error!(error = %e, "could not prune job history");
                self.queue_failed(PRUNE, &e);
            }
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, QueueHealth> {
        // Nothing panics while holding it; a poisoned state is still a valid one.
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a failed queue call (already logged), telling the logs channel when it is due.
    fn queue_failed(&self, call: &'static str, error: &QueueError) {
        if matches!(error, QueueError::ShuttingDown) {
            return;
        }
        let tell = self.health().failed(call, std::time::Instant::now());
        if let Some(failing) = tell {
            self.tell(health::cannot_use(&failing, call, error));
        }
    }

    /// Notes a queue call that worked, telling the logs channel if a failure is over.
    fn queue_worked(&self, call: &'static str) {
        let tell = self.health().worked(call, std::time::Instant::now());
        if let Some(recovered) = tell {
            tracing::info!("the job queue database works again");
            self.tell(health::works_again(&recovered));
        }
    }

    /// Posts `text` to the logs channel in a task of its own: a slow Slack must not hold up
    /// the loop (and its heartbeats).
    fn tell(&self, text: String) {
        let context = self.context.clone();
        tokio::spawn(async move {
            let reporter = &context.reporter;
            reporter.post(reporter.logs_channel(), None, &text).await;
        });
    }
}

/// What the loop's queue calls do, as the logs channel is told of them.
const RESERVE: &str = "reserving a job";
const HEARTBEAT: &str = "renewing the leases of running jobs";
const REAP: &str = "reaping jobs of dead dispatchers";
const CHECK_STOPS: &str = "checking for removed jobs";
const PRUNE: &str = "pruning job history";

fn log_task_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "a job task panicked");
    }
}
