//! Support calls: keywords that react and repost to the support channels, edits, ignored
//! sources, out-of-office replies, the search checker. Uses the fake Slack (with search).

use bennettbot::config::CONFIG;
use bennettbot_test_support::bot_harness::{
    default_workspace, permalink, ts, Harness, Mode, Setup, ADMINS, BOT, DM, GENERAL, INTERNAL,
    TECH,
};
use bennettbot_test_support::both_modes;
use bennettbot_test_support::fake_slack::FakeSlack;
use bennettbot_test_support::fake_socket::FakeSocket;
use bennettbot_test_support::wait::WAIT;
use chrono::{Days, Utc};
use serde_json::{json, Value};

async fn a_support_keyword_reacts_and_reposts(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let ts = h
        .message(json!({ "channel": GENERAL, "text": "My laptop is broken, Tech-Support!" }))
        .await;
    h.reply(TECH, &permalink(GENERAL, &ts)).await;
    assert_eq!(h.reactions(GENERAL, &ts), vec!["sos"]);
    assert!(h.posts(GENERAL).is_empty(), "in office: no reply");

    let ts = h
        .message(json!({ "channel": "G0PRIVATE", "channel_type": "group", "text": "bennet-admins: new starter" }))
        .await;
    h.reply(ADMINS, &permalink("G0PRIVATE", &ts)).await;
    assert_eq!(h.reactions("G0PRIVATE", &ts), vec!["flamingo"]);
}

async fn edited_messages_call_support_once(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let original = ts();
    h.message(json!({
        "channel": GENERAL, "subtype": "message_changed", "hidden": true,
        "message": { "type": "message", "user": INTERNAL, "text": "ping bennett-admins", "ts": original },
        "previous_message": { "type": "message", "user": INTERNAL, "text": "ping", "ts": original },
    }))
    .await;
    h.reply(ADMINS, &permalink(GENERAL, &original)).await;
    assert_eq!(h.reactions(GENERAL, &original), vec!["flamingo"]);

    // Edited again: it already has the reaction, so nothing happens.
    h.message(json!({
        "channel": GENERAL, "subtype": "message_changed", "hidden": true,
        "message": { "type": "message", "user": INTERNAL, "text": "ping bennett-admins again",
                     "ts": original, "reactions": [{ "name": "flamingo", "count": 1, "users": [BOT] }] },
    }))
    .await;
    h.handled_all().await;
    assert_eq!(h.posts(ADMINS).len(), 1);
    assert_eq!(h.reactions(GENERAL, &original).len(), 1);
}

async fn support_calls_are_ignored_in_the_support_channel_from_bots_and_in_other_subtypes(
    mode: Mode,
) {
    let h = Harness::start(Setup::mode(mode)).await;
    let in_channel = h
        .message(json!({ "channel": TECH, "text": "tech-support rota" }))
        .await;
    let from_bot = h
        .message(
            json!({ "channel": GENERAL, "text": "tech-support: job failed", "bot_id": "B0OTHER" }),
        )
        .await;
    let joined = h
        .message(
            json!({ "channel": GENERAL, "text": "tech-support joined", "subtype": "channel_join" }),
        )
        .await;
    let in_url = h
        .message(json!({ "channel": GENERAL, "text": "see <https://example.org/tech-support>" }))
        .await;
    h.handled_all().await;
    for (channel, ts) in [
        (TECH, &in_channel),
        (GENERAL, &from_bot),
        (GENERAL, &joined),
        (GENERAL, &in_url),
    ] {
        assert!(h.reactions(channel, ts).is_empty(), "{channel}/{ts}");
    }
    assert!(h.posts(TECH).is_empty());
}

async fn support_cannot_be_called_from_a_dm(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let ts = h
        .message(json!({ "channel": DM, "channel_type": "im", "text": "tech-support please" }))
        .await;
    let reply = h.reply(DM, "Sorry").await;
    assert_eq!(
        reply.str("text").unwrap(),
        "Sorry, I can't call tech-support from this conversation."
    );
    assert!(h.reactions(DM, &ts).is_empty());
    assert!(h.posts(TECH).is_empty());
}

async fn a_mention_with_a_support_keyword_is_a_support_call(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let ts = ts();
    let text = format!("<@{BOT}> tech-support my build is red");
    // Slack sends both events for a mention in a channel.
    h.send(json!({ "type": "app_mention", "user": INTERNAL, "text": text, "ts": ts, "channel": GENERAL }))
        .await;
    h.send(json!({ "type": "message", "channel_type": "channel", "user": INTERNAL, "text": text, "ts": ts, "channel": GENERAL }))
        .await;
    h.reply(TECH, &permalink(GENERAL, &ts)).await;
    h.handled_all().await;
    assert_eq!(h.reactions(GENERAL, &ts), vec!["sos"]);
    assert!(
        h.posts(GENERAL)
            .iter()
            .all(|c| !c.str("text").unwrap().contains("didn't understand")),
        "not handled as a command"
    );
}

