//! The bot against an in-process Slack (no HTTP), through the same traits as the HTTP client,
//! and stopping: events acked before shutdown are acted on, a stop mid-burst answers every
//! acked envelope. Uses an in-process `SlackApi`/`SlackBotApi` and the fake socket.

use std::sync::Arc;

use bennettbot::config::CONFIG;
use bennettbot::queue::Queue;
use bennettbot::slack::bot::{run_bot_on, EventSource};
use bennettbot::slack::bot_api::{Channel, SearchMatch, SlackBotApi, User};
use bennettbot::slack::SlackApi;
use bennettbot_test_support::bot_harness::{
    bot_settings, options, ts, Harness, Setup, ADMINS, BOT, GENERAL, INTERNAL, TECH,
};
use bennettbot_test_support::fake_slack::{FakeSlack, TOKEN};
use bennettbot_test_support::fake_socket::FakeSocket;
use bennettbot_test_support::wait::WAIT;
use serde_json::json;
use tokio::sync::oneshot;

/// A Slack inside the test: every call is recorded; only the Socket Mode connection is real.
struct InProcess {
    /// slack-morphism opens Socket Mode connections itself, over HTTP.
    socket_mode: bennettbot::slack::api::SlackClient,
    posts: std::sync::Mutex<Vec<(String, String)>>,
    posted: tokio::sync::Notify,
}

impl SlackApi for InProcess {
    async fn post_message(
        &self,
        message: bennettbot::slack::OutgoingMessage,
    ) -> Result<bennettbot::slack::PostedMessage, bennettbot::slack::SlackError> {
        self.posts
            .lock()
            .unwrap()
            .push((message.channel.clone(), message.text));
        self.posted.notify_waiters();
        Ok(bennettbot::slack::PostedMessage {
            channel: message.channel,
            ts: ts(),
        })
    }

