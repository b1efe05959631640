//! Start-up: joining channels, the health-check file, refusing a bad config, retrying
//! Slack's rate limits. Uses the fake Slack and the fake socket, in both modes where a test takes a
//! `Mode`.

use std::sync::Arc;

use bennettbot::config::CONFIG;
use bennettbot::queue::Queue;
use bennettbot::slack::api::SlackClient;
use bennettbot::slack::bot::run_bot_with;
use bennettbot_test_support::bot_harness::{
    bot_settings, default_workspace, options, Harness, Mode, Setup, GENERAL,
};
use bennettbot_test_support::both_modes;
use bennettbot_test_support::fake_slack::{FakeSlack, TOKEN};
use bennettbot_test_support::fake_socket::FakeSocket;
use bennettbot_test_support::wait::{eventually, WAIT};
use serde_json::json;

async fn start_up_joins_channels_touches_the_check_file_and_stops_cleanly(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let check_file = h.check_file();
    eventually("the check file to be touched", WAIT, || {
        check_file.exists().then_some(())
    })
    .await;
    let joined: Vec<String> = h
        .slack
        .calls("conversations.join")
        .iter()
        .map(|c| c.str("channel").unwrap().to_string())
        .collect();
    assert_eq!(
        joined,
        vec![GENERAL.to_string()],
        "joins only channels it is not in"
    );
    let listed = h.slack.calls("conversations.list");
    assert_eq!(listed[0].str("types"), Some("public_channel"));
    assert_eq!(listed[0].str("exclude_archived"), Some("true"));
    assert_eq!(h.slack.calls("auth.test").len(), 1);
    assert!(h.stop().await.is_ok());
}

#[tokio::test]
async fn start_up_removes_a_stale_check_file_and_fails_without_a_support_channel() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    default_workspace(&slack, &socket);
    slack.respond_with(
        "conversations.list",
        json!({ "channels": [{ "id": GENERAL, "name": "general", "is_member": true }] }),
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = bot_settings(dir.path(), &slack, &Setup::default());
    std::fs::write(dir.path().join("bot_check"), "stale").unwrap();
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
    assert!(message.contains("SLACK_TECH_SUPPORT_CHANNEL"), "{message}");
    assert!(message.contains("#tech-support"), "{message}");
    assert!(!dir.path().join("bot_check").exists());
    assert_eq!(socket.connections(), 0, "never connects with a bad config");
}

async fn new_channels_are_joined(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.send(json!({ "type": "channel_created", "channel": { "id": "C0NEW", "name": "new", "created": 1 } }))
        .await;
    let joins = h.slack.wait_for("conversations.join", 2, WAIT).await;
    assert_eq!(joins[1].str("channel"), Some("C0NEW"));
}

// Each test above that takes a `Mode` runs on Socket Mode and on the Events API over HTTP.
both_modes!(
    start_up_joins_channels_touches_the_check_file_and_stops_cleanly,
    new_channels_are_joined,
);
