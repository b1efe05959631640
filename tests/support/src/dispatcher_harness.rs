//! The dispatcher run in-process on real jobs from the compiled config, with its own database,
//! folders and fake Slack ([`FakeSlack`]).
//!
//! Jobs use the shipped `workspace/` unless a test needs other script output: then
//! `workspace_dir` points at a temporary folder whose `test/` holds scripts of the shipped
//! names (the template names the script; what it does is the test's).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bennettbot::config::{Args, CONFIG};
use bennettbot::dispatcher::environment::BotEnvironment;
use bennettbot::dispatcher::{Dispatcher, DispatcherSettings};
use bennettbot::queue::{HistoryEntry, Queue, Status};
use bennettbot::slack::api::SlackClient;
use chrono::Utc;
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::fake_slack::{FakeSlack, TOKEN};
use crate::queue_watch::until_watching;
use crate::repo::shipped_workspace;
use crate::wait::WAIT;

/// The channel jobs are scheduled from and report to.
pub const JOBS: &str = "C0JOBS";
/// The logs channel.
pub const LOGS: &str = "C0LOGS";
/// The tech-support channel.
pub const TECH: &str = "C0TECH";
/// The thread jobs are scheduled from.
pub const THREAD: &str = "1600000000.000100";
/// The logs folder as the host names it (in links to logs).
pub const HOST_LOGS: &str = "/host/logs";

/// A dispatcher with its own database, folders and fake Slack.
pub struct Harness {
    /// Slack's Web API.
    pub fake: FakeSlack,
    /// The dispatcher's queue.
    pub queue: Queue,
    /// A handle of its own on the same database, whose `notified()` only the test waits on.
    watch: Queue,
    /// Every folder the dispatcher writes to is under it.
    pub root: TempDir,
    /// What the dispatcher is started with; tests may change it before [`Harness::run`].
    pub settings: DispatcherSettings,
    shutdown: Option<watch::Sender<bool>>,
    handle: Option<JoinHandle<()>>,
}