async fn out_of_office_support_calls_get_a_reply_in_thread(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let today = Utc::now().date_naive();
    let end = today.checked_add_days(Days::new(3)).unwrap();
    std::fs::write(
        h.dir.path().join("techsupport_ooo.json"),
        json!({ "start": today.checked_sub_days(Days::new(1)).unwrap().to_string(), "end": end.to_string() })
            .to_string(),
    )
    .unwrap();
    let ts = h
        .message(json!({ "channel": GENERAL, "text": "tech-support?" }))
        .await;
    let reply = h.reply(GENERAL, "out of office").await;
    assert_eq!(
        reply.str("text").unwrap(),
        format!("tech-support is currently out of office and will respond after {end}")
    );
    assert_eq!(reply.str("thread_ts"), Some(ts.as_str()));
    h.reply(TECH, &permalink(GENERAL, &ts)).await;
    assert_eq!(h.reactions(GENERAL, &ts), vec!["sos"]);
}

async fn out_of_office_replies_to_an_edited_thread_reply_go_to_its_thread(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let end = Utc::now()
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap();
    std::fs::write(
        h.dir.path().join("techsupport_ooo.json"),
        json!({ "start": "2020-01-01", "end": end.to_string() }).to_string(),
    )
    .unwrap();
    let (parent, reply) = (ts(), ts());
    h.message(json!({
        "channel": GENERAL, "subtype": "message_changed", "hidden": true,
        "message": { "type": "message", "user": INTERNAL, "text": "tech-support please",
                     "ts": reply, "thread_ts": parent },
    }))
    .await;
    let answer = h.reply(GENERAL, "out of office").await;
    assert_eq!(answer.str("thread_ts"), Some(parent.as_str()));
    assert_eq!(h.reactions(GENERAL, &reply), vec!["sos"]);
}

#[tokio::test]
async fn the_search_checker_reposts_missed_support_calls_once() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    default_workspace(&slack, &socket);
    let hit = |channel: Value, ts: &str, text: &str, user: &str| {
        json!({ "channel": channel, "ts": ts, "text": text, "user": user,
                "permalink": format!("https://fake.slack.com/archives/x/p{}", ts.replace('.', "")) })
    };
    let general = json!({ "id": GENERAL, "name": "general" });
    slack.respond_with(
        "search.messages",
        json!({ "messages": { "matches": [
            hit(general.clone(), "1.000001", "missed tech-support call", INTERNAL),
            hit(general.clone(), "1.000002", "tech-supportive words", INTERNAL),
            hit(json!({ "id": TECH, "name": "tech-support" }), "1.000003", "tech-support", INTERNAL),
            hit(general.clone(), "1.000004", "tech-support", BOT),
            hit(json!({ "id": DM, "name": INTERNAL, "is_im": true }), "1.000005", "tech-support", INTERNAL),
        ] } }),
    );
    let h = Harness::start_with(
        slack,
        socket,
        Setup {
            search: true,
            ..Setup::default()
        },
    )
    .await;
    // Several rounds over every keyword of every rule.
    let keywords: usize = CONFIG.support.iter().map(|r| r.keywords.len()).sum();
    let searches = h
        .slack
        .wait_for("search.messages", keywords * 3, WAIT)
        .await;
    let query = searches[0].str("query").unwrap();
    assert!(query.contains("\"tech-support\""), "{query}");
    assert!(query.contains("-has::sos:"), "{query}");
    assert!(query.contains("-in:#tech-support"), "{query}");
    assert!(query.contains("after:"), "{query}");
    // The same hits come back for bennett-admins keywords too, but only tech-support's match.
    let reacted: Vec<(String, String)> = h
        .slack
        .calls("reactions.add")
        .iter()
        .map(|c| {
            (
                c.str("timestamp").unwrap().to_string(),
                c.str("name").unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reacted, vec![("1.000001".to_string(), "sos".to_string())]);
    assert_eq!(h.posts(TECH).len(), 1);
    assert_eq!(
        h.posts(TECH)[0].str("text"),
        Some("https://fake.slack.com/archives/x/p1000001")
    );
}

// Each test above that takes a `Mode` runs on Socket Mode and on the Events API over HTTP.
both_modes!(
    a_support_keyword_reacts_and_reposts,
    edited_messages_call_support_once,
    support_calls_are_ignored_in_the_support_channel_from_bots_and_in_other_subtypes,
    support_cannot_be_called_from_a_dm,
    a_mention_with_a_support_keyword_is_a_support_call,
    out_of_office_support_calls_get_a_reply_in_thread,
    out_of_office_replies_to_an_edited_thread_reply_go_to_its_thread,
);
