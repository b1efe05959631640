//! The Slack bot run in-process against the fakes: the fake Web API ([`FakeSlack`]) and either
//! the fake Socket Mode websocket ([`FakeSocket`]) or signed Events API requests
//! ([`FakeEvents`]). [`Harness`] starts the bot with a small workspace and its own database,
//! sends events and waits on what the bot signals; [`both_modes!`](crate::both_modes) runs a
//! test in both ways the bot hears from Slack.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bennettbot::config::CONFIG;
use bennettbot::dispatcher::environment::BotEnvironment;
use bennettbot::dispatcher::{Dispatcher, DispatcherSettings};
use bennettbot::queue::Queue;
use bennettbot::settings::Settings;
use bennettbot::slack::api::SlackClient;
use bennettbot::slack::bot::{run_bot_over, BotOptions, EventSource};
use bennettbot::slack::http_events;
use bennettbot::slack::socket::Timing;
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::dispatcher_harness::dispatcher_settings;
use crate::fake_events::{FakeEvents, Signing, SIGNING_SECRET};
use crate::fake_slack::{Call, FakeSlack, TOKEN};
use crate::fake_socket::FakeSocket;
use crate::wait::{eventually, WAIT};

/// The bot's user id.
pub const BOT: &str = "U0BOT";
/// A channel the bot is not a member of at start-up.
pub const GENERAL: &str = "C0GENERAL";
/// The tech-support channel (given to the bot by name).
pub const TECH: &str = "C0TECH";
/// The bennett-admins channel (given to the bot by id).
pub const ADMINS: &str = "C0ADMINS";
/// A direct message channel.
pub const DM: &str = "D0DM";
/// A member of the workspace (internal user).
pub const INTERNAL: &str = "U0INTERNAL";
/// A guest of the workspace (restricted user).
pub const GUEST: &str = "U0GUEST";

static TS: AtomicU64 = AtomicU64::new(1);

/// A fresh message timestamp.
pub fn ts() -> String {
    format!("1800000000.{:06}", TS.fetch_add(1, Ordering::SeqCst))
}

/// The permalink the fake Slack gives message `ts` in `channel`.
pub fn permalink(channel: &str, ts: &str) -> String {
    format!(
        "https://fake.slack.com/archives/{channel}/p{}",
        ts.replace('.', "")
    )
}

/// How the bot hears from Slack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Envelopes on the fake Socket Mode websocket.
    #[default]
    Socket,
    /// Signed requests to `/slack/events` (`SLACK_SIGNING_SECRET`, no app token).
    Http,
}

/// Runs each named test (an `async fn(Mode)` of the calling module) in both modes, as
/// `socket_mode::<test>` and `http_mode::<test>`.
#[macro_export]
macro_rules! both_modes {
    ($($test:ident),* $(,)?) => {
        mod socket_mode {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::bot_harness::Mode::Socket).await;
                }
            )*
        }
        mod http_mode {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::bot_harness::Mode::Http).await;
                }
            )*
        }
    };
}

