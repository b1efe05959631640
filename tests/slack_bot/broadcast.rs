//! Nothing bennettbot posts notifies a whole channel or user group unless a job is allowed to:
//! every broadcast form, entered as a real mention (Slack sends `<!here>`) or typed as text
//! (Slack sends `&lt;!here&gt;`, which the bot unescapes), reaches the job verbatim and comes
//! back as text in text, code, blocks and file reports, and in the bot's own replies. Runs the
//! bot with a dispatcher against the fake Slack, in both modes.

use bennettbot_test_support::bot_harness::{Harness, Mode, Setup, BOT, GENERAL};
use bennettbot_test_support::both_modes;
use bennettbot_test_support::fake_slack::{Call, UploadedFile};
use bennettbot_test_support::wait::WAIT;
use regex::Regex;
use serde_json::Value;

/// Every form of a broadcast as it arrives in a message's text when entered as a real
/// mention: Slack's special commands, with and without labels.
const FORMS: [&str; 8] = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0DEVS>",
    "<!here|here>",
    "<!channel|channel>",
    "<!everyone|everyone>",
    "<!subteam^S0DEVS|@devs>",
];

/// All forms, as a job gets them (and as a real mention sends them).
fn verbatim() -> String {
    FORMS.join(" ")
}

/// All forms as Slack sends them when typed as text: `<` and `>` escaped.
fn typed() -> String {
    verbatim().replace('<', "&lt;").replace('>', "&gt;")
}

/// All forms as they must be posted: as text, brackets escaped.
fn harmless() -> String {
    typed()
}

/// A broadcast Slack would act on: `<!` and a broadcast command.
fn broadcast() -> Regex {
    Regex::new(r"(?i)<!(channel|here|everyone|group|subteam)").unwrap()
}

/// Every string in `value` (a call's parameters).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => {
            // Form and JSON parameters: blocks arrive as JSON text.
            match serde_json::from_str::<Value>(s) {
                Ok(inner @ (Value::Array(_) | Value::Object(_))) => strings(&inner),
                _ => vec![s.clone()],
            }
        }
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(fields) => fields.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Panics if any post, upload title or comment to `channel` could notify.
fn assert_harmless(calls: &[Call], channel: &str) {
    let broadcast = broadcast();
    for call in calls {
        let to = call.str("channel").or(call.str("channel_id"));
        if to != Some(channel) {
            continue;
        }
        for s in strings(&call.params) {
            assert!(
                !broadcast.is_match(&s),
                "{} to {channel} could notify: {s:?}",
                call.method
            );
        }
    }
}

/// The file uploaded to `channel`, once there is one.
async fn file_in(h: &Harness, channel: &str) -> UploadedFile {
    h.slack
        .wait_until(&format!("a file in {channel}"), WAIT, |slack| {
            slack
                .files()
                .into_iter()
                .find(|f| f.channel_id.as_deref() == Some(channel))
        })
        .await
}

async fn every_broadcast_form_is_posted_as_text_in_every_report_format(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let dispatcher = h.start_dispatcher(&[]);
    // Real mentions, then the same typed as text: both reach the job as the same parameter,
    // so the second runs once the first is done (a pending job with the same arguments
    // would be merged with it).
    for (entry, text) in [("REAL", verbatim()), ("TYPED", typed())] {
        let channel = |format: &str| format!("C0{format}{entry}");
        h.mention(&channel("TEXT"), &format!("test hello {text}"))
            .await;
        h.mention(&channel("CODE"), &format!("test echo code {text}"))
            .await;
        h.mention(&channel("BLOCKS"), &format!("test echo blocks {text}"))
            .await;
        h.mention(&channel("FILE"), &format!("test echo file {text}"))
            .await;

        let safe = harmless();
        let text_report = h.reply(&channel("TEXT"), "Hello").await;
        assert_eq!(
            text_report.str("text"),
            Some(format!("Hello {safe}\n").as_str())
        );
        let code = h.reply(&channel("CODE"), "```").await;
        assert_eq!(code.str("text"), Some(format!("```\n{safe}\n```").as_str()));
        let blocks = h.reply(&channel("BLOCKS"), "Output of command").await;
        let posted = strings(&blocks.params);
        assert!(
            posted.iter().filter(|s| **s == safe).count() >= 5,
            "header, section, field, context and rich text all show the text: {posted:?}"
        );
        // A file's content is shown as a file, never read for mentions: it is what the job
        // printed, verbatim; its name, title and comment are text Slack reads, and safe.
        let file = file_in(&h, &channel("FILE")).await;
        assert_eq!(
            String::from_utf8(file.content).unwrap(),
            format!("{}\n", verbatim()),
            "the job got the parameter verbatim"
        );
        for format in ["TEXT", "CODE", "BLOCKS", "FILE"] {
            assert_harmless(&h.slack.all_calls(), &channel(format));
        }
    }
    dispatcher.stop().await;
}

async fn a_job_allowed_to_broadcast_notifies_the_channel(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let dispatcher = h.start_dispatcher(&[]);
    h.mention(GENERAL, "test announce").await;
    let announcement = h.reply(GENERAL, "test announcement").await;
    assert_eq!(
        announcement.str("text"),
        Some("<!here> This is a test announcement from bennettbot.\n")
    );
    dispatcher.stop().await;
}

async fn the_bots_replies_never_echo_a_broadcast(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    // Any command now fails unexpectedly, and the reply quotes the message it answers.
    let db = rusqlite::Connection::open(h.dir.path().join("bennettbot.db")).unwrap();
    db.execute_batch("DROP TABLE job").unwrap();
    for (channel, text) in [("C0REAL", verbatim()), ("C0TYPED", typed())] {
        h.mention(channel, &format!("test hello {text}")).await;
        let reply = h.reply(channel, "Unexpected error").await;
        let shown = reply.str("text").unwrap();
        assert!(
            shown.ends_with(&format!(
                "while responding to message `<@{BOT}> test hello {}`",
                harmless()
            )),
            "{shown}"
        );
        assert_harmless(&h.slack.all_calls(), channel);
    }
}

both_modes!(
    every_broadcast_form_is_posted_as_text_in_every_report_format,
    a_job_allowed_to_broadcast_notifies_the_channel,
    the_bots_replies_never_echo_a_broadcast,
);
