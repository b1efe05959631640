//! End to end: a mention schedules a job the dispatcher runs and reports in thread; acks and
//! start-up under failing Slack calls. Uses the fake Slack, the fake socket and a dispatcher.

use std::sync::Arc;

use bennettbot::config::CONFIG;
use bennettbot::queue::Queue;
use bennettbot::slack::api::SlackClient;
use bennettbot::slack::bot::run_bot_with;
use bennettbot_test_support::bot_harness::{
    bot_settings, default_workspace, options, ts, Harness, Mode, Setup, BOT, GENERAL, INTERNAL,
};
use bennettbot_test_support::both_modes;
use bennettbot_test_support::fake_slack::{Failure, FakeSlack, TOKEN};
use bennettbot_test_support::fake_socket::FakeSocket;
use bennettbot_test_support::wait::WAIT;
use serde_json::json;

async fn a_mention_schedules_a_job_that_the_dispatcher_runs_and_reports_in_thread(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let dispatcher = h.start_dispatcher(&[]);

    // At top level: the report goes to the channel, as it always has.
    let ts = h.mention(GENERAL, "test hello Bob").await;
    let report = h.reply(GENERAL, "Hello Bob").await;
    assert_eq!(report.str("thread_ts"), None);
    h.wait_reaction(GENERAL, &ts, "eyes").await;

    // In a thread: the report goes to that thread.
    let in_thread = ts_in_thread(&h, "C0THREADS", "test hello Alice", "1700000000.000042").await;
    let report = h.reply("C0THREADS", "Hello Alice").await;
    assert_eq!(report.str("thread_ts"), Some("1700000000.000042"));
    h.wait_reaction("C0THREADS", &in_thread, "eyes").await;

    dispatcher.stop().await;
    assert!(h.stop().await.is_ok());
}

/// Mentions the bot inside the thread `thread_ts`; returns the message's own ts.
async fn ts_in_thread(h: &Harness, channel: &str, text: &str, thread_ts: &str) -> String {
    let ts = ts();
    h.send(json!({
        "type": "app_mention", "user": INTERNAL, "text": format!("<@{BOT}> {text}"),
        "ts": ts, "thread_ts": thread_ts, "channel": channel,
    }))
    .await;
    ts
}

async fn envelopes_are_acked_even_when_slack_calls_fail_and_handling_resumes(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.slack.set_outage(true);
    // Acked although every Web API call now fails: the ack does not wait for the work.
    h.mention("C1", "status").await;
    h.message(json!({ "channel": GENERAL, "text": "tech-support" }))
        .await;
    h.slack.set_outage(false);
    h.mention("C2", "status").await;
    h.reply("C2", "The time is").await;
}

#[tokio::test]
async fn start_up_retries_rate_limits_and_reports_failed_calls() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    default_workspace(&slack, &socket);
    slack.fail_next("users.list", 1, Failure::RateLimited(0));
    let setup = Setup {
        env: vec![("MAX_SLACK_NOTIFY_RETRIES", "1".to_string())],
        ..Setup::default()
    };
    let h = Harness::start_with(slack, socket, setup).await;
    assert_eq!(h.slack.attempts("users.list").len(), 2);
    assert!(h.stop().await.is_ok());

    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    default_workspace(&slack, &socket);
    slack.fail_next("auth.test", 1, Failure::Api("invalid_auth".into()));
    let dir = tempfile::tempdir().unwrap();
    let settings = bot_settings(dir.path(), &slack, &Setup::default());
    let queue = Queue::open(&settings.db_path).unwrap();
    let client = Arc::new(SlackClient::new(TOKEN).with_base_url(slack.url()));
    let err = run_bot_with(
        &CONFIG,
        settings,
        queue,
        client,
        options(),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("auth.test") && message.contains("invalid_auth"),
        "{message}"
    );
}

#[tokio::test]
async fn start_up_retries_server_errors_but_never_other_client_errors() {
    let setup = || Setup {
        env: vec![("MAX_SLACK_NOTIFY_RETRIES", "1".to_string())],
        ..Setup::default()
    };
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    default_workspace(&slack, &socket);
    slack.fail_next("users.list", 1, Failure::Status(503));
    let h = Harness::start_with(slack, socket, setup()).await;
    assert_eq!(h.slack.attempts("users.list").len(), 2, "a 503 is retried");
    assert!(h.stop().await.is_ok());

    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    default_workspace(&slack, &socket);
    slack.fail_next("users.list", 1, Failure::Status(404));
    let dir = tempfile::tempdir().unwrap();
    let settings = bot_settings(dir.path(), &slack, &setup());
    let queue = Queue::open(&settings.db_path).unwrap();
    let client = Arc::new(SlackClient::new(TOKEN).with_base_url(slack.url()));
    let started = run_bot_with(
        &CONFIG,
        settings,
        queue,
        client,
        options(),
        std::future::pending(),
    );
    let err = tokio::time::timeout(WAIT, started)
        .await
        .expect("start-up fails rather than running")
        .unwrap_err();
    assert!(format!("{err:#}").contains("HTTP 404"), "{err:#}");
    assert_eq!(
        slack.attempts("users.list").len(),
        1,
        "a 404 is not retried"
    );
}

// Each test above that takes a `Mode` runs on Socket Mode and on the Events API over HTTP.
both_modes!(
    a_mention_schedules_a_job_that_the_dispatcher_runs_and_reports_in_thread,
    envelopes_are_acked_even_when_slack_calls_fail_and_handling_resumes,
);