/// How a test wants the bot started.
#[derive(Default)]
pub struct Setup {
    /// How the bot hears from Slack.
    pub mode: Mode,
    /// Settings beyond [`bot_settings`]'s (they win).
    pub env: Vec<(&'static str, String)>,
    /// Whether the bot has a user token, and so runs the support search checker.
    pub search: bool,
    /// Socket timings other than [`options`]'s.
    pub socket: Option<Timing>,
}

impl Setup {
    /// The defaults, hearing from Slack in `mode`.
    pub fn mode(mode: Mode) -> Setup {
        Setup {
            mode,
            ..Setup::default()
        }
    }
}

/// A bot running on the test's runtime against the fakes, with its own folder and database.
pub struct Harness {
    /// Slack's Web API.
    pub slack: FakeSlack,
    /// Slack's Socket Mode side (connected to in [`Mode::Socket`]).
    pub socket: FakeSocket,
    /// Slack's HTTP side, in [`Mode::Http`].
    pub events: Option<FakeEvents>,
    /// The bot's queue.
    pub queue: Queue,
    /// The bot's `WRITEABLE_DIR` (its database and check file are in it).
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    bot: Option<JoinHandle<anyhow::Result<()>>>,
    /// Events sent through [`Harness::send`], and how many the bot has handled.
    sent: AtomicU64,
    handled: watch::Receiver<u64>,
    /// The variables the bot's settings were read from.
    vars: HashMap<String, String>,
}

/// A dispatcher running beside a [`Harness`]'s bot.
pub struct BotDispatcher {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl BotDispatcher {
    /// Stops it, once its running jobs are done.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("the dispatcher stops")
            .unwrap();
    }
}

/// The bot's settings for `setup`: the fake Slack's URL and token, the support channels (one
/// by name, one by id), everything under `dir`.
pub fn bot_settings(dir: &std::path::Path, slack: &FakeSlack, setup: &Setup) -> Settings {
    let vars = bot_vars(dir, slack, setup);
    Settings::from_lookup(&CONFIG, dir, |k| vars.get(k).cloned())
}

/// The environment variables [`bot_settings`] reads the bot's settings from.
pub fn bot_vars(
    dir: &std::path::Path,
    slack: &FakeSlack,
    setup: &Setup,
) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("SLACK_BOT_TOKEN", TOKEN.to_string()),
        // The fake accepts one token, so the app and user tokens are the same string here.
        ("SLACK_APP_TOKEN", TOKEN.to_string()),
        ("SLACK_APP_USERNAME", "bennettbot".to_string()),
        // One support channel by name, the other by id: both must resolve.
        ("SLACK_TECH_SUPPORT_CHANNEL", "#tech-support".to_string()),
        ("SLACK_BENNETT_ADMINS_CHANNEL", ADMINS.to_string()),
        ("SLACK_API_URL", slack.url()),
        ("WRITEABLE_DIR", dir.display().to_string()),
        (
            "BOT_CHECK_FILE",
            dir.join("bot_check").display().to_string(),
        ),
        ("MAX_SLACK_NOTIFY_RETRIES", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if setup.search {
        vars.insert("SLACK_BOT_USER_TOKEN".into(), TOKEN.to_string());
    }
    if setup.mode == Mode::Http {
        vars.remove("SLACK_APP_TOKEN");
        vars.insert("SLACK_SIGNING_SECRET".into(), SIGNING_SECRET.to_string());
        // What the bot would listen on alone; here the harness serves /slack/events.
        vars.insert("WEBSERVER_BIND".into(), "127.0.0.1:0".into());
    }
    for (k, v) in &setup.env {
        vars.insert(k.to_string(), v.clone());
    }
    vars
}

/// Answers the bot's start-up calls for a small workspace: an internal user, a guest, another
/// bot; `#general` (not joined) and the support channels; Socket Mode at `socket`.
pub fn default_workspace(slack: &FakeSlack, socket: &FakeSocket) {
    slack.respond_with("conversations.join", json!({ "channel": {} }));
    slack.respond_with("apps.connections.open", json!({ "url": socket.url }));
    slack.respond_with(
        "users.list",
        json!({ "members": [
            { "id": INTERNAL, "name": "alice" },
            { "id": GUEST, "name": "gus", "is_restricted": true },
            { "id": "U0OTHERBOT", "name": "other", "is_bot": true },
        ], "response_metadata": { "next_cursor": "" } }),
    );
    slack.respond_with(
        "conversations.list",
        json!({ "channels": [
            { "id": GENERAL, "name": "general", "is_member": false },
            { "id": TECH, "name": "tech-support", "is_member": true },
            { "id": ADMINS, "name": "bennett-admins", "is_member": true },
        ] }),
    );
}

/// Bot options with the shortest timings slack-morphism and the search checker take.
pub fn options() -> BotOptions {
    BotOptions {
        // slack-morphism's Socket Mode counts in whole seconds: these are its shortest.
        socket: Timing {
            reconnect_wait: Duration::from_secs(1),
            ping_interval: Duration::from_secs(1),
            unanswered_pings: 2,
        },
        search_interval: Duration::from_millis(50),
        search_spacing: Duration::from_millis(1),
        handled_events: None,
    }
}

impl Harness {
    /// Starts the bot on a fresh fake Slack with [`default_workspace`].
    pub async fn start(setup: Setup) -> Harness {
        let slack = FakeSlack::start().await;
        let socket = FakeSocket::start().await;
        default_workspace(&slack, &socket);
        Self::start_with(slack, socket, setup).await
    }

