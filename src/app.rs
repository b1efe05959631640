//! Starting bennettbot's parts from settings: what `serve`, `bot`, `webserver` and `dispatcher`
//! share. Each part gets one queue connection; `serve` shares one among all three.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::dispatcher::environment::BotEnvironment;
use crate::dispatcher::health::{self, QueueHealth};
use crate::dispatcher::{reaper, Dispatcher, DispatcherSettings, DEFAULT_KILL_GRACE};
use crate::metrics::http::MetricsServer;
use crate::queue::{Database, Queue, QueueError};
use crate::schedule::Scheduler;
use crate::settings::{Part, Settings, SlackMode};
use crate::shutdown::{self, Shutdown, Stop};
use crate::slack::api::SlackClient;
use crate::slack::bot::{run_bot_over, BotOptions, EventSource};
use crate::slack::socket::SocketEvent;
use crate::slack::{OutgoingMessage, SlackApi};
use crate::webhook::{WebhookServer, WebhookSettings};

/// The Slack Web API client the settings describe (see [`SlackClient::from_settings`]).
pub fn slack_client(settings: &Settings) -> anyhow::Result<SlackClient> {
    SlackClient::from_settings(settings)
}

/// Opens the queue the settings name (`DATABASE_URL`, else the SQLite file at `DB_PATH`),
/// creating and migrating its schema.
pub async fn open_queue(settings: &Settings) -> anyhow::Result<Queue> {
    match &settings.database {
        Database::Sqlite(path) => {
            let path = path.clone();
            // Opening may wait out SQLite's busy timeout: off the async threads.
            tokio::task::spawn_blocking(move || open_sqlite(&path))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("opening the job queue panicked: {e}")))
        }
        Database::Postgres(url) => Queue::open_database(&settings.database)
            .await
            .with_context(|| format!("opening the job queue at {url}")),
    }
}

/// Opens the SQLite queue at `path`, creating its folder.
fn open_sqlite(path: &std::path::Path) -> anyhow::Result<Queue> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    refuse_read_only(path)?;
    Queue::open(path).with_context(|| format!("opening the job queue {}", path.display()))
}

