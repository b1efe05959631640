//! "Did you mean ...?": the commands nearest to text that matched nothing.

use super::spec::{CommandSpec, Config};

/// The longest text compared with the commands. Comparing costs time in proportion to the
/// text's length, on the threads that also ack Slack's envelopes (a 100 kB message took a
/// second per reply), and a message this long is no mistyped command.
pub const MAX_COMPARED_CHARS: usize = 1_000;

/// Up to `limit` commands most like `text`, best first; none for a text longer than
/// [`MAX_COMPARED_CHARS`].
pub fn nearest(config: &Config, text: &str, limit: usize) -> Vec<&'static CommandSpec> {
    if text.chars().nth(MAX_COMPARED_CHARS).is_some() {
        return Vec::new();
    }
    let all: &'static [CommandSpec] = config.commands;
    let mut scored: Vec<(f64, &'static CommandSpec)> = all
        .iter()
        .map(|c| (score(text, c), c))
        .filter(|(s, _)| *s >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.usage.cmp(b.1.usage)));
    scored.into_iter().take(limit).map(|(_, c)| c).collect()
}

/// Similarity of `text` to a command: the better of the whole usage and its literal start, so
/// that `test helo Bob` is close to `test hello [name]`.
fn score(text: &str, cmd: &CommandSpec) -> f64 {
    let literal_start = cmd.usage.split('[').next().unwrap_or(cmd.usage).trim_end();
    let words = literal_start.split(' ').count();
    let text_start: String = text.split(' ').take(words).collect::<Vec<_>>().join(" ");
    let similarity =
        strsim::jaro_winkler(text, cmd.usage).max(strsim::jaro_winkler(&text_start, literal_start));
    // A command without parameters cannot take extra words: prefer ones whose shape fits.
    let fits = !cmd.params.is_empty() || text.split(' ').count() == cmd.usage.split(' ').count();
    if fits {
        similarity
    } else {
        similarity * 0.9
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;

    fn usages(text: &str) -> Vec<&'static str> {
        nearest(&CONFIG, text, 3).iter().map(|c| c.usage).collect()
    }

    #[test]
    fn typos_suggest_the_command_whose_shape_fits() {
        assert_eq!(usages("test helo Bob")[0], "test hello [name]");
        assert_eq!(usages("test helo")[0], "test hello");
        assert_eq!(
            usages("showlogs tail eror x/1")[0],
            "showlogs tail error [log_dir]"
        );
    }

    #[test]
    fn nonsense_suggests_nothing() {
        assert!(usages("zzzz qqqq").is_empty());
    }

    #[test]
    fn texts_past_the_limit_suggest_nothing() {
        let at_limit = format!("test helo {}", "x".repeat(MAX_COMPARED_CHARS - 10));
        assert_eq!(at_limit.chars().count(), MAX_COMPARED_CHARS);
        assert_eq!(usages(&at_limit)[0], "test hello [name]");
        assert!(usages(&format!("{at_limit}x")).is_empty());
    }
}