    async fn add_reaction(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<(), bennettbot::slack::SlackError> {
        Ok(())
    }

    async fn upload_file(
        &self,
        _: bennettbot::slack::FileUpload,
    ) -> Result<(), bennettbot::slack::SlackError> {
        Ok(())
    }

    async fn permalink(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<String, bennettbot::slack::SlackError> {
        Ok(format!("in-process://{channel}/{ts}"))
    }
}

impl SlackBotApi for InProcess {
    fn socket_mode(
        &self,
    ) -> Result<bennettbot::slack::socket::SocketModeClient, bennettbot::slack::SlackError> {
        self.socket_mode.socket_mode()
    }

    async fn bot_user_id(&self) -> Result<String, bennettbot::slack::SlackError> {
        Ok(BOT.to_string())
    }

    async fn users(&self) -> Result<Vec<User>, bennettbot::slack::SlackError> {
        Ok(vec![User {
            id: INTERNAL.into(),
            ..User::default()
        }])
    }

    async fn user(&self, id: &str) -> Result<User, bennettbot::slack::SlackError> {
        Ok(User {
            id: id.into(),
            is_restricted: true,
            ..User::default()
        })
    }

    async fn usergroup_members(
        &self,
        _group: &str,
    ) -> Result<Vec<String>, bennettbot::slack::SlackError> {
        Ok(Vec::new())
    }

    async fn public_channels(&self) -> Result<Vec<Channel>, bennettbot::slack::SlackError> {
        let channel = |id: &str, name: &str| Channel {
            id: id.into(),
            name: name.into(),
            is_member: true,
            is_archived: false,
        };
        Ok(vec![
            channel(TECH, "tech-support"),
            channel(ADMINS, "bennett-admins"),
        ])
    }

    async fn join(&self, _: &str) -> Result<(), bennettbot::slack::SlackError> {
        Ok(())
    }

    async fn add_reaction_once(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<bool, bennettbot::slack::SlackError> {
        Ok(true)
    }

    fn can_search(&self) -> bool {
        false
    }

    async fn search(&self, _: &str) -> Result<Vec<SearchMatch>, bennettbot::slack::SlackError> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn the_bot_runs_against_an_in_process_slack() {
    let socket = FakeSocket::start().await;
    // Only Socket Mode's URL comes over HTTP: slack-morphism asks for it itself.
    let http = FakeSlack::start().await;
    http.respond_with("apps.connections.open", json!({ "url": socket.url }));
    let dir = tempfile::tempdir().unwrap();
    let settings = bot_settings(dir.path(), &http, &Setup::default());
    let queue = Queue::open(&settings.db_path).unwrap();
    let slack = Arc::new(InProcess {
        socket_mode: bennettbot::slack::api::SlackClient::new(TOKEN)
            .with_base_url(http.url())
            .with_app_token(TOKEN),
        posts: Default::default(),
        posted: Default::default(),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let bot = tokio::spawn(run_bot_on(
        &CONFIG,
        settings,
        queue,
        slack.clone(),
        slack.clone(),
        options(),
        EventSource::SocketMode,
        async move {
            let _ = stopped.await;
        },
    ));
    socket.wait_connections(1).await;
    let ts = ts();
    let envelope = socket.send_event(json!({
        "type": "app_mention", "user": INTERNAL, "text": format!("<@{BOT}> status"),
        "ts": ts, "channel": GENERAL, "event_ts": ts,
    }));
    socket.wait_ack(&envelope).await;
    let answered = async {
        loop {
            let posted = slack.posted.notified();
            let posts = slack.posts.lock().unwrap().clone();
            if let Some(post) = posts.iter().find(|(channel, _)| channel == GENERAL) {
                return post.1.clone();
            }
            posted.await;
        }
    };
    let text = tokio::time::timeout(WAIT, answered)
        .await
        .expect("answered");
    assert!(text.contains("The time is"), "{text}");
    let over_http: Vec<String> = http.all_calls().into_iter().map(|c| c.method).collect();
    assert!(
        over_http.iter().all(|m| m == "apps.connections.open"),
        "nothing else went over HTTP: {over_http:?}"
    );
    let _ = stop.send(());
    assert!(bot.await.unwrap().is_ok());
}

#[tokio::test]
async fn events_acked_before_shutdown_are_still_acted_on() {
    // Twenty events are waiting in the bot's channel (acked, so Slack will not send them
    // again) when the stop comes, before the bot has read any of them.
    let http = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = bot_settings(dir.path(), &http, &Setup::default());
    let queue = Queue::open(&settings.db_path).unwrap();
    let slack = Arc::new(InProcess {
        socket_mode: bennettbot::slack::api::SlackClient::new(TOKEN).with_base_url(http.url()),
        posts: Default::default(),
        posted: Default::default(),
    });
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..20 {
        let ts = ts();
        let callback = bennettbot::slack::events::Callback::from_value(json!({
            "type": "event_callback", "team_id": "T0FAKE", "api_app_id": "A0FAKE",
            "event_id": format!("EvShutdown{i}"), "event_time": 1700000000,
            "event": { "type": "app_mention", "user": INTERNAL, "text": format!("<@{BOT}> status"),
                       "ts": ts, "channel": format!("C4{i:02}"), "event_ts": ts },
        }))
        .unwrap();
        events_tx
            .send(bennettbot::slack::socket::SocketEvent::Events(Box::new(
                callback,
            )))
            .unwrap();
    }
    let ran = run_bot_on(
        &CONFIG,
        settings,
        queue,
        slack.clone(),
        slack.clone(),
        options(),
        EventSource::Http(events_rx),
        std::future::ready(()),
    )
    .await;
    assert!(ran.is_ok(), "{ran:?}");
    let posts = slack.posts.lock().unwrap().clone();
    for i in 0..20 {
        let channel = format!("C4{i:02}");
        assert_eq!(
            posts.iter().filter(|(c, _)| *c == channel).count(),
            1,
            "{channel}: {posts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_mid_burst_answers_every_acked_envelope() {
    let mut h = Harness::start(Setup::default()).await;
    let sent: Vec<(String, String)> = (0..40)
        .map(|i| {
            let (ts, channel) = (ts(), format!("C5{i:02}"));
            let envelope = h.socket.send_event(json!({
                "type": "app_mention", "user": INTERNAL, "text": format!("<@{BOT}> status"),
                "ts": ts, "channel": channel, "event_ts": ts,
            }));
            (envelope, channel)
        })
        .collect();
    // Stopped while the burst is arriving.
    h.socket.wait_ack(&sent[0].0).await;
    assert!(h.stop_keeping_fakes().await.is_ok());
    // Every ack the bot wrote has been read once its connection has closed.
    h.socket.wait_all_closed().await;
    let acked = h.socket.acks();
    for (envelope, channel) in &sent {
        let answers = h.posts(channel).len();
        if acked.contains(envelope) {
            assert_eq!(
                answers, 1,
                "{envelope} was acked, so Slack will not send it again"
            );
        } else {
            assert!(answers <= 1, "{envelope}");
        }
    }
}