/// Dispatcher settings with every folder under `root` (created), the shipped workspace,
/// [`LOGS`] and [`TECH`] as channels, a 30 s lease, and the test process's environment as the
/// bot's.
pub fn dispatcher_settings(root: &Path) -> DispatcherSettings {
    for dir in ["logs", "writeable", "writeable-workspace", "app"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    DispatcherSettings {
        workspace_dir: shipped_workspace(),
        writeable_workspace_dir: root.join("writeable-workspace"),
        logs_dir: root.join("logs"),
        host_logs_dir: PathBuf::from(HOST_LOGS),
        writeable_dir: root.join("writeable"),
        app_root: root.join("app"),
        absolute_bin: None,
        logs_channel: LOGS.into(),
        tech_support_channel: TECH.into(),
        app_username: "bennettbot".into(),
        lease_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(5),
        kill_grace: Duration::from_secs(1),
        environment: BotEnvironment::from_process(),
    }
}

/// A workspace folder with `test/<name>` scripts of the given contents.
pub fn workspace_with(root: &Path, scripts: &[(&str, &str)]) -> PathBuf {
    let dir = root.join("custom-workspace");
    std::fs::create_dir_all(dir.join("test")).unwrap();
    for (name, content) in scripts {
        std::fs::write(dir.join("test").join(name), content).unwrap();
    }
    dir
}

impl Harness {
    /// Folders, database and fake Slack; the dispatcher is not running yet.
    pub async fn new() -> Harness {
        let root = tempfile::tempdir().unwrap();
        let db = root.path().join("queue.db");
        let queue = Queue::open(&db).unwrap();
        let watch = Queue::open(&db).unwrap();
        // Claims of made-up Slack events: changes no dispatcher test looks at.
        until_watching(&watch, |n| {
            let queue = &queue;
            async move {
                let id = format!("harness-watch-{n}");
                queue.claim_event(&id, Utc::now()).await.unwrap();
            }
        })
        .await;
        let settings = DispatcherSettings {
            // Short, so a dispatcher that forgot to heartbeat would reap its own jobs.
            lease_timeout: Duration::from_secs(3),
            shutdown_grace: Duration::from_secs(10),
            ..dispatcher_settings(root.path())
        };
        Harness {
            fake: FakeSlack::start().await,
            queue,
            watch,
            root,
            settings,
            shutdown: None,
            handle: None,
        }
    }

    /// Starts a dispatcher with the default settings.
    pub async fn start() -> Harness {
        let mut h = Harness::new().await;
        h.run();
        h
    }

    /// Starts a dispatcher whose `test/` scripts are `scripts`.
    pub async fn with_scripts(scripts: &[(&str, &str)]) -> Harness {
        let mut h = Harness::new().await;
        h.settings.workspace_dir = workspace_with(h.root.path(), scripts);
        h.run();
        h
    }

    /// A client of the fake Slack that retries quickly.
    pub fn slack(&self) -> SlackClient {
        SlackClient::new(TOKEN)
            .with_base_url(self.fake.url())
            .with_retry_delay(Duration::from_millis(10))
    }

    /// Starts the dispatcher with [`Harness::settings`].
    pub fn run(&mut self) {
        let dispatcher = Dispatcher::new(
            &CONFIG,
            self.queue.clone(),
            Arc::new(self.slack()),
            self.settings.clone(),
        );
        let (tx, rx) = watch::channel(false);
        self.shutdown = Some(tx);
        self.handle = Some(tokio::spawn(dispatcher.run(rx)));
    }

    /// Asks the dispatcher to stop and waits until it has.
    pub async fn stop(&mut self) {
        self.shutdown.take().unwrap().send(true).unwrap();
        tokio::time::timeout(WAIT, self.handle.take().unwrap())
            .await
            .expect("the dispatcher stops")
            .unwrap();
    }

    /// Schedules a job as a Slack message in `JOBS` would, with that message's ts.
    pub async fn schedule(&self, job_type: &str, a: &Args) -> Ticket {
        self.schedule_in(job_type, a, JOBS, false).await
    }

    /// Schedules a job as a message in `channel` (a DM if `is_im`) would.
    pub async fn schedule_in(
        &self,
        job_type: &str,
        a: &Args,
        channel: &str,
        is_im: bool,
    ) -> Ticket {
        let after = self.last_history_id().await;
        let id = self
            .queue
            .schedule_job(
                job_type,
                a,
                channel,
                Some(THREAD),
                Duration::ZERO,
                is_im,
                Some(THREAD),
            )
            .await
            .unwrap()
            .id;
        Ticket { id, after }
    }

    /// The newest history row id (job ids are reused once a job leaves the queue).
    pub async fn last_history_id(&self) -> i64 {
        let history = self.queue.history(100_000).await.unwrap();
        history.iter().map(|e| e.id).max().unwrap_or(0)
    }

    /// Waits until the scheduled job is in the history and its reports are out of the
    /// outbox, and returns its history entry.
    pub async fn finished(&self, ticket: Ticket) -> HistoryEntry {
        self.finished_within(ticket, WAIT).await
    }

    /// [`Harness::finished`], waiting at most `limit`.
    pub async fn finished_within(&self, ticket: Ticket, limit: Duration) -> HistoryEntry {
        let deadline = tokio::time::Instant::now() + limit;
        let entry = self.recorded_by(ticket, deadline).await;
        self.reported(deadline).await;
        entry
    }

    /// Waits until the scheduled job is in the history, whether or not Slack has its
    /// reports yet (they wait in the outbox while Slack is down).
    pub async fn recorded(&self, ticket: Ticket) -> HistoryEntry {
        self.recorded_by(ticket, tokio::time::Instant::now() + WAIT)
            .await
    }

    async fn recorded_by(&self, ticket: Ticket, deadline: tokio::time::Instant) -> HistoryEntry {
        let Ticket { id, after } = ticket;
        loop {
            // Made before the check: a change in between still wakes it.
            let changed = self.watch.notified();
            let history = self.queue.history(1000).await.unwrap();
            if let Some(entry) = history.into_iter().find(|e| e.job_id == id && e.id > after) {
                return entry;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!(
                    "job {id} did not finish; Slack saw {:#?}",
                    self.fake.all_calls()
                );
            }
        }
    }

    /// Waits until the outbox has nothing left to try (a job's reports are kept with its end,
    /// then delivered): what the job reported has reached Slack, or been refused by it.
    async fn reported(&self, deadline: tokio::time::Instant) {
        loop {
            let left = self.queue.undelivered().await.unwrap();
            if left.iter().all(|e| e.failure.is_some()) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "reports not delivered: {left:#?}; Slack saw {:#?}",
                    self.fake.all_calls()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the queue's status satisfies `done` (looking again after each change to the
    /// queue); panics naming `what`, with the last status, after [`WAIT`].
    pub async fn wait_status(&self, what: &str, done: impl Fn(&Status) -> bool) -> Status {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // Made before the check: a change in between still wakes it.
            let changed = self.watch.notified();
            let status = self.queue.status(Utc::now()).await.unwrap();
            if done(&status) {
                return status;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("waited {WAIT:?} for {what}; the queue: {status:?}");
            }
        }
    }

    /// Messages posted in the job channel.
    pub fn job_texts(&self) -> Vec<String> {
        self.fake.texts_in(JOBS)
    }

    /// Reactions added, as (channel, ts, name).
    pub fn reactions(&self) -> Vec<(String, String, String)> {
        self.fake
            .calls("reactions.add")
            .iter()
            .map(|c| {
                (
                    c.str("channel").unwrap().to_string(),
                    c.str("timestamp").unwrap().to_string(),
                    c.str("name").unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The local log folder named in a history entry.
    pub fn log_dir(&self, entry: &HistoryEntry) -> PathBuf {
        let dir = PathBuf::from(entry.log_dir.as_deref().expect("a log folder"));
        assert!(dir.starts_with(self.root.path().join("logs")), "{dir:?}");
        dir
    }
}

/// A scheduled job: its id, and the history row id before it was scheduled.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    /// The job's id.
    pub id: i64,
    /// The newest history row id before it was scheduled.
    pub after: i64,
}

/// `<job_type>/<stamp>` of a local log folder.
pub fn log_name(dir: &Path) -> String {
    let stamp = dir.file_name().unwrap().to_str().unwrap();
    let job_type = dir.parent().unwrap().file_name().unwrap().to_str().unwrap();
    format!("{job_type}/{stamp}")
}
