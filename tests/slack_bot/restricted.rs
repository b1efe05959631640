//! Restricted namespaces: commands kept for internal users, users looked up before refusal,
//! and what is known of a user trusted only for the cache's lifetime.
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

async fn a_member_made_a_guest_loses_restricted_rights_within_the_cache_lifetime(mode: Mode) {
    let mut setup = Setup::mode(mode);
    setup
        .env
        .push(("INTERNAL_USERS_TTL_SECONDS", "1".to_string()));
    let h = Harness::start(setup).await;
    // Slack says a member, should the bot ask (on a machine slow enough for the lifetime to
    // pass before the first command).
    h.slack
        .respond_with("users.info", json!({ "user": { "id": INTERNAL } }));
    let ts = h
        .mention_as(INTERNAL, GENERAL, &format!("<@{BOT}> {OOO_STATUS}"))
        .await;
    h.wait_reaction(GENERAL, &ts, "eyes").await;

    // Made a guest in Slack; the bot learns it once what it knew has expired. The wait is the
    // condition under test: the cache's lifetime passing.
    h.slack.respond_with(
        "users.info",
        json!({ "user": { "id": INTERNAL, "is_restricted": true } }),
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    h.mention_as(INTERNAL, "C1", &format!("<@{BOT}> {OOO_STATUS}"))
        .await;
    let reply = h.reply("C1", "Sorry").await;
    assert_eq!(
        reply.str("text").unwrap(),
        ":no_entry: Sorry, only internal users are allowed to run `techsupport` commands."
    );
    let lookups = h.slack.calls("users.info");
    assert_eq!(lookups.last().unwrap().str("user"), Some(INTERNAL));
    assert_eq!(scheduled_types(&h.queue).await.len(), 1);
}

async fn a_guest_is_looked_up_at_most_once_per_cache_lifetime(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    // A guest listed at start-up is known: refused without a lookup, however often they try.
    for channel in ["C1", "C2"] {
        h.mention_as(GUEST, channel, &format!("<@{BOT}> {OOO_STATUS}"))
            .await;
        h.reply(channel, ":no_entry: Sorry, only internal users")
            .await;
    }
    assert!(h.slack.calls("users.info").is_empty());

    // A guest who joined later costs one lookup, then is remembered as a guest.
    h.slack.respond_with(
        "users.info",
        json!({ "user": { "id": "U0NEWGUEST", "is_restricted": true } }),
    );
    for channel in ["C3", "C4"] {
        h.mention_as("U0NEWGUEST", channel, &format!("<@{BOT}> {OOO_STATUS}"))
            .await;
        h.reply(channel, ":no_entry: Sorry, only internal users")
            .await;
    }
    assert_eq!(h.slack.calls("users.info").len(), 1);
    assert!(scheduled_types(&h.queue).await.is_empty());
}

// Each test above that takes a `Mode` runs on Socket Mode and on the Events API over HTTP.
both_modes!(
    restricted_commands_are_for_internal_users_only,
    unknown_users_are_looked_up_before_refusal,
    a_member_made_a_guest_loses_restricted_rights_within_the_cache_lifetime,
    a_guest_is_looked_up_at_most_once_per_cache_lifetime,
);
