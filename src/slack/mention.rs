//! The command text of a message addressed to the bot: the text after its mention.

/// Where a mention of `bot_id` (`<@BOTID>` or `<@BOTID|name>`) ends, if the text has one.
fn mention_end(text: &str, bot_id: &str) -> Option<usize> {
    let open = format!("<@{bot_id}");
    let mut from = 0;
    while let Some(found) = text[from..].find(&open) {
        let after = from + found + open.len();
        let rest = &text[after..];
        if rest.starts_with('>') {
            return Some(after + 1);
        }
        // A longer id that merely starts with ours is someone else's mention.
        if rest.starts_with('|') {
            // Without a `>` after this one, no mention can end: stop rather than look again
            // from every later `<@id|` (quadratic in a long text).
            let close = rest.find('>')?;
            return Some(after + close + 1);
        }
        from = after;
    }
    None
}

/// Whether `text` mentions the bot.
pub fn mentions(text: &str, bot_id: &str) -> bool {
    mention_end(text, bot_id).is_some()
}

/// The text after the bot's first mention; text before the mention (e.g. a reminder's
/// `Reminder:`) is ignored. Without a mention, the whole text is the command (DMs).
pub fn command_text<'a>(text: &'a str, bot_id: &str) -> &'a str {
    match mention_end(text, bot_id) {
        Some(end) => &text[end..],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::normalise;

    fn command(text: &str) -> String {
        normalise(command_text(text, "UBOT"))
    }

    #[test]
    fn text_after_the_mention_is_the_command() {
        assert_eq!(command("<@UBOT> test hello Bob"), "test hello Bob");
        assert_eq!(command("<@UBOT>   test   hello  "), "test hello");
        assert_eq!(command("<@UBOT> status."), "status");
        assert_eq!(command("<@UBOT>status"), "status");
        assert_eq!(command("<@UBOT|bennettbot> help"), "help");
    }

    #[test]
    fn text_before_the_mention_is_ignored() {
        assert_eq!(command("Reminder: <@UBOT> test hello."), "test hello");
        assert_eq!(command("hey <@UOTHER> and <@UBOT> status"), "status");
    }

    #[test]
    fn other_users_are_not_the_bot() {
        assert!(!mentions("<@UBOTTOM> status", "UBOT"));
        assert!(mentions("<@UBOTTOM> <@UBOT> status", "UBOT"));
        assert_eq!(command("<@UBOTTOM> <@UBOT> status"), "status");
    }

    #[test]
    fn an_unclosed_mention_is_no_mention() {
        assert!(!mentions("<@UBOT|bennettbot status", "UBOT"));
        let many = "<@UBOT|".repeat(10_000);
        assert_eq!(command_text(&many, "UBOT"), many);
        assert_eq!(command(&format!("{many}> help")), "help");
    }

    #[test]
    fn without_a_mention_the_whole_text_is_the_command() {
        assert_eq!(command("test hello"), "test hello");
        assert!(!mentions("test hello", "UBOT"));
    }
}