    /// Starts the bot on the given fakes (their start-up answers already set); returns once
    /// it is connected (Socket Mode) or has touched its check file (HTTP).
    pub async fn start_with(slack: FakeSlack, socket: FakeSocket, setup: Setup) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let vars = bot_vars(dir.path(), &slack, &setup);
        let settings = Settings::from_lookup(&CONFIG, dir.path(), |k| vars.get(k).cloned());
        let queue = Queue::open(&settings.db_path).unwrap();
        let client = Arc::new(
            SlackClient::new(TOKEN)
                .with_base_url(slack.url())
                .with_max_retries(0),
        );
        let (stop, stopped) = oneshot::channel();
        let (handled_events, handled) = watch::channel(0);
        let defaults = options();
        let options = BotOptions {
            handled_events: Some(handled_events),
            socket: setup.socket.unwrap_or(defaults.socket),
            ..defaults
        };
        let (source, events) = match setup.mode {
            Mode::Socket => (EventSource::SocketMode, None),
            Mode::Http => {
                let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
                let secret = settings.slack_signing_secret.clone().unwrap();
                let server = bennettbot::webhook::WebhookServer::bind_app(
                    "127.0.0.1:0".parse().unwrap(),
                    bennettbot::webhook::layers(&CONFIG, http_events::router(secret, events_tx)),
                )
                .await
                .unwrap();
                let events = FakeEvents::new(server.local_addr());
                tokio::spawn(server.run(std::future::pending()));
                (EventSource::Http(events_rx), Some(events))
            }
        };
        let bot = tokio::spawn(run_bot_over(
            &CONFIG,
            settings,
            queue.clone(),
            client,
            options,
            source,
            async move {
                let _ = stopped.await;
            },
        ));
        let harness = Harness {
            slack,
            socket,
            events,
            queue,
            dir,
            stop: Some(stop),
            bot: Some(bot),
            sent: AtomicU64::new(0),
            handled,
            vars,
        };
        match setup.mode {
            Mode::Socket => harness.socket.wait_connections(1).await,
            // Over HTTP the bot is ready once started: it touches the check file then.
            Mode::Http => {
                let check_file = harness.check_file();
                eventually("the bot to start (its check file)", WAIT, || {
                    check_file.exists().then_some(())
                })
                .await
            }
        }
        harness
    }