/// Fails if the database file, or its `-wal` or `-shm` file, exists but cannot be opened for
/// writing. SQLite would open such a database read-only, without an error, and every write
/// would then fail until the process restarts, even once the files are fixed. Only before
/// this process has a connection to the database: closing any descriptor of the file would
/// drop that connection's POSIX locks.
fn refuse_read_only(db: &std::path::Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        // Opened for writing but never written: the kernel's answer is SQLite's.
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                let read_only = rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
                    Some(format!("`{}` cannot be written: {e}", path.display())),
                );
                return Err(QueueError::from(read_only).into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// How often a part tries again to open a queue database that would not open.
pub const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// Opens the queue as [`open_queue`] does, but waits while it cannot be opened (read-only,
/// disk full, locked...) rather than failing: a service manager would restart the process in
/// a loop that nobody sees in Slack. Each failure is logged; the logs channel hears of it
/// once (see [`health`]) and again when the database opens. `None` if a shutdown is asked
/// for first.
pub async fn open_queue_waiting(
    settings: &Settings,
    slack: &SlackClient,
    shutdown: &mut Shutdown,
) -> Option<Queue> {
    let path = match &settings.database {
        Database::Sqlite(path) => path.display().to_string(),
        Database::Postgres(url) => url.to_string(),
    };
    let mut queue_health = QueueHealth::new();
    loop {
        let opened = open_queue(settings).await;
        let now = std::time::Instant::now();
        let (text, queue) = match opened {
            Ok(queue) => {
                let text = queue_health
                    .worked("opening", now)
                    .map(|recovered| health::works_again(&recovered));
                if text.is_some() {
                    tracing::info!(path, "the job queue database opened; starting");
                }
                (text, Some(queue))
            }
            Err(e) => {
                // The queue's own error says it best; the chain repeats SQLite's message.
                let queue_error = e.downcast_ref::<QueueError>();
                let error = queue_error.map_or_else(|| format!("{e:#}"), ToString::to_string);
                let hint = queue_error.and_then(health::hint);
                tracing::error!(path, %error, hint, "could not open the job queue; trying again in {} s", REOPEN_EVERY.as_secs());
                let text = queue_health.failed("opening", now).map(|failing| {
                    health::cannot_open(&failing, &path, &error, hint, REOPEN_EVERY)
                });
                (text, None)
            }
        };
        if let (Some(text), Some(channel)) = (text, &settings.slack_logs_channel) {
            let message = OutgoingMessage {
                channel: channel.clone(),
                text,
                ..OutgoingMessage::default()
            };
            if let Err(e) = slack.post_message(message).await {
                tracing::error!(error = %e, "could not tell the logs channel about the job queue");
            }
        }
        if queue.is_some() {
            return queue;
        }
        tokio::select! {
            () = tokio::time::sleep(REOPEN_EVERY) => {}
            () = shutdown.reached(Stop::Graceful) => return None,
        }
    }
}

/// The dispatcher's settings, refusing to go on without what the dispatcher needs.
pub fn dispatcher_settings(settings: &Settings) -> anyhow::Result<DispatcherSettings> {
    settings.require(&[Part::Dispatcher])?;
    Ok(dispatcher_settings_or(settings, "", "", ""))
}

/// The dispatcher's settings, with stand-ins for the channels and the bot's name where the
/// environment names none (the local shell prints "channels" rather than posting to them).
pub fn dispatcher_settings_or(
    settings: &Settings,
    logs_channel: &str,
    tech_support_channel: &str,
    app_username: &str,
) -> DispatcherSettings {
    DispatcherSettings {
        workspace_dir: settings.workspace_dir.clone(),
        writeable_workspace_dir: settings.writeable_workspace_dir.clone(),
        logs_dir: settings.logs_dir.clone(),
        host_logs_dir: settings.host_logs_dir.clone(),
        writeable_dir: settings.writeable_dir.clone(),
        app_root: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        absolute_bin: settings.absolute_bin.clone(),
        logs_channel: settings
            .slack_logs_channel
            .clone()
            .unwrap_or_else(|| logs_channel.to_string()),
        tech_support_channel: settings
            .support_channel("SLACK_TECH_SUPPORT_CHANNEL")
            .unwrap_or(tech_support_channel)
            .to_string(),
        app_username: settings
            .slack_app_username
            .clone()
            .unwrap_or_else(|| app_username.to_string()),
        lease_timeout: settings.lease_timeout,
        shutdown_grace: settings.shutdown_grace,
        kill_grace: DEFAULT_KILL_GRACE,
        environment: BotEnvironment::from_process(),
    }
}

/// Runs one part alone on `config` until SIGTERM or SIGINT, as a separate process beside the
/// others, serving `/metrics` on `METRICS_BIND` when it is set.
pub async fn run_alone(
    config: &'static Config,
    part: Part,
    settings: Settings,
) -> anyhow::Result<()> {
    let slack = Arc::new(slack_client(&settings)?);
    let mut shutdown = shutdown_on_signals()?;
    let Some(queue) = open_queue_waiting(&settings, &slack, &mut shutdown).await else {
        return Ok(());
    };
    let metrics = spawn_metrics(&settings, &queue, &shutdown).await?;
    let ran = match part {
        Part::Bot => run_bot(config, settings, queue, slack, None, shutdown).await,
        Part::Webserver => run_webserver(config, &settings, queue, slack, shutdown).await,
        Part::Dispatcher => run_dispatcher(config, &settings, queue, slack, shutdown).await,
    };
    // A part that ended early with an error leaves nothing worth scraping.
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    ran
}

/// Starts the `/metrics` server on `METRICS_BIND` if it is set (and nothing otherwise: the
/// webhook address never serves metrics, as it faces the internet); it stops on `shutdown`.
/// Every command calls this before starting its parts, so the metrics server's address is
/// logged before the webhook server's.
pub async fn spawn_metrics(
    settings: &Settings,
    queue: &Queue,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(bind) = settings.metrics_bind else {
        return Ok(None);
    };
    let server = MetricsServer::bind(bind, Arc::new(queue.clone())).await?;
    Ok(Some(tokio::spawn(server.run(shutdown.clone().stopping()))))
}

/// Runs the bot on `config` until `shutdown`, on the events the settings select: Socket Mode,
/// or the Events API over HTTP, whose requests arrive on `events` when another part (`serve`'s
/// webhook server) serves `/slack/events`, and otherwise on a server of the bot's own at the
/// webhook address.
pub async fn run_bot(
    config: &'static Config,
    settings: Settings,
    queue: Queue,
    slack: Arc<SlackClient>,
    events: Option<mpsc::UnboundedReceiver<SocketEvent>>,
    shutdown: impl Into<Shutdown>,
) -> anyhow::Result<()> {
    let shutdown = shutdown.into();
    let options = BotOptions::default();
    if settings.slack_mode() == SlackMode::SocketMode {
        let stopping = shutdown.stopping();
        return run_bot_over(
            config,
            settings,
            queue,
            slack,
            options,
            EventSource::SocketMode,
            stopping,
        )
        .await;
    }
    let (events, server) = match events {
        Some(events) => (events, None),
        None => {
            let (events_tx, events) = mpsc::unbounded_channel();
            let bind = crate::webhook::listen_address(
                settings.webserver_bind.as_deref(),
                settings.webhook_origin.as_deref(),
            )?;
            let app = slack_events_router(config, &settings, events_tx)?
                .route("/check/", axum::routing::get(|| async { "ok" }));
            let server = WebhookServer::bind_app(bind, crate::webhook::layers(config, app)).await?;
            tracing::info!(addr = %server.local_addr(), "taking Slack events over HTTP at /slack/events");
            (
                events,
                Some(tokio::spawn(server.run(shutdown.clone().stopping()))),
            )
        }
    };
    let stopping = shutdown.stopping();
    let ran = run_bot_over(
        config,
        settings,
        queue,
        slack,
        options,
        EventSource::Http(events),
        stopping,
    )
    .await;
    if let Some(server) = server {
        server.abort();
    }
    ran
}

/// `/slack/events`, verified with `SLACK_SIGNING_SECRET`, sending accepted events to `events`.
fn slack_events_router(
    config: &'static Config,
    settings: &Settings,
    events: mpsc::UnboundedSender<SocketEvent>,
) -> anyhow::Result<axum::Router> {
    let secret = settings
        .slack_signing_secret
        .clone()
        .context("SLACK_SIGNING_SECRET is not set")?;
    Ok(crate::webhook::layers(
        config,
        crate::slack::http_events::router(secret, events),
    ))
}

/// The dispatcher's Slack client: its outbox retries every report itself, under the one
/// retry policy, so the client's own retries would only nest inside it.
fn outbox_client(slack: &SlackClient) -> Arc<SlackClient> {
    Arc::new(slack.clone().with_max_retries(0))
}

/// Runs the dispatcher alone on `config` until `shutdown`, reaping its jobs' orphans.
pub async fn run_dispatcher(
    config: &'static Config,
    settings: &Settings,
    queue: Queue,
    slack: Arc<SlackClient>,
    shutdown: impl Into<Shutdown>,
) -> anyhow::Result<()> {
    let shutdown = shutdown.into();
    let dispatcher = Dispatcher::new(
        config,
        queue.clone(),
        outbox_client(&slack),
        dispatcher_settings(settings)?,
    );
    reaper::start().context("starting to reap the jobs' orphaned processes")?;
    let scheduler = spawn_scheduler(config, queue, shutdown.clone())?;
    dispatcher.run(shutdown).await;
    scheduler.await.context("the scheduler task failed")?;
    Ok(())
}

/// Starts the task that queues `config`'s `[[ns.schedule]]` jobs when due; it ends on
/// `shutdown`. It runs wherever the dispatcher runs: a due time is claimed in the database,
/// so several dispatchers queue it once between them.
pub fn spawn_scheduler(
    config: &'static Config,
    queue: Queue,
    shutdown: Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let scheduler =
        Scheduler::for_config(config, queue).context("reading the compiled schedules")?;
    Ok(tokio::spawn(scheduler.run(shutdown)))
}

/// A shutdown level raised by SIGTERM or SIGINT (see [`stop_on_signals`]).
pub fn shutdown_on_signals() -> anyhow::Result<Shutdown> {
    let (tx, rx) = watch::channel(Stop::Running);
    stop_on_signals(tx)?;
    Ok(rx.into())
}

/// Raises `tx` to [`Stop::Graceful`] on the first SIGTERM or SIGINT, and to [`Stop::Now`] on
/// the next: someone who asks twice does not want to wait for the grace period.
pub fn stop_on_signals(tx: watch::Sender<Stop>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    tokio::spawn(async move {
        for level in [Stop::Graceful, Stop::Now] {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if level == Stop::Graceful {
                tracing::info!("{name}: shutting down; a second signal stops running jobs at once");
            } else {
                tracing::warn!("{name} again: stopping running jobs at once");
            }
            shutdown::raise(&tx, level);
        }
    });
    Ok(())
}

/// Runs the webhook server alone on `config` until `shutdown`: requests in flight may finish,
/// unless asked to stop at once.
pub async fn run_webserver(
    config: &'static Config,
    settings: &Settings,
    queue: Queue,
    slack: Arc<SlackClient>,
    shutdown: impl Into<Shutdown>,
) -> anyhow::Result<()> {
    let mut shutdown = shutdown.into();
    let web = WebhookSettings::from_settings(settings)?;
    let server = WebhookServer::bind(config, web, queue, slack).await?;
    tokio::select! {
        served = server.run(shutdown.clone().stopping()) => served?,
        () = shutdown.reached(Stop::Now) => tracing::warn!("webhook server: not waiting for requests in flight"),
    }
    Ok(())
}

/// `serve`: the bot, the webhook server and the dispatcher on `config` in one process, sharing
/// one queue connection (a job scheduled by the bot or a webhook wakes the dispatcher
/// directly).
pub async fn serve(config: &'static Config, settings: Settings) -> anyhow::Result<()> {
    settings.require(&[Part::Bot, Part::Webserver, Part::Dispatcher])?;
    let slack = Arc::new(slack_client(&settings)?);
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    stop_on_signals(stop_tx.clone())?;
    let mut shutdown = Shutdown::from(stop_rx);
    let Some(queue) = open_queue_waiting(&settings, &slack, &mut shutdown).await else {
        return Ok(());
    };

    let metrics = spawn_metrics(&settings, &queue, &shutdown).await?;
    let webhook = WebhookSettings::from_settings(&settings)?;
    let mut app = crate::webhook::app(config, webhook.secret.clone(), queue.clone(), slack.clone());
    // Over HTTP, Slack's events arrive at the webhook server's address, for the bot below.
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    if settings.slack_mode() == SlackMode::Http {
        app = app.merge(slack_events_router(config, &settings, events_tx)?);
    }
    let web = WebhookServer::bind_app(webhook.bind, app).await?;
    let mut web = tokio::spawn(web.run(shutdown.clone().stopping()));
    let parts_settings = dispatcher_settings(&settings)?;
    let longest_stop =
        shutdown::longest_stop(parts_settings.shutdown_grace, parts_settings.kill_grace);
    let dispatcher = Dispatcher::new(config, queue.clone(), outbox_client(&slack), parts_settings);
    reaper::start().context("starting to reap the jobs' orphaned processes")?;
    let dispatcher = tokio::spawn(dispatcher.run(shutdown.clone()));
    let scheduler = spawn_scheduler(config, queue.clone(), shutdown.clone())?;
    let bot = run_bot(
        config,
        settings,
        queue,
        slack,
        Some(events_rx),
        shutdown.clone(),
    )
    .await;
    // The bot ends on shutdown, or early with an error (e.g. a support channel that does not
    // exist): either way the other parts stop too, letting running jobs finish.
    shutdown::raise(&stop_tx, Stop::Graceful);
    // Requests in flight may finish within the dispatcher's bound (or until a second signal).
    let give_up = tokio::time::Instant::now() + longest_stop;
    dispatcher.await.context("the dispatcher task failed")?;
    scheduler.await.context("the scheduler task failed")?;
    let mut now = shutdown.clone();
    let web = tokio::select! {
        web = &mut web => web.context("the webhook server task failed")?,
        () = tokio::time::sleep_until(give_up) => {
            tracing::warn!("webhook server: not waiting longer for requests in flight");
            Ok(())
        }
        () = now.reached(Stop::Now) => Ok(()),
    };
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    bot?;
    web?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;

    #[test]
    fn the_systemd_unit_waits_longer_than_the_longest_stop() {
        let unit = include_str!("../deploy/bennettbot.service");
        let timeout: u64 = unit
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .expect("the unit sets TimeoutStopSec")
            .trim()
            .parse()
            .unwrap();
        let defaults =
            Settings::from_lookup(&CONFIG, std::path::Path::new("/opt/bennettbot"), |_| None);
        let longest = shutdown::longest_stop(defaults.shutdown_grace, DEFAULT_KILL_GRACE);
        assert_eq!(longest, Duration::from_secs(50));
        assert!(
            Duration::from_secs(timeout) > longest,
            "TimeoutStopSec={timeout} must exceed {longest:?}"
        );
    }
}
