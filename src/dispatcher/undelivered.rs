//! `bennettbot outbox`: what the outbox holds (reports waiting for Slack, and those it refused
//! for good, kept for inspection), for an operator.

use std::fmt::Write;

use super::entries::decode;
use super::report::{truncate_chars, MAX_QUOTED_CHARS};
use crate::queue::OutboxEntry;

/// The listing of `entries`, oldest first: one entry a paragraph.
pub fn listing(entries: &[OutboxEntry]) -> String {
    if entries.is_empty() {
        return "The outbox is empty: Slack has every report.\n".to_string();
    }
    let refused = entries.iter().filter(|e| e.failure.is_some()).count();
    let mut out = format!(
        "{} report{} not delivered ({} waiting for Slack, {refused} refused by it):\n",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        entries.len() - refused,
    );
    for entry in entries {
        let state = match &entry.failure {
            Some(failure) => format!("refused: {failure}"),
            None => "waiting".to_string(),
        };
        let what = match decode(&entry.report, None) {
            Ok(report) => report.describe(),
            Err(error) => format!("(unreadable entry: {error})"),
        };
        let _ = write!(
            out,
            "\n#{} {} to {} ({state})\n",
            entry.id,
            entry.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            entry.channel,
        );
        for line in truncate_chars(&what, MAX_QUOTED_CHARS).lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::dispatcher::entries::{encode, Report};
    use crate::slack::OutgoingMessage;

    fn entry(id: i64, text: &str, failure: Option<&str>) -> OutboxEntry {
        let report = Report::Post {
            message: OutgoingMessage {
                channel: "C1".into(),
                text: text.into(),
                ..OutgoingMessage::default()
            },
            link_in: None,
        };
        OutboxEntry {
            id,
            channel: "C1".into(),
            report: encode(report).report,
            content: None,
            created_at: Utc.with_ymd_and_hms(2026, 12, 8, 4, 30, 0).unwrap(),
            failure: failure.map(str::to_string),
        }
    }

    #[test]
    fn lists_waiting_and_refused_entries_with_what_they_say() {
        let entries = [
            entry(3, "Command `deploy` failed.\nSee the logs", None),
            entry(
                7,
                "hello",
                Some("Slack API chat.postMessage failed: channel_not_found"),
            ),
        ];
        assert_eq!(
            listing(&entries),
            "2 reports not delivered (1 waiting for Slack, 1 refused by it):\n\
             \n#3 2026-12-08 04:30:00 UTC to C1 (waiting)\n    Command `deploy` failed.\n    See the logs\n\
             \n#7 2026-12-08 04:30:00 UTC to C1 (refused: Slack API chat.postMessage failed: channel_not_found)\n    hello\n"
        );
        assert_eq!(
            listing(&[]),
            "The outbox is empty: Slack has every report.\n"
        );
    }
}