    /// Starts a dispatcher on the bot's queue and fake Slack, its folders under the bot's
    /// `WRITEABLE_DIR` ([`dispatcher_settings`]), the shipped workspace, and as its
    /// environment the variables the bot was given (its tokens and secrets among them), the
    /// test process's `PATH`, `HOME` and `LANG`, and `extra`: as the bot's own environment
    /// would be in `serve`.
    pub fn start_dispatcher(&self, extra: &[(&str, &str)]) -> BotDispatcher {
        let inherited = ["PATH", "HOME", "LANG"]
            .into_iter()
            .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)));
        let extra = extra.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let environment =
            BotEnvironment::from_vars(self.vars.clone().into_iter().chain(inherited).chain(extra));
        let settings = DispatcherSettings {
            environment,
            ..dispatcher_settings(self.dir.path())
        };
        let client = Arc::new(SlackClient::new(TOKEN).with_base_url(self.slack.url()));
        let dispatcher = Dispatcher::new(&CONFIG, self.queue.clone(), client, settings);
        let (stop, stopped) = watch::channel(false);
        BotDispatcher {
            stop,
            handle: tokio::spawn(dispatcher.run(stopped)),
        }
    }

    /// The bot's health-check file.
    pub fn check_file(&self) -> PathBuf {
        self.dir.path().join("bot_check")
    }

    /// Sends an event and waits for its ack (an envelope's, or the HTTP request's 200).
    pub async fn send(&self, event: Value) {
        self.sent.fetch_add(1, Ordering::SeqCst);
        match &self.events {
            Some(events) => {
                // Now and then Slack's side misbehaves as the real one may: a forged copy
                // first (refused), or a retry of the event after it was taken (acknowledged,
                // not acted on again). Every test's exact counts would catch a double action.
                let n = self.sent.load(Ordering::SeqCst);
                let id = events.event_id();
                if n.is_multiple_of(5) {
                    let forged = FakeEvents::body(&event, &id);
                    let (status, _) = events.post(&forged, Signing::Forged, None).await;
                    assert_eq!(status, 401, "a forged request was accepted");
                }
                events.send_event_with_id(&event, &id, None).await;
                if n.is_multiple_of(7) {
                    events.send_event_with_id(&event, &id, Some(1)).await;
                }
            }
            None => {
                let envelope = self.socket.send_event(event);
                self.socket.wait_ack(&envelope).await;
            }
        }
    }

    /// Mentions the bot in `channel` as `user`; returns the message's ts.
    pub async fn mention_as(&self, user: &str, channel: &str, text: &str) -> String {
        let ts = ts();
        self.send(json!({
            "type": "app_mention", "user": user, "text": text, "ts": ts,
            "channel": channel, "event_ts": ts,
        }))
        .await;
        ts
    }

    /// `<@BOT> text` from an internal user in `channel`.
    pub async fn mention(&self, channel: &str, text: &str) -> String {
        self.mention_as(INTERNAL, channel, &format!("<@{BOT}> {text}"))
            .await
    }

    /// A plain message event.
    pub async fn message(&self, fields: Value) -> String {
        let ts = ts();
        let mut event =
            json!({ "type": "message", "user": INTERNAL, "ts": ts, "channel_type": "channel" });
        event
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        self.send(event).await;
        ts
    }

    /// Waits for a reply in `channel` containing `needle`.
    pub async fn reply(&self, channel: &str, needle: &str) -> Call {
        self.slack.wait_for_text(channel, needle, WAIT).await;
        self.posts(channel)
            .into_iter()
            .find(|c| c.str("text").unwrap_or_default().contains(needle))
            .unwrap()
    }

    /// Messages posted to `channel` so far.
    pub fn posts(&self, channel: &str) -> Vec<Call> {
        self.slack
            .calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.str("channel") == Some(channel))
            .collect()
    }

    /// Reactions added so far to message `ts` in `channel`.
    pub fn reactions(&self, channel: &str, ts: &str) -> Vec<String> {
        self.slack
            .calls("reactions.add")
            .into_iter()
            .filter(|c| c.str("channel") == Some(channel) && c.str("timestamp") == Some(ts))
            .map(|c| c.str("name").unwrap_or_default().to_string())
            .collect()
    }

    /// Waits until reaction `name` has been added to message `ts` in `channel`.
    pub async fn wait_reaction(&self, channel: &str, ts: &str, name: &str) {
        self.slack
            .wait_until(
                &format!("a {name} reaction on {channel}/{ts}"),
                WAIT,
                |_| {
                    self.reactions(channel, ts)
                        .iter()
                        .any(|r| r == name)
                        .then_some(())
                },
            )
            .await;
    }

    /// Counts `n` events the test sent past [`Harness::send`] (straight through the fake
    /// socket) that the bot should handle, for [`Harness::handled_all`].
    pub fn expect_handled(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::SeqCst);
    }

    /// Waits until the bot has handled every event sent through [`Harness::send`], including
    /// those that should have no visible effect.
    pub async fn handled_all(&self) {
        self.handled_all_within(WAIT).await;
    }

    /// [`Harness::handled_all`], for a test that sends more than a few events.
    pub async fn handled_all_within(&self, limit: Duration) {
        let sent = self.sent.load(Ordering::SeqCst);
        let mut handled = self.handled.clone();
        let waited = tokio::time::timeout(limit, handled.wait_for(|n| *n >= sent)).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the bot handled {} of {sent} events",
            *self.handled.borrow()
        );
    }

    /// Waits until the search checker has searched for every keyword since this call, each
    /// answered with the current `search.messages` answer. A search's hits are handled before
    /// the next search starts, so those hits have been handled too.
    pub async fn searched(&self) {
        let keywords: usize = CONFIG.support.iter().map(|r| r.keywords.len()).sum();
        let from = self.slack.calls("search.messages").len();
        self.slack
            .wait_for("search.messages", from + keywords + 1, WAIT)
            .await;
    }

    /// Stops the bot; returns how it ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop_keeping_fakes().await
    }

    /// Stops the bot, keeping the fakes to look at afterwards.
    pub async fn stop_keeping_fakes(&mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.bot.take().unwrap().await.unwrap()
    }
}
