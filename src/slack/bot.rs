//! The Slack bot: start-up (users, channels, support channels), the Socket Mode listener, and
//! acting on each event.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use futures_util::FutureExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::api::SlackClient;
use super::bot_api::SlackBotApi;
use super::broadcast;
use super::channels::{join_public_channels, support_targets, SupportTarget};
use super::events::{Event, Message};
use super::facts::SlackFacts;
use super::mention;
use super::rate::{self, Pacer};
use super::recent::Recent;
use super::socket::{listen, SocketEvent, Timing};
use super::support;
use super::usergroups::Usergroups;
use super::users::InternalUsers;
use super::{OutgoingMessage, SlackApi};
use crate::config::Config;
use crate::conversation::{Context, Effect, Incoming};
use crate::intent::normalise;
use crate::queue::Queue;
use crate::settings::{Part, Settings};

/// Timings the tests shorten, and a counter they wait on.
#[derive(Debug, Clone)]
pub struct BotOptions {
    /// Reconnection backoff and pings.
    pub socket: Timing,
    /// How often to search for missed support calls (with `SLACK_BOT_USER_TOKEN`).
    pub search_interval: Duration,
    /// The least time between two searches: `search.messages`' tier spacing (3 s).
    pub search_spacing: Duration,
    /// If set, counts events handled to the end, so a test can tell that an event which
    /// should have no effect was acted on.
    pub handled_events: Option<watch::Sender<u64>>,
}

impl Default for BotOptions {
    fn default() -> Self {
        BotOptions {
            socket: Timing::default(),
            search_interval: Duration::from_secs(10),
            search_spacing: rate::SEARCH_MESSAGES.spacing(),
            handled_events: None,
        }
    }
}

/// Everything an event handler needs, shared by all of them.
pub(crate) struct Bot<S, W> {
    pub(crate) slack: Arc<S>,
    /// The bot's own calls (users, channels, search).
    pub(crate) web: Arc<W>,
    pub(crate) context: Context,
    pub(crate) bot_id: String,
    pub(crate) users: InternalUsers,
    /// Members of the user groups permission rules name.
    pub(crate) groups: Usergroups,
    pub(crate) targets: Vec<SupportTarget>,
    pub(crate) writeable_dir: PathBuf,
    /// Where the details of unexpected errors go (`SLACK_LOGS_CHANNEL`), if anywhere.
    pub(crate) logs_channel: Option<String>,
}

/// Runs the bot on `config` with production timings until `shutdown` completes.
pub async fn run_bot<S: SlackApi>(
    config: &'static Config,
    settings: Settings,
    queue: Queue,
    slack: Arc<S>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    run_bot_with(
        config,
        settings,
        queue,
        slack,
        BotOptions::default(),
        shutdown,
    )
    .await
}

/// Where the bot's events come from.
#[derive(Debug)]
pub enum EventSource {
    /// Socket Mode: the bot opens the websocket itself (`SLACK_APP_TOKEN`).
    SocketMode,
    /// The Events API over HTTP: `/slack/events` ([`super::http_events::router`]) sends what
    /// it accepts here.
    Http(mpsc::UnboundedReceiver<SocketEvent>),
}

/// Runs the bot on `config` over Socket Mode until `shutdown` completes: start-up checks, then
/// the listener.
pub async fn run_bot_with<S: SlackApi>(
    config: &'static Config,
    settings: Settings,
    queue: Queue,
    slack: Arc<S>,
    options: BotOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    run_bot_over(
        config,
        settings,
        queue,
        slack,
        options,
        EventSource::SocketMode,
        shutdown,
    )
    .await
}

/// Runs the bot on `config` and events from `source` until `shutdown` completes, making its own
/// calls through a client built from the settings.
pub async fn run_bot_over<S: SlackApi>(
    config: &'static Config,
    settings: Settings,
    queue: Queue,
    slack: Arc<S>,
    options: BotOptions,
    source: EventSource,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    settings.require(&[Part::Bot])?;
    let web = Arc::new(SlackClient::from_settings(&settings)?);
    run_bot_on(
        config, settings, queue, slack, web, options, source, shutdown,
    )
    .await
}

