//! Channel chatter: every message in every channel the bot is in reaches it, and those that
//! cannot concern it (no mention, no DM, no support keyword) are dropped before anything is
//! written to the database, yet still count as handled. Both modes.

use bennettbot_test_support::bot_harness::{Harness, Mode, Setup, BOT, GENERAL, INTERNAL};
use bennettbot_test_support::both_modes;
use serde_json::json;

/// How many Slack events are claimed in the bot's database.
fn claimed(h: &Harness) -> i64 {
    let db = rusqlite::Connection::open(h.dir.path().join("bennettbot.db")).unwrap();
    db.query_row("SELECT COUNT(*) FROM slack_event", [], |row| row.get(0))
        .unwrap()
}

async fn chatter_is_handled_without_a_database_write(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.message(json!({ "channel": GENERAL, "text": "lunch, anyone?" }))
        .await;
    h.message(json!({ "channel": GENERAL, "text": "status" }))
        .await;
    h.message(json!({ "channel": GENERAL, "text": "tech-support", "bot_id": "B1" }))
        .await;
    h.message(json!({ "channel": GENERAL, "subtype": "channel_join", "text": "joined" }))
        .await;
    h.message(json!({
        "channel": GENERAL, "subtype": "message_changed",
        "message": { "user": INTERNAL, "text": "lunch at one?", "ts": "1.0" },
    }))
    .await;
    h.send(
        json!({ "type": "reaction_added", "user": INTERNAL, "reaction": "eyes",
                   "item": { "type": "message", "channel": GENERAL, "ts": "1.0" },
                   "event_ts": "1.1" }),
    )
    .await;
    h.handled_all().await;
    assert_eq!(claimed(&h), 0, "chatter was written to the database");
    assert!(h.posts(GENERAL).is_empty());

    // What may concern the bot is claimed, once each, as before.
    h.mention("C1", "status").await;
    h.message(json!({ "channel": "D0CHAT", "channel_type": "im", "text": "status" }))
        .await;
    h.message(json!({ "channel": "C2", "text": format!("hey <@{BOT}>") }))
        .await;
    h.handled_all().await;
    h.reply("C1", "The time is").await;
    h.reply("D0CHAT", "The time is").await;
    assert_eq!(claimed(&h), 3);
}

both_modes!(chatter_is_handled_without_a_database_write);
