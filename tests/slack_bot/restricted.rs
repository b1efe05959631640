//! Restricted namespaces: commands kept for internal users, users looked up before refusal.
//! Uses the fake Slack's users and the fake socket or signed HTTP events.

use bennettbot::queue::Queue;
use bennettbot_test_support::bot_harness::{Harness, Mode, Setup, BOT, GENERAL, GUEST, INTERNAL};
use bennettbot_test_support::both_modes;
use chrono::Utc;
use serde_json::json;

const OOO_STATUS: &str = "techsupport out-of-office status";

async fn scheduled_types(queue: &Queue) -> Vec<String> {
    queue
        .status(Utc::now())
        .await
        .unwrap()
        .scheduled
        .iter()
        .map(|j| j.job_type.clone())
        .collect()
}

async fn restricted_commands_are_for_internal_users_only(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let ts = h
        .mention_as(INTERNAL, GENERAL, &format!("<@{BOT}> {OOO_STATUS}"))
        .await;
    h.wait_reaction(GENERAL, &ts, "eyes").await;
    assert_eq!(
        scheduled_types(&h.queue).await,
        vec!["techsupport_ooo_status"]
    );
    assert!(
        h.slack.calls("users.info").is_empty(),
        "known users need no lookup"
    );

    h.mention_as(GUEST, "C1", &format!("<@{BOT}> {OOO_STATUS}"))
        .await;
    let reply = h.reply("C1", "Sorry").await;
    assert_eq!(
        reply.str("text").unwrap(),
        ":no_entry: Sorry, only internal users are allowed to run `techsupport` commands."
    );
    assert_eq!(scheduled_types(&h.queue).await.len(), 1);
}

async fn unknown_users_are_looked_up_before_refusal(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.slack.respond_with(
        "users.info",
        json!({ "user": { "id": "U0NEWGUEST", "is_restricted": true } }),
    );
    h.mention_as("U0NEWGUEST", "C1", &format!("<@{BOT}> {OOO_STATUS}"))
        .await;
    h.reply("C1", ":no_entry: Sorry, only internal users").await;
    let lookups = h.slack.calls("users.info");
    assert_eq!(lookups.last().unwrap().str("user"), Some("U0NEWGUEST"));

    h.slack
        .respond_with("users.info", json!({ "user": { "id": "U0NEWSTAFF" } }));
    let ts = h
        .mention_as("U0NEWSTAFF", "C2", &format!("<@{BOT}> {OOO_STATUS}"))
        .await;
    h.wait_reaction("C2", &ts, "eyes").await;
    assert_eq!(
        scheduled_types(&h.queue).await,
        vec!["techsupport_ooo_status"]
    );
    // Found once, remembered.
    let ts = h
        .mention_as("U0NEWSTAFF", "C3", &format!("<@{BOT}> {OOO_STATUS}"))
        .await;
    h.wait_reaction("C3", &ts, "eyes").await;
    assert_eq!(h.slack.calls("users.info").len(), 2);
}

// Each test above that takes a `Mode` runs on Socket Mode and on the Events API over HTTP.
both_modes!(
    restricted_commands_are_for_internal_users_only,
    unknown_users_are_looked_up_before_refusal,
);