/// Runs the bot on `config` until `shutdown` completes, on events from `source`, making its own
/// calls (users, channels, Socket Mode, search) through `web`: start-up checks, then the
/// listener.
#[allow(clippy::too_many_arguments)]
pub async fn run_bot_on<S: SlackApi, W: SlackBotApi>(
    config: &'static Config,
    settings: Settings,
    queue: Queue,
    slack: Arc<S>,
    web: Arc<W>,
    options: BotOptions,
    source: EventSource,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let bot = Arc::new(start(config, &settings, queue, slack, web.clone()).await?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (listener, mut events_rx) = match source {
        EventSource::SocketMode => {
            let (events_tx, events_rx) = mpsc::unbounded_channel();
            let socket_mode = web
                .socket_mode()
                .context("opening Socket Mode (SLACK_APP_TOKEN)")?;
            let listener = tokio::spawn(listen(
                socket_mode,
                options.socket,
                events_tx,
                stop_rx.clone(),
            ));
            (Some(listener), events_rx)
        }
        EventSource::Http(events_rx) => {
            // Nothing to connect to: the bot is ready once started.
            touch(settings.bot_check_file.as_ref());
            (None, events_rx)
        }
    };
    let searcher = bot.web.can_search().then(|| {
        tokio::spawn(search_loop(
            bot.clone(),
            options.search_interval,
            Pacer::spaced(options.search_spacing),
            stop_rx,
        ))
    });

    let mut seen: Recent = Recent::new(1000);
    let mut handlers = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let event = tokio::select! {
            event = events_rx.recv() => event,
            _ = &mut shutdown => None,
        };
        let Some(event) = event else { break };
        dispatch(event, &bot, &mut seen, &mut handlers, &settings, &options);
        // Finished handlers' results are not needed: keep the set small.
        while handlers.try_join_next().is_some() {}
    }
    tracing::info!("Slack bot shutting down");
    let _ = stop_tx.send(true);
    if let Some(listener) = listener {
        let _ = listener.await;
    }
    // Slack will not redeliver what was acked: act on what is left in the channel. Closing it
    // first makes an HTTP delivery still in flight get a 503, which Slack retries.
    events_rx.close();
    while let Some(event) = events_rx.recv().await {
        dispatch(event, &bot, &mut seen, &mut handlers, &settings, &options);
    }
    // Handlers get as long as final reports; any still running then are left to finish
    // while the process stops, rather than cut off after claiming their event.
    let finished = tokio::time::timeout(crate::shutdown::FINAL_REPORTS, async {
        while handlers.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            unfinished = handlers.len(),
            "Slack events still being handled when the bot stopped"
        );
        handlers.detach_all();
    }
    if let Some(searcher) = searcher {
        let _ = searcher.await;
    }
    Ok(())
}

/// The start-up checks (a stale check file removed, the bot's id, internal users, public
/// channels joined, support channels found), then the bot they describe.
async fn start<S: SlackApi, W: SlackBotApi>(
    config: &'static Config,
    settings: &Settings,
    queue: Queue,
    slack: Arc<S>,
    web: Arc<W>,
) -> anyhow::Result<Bot<S, W>> {
    // A stale check file would report a healthy bot before it has connected.
    if let Some(file) = &settings.bot_check_file {
        match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", file.display()));
            }
            _ => {}
        }
    }
    settings.require(&[Part::Bot])?;
    let bot_id = web
        .bot_user_id()
        .await
        .context("finding the bot's user id (auth.test)")?;
    let users = InternalUsers::load(&*web, settings.internal_users_ttl)
        .await
        .context("loading internal users (users.list)")?;
    let channels = join_public_channels(&*web)
        .await
        .context("listing public channels (conversations.list)")?;
    let targets = support_targets(settings, config.support, &channels)
        .context("checking support channels")?;
    Ok(Bot {
        slack,
        web: web.clone(),
        context: Context::new(
            config,
            queue,
            settings.slack_app_username.clone().unwrap_or_default(),
            settings.slack_org_name.clone(),
            settings.slack_ack_reaction.clone(),
        ),
        bot_id,
        users,
        groups: Usergroups::new(settings.internal_users_ttl),
        targets,
        writeable_dir: settings.writeable_dir.clone(),
        logs_channel: settings.slack_logs_channel.clone(),
    })
}

/// A short id that ties what a user is told of an error to its detail in the logs.
fn error_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// Acts on one event from Slack, in a task of `handlers`.
fn dispatch<S: SlackApi, W: SlackBotApi>(
    event: SocketEvent,
    bot: &Arc<Bot<S, W>>,
    seen: &mut Recent,
    handlers: &mut JoinSet<()>,
    settings: &Settings,
    options: &BotOptions,
) {
    let callback = match event {
        SocketEvent::Connected => {
            touch(settings.bot_check_file.as_ref());
            return;
        }
        SocketEvent::Events(callback) => callback,
    };
    // Slack redelivers events it thinks were not acked, to any of the app's connections: act
    // on each once, here (memory) and across processes (the queue's claim, in the event's
    // task so the loop never waits on it).
    let id = callback.callback.event_id.0.clone();
    if !seen.insert(&id) {
        tracing::info!(event_id = %id, "skipping redelivered event");
        return;
    }
    let event = callback.into_event();
    let (bot, done) = (bot.clone(), options.handled_events.clone());
    // Most events are channel chatter the bot has no part in: known as such from the event
    // alone, they cost no claim (a database write) and no task.
    let calls_support = |text: &str| bot.support_rules(text).next().is_some();
    if !event.may_concern(&bot.bot_id, calls_support) {
        tracing::debug!(event_id = %id, "ignoring an event that cannot concern the bot");
        if let Some(done) = done {
            done.send_modify(|n| *n += 1);
        }
        return;
    }
    handlers.spawn(async move {
        if !bot.claim_event(&id).await {
            return;
        }
        bot.handle(event).await;
        if let Some(done) = done {
            done.send_modify(|n| *n += 1);
        }
    });
}

