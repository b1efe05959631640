//! Support calls are reposted once, however they reach the bot: heard live, found by the
//! search checker, edited, already reacted to, or failed live. Uses the fake Slack's search.

use bennettbot::slack::api::SlackClient;
use bennettbot::slack::SlackApi;
use bennettbot_test_support::bot_harness::{
    permalink, ts, Harness, Mode, Setup, GENERAL, INTERNAL, TECH,
};
use bennettbot_test_support::both_modes;
use bennettbot_test_support::fake_slack::TOKEN;
use serde_json::{json, Value};

/// A bot that searches for support calls; search finds nothing until a test says otherwise.
async fn searching_bot(mode: Mode) -> Harness {
    let h = Harness::start(Setup {
        mode,
        search: true,
        ..Setup::default()
    })
    .await;
    finds(&h, &[]);
    h
}

/// Makes `search.messages` answer with these messages of #general (ts, text).
fn finds(h: &Harness, messages: &[(&str, &str)]) {
    let matches: Vec<Value> = messages
        .iter()
        .map(|(ts, text)| {
            json!({ "channel": { "id": GENERAL, "name": "general" }, "ts": ts, "text": text,
                    "user": INTERNAL, "permalink": permalink(GENERAL, ts) })
        })
        .collect();
    h.slack.respond_with(
        "search.messages",
        json!({ "messages": { "matches": matches } }),
    );
}

/// A message event in #general with the given ts.
async fn message_at(h: &Harness, ts: &str, text: &str) {
    h.send(
        json!({ "type": "message", "channel": GENERAL, "channel_type": "channel",
                   "user": INTERNAL, "text": text, "ts": ts }),
    )
    .await;
}

async fn a_support_call_heard_live_is_not_reposted_when_search_finds_it(mode: Mode) {
    let h = searching_bot(mode).await;
    let text = "tech-support: the printer is on fire";
    let ts = h.message(json!({ "channel": GENERAL, "text": text })).await;
    h.reply(TECH, &permalink(GENERAL, &ts)).await;
    // Search results lag behind reactions: the call is found although it has its reaction.
    finds(&h, &[(&ts, text)]);
    h.searched().await;
    assert_eq!(h.slack.texts_in(TECH), vec![permalink(GENERAL, &ts)]);
    assert_eq!(h.reactions(GENERAL, &ts), vec!["sos"]);
}

async fn editing_a_support_call_does_not_repost_it(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let ts = h
        .message(json!({ "channel": GENERAL, "text": "tech-support: no wifi" }))
        .await;
    h.reply(TECH, &permalink(GENERAL, &ts)).await;
    // Edit events do not reliably carry the message's reactions: this one has none.
    h.message(json!({
        "channel": GENERAL, "subtype": "message_changed", "hidden": true,
        "message": { "type": "message", "user": INTERNAL, "text": "tech-support: no wifi at all", "ts": ts },
        "previous_message": { "type": "message", "user": INTERNAL, "text": "tech-support: no wifi", "ts": ts },
    }))
    .await;
    h.handled_all().await;
    assert_eq!(h.slack.texts_in(TECH), vec![permalink(GENERAL, &ts)]);
}

async fn a_support_call_found_by_search_is_not_reposted_when_heard_live(mode: Mode) {
    let h = searching_bot(mode).await;
    let ts = ts();
    let text = "anyone from tech-support around?";
    finds(&h, &[(&ts, text)]);
    h.reply(TECH, &permalink(GENERAL, &ts)).await;
    // The event arrives late (e.g. after a reconnection), and is edited too.
    message_at(&h, &ts, text).await;
    h.message(json!({
        "channel": GENERAL, "subtype": "message_changed", "hidden": true,
        "message": { "type": "message", "user": INTERNAL, "text": "tech-support, anyone?", "ts": ts },
    }))
    .await;
    h.handled_all().await;
    h.searched().await;
    assert_eq!(h.slack.texts_in(TECH), vec![permalink(GENERAL, &ts)]);
    assert_eq!(h.reactions(GENERAL, &ts), vec!["sos"]);
}

async fn a_support_call_already_reacted_to_is_not_reposted(mode: Mode) {
    let h = searching_bot(mode).await;
    // Reacted to by an earlier run of the bot, which this one does not remember.
    let earlier = SlackClient::new(TOKEN).with_base_url(h.slack.url());
    let (heard, found) = (ts(), ts());
    for ts in [&heard, &found] {
        earlier.add_reaction(GENERAL, ts, "sos").await.unwrap();
    }
    message_at(&h, &heard, "tech-support: still broken").await;
    finds(&h, &[(&found, "tech-support: also broken")]);
    h.handled_all().await;
    h.searched().await;
    assert!(h.posts(TECH).is_empty(), "{:#?}", h.posts(TECH));
    // Each was claimed with a reaction, which Slack said was already there.
    for ts in [&heard, &found] {
        let tried = h
            .slack
            .attempts("reactions.add")
            .into_iter()
            .filter(|c| c.str("timestamp") == Some(ts.as_str()))
            .count();
        assert_eq!(tried, 2, "{ts}");
    }
}

async fn a_support_call_that_failed_live_is_reposted_by_search(mode: Mode) {
    let h = searching_bot(mode).await;
    h.slack.set_outage(true);
    let text = "tech-support: is Slack down?";
    let ts = h.message(json!({ "channel": GENERAL, "text": text })).await;
    h.handled_all().await;
    h.slack.set_outage(false);
    // Neither reacted to nor reposted, so search finds it and the claim was given back.
    finds(&h, &[(&ts, text)]);
    h.reply(TECH, &permalink(GENERAL, &ts)).await;
    h.searched().await;
    assert_eq!(h.slack.texts_in(TECH), vec![permalink(GENERAL, &ts)]);
}

// Each test above that takes a `Mode` runs on Socket Mode and on the Events API over HTTP.
both_modes!(
    a_support_call_heard_live_is_not_reposted_when_search_finds_it,
    editing_a_support_call_does_not_repost_it,
    a_support_call_found_by_search_is_not_reposted_when_heard_live,
    a_support_call_already_reacted_to_is_not_reposted,
    a_support_call_that_failed_live_is_reposted_by_search,
);
