//! A busy bot: a listener starved of the runtime keeps its connection or reconnects, and
//! answers every command once. Uses the fake socket; the starvation is the fault injected.

use std::time::Duration;

use bennettbot_test_support::bot_harness::{ts, Harness, Setup, BOT, INTERNAL};
use serde_json::json;

/// Sends `status` mentions in 20 channels (C200 to C219) without waiting: for a starved
/// listener to find waiting. Returns their envelope ids.
fn starved_mentions(h: &Harness) -> Vec<String> {
    (0..20)
        .map(|i| {
            let ts = ts();
            h.expect_handled(1);
            h.socket.send_event(json!({
                "type": "app_mention", "user": INTERNAL, "text": format!("<@{BOT}> status"),
                "ts": ts, "channel": format!("C2{i:02}"), "event_ts": ts,
            }))
        })
        .collect()
}

/// Every envelope of [`starved_mentions`] acked, and each mention answered exactly once.
async fn each_answered_once(h: &Harness, envelopes: &[String]) {
    for envelope in envelopes {
        h.socket.wait_ack(envelope).await;
    }
    h.handled_all().await;
    for i in 0..20 {
        assert_eq!(h.posts(&format!("C2{i:02}")).len(), 1, "C2{i:02}");
    }
}

#[tokio::test]
async fn a_listener_kept_off_the_runtime_keeps_its_connection_and_every_envelope() {
    // This runtime has one thread: blocking it keeps the listener (and the fakes) from running,
    // as a flood of busy handlers would. slack-morphism judges a connection by the time since
    // its last pong, so only a starvation shorter than `ping_interval * unanswered_pings` (2 s
    // here) keeps the connection; a longer one replaces it. The sleeps are the fault injected,
    // not waits for anything.
    let starve = || std::thread::sleep(Duration::from_millis(500));
    let h = Harness::start(Setup::default()).await;
    h.mention("C0", "status").await;
    h.reply("C0", "The time is").await;

    // Starved while idle: nothing was heard only because nobody listened.
    starve();
    h.mention("C1", "status").await;
    h.reply("C1", "The time is").await;

    // Starved with envelopes waiting to be read.
    let envelopes = starved_mentions(&h);
    starve();
    each_answered_once(&h, &envelopes).await;
    assert_eq!(h.socket.connections(), 1, "the connection was given up");
    assert!(h.stop().await.is_ok());
}

#[tokio::test]
async fn a_listener_starved_past_the_ping_limit_reconnects_and_answers_every_command_once() {
    // Starved for longer than `ping_interval * unanswered_pings` (more than 2 s here, counted
    // in whole seconds), slack-morphism gives the connection up and opens another. Envelopes
    // it read but had not acked on the old one are delivered again on the new one, as Slack
    // does (and the fake): the event id check keeps each command to one answer. The sleep is
    // the fault injected, not a wait for anything.
    let h = Harness::start(Setup::default()).await;
    h.mention("C0", "status").await;
    h.reply("C0", "The time is").await;
    let envelopes = starved_mentions(&h);
    std::thread::sleep(Duration::from_millis(3_500));
    h.socket.wait_connections(2).await;
    each_answered_once(&h, &envelopes).await;
    assert!(
        !h.socket.redelivered().is_empty(),
        "no envelope was left unacked on the old connection: the test proved nothing"
    );
    // The new connection serves.
    h.mention("C3", "status").await;
    h.reply("C3", "The time is").await;
    assert!(h.stop().await.is_ok());
}