/// Touches the health-check file; failures are logged, as the bot itself still works.
fn touch(file: Option<&PathBuf>) {
    if let Some(file) = file {
        if let Err(e) = std::fs::write(file, b"") {
            tracing::warn!(file = %file.display(), error = %e, "could not touch the bot check file");
        }
    }
}

/// The lease that lets one process at a time run the support search checker.
const SEARCH_LEASE: &str = "support-search";

async fn search_loop<S: SlackApi, W: SlackBotApi>(
    bot: Arc<Bot<S, W>>,
    every: Duration,
    mut pacer: Pacer,
    mut stop: watch::Receiver<bool>,
) {
    // Calls are spaced by `pacer` (within `search.messages`' tier): with more keywords than
    // fit in `every`, a round takes longer and the next follows it at once (the interval
    // adapts).
    let round = pacer.round(bot.searches_per_round());
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Held across rounds and renewed each one; another process takes over once it lapses.
    let ttl = (every * 3).max(round * 2).max(Duration::from_secs(30));
    let owner = format!("bot-{}", uuid::Uuid::new_v4());
    let mut holding = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        let held = bot
            .context
            .queue
            .hold_lease(SEARCH_LEASE, &owner, Utc::now(), ttl)
            .await;
        match held {
            Ok(true) => {
                if !holding {
                    tracing::info!(owner, "this process now runs the support search checker");
                    holding = true;
                }
                // A round spaced over many seconds must not hold up a shutdown.
                tokio::select! {
                    () = bot.check_search(Utc::now().date_naive(), &mut pacer) => {}
                    _ = stop.changed() => return,
                }
            }
            Ok(false) => {
                if holding {
                    tracing::info!("another process runs the support search checker now");
                    holding = false;
                }
            }
            // A skipped round is caught up by the next one (search looks two days back).
            Err(e) => {
                tracing::warn!(error = %e, "could not take the support search lease; skipping a round")
            }
        }
    }
}

impl<S: SlackApi, W: SlackBotApi> Bot<S, W> {
    /// Claims event `id` in the queue so that one process acts on it: `false` if another
    /// process (a replica, or the other `serve` of a rolling restart) already has. If the
    /// claim cannot be made the event is acted on: a rare double beats a lost command.
    async fn claim_event(&self, id: &str) -> bool {
        match self.context.queue.claim_event(id, Utc::now()).await {
            Ok(true) => true,
            Ok(false) => {
                tracing::info!(event_id = %id, "skipping an event another process handled");
                false
            }
            Err(e) => {
                tracing::warn!(event_id = %id, error = %e, "could not claim an event; acting on it anyway");
                true
            }
        }
    }

    /// Acts on one event; failures are logged and never reach the listener.
    async fn handle(self: Arc<Self>, event: Event) {
        match event {
            Event::ChannelCreated(id) => match self.web.join(&id).await {
                Ok(()) => tracing::info!(channel = %id, "joined new channel"),
                Err(e) => tracing::warn!(channel = %id, error = %e, "could not join new channel"),
            },
            Event::Mention(message) => self.on_mention(message).await,
            Event::Message(message) => self.on_message(message).await,
            Event::Other(_) => {}
        }
    }

    fn is_from_a_bot(&self, message: &Message) -> bool {
        message.bot_id.is_some() || message.user.as_deref() == Some(self.bot_id.as_str())
    }

    fn support_rules<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a SupportTarget> {
        self.targets.iter().filter(move |t| {
            t.rule
                .keywords
                .iter()
                .any(|k| support::contains_keyword(text, k))
        })
    }

    async fn on_mention(&self, message: Message) {
        // Other bots may run commands (Slackbot posts reminders), but never the bot itself. A
        // mention that calls support is handled as a support call by the `message` event.
        let from_self = message.user.as_deref() == Some(self.bot_id.as_str());
        if from_self || self.support_rules(&message.text).next().is_some() {
            return;
        }
        self.command(message, true).await;
    }

