//! Starting bennettbot's parts from settings: what `serve`, `bot`, `webserver` and `dispatcher`
//! share. Each part gets one queue connection; `serve` shares one among all three.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::dispatcher::{Dispatcher, DispatcherSettings, DEFAULT_KILL_GRACE};
use crate::queue::Queue;
use crate::settings::{Part, Settings};
use crate::slack::api::SlackClient;
use crate::webhook::{WebhookServer, WebhookSettings};

/// The Slack Web API client for the bot token.
pub fn slack_client(settings: &Settings) -> anyhow::Result<SlackClient> {
    let token = settings
        .slack_bot_token
        .as_ref()
        .context("SLACK_BOT_TOKEN is not set")?;
    Ok(SlackClient::new(token.expose())
        .with_base_url(settings.slack_api_url.clone())
        .with_max_retries(settings.max_slack_notify_retries))
}

/// Opens the queue at `DB_PATH`, creating its folder.
pub fn open_queue(settings: &Settings) -> anyhow::Result<Queue> {
    if let Some(parent) = settings
        .db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Queue::open(&settings.db_path)
        .with_context(|| format!("opening the job queue {}", settings.db_path.display()))
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
    }
}

/// Runs one part alone until SIGTERM or SIGINT, as a separate process beside the others.
pub async fn run_alone(part: Part, settings: Settings) -> anyhow::Result<()> {
    let queue = open_queue(&settings)?;
    let slack = Arc::new(slack_client(&settings)?);
    let shutdown = shutdown_on_signals()?;
    match part {
        Part::Bot => crate::slack::bot::run_bot(settings, queue, slack, until_true(shutdown)).await,
        Part::Webserver => run_webserver(&settings, queue, slack, shutdown).await,
        Part::Dispatcher => run_dispatcher(&settings, queue, slack, shutdown).await,
    }
}

/// Runs the dispatcher alone until `shutdown`.
pub async fn run_dispatcher(
    settings: &Settings,
    queue: Queue,
    slack: Arc<SlackClient>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let dispatcher = Dispatcher::new(queue, slack, dispatcher_settings(settings)?);
    dispatcher.run(shutdown).await;
    Ok(())
}

/// A shutdown signal that turns true on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> anyhow::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    stop_on_signals(tx)?;
    Ok(rx)
}

/// Sets `tx` to true on SIGTERM or SIGINT.
pub fn stop_on_signals(tx: watch::Sender<bool>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        let _ = tx.send(true);
    });
    Ok(())
}

/// Runs the webhook server alone until `shutdown`.
pub async fn run_webserver(
    settings: &Settings,
    queue: Queue,
    slack: Arc<SlackClient>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let web = WebhookSettings::from_settings(settings)?;
    WebhookServer::bind(web, queue, slack)
        .await?
        .run(until_true(shutdown))
        .await?;
    Ok(())
}

/// `serve`: the bot, the webhook server and the dispatcher in one process, sharing one queue
/// connection (a job scheduled by the bot or a webhook wakes the dispatcher directly).
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    settings.require(&[Part::Bot, Part::Webserver, Part::Dispatcher])?;
    let queue = open_queue(&settings)?;
    let slack = Arc::new(slack_client(&settings)?);
    let (stop_tx, stop_rx) = watch::channel(false);
    stop_on_signals(stop_tx.clone())?;

    let web = WebhookServer::bind(
        WebhookSettings::from_settings(&settings)?,
        queue.clone(),
        slack.clone(),
    )
    .await?;
    let web = tokio::spawn(web.run(until_true(stop_rx.clone())));
    let dispatcher = Dispatcher::new(
        queue.clone(),
        slack.clone(),
        dispatcher_settings(&settings)?,
    );
    let dispatcher = tokio::spawn(dispatcher.run(stop_rx.clone()));
    let bot = crate::slack::bot::run_bot(settings, queue, slack, until_true(stop_rx.clone())).await;
    // The bot ends on shutdown, or early with an error (e.g. a support channel that does not
    // exist): either way the other parts stop too, letting running jobs finish.
    let _ = stop_tx.send(true);
    let web = web.await.context("the webhook server task failed")?;
    dispatcher.await.context("the dispatcher task failed")?;
    bot?;
    web?;
    Ok(())
}

/// A future that completes when `signal` turns true (or its sender is gone).
pub async fn until_true(mut signal: watch::Receiver<bool>) {
    let _ = signal.wait_for(|stop| *stop).await;
}
