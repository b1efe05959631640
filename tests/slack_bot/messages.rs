//! Understanding messages: mentions written the ways users write them, DMs, help, suggestions,
//! threads. Uses the fake Slack, and the fake socket or signed HTTP events (both modes).

use bennettbot_test_support::bot_harness::{ts, Harness, Mode, Setup, BOT, DM, GENERAL, INTERNAL};
use bennettbot_test_support::both_modes;
use serde_json::json;

async fn mentions_are_parsed_the_way_users_write_them(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let cases = [
        ("C1", format!("<@{BOT}> status")),
        ("C2", format!("<@{BOT}>    status   ")),
        ("C3", format!("<@{BOT}> status.")),
        ("C4", format!("Reminder: <@{BOT}> status.")),
        ("C5", format!("<@{BOT}>status")),
        ("C6", format!("<@{BOT}|bennettbot> status")),
    ];
    for (channel, text) in &cases {
        h.mention_as(INTERNAL, channel, text).await;
    }
    // Slackbot posts reminders; the bot's own messages are never commands.
    h.mention_as("USLACKBOT", "C8", &format!("Reminder: <@{BOT}> status."))
        .await;
    h.mention_as(BOT, "C9", &format!("<@{BOT}> status")).await;
    for (channel, text) in &cases {
        let reply = h.reply(channel, "The time is").await;
        assert!(
            reply.str("text").unwrap().contains("Nothing is happening"),
            "{text}: {reply:?}"
        );
    }
    h.reply("C8", "Nothing is happening").await;
    h.mention("C7", "test help me").await;
    h.reply("C7", "I'm sorry, I didn't understand you").await;
    h.handled_all().await;
    assert!(
        h.posts("C9").is_empty(),
        "the bot's own message is not answered"
    );
}

async fn direct_messages_work_with_and_without_a_mention(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.message(json!({ "channel": DM, "channel_type": "im", "text": "status" }))
        .await;
    h.reply(DM, "Nothing is happening").await;
    h.message(
        json!({ "channel": "D0DM2", "channel_type": "im", "text": format!("<@{BOT}> status.") }),
    )
    .await;
    h.reply("D0DM2", "Nothing is happening").await;
    // In a DM the text must be the command alone; help there has no `@bot`.
    h.message(json!({ "channel": "D0DM3", "channel_type": "im", "text": "please status" }))
        .await;
    let reply = h.reply("D0DM3", "I'm sorry, I didn't understand you").await;
    assert!(
        !reply.str("text").unwrap().contains("@bennettbot"),
        "{reply:?}"
    );
    // Messages in channels are not commands without a mention, and bots are ignored.
    h.message(json!({ "channel": GENERAL, "text": "status" }))
        .await;
    h.message(
        json!({ "channel": "D0DM4", "channel_type": "im", "text": "status", "bot_id": "B1" }),
    )
    .await;
    h.handled_all().await;
    assert!(h.posts(GENERAL).is_empty());
    assert!(h.posts("D0DM4").is_empty());
}

async fn help_names_the_bot_only_when_mentioned(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.mention(GENERAL, "help").await;
    let text = h
        .reply(GENERAL, "Commands in the following categories")
        .await;
    let text = text.str("text").unwrap();
    assert!(
        text.contains("* `test`: Some commands to test things work"),
        "{text}"
    );
    assert!(text.contains(":lock: `techsupport`"), "{text}");
    assert!(text.contains("Enter `@bennettbot status`"), "{text}");
    h.message(json!({ "channel": DM, "channel_type": "im", "text": "help" }))
        .await;
    let dm = h.reply(DM, "Commands in the following categories").await;
    assert!(dm.str("text").unwrap().contains("Enter `status`"), "{dm:?}");
}

async fn namespace_help_lists_commands_and_marks_restricted_ones(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.mention("C1", "test help").await;
    let test = h.reply("C1", "The following commands are available").await;
    let test = test.str("text").unwrap();
    assert!(
        test.contains("`test hello [name]`: say hello to [name]"),
        "{test}"
    );
    assert!(!test.contains(":lock:"), "{test}");
    h.mention("C2", "help techsupport").await;
    let ts = h.reply("C2", "The following commands are available").await;
    let ts = ts.str("text").unwrap();
    assert!(
        ts.starts_with(":lock: These commands are only available to internal users :lock:"),
        "{ts}"
    );
    assert!(ts.contains("`techsupport out-of-office off`"), "{ts}");
}

async fn not_understood_suggests_near_commands(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.mention(GENERAL, "test helo Bob").await;
    let reply = h.reply(GENERAL, "I'm sorry, I didn't understand you").await;
    let text = reply.str("text").unwrap();
    assert!(text.contains("Did you mean"), "{text}");
    assert!(text.contains("`@bennettbot test hello [name]`"), "{text}");
}

async fn replies_go_to_the_thread_the_message_was_in(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let ts = ts();
    h.send(json!({
        "type": "app_mention", "user": INTERNAL, "text": format!("<@{BOT}> status"),
        "ts": ts, "thread_ts": "1700000000.000001", "channel": GENERAL,
    }))
    .await;
    let reply = h.reply(GENERAL, "The time is").await;
    assert_eq!(reply.str("thread_ts"), Some("1700000000.000001"));
    h.mention("C1", "status").await;
    let reply = h.reply("C1", "The time is").await;
    assert_eq!(reply.str("thread_ts"), None);
}

// Each test above that takes a `Mode` runs on Socket Mode and on the Events API over HTTP.
both_modes!(
    mentions_are_parsed_the_way_users_write_them,
    direct_messages_work_with_and_without_a_mention,
    help_names_the_bot_only_when_mentioned,
    namespace_help_lists_commands_and_marks_restricted_ones,
    not_understood_suggests_near_commands,
    replies_go_to_the_thread_the_message_was_in,
);
