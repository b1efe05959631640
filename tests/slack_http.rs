//! The bot on the Events API over HTTP: Slack's signed requests to `/slack/events`, posted raw
//! (bad signatures, retries, URL verification) by `FakeEvents`, with the Web API faked by
//! `FakeSlack`.

use bennettbot_test_support::bot_harness::{
    bot_settings, Mode, Setup, ADMINS, BOT, GENERAL, INTERNAL,
};
use bennettbot_test_support::wait::WAIT;
use std::sync::Arc;
use std::time::Duration;

use bennettbot::config::CONFIG;
use bennettbot::queue::Queue;
use bennettbot::settings::SlackMode;
use bennettbot::slack::api::SlackClient;
use bennettbot::slack::bot::{run_bot_over, BotOptions, EventSource};
use bennettbot::slack::http_events;
use bennettbot::webhook::WebhookServer;
use bennettbot_test_support::fake_events::{FakeEvents, Signing};
use bennettbot_test_support::fake_slack::{FakeSlack, TOKEN};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

struct Harness {
    slack: FakeSlack,
    events: FakeEvents,
    queue: Queue,
    handled: watch::Receiver<u64>,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Harness {
        let slack = FakeSlack::start().await;
        slack.respond_with("conversations.join", json!({ "channel": {} }));
        slack.respond_with(
            "users.list",
            json!({ "members": [{ "id": INTERNAL, "name": "alice" }],
                    "response_metadata": { "next_cursor": "" } }),
        );
        slack.respond_with(
            "conversations.list",
            json!({ "channels": [
                { "id": GENERAL, "name": "general", "is_member": true },
                { "id": "C0TECH", "name": "tech-support", "is_member": true },
                { "id": ADMINS, "name": "bennett-admins", "is_member": true },
            ] }),
        );
        slack.respond_with("auth.test", json!({ "user_id": BOT }));
        let dir = tempfile::tempdir().unwrap();
        let settings = bot_settings(dir.path(), &slack, &Setup::mode(Mode::Http));
        assert_eq!(settings.slack_mode(), SlackMode::Http);
        let queue = Queue::open(&settings.db_path).unwrap();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let secret = settings.slack_signing_secret.clone().unwrap();
        let server = WebhookServer::bind_app(
            "127.0.0.1:0".parse().unwrap(),
            bennettbot::webhook::layers(&CONFIG, http_events::router(secret, events_tx)),
        )
        .await
        .unwrap();
        let events = FakeEvents::new(server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(std::future::pending()));
        let (handled_events, handled) = watch::channel(0);
        let options = BotOptions {
            handled_events: Some(handled_events),
            search_interval: Duration::from_secs(3600),
            ..BotOptions::default()
        };
        let client = Arc::new(
            SlackClient::new(TOKEN)
                .with_base_url(slack.url())
                .with_max_retries(0),
        );
        tokio::spawn(run_bot_over(
            &CONFIG,
            settings,
            queue.clone(),
            client,
            options,
            EventSource::Http(events_rx),
            async move {
                let _ = stopped.await;
            },
        ));
        // Started once it has asked who it is.
        slack.wait_for("conversations.list", 1, WAIT).await;
        Harness {
            slack,
            events,
            queue,
            handled,
            _stop: stop,
            _dir: dir,
        }
    }

    fn mention_event(text: &str) -> Value {
        let ts = format!("1800000000.{:06}", fastrand::u32(..999_999));
        json!({
            "type": "app_mention", "user": INTERNAL, "text": format!("<@{BOT}> {text}"),
            "ts": ts, "channel": GENERAL, "event_ts": ts,
        })
    }

    async fn wait_handled(&self, n: u64) {
        let mut handled = self.handled.clone();
        let waited = tokio::time::timeout(WAIT, handled.wait_for(|h| *h >= n)).await;
        assert!(waited.is_ok(), "handled {} of {n}", *self.handled.borrow());
    }
}

#[tokio::test]
async fn url_verification_is_answered_with_its_challenge() {
    let h = Harness::start().await;
    let body = json!({ "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification" });
    let (status, answer) = h.events.post(&body.to_string(), Signing::Good, None).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}

#[tokio::test]
async fn a_signed_mention_is_acted_on() {
    let h = Harness::start().await;
    h.events.send_event(Harness::mention_event("status")).await;
    let reply = h
        .slack
        .wait_for_text(GENERAL, "Nothing is happening", WAIT)
        .await;
    assert!(!reply.is_empty());
    h.events
        .send_event(Harness::mention_event("test hello Bob"))
        .await;
    h.wait_handled(2).await;
    let status = h.queue.status(chrono::Utc::now()).await.unwrap();
    assert_eq!(status.scheduled.len(), 1, "{status:?}");
    assert_eq!(status.scheduled[0].job_type, "test_hello_name");
}

#[tokio::test]
async fn forged_stale_and_replayed_requests_are_refused() {
    let h = Harness::start().await;
    let event = Harness::mention_event("test hello Forged");
    let body = FakeEvents::body(&event, &h.events.event_id());
    let (status, answer) = h.events.post(&body, Signing::Forged, None).await;
    assert_eq!(status, 401, "forged: {answer}");
    // Signed six minutes ago: a captured request replayed, or a stale one.
    let (status, answer) = h.events.post(&body, Signing::Old(360), None).await;
    assert_eq!(status, 401, "stale: {answer}");
    assert!(answer.contains("360 s away"), "{answer}");
    // Within the five minutes a replay verifies, but its event is acted on once.
    let replayed = FakeEvents::body(&Harness::mention_event("test hello Replayed"), "EvReplay");
    for _ in 0..2 {
        let (status, _) = h.events.post(&replayed, Signing::Old(60), None).await;
        assert_eq!(status, 200);
    }
    h.wait_handled(1).await;
    // A later event is handled after both, so nothing else is still on its way.
    h.events.send_event(Harness::mention_event("status")).await;
    h.wait_handled(2).await;
    let status = h.queue.status(chrono::Utc::now()).await.unwrap();
    let args: Vec<_> = status
        .scheduled
        .iter()
        .map(|j| j.args.get("name").cloned().unwrap_or_default())
        .collect();
    assert_eq!(args, ["Replayed"], "only the verified request queued a job");
    assert_eq!(*h.handled.borrow(), 2);
}

#[tokio::test]
async fn a_retry_of_an_event_being_handled_is_acknowledged_and_not_acted_on_again() {
    let h = Harness::start().await;
    let event = Harness::mention_event("status");
    // The retry follows at once, while the first delivery is being handled.
    h.events.send_event_with_id(&event, "EvRetried", None).await;
    h.events
        .send_event_with_id(&event, "EvRetried", Some(1))
        .await;
    h.events
        .send_event_with_id(&event, "EvRetried", Some(2))
        .await;
    h.wait_handled(1).await;
    h.events.send_event(Harness::mention_event("status")).await;
    h.wait_handled(2).await;
    h.slack.wait_for("chat.postMessage", 2, WAIT).await;
    tokio::task::yield_now().await;
    assert_eq!(*h.handled.borrow(), 2, "the retries were acted on");
    assert_eq!(h.slack.calls("chat.postMessage").len(), 2);
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_gets_400_and_the_server_stays_up() {
    let h = Harness::start().await;
    for body in ["not json", "[1, 2]", ""] {
        let (status, answer) = h.events.post(body, Signing::Good, None).await;
        assert_eq!(status, 400, "{body:?}: {answer}");
    }
    h.events.send_event(Harness::mention_event("status")).await;
    h.wait_handled(1).await;
}