    async fn on_message(&self, event: Message) {
        let is_edit = event.subtype.as_deref() == Some("message_changed");
        let message = match event.subtype.as_deref() {
            None => event,
            Some("message_changed") => match &event.message {
                Some(edited) => Message {
                    channel: event.channel.clone(),
                    channel_type: event.channel_type.clone(),
                    ..(**edited).clone()
                },
                None => return,
            },
            Some(_) => return,
        };
        if self.is_from_a_bot(&message) {
            return;
        }
        let Some(channel) = message.channel.clone() else {
            return;
        };
        let rules: Vec<&SupportTarget> = self.support_rules(&message.text).collect();
        if message.is_im() {
            if let Some(target) = rules.first() {
                self.post(
                    &channel,
                    message.thread_ts.clone(),
                    support::dm_refusal_text(target.rule),
                )
                .await;
            } else if !is_edit {
                // Editing a command in a DM does not run it again.
                let mentioned = mention::mentions(&message.text, &self.bot_id);
                self.command(message, mentioned).await;
            }
            return;
        }
        for target in rules {
            if target.channel_id == channel || message.has_reaction(target.rule.reaction) {
                continue;
            }
            self.call_support(
                target,
                &channel,
                &message.ts,
                message.thread_ts.clone(),
                None,
            )
            .await;
        }
    }
}

impl<S: SlackApi, W: SlackBotApi> Bot<S, W> {
    /// Answers a command: the text after the mention (or the whole DM).
    async fn command(&self, message: Message, mentioned: bool) {
        let Some(channel) = message.channel.clone() else {
            return;
        };
        let incoming = Incoming {
            text: normalise(mention::command_text(&message.text, &self.bot_id)),
            channel: channel.clone(),
            thread_ts: message.thread_ts.clone(),
            message_ts: Some(message.ts.clone()),
            is_im: message.is_im(),
            mentioned,
            user: message.user.clone().unwrap_or_default(),
        };
        let facts = SlackFacts {
            users: &self.users,
            groups: &self.groups,
            web: &*self.web,
        };
        // A panic while answering one message must not take the listener down with it.
        let answered = AssertUnwindSafe(self.context.handle(&incoming, Utc::now(), &facts))
            .catch_unwind()
            .await;
        let error = match answered {
            Ok(Ok(effects)) => {
                for effect in effects {
                    match effect {
                        Effect::React(name) => self.react(&channel, &message.ts, &name).await,
                        Effect::Reply(text) => {
                            self.post(&channel, message.thread_ts.clone(), text).await
                        }
                    }
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string()),
        };
        self.report_unexpected(&channel, &message, &error).await;
    }

    /// Tells the user that answering `message` failed, under an error id and without the
    /// detail (a database or disk error is not theirs to read); the detail goes to the log and
    /// the logs channel under the same id.
    async fn report_unexpected(&self, channel: &str, message: &Message, error: &str) {
        let id = error_id();
        tracing::error!(error_id = %id, %error, text = %message.text, "unexpected error while responding to a message");
        self.react(channel, &message.ts, "x").await;
        let thread = message.thread_ts.clone().or(Some(message.ts.clone()));
        self.post(
            channel,
            thread,
            format!(
                "Unexpected error (error id `{id}`) while responding to message `{}`",
                message.text
            ),
        )
        .await;
        if let Some(logs) = &self.logs_channel {
            let user = message.user.as_deref().unwrap_or("unknown");
            self.post(
                logs,
                None,
                format!(
                    "Unexpected error (error id `{id}`) while responding to <@{user}> in <#{channel}>: {error}"
                ),
            )
            .await;
        }
    }

    /// Adds a reaction, logging failures (there is nowhere better to report them).
    pub(crate) async fn react(&self, channel: &str, ts: &str, name: &str) {
        if let Err(e) = self.slack.add_reaction(channel, ts, name).await {
            tracing::error!(error = %e, channel, name, "could not react");
        }
    }

    /// Posts a message, logging failures. Replies may echo what a user typed, so broadcasts
    /// in it are made text ([`broadcast::neutralise`]): the bot never notifies a channel.
    pub(crate) async fn post(&self, channel: &str, thread_ts: Option<String>, text: String) {
        let message = OutgoingMessage {
            channel: channel.to_string(),
            thread_ts,
            text: broadcast::neutralise(&text).into_owned(),
            blocks: None,
        };
        if let Err(e) = self.slack.post_message(message).await {
            tracing::error!(error = %e, channel, "could not post a message");
        }
    }
}
