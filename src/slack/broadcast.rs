//! Keeping posts from notifying a whole channel or user group.
//!
//! Slack reads `<!channel>`, `<!here>`, `<!everyone>`, `<!group>` (an old synonym of
//! `<!channel>`) and `<!subteam^ID>`, each also with a label (`<!here|here>`,
//! `<!subteam^S1|@devs>`), as broadcasts in message text, mrkdwn and file comments. Slack's
//! own escaping rule ("Formatting text for app surfaces": `<`, `>` and `&` are control
//! characters, sent as `&lt;`, `&gt;` and `&amp;` when they are meant as text) makes such a
//! sequence plain text: `&lt;!here&gt;` shows as `<!here>` and notifies nobody. So only the
//! brackets of those sequences are escaped; everything else (user mentions, channel links,
//! `<!date^…>`, URLs) is left as it was. In Block Kit, rich text also has `broadcast` and
//! `usergroup` elements, which are turned into text.

use std::borrow::Cow;

use serde_json::Value;

/// The special commands that notify more than the people named (lowercase).
const BROADCASTS: [&str; 5] = ["channel", "here", "everyone", "group", "subteam"];

/// `text` with every broadcast sequence escaped so that Slack shows it as text.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if !text.contains("<!") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find("<!") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        if !is_broadcast(after) {
            out.push_str("<!");
            rest = after;
            continue;
        }
        out.push_str("&lt;!");
        // The sequence ends at its `>`; a `<` first means it has none (the next one starts).
        match after.find(['<', '>']) {
            Some(close) if after.as_bytes()[close] == b'>' => {
                out.push_str(&after[..close]);
                out.push_str("&gt;");
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Whether the text after a `<!` names a broadcast: one of [`BROADCASTS`], in any case, then
/// anything but a letter, digit or `_` (`<!here>`, `<!here|x>`, `<!subteam^S1>`).
fn is_broadcast(after: &str) -> bool {
    let name_len = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    let name = &after[..name_len];
    BROADCASTS.iter().any(|b| b.eq_ignore_ascii_case(name))
}

/// Makes Block Kit JSON (a block, an array of them, or any part) notify nobody: every string
/// in it is [`neutralise`]d, and rich text's `broadcast` and `usergroup` elements become the
/// text `@here`, `@channel`, `@everyone` or `@<group id>`.
pub fn neutralise_blocks(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(safe) = neutralise(s) {
                *s = safe;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(neutralise_blocks),
        Value::Object(fields) => {
            if let Some(text) = rich_text_broadcast(fields) {
                *value = serde_json::json!({ "type": "text", "text": text });
                return;
            }
            fields.values_mut().for_each(neutralise_blocks);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The text a rich text `broadcast` or `usergroup` element stands for, if `fields` is one.
fn rich_text_broadcast(fields: &serde_json::Map<String, Value>) -> Option<String> {
    let field = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or("");
    match field("type") {
        "broadcast" => Some(format!("@{}", field("range"))),
        "usergroup" => Some(format!("@{}", field("usergroup_id"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_broadcast_form_is_escaped() {
        let cases = [
            ("<!channel>", "&lt;!channel&gt;"),
            ("<!here>", "&lt;!here&gt;"),
            ("<!everyone>", "&lt;!everyone&gt;"),
            ("<!group>", "&lt;!group&gt;"),
            ("<!here|here>", "&lt;!here|here&gt;"),
            ("<!channel|channel>", "&lt;!channel|channel&gt;"),
            ("<!everyone|@everyone>", "&lt;!everyone|@everyone&gt;"),
            ("<!subteam^S1>", "&lt;!subteam^S1&gt;"),
            ("<!subteam^S1|@devs>", "&lt;!subteam^S1|@devs&gt;"),
            ("<!HERE>", "&lt;!HERE&gt;"),
        ];
        for (raw, safe) in cases {
            assert_eq!(neutralise(raw), safe, "{raw}");
            let sentence = format!("hey {raw}, look");
            assert_eq!(neutralise(&sentence), format!("hey {safe}, look"));
        }
    }

    #[test]
    fn several_sequences_in_one_text_are_all_escaped() {
        assert_eq!(
            neutralise("<!here> and <!channel>\n```<!subteam^S2|@ops>```"),
            "&lt;!here&gt; and &lt;!channel&gt;\n```&lt;!subteam^S2|@ops&gt;```"
        );
    }

    #[test]
    fn other_markup_is_left_alone() {
        for text in [
            "<@U123> <#C1|general> <https://x.org|x>",
            "<!date^1392734382^{date}|Feb 18>",
            "&lt;!here&gt; already text",
            "<!heres> <!channels> <!", // not broadcasts
            "a < b > c <! here>",
            "",
        ] {
            assert_eq!(neutralise(text), text);
        }
    }

    #[test]
    fn an_unclosed_sequence_loses_its_opening_bracket() {
        assert_eq!(neutralise("<!here"), "&lt;!here");
        assert_eq!(
            neutralise("<!here <!channel>"),
            "&lt;!here &lt;!channel&gt;"
        );
    }

    #[test]
    fn every_string_in_blocks_is_escaped() {
        let mut blocks = json!([
            {"type": "header", "text": {"type": "plain_text", "text": "<!here>"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "hi <!channel|channel>"},
             "fields": [{"type": "mrkdwn", "text": "<!subteam^S1|@devs>"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "<!everyone>"}]},
            {"type": "image", "image_url": "https://x.org/a.png", "alt_text": "<!here>"},
        ]);
        neutralise_blocks(&mut blocks);
        assert_eq!(
            blocks,
            json!([
                {"type": "header", "text": {"type": "plain_text", "text": "&lt;!here&gt;"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "hi &lt;!channel|channel&gt;"},
                 "fields": [{"type": "mrkdwn", "text": "&lt;!subteam^S1|@devs&gt;"}]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "&lt;!everyone&gt;"}]},
                {"type": "image", "image_url": "https://x.org/a.png", "alt_text": "&lt;!here&gt;"},
            ])
        );
    }

    #[test]
    fn rich_text_broadcast_elements_become_text() {
        let mut blocks = json!([{"type": "rich_text", "elements": [
            {"type": "rich_text_section", "elements": [
                {"type": "broadcast", "range": "channel"},
                {"type": "usergroup", "usergroup_id": "S1"},
                {"type": "user", "user_id": "U1"},
                {"type": "text", "text": " <!here>"},
            ]},
        ]}]);
        neutralise_blocks(&mut blocks);
        assert_eq!(
            blocks,
            json!([{"type": "rich_text", "elements": [
                {"type": "rich_text_section", "elements": [
                    {"type": "text", "text": "@channel"},
                    {"type": "text", "text": "@S1"},
                    {"type": "user", "user_id": "U1"},
                    {"type": "text", "text": " &lt;!here&gt;"},
                ]},
            ]}])
        );
    }
}
