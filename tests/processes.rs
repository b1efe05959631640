//! The built binary against a fake Slack (Web API + Socket Mode) and signed GitHub webhooks:
//! `serve`, and `bot` + `webserver` + `dispatcher` as three processes, do the same round trips;
//! SIGTERM drains a running job.

// fake_socket.rs allows dead code itself.

use bennettbot_test_support::wait::WAIT;
use std::path::Path;

use bennettbot::queue::SqliteStore as Queue;
use bennettbot::webhook::signature::{sign, Algorithm};
use bennettbot_test_support::binary::{Part, SECRET};
use bennettbot_test_support::fake_slack::FakeSlack;
use bennettbot_test_support::fake_socket::FakeSocket;
use serde_json::json;

const BOT: &str = "U0BOT";
const GENERAL: &str = "C0GENERAL";

/// What the fake Slack workspace answers at start-up.
fn workspace(slack: &FakeSlack, socket: &FakeSocket) {
    slack.answer_start_up(BOT, &socket.url, Some((GENERAL, "general")));
}

/// Mentions the bot in #general; returns the message ts.
fn mention(socket: &FakeSocket, text: &str, ts: &str) {
    mention_in_thread(socket, text, ts, None);
}

/// Mentions the bot in #general, in a thread if `thread_ts` is given.
fn mention_in_thread(socket: &FakeSocket, text: &str, ts: &str, thread_ts: Option<&str>) {
    let mut event = json!({
        "type": "app_mention", "user": "U0ALICE", "text": format!("<@{BOT}> {text}"),
        "ts": ts, "channel": GENERAL, "event_ts": ts,
    });
    if let Some(thread) = thread_ts {
        event["thread_ts"] = json!(thread);
    }
    socket.send_event(event);
}

/// Sends a signed merged-PR webhook for `example`; returns the HTTP status.
async fn merged_pr(addr: &str, delivery: &str) -> u16 {
    let mut payload: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/pull_request_closed.json")).unwrap();
    payload["pull_request"]["merged"] = json!(true);
    let body = serde_json::to_vec(&payload).unwrap();
    reqwest::Client::new()
        .post(format!("http://{addr}/github/example/"))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", delivery)
        .header(
            "X-Hub-Signature-256",
            sign(Algorithm::Sha256, SECRET.as_bytes(), &body),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A mention runs `test hello Bob` and its report lands in the mention's thread; a merged PR
/// queues `example_deploy` 60 s out, and once due it runs and reports to `#tech`.
async fn round_trips(slack: &FakeSlack, socket: &FakeSocket, webhook_addr: &str, db: &Path) {
    socket.wait_connections(1).await;
    // Asked in a thread: the report is a reply in that thread.
    mention_in_thread(
        socket,
        "test hello Bob",
        "1800000000.000100",
        Some("1800000000.000050"),
    );
    let report = slack.wait_for_text(GENERAL, "Hello Bob", WAIT).await;
    assert_eq!(report.trim_end(), "Hello Bob");
    let posted = slack
        .calls("chat.postMessage")
        .into_iter()
        .find(|c| c.str("text").is_some_and(|t| t.contains("Hello Bob")))
        .unwrap();
    assert_eq!(posted.str("thread_ts"), Some("1800000000.000050"));
    slack
        .wait_for_text("#logs", "Command `test_hello_name` about to start", WAIT)
        .await;

    assert_eq!(merged_pr(webhook_addr, "delivery-1").await, 200);
    let queue = Queue::open(db).unwrap();
    let status = queue.status(chrono::Utc::now()).unwrap();
    let deploy = status
        .scheduled
        .iter()
        .find(|j| j.job_type == "example_deploy")
        .expect("deploy queued");
    let delay = (deploy.start_after - chrono::Utc::now()).num_seconds();
    assert!((50..=60).contains(&delay), "deploy starts in {delay} s");
    assert_eq!(deploy.channel, "#tech");
    // Sixty seconds pass: bring the deploy forward, as the clock would.
    let due = bennettbot::queue::format_time(chrono::Utc::now() - chrono::Duration::seconds(1));
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "UPDATE job SET start_after = ?1 WHERE type = 'example_deploy'",
        [due],
    )
    .unwrap();
    slack
        .wait_for_text("#tech", "Command `example_deploy` succeeded", WAIT)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_does_mention_to_report_and_webhook_to_deploy() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Part::start("serve", &slack, dir.path(), &[]);
    let addr = serve.webhook_addr();
    round_trips(&slack, &socket, &addr, &dir.path().join("bennettbot.db")).await;
    assert!(serve.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn three_processes_behave_like_serve() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let mut web = Part::start("webserver", &slack, dir.path(), &[]);
    let addr = web.webhook_addr();
    let mut bot = Part::start("bot", &slack, dir.path(), &[]);
    let mut dispatcher = Part::start("dispatcher", &slack, dir.path(), &[]);
    round_trips(&slack, &socket, &addr, &dir.path().join("bennettbot.db")).await;
    for part in [&mut web, &mut bot, &mut dispatcher] {
        assert!(part.terminate().success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_a_running_job_and_reports_it() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Part::start(
        "serve",
        &slack,
        dir.path(),
        &[("SLOW_JOB_SECONDS", "3"), ("SHUTDOWN_GRACE_SECONDS", "30")],
    );
    socket.wait_connections(1).await;
    mention(&socket, "test slow", "1800000000.000200");
    slack
        .wait_for_text("#logs", "Command `test_slow` about to start", WAIT)
        .await;
    let status = serve.terminate();
    assert!(status.success(), "{status}");
    // The job finished during the grace period and its report went out before exit.
    assert!(
        slack
            .texts_in(GENERAL)
            .iter()
            .any(|t| t.contains("Slow job finished")),
        "{:#?}",
        slack.all_calls()
    );
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    let history = queue.history(10).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].job_type, "test_slow");
    assert_eq!(history[0].exit.kind(), "code");
}
