//! Reliability: unexpected errors reported in thread, redelivered and malformed envelopes,
//! reconnecting after disconnects and dropped sockets. Uses the fake socket's faults.

use bennettbot_test_support::bot_harness::{ts, Harness, Mode, Setup, BOT, GENERAL, INTERNAL};
use bennettbot_test_support::both_modes;
use bennettbot_test_support::fake_slack::Failure;
use serde_json::json;

async fn unexpected_errors_are_reported_in_thread_and_the_bot_keeps_going(mode: Mode) {
    let mut setup = Setup::mode(mode);
    setup.env.push(("SLACK_LOGS_CHANNEL", "C0LOGS".to_string()));
    let h = Harness::start(setup).await;
    let db = rusqlite::Connection::open(h.dir.path().join("bennettbot.db")).unwrap();
    db.execute_batch("DROP TABLE job").unwrap();
    let ts = h.mention(GENERAL, "status").await;
    let reply = h.reply(GENERAL, "Unexpected error (error id `").await;
    let text = reply.str("text").unwrap();
    assert!(
        text.ends_with(&format!(") while responding to message `<@{BOT}> status`")),
        "{text}"
    );
    assert!(
        !text.contains("no such table"),
        "the user is not shown the internal detail: {text}"
    );
    assert_eq!(reply.str("thread_ts"), Some(ts.as_str()));
    h.wait_reaction(GENERAL, &ts, "x").await;
    // The detail goes to the logs channel under the same id.
    let id = text.split('`').nth(1).expect("the reply names an error id");
    let detail = h.reply("C0LOGS", id).await;
    let detail = detail.str("text").unwrap();
    assert!(detail.contains("no such table: job"), "{detail}");
    assert!(detail.contains(&format!("<#{GENERAL}>")), "{detail}");
    // Still listening.
    h.mention("C1", "help").await;
    h.reply("C1", "Commands in the following categories").await;
}

#[tokio::test]
async fn redelivered_envelopes_are_acted_on_once_and_malformed_ones_skipped() {
    let h = Harness::start(Setup::default()).await;
    let event = json!({ "type": "app_mention", "user": INTERNAL, "text": format!("<@{BOT}> status"),
                        "ts": ts(), "channel": "C1" });
    let first = h.socket.send_event_with_id(event.clone(), "Ev-REDELIVERED");
    h.socket.wait_ack(&first).await;
    h.reply("C1", "The time is").await;
    let again = h.socket.send_event_with_id(event, "Ev-REDELIVERED");
    h.socket.wait_ack(&again).await;
    h.socket.send_raw("this is not json");
    h.socket.send_raw(
        r#"{"envelope_id":"env-bad","type":"events_api","payload":{"event_id":"Ev-BAD"}}"#,
    );
    h.socket.wait_ack("env-bad").await;
    // A later event: once it and the first delivery are handled, the bot has read past the
    // second delivery and the malformed envelopes (the listener reads frames in order).
    h.expect_handled(1);
    h.mention("C2", "status").await;
    h.handled_all().await;
    assert_eq!(
        h.posts("C1").len(),
        1,
        "a redelivered event is not acted on twice"
    );
}

#[tokio::test]
async fn the_bot_reconnects_after_disconnect_and_dropped_sockets() {
    let h = Harness::start(Setup::default()).await;
    h.socket.disconnect();
    h.socket.wait_connections(2).await;
    h.mention("C1", "status").await;
    h.reply("C1", "The time is").await;
    h.socket.drop_connection();
    h.socket.wait_connections(3).await;
    h.mention("C2", "status").await;
    h.reply("C2", "The time is").await;
    assert_eq!(h.slack.calls("apps.connections.open").len(), 3);

    // Failing to get a URL is retried after the reconnect wait (one second here).
    h.slack
        .fail_next("apps.connections.open", 2, Failure::Status(500));
    h.socket.drop_connection();
    h.socket.wait_connections(4).await;
    assert_eq!(h.slack.attempts("apps.connections.open").len(), 6);

    // A connection that goes silent (no pongs) is given up and replaced.
    h.socket.go_silent();
    h.socket.wait_connections(5).await;
    h.mention("C3", "status").await;
    h.reply("C3", "The time is").await;
    assert!(h.stop().await.is_ok());
}

#[tokio::test]
async fn the_bot_keeps_reconnecting_past_the_ids_slack_morphism_reuses() {
    // slack-morphism numbers a connection's successors 0 to 64, then starts again at 0.
    let h = Harness::start(Setup::default()).await;
    for connections in 2..=70 {
        h.socket.disconnect();
        h.socket.wait_connections(connections).await;
    }
    h.mention("C1", "status").await;
    h.reply("C1", "The time is").await;
    assert!(h.stop().await.is_ok());
}

// Each test above that takes a `Mode` runs on Socket Mode and on the Events API over HTTP.
both_modes!(unexpected_errors_are_reported_in_thread_and_the_bot_keeps_going,);
