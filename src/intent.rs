//! What a message asks for, independent of where it came from (Slack, the shell, `explain`).

use crate::config::{Command, Config, NamespaceSpec};

/// Normalises message text as users expect: trim, drop one trailing `.`, collapse whitespace.
pub fn normalise(text: &str) -> String {
    let collapsed = bennettbot_pattern::collapse_whitespace(text);
    let trimmed = collapsed.strip_suffix('.').unwrap_or(&collapsed);
    trimmed.trim_end().to_string()
}

/// What a normalised message asks for, checked in the order users rely on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// `status`
    Status,
    /// `remove job id <N>`
    RemoveJob(i64),
    /// A compiled command.
    Command(Command),
    /// `<ns> help` or `help <ns>`.
    NamespaceHelp(&'static NamespaceSpec),
    /// `help`, or anything not understood (`understood == false`).
    Help { understood: bool },
}

/// Works out what normalised `text` asks for.
pub fn understand(config: &'static Config, text: &str) -> Intent {
    if text == "status" {
        return Intent::Status;
    }
    if let Some(id) = text.strip_prefix("remove job id ") {
        if let Ok(id) = id.parse::<i64>() {
            return Intent::RemoveJob(id);
        }
    }
    if let Some(cmd) = Command::parse(text) {
        return Intent::Command(cmd);
    }
    let ns_name = text
        .strip_suffix(" help")
        .or_else(|| text.strip_prefix("help "));
    if let Some(ns) = ns_name.and_then(|n| config.namespace(n)) {
        return Intent::NamespaceHelp(ns);
    }
    Intent::Help {
        understood: text == "help",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;

    #[test]
    fn normalises_spacing_and_one_trailing_dot() {
        assert_eq!(normalise("  test   hello  Bob. "), "test hello Bob");
        assert_eq!(normalise("status.."), "status.");
        assert_eq!(normalise("\ttest\nhello"), "test hello");
    }

    #[test]
    fn built_ins_come_in_order() {
        assert_eq!(understand(&CONFIG, "status"), Intent::Status);
        assert_eq!(
            understand(&CONFIG, "remove job id 12"),
            Intent::RemoveJob(12)
        );
        assert!(
            matches!(understand(&CONFIG, "test help"), Intent::NamespaceHelp(ns) if ns.name == "test")
        );
        assert!(
            matches!(understand(&CONFIG, "help test"), Intent::NamespaceHelp(ns) if ns.name == "test")
        );
        assert_eq!(
            understand(&CONFIG, "help"),
            Intent::Help { understood: true }
        );
        assert_eq!(
            understand(&CONFIG, "test help me"),
            Intent::Help { understood: false }
        );
        assert_eq!(
            understand(&CONFIG, "remove job id x"),
            Intent::Help { understood: false }
        );
        assert!(matches!(
            understand(&CONFIG, "test hello Bob"),
            Intent::Command(_)
        ));
    }
}
