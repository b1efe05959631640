//! What the dispatcher tells Slack: the wording users know, and how stdout becomes messages
//! or files. [`super::reporter`] posts them.

use std::path::Path;

use serde_json::Value;

use super::logs::Head;
use crate::config::ReportFormat;
use crate::slack::blocks;
use crate::slack::SlackError;

/// The longest text Slack takes in one message.
pub const MAX_MESSAGE_CHARS: usize = 40_000;
/// The longest code output posted inline (the backticks take the rest of Slack's 4,000).
pub const MAX_CODE_CHARS: usize = 3_990;
/// The most output read into memory, and uploaded.
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;

// Every upload fits in an outbox entry.
const _: () = assert!(MAX_UPLOAD_BYTES <= crate::queue::MAX_ENTRY_CONTENT_BYTES);
/// The most blocks Slack takes in one message.
pub const MAX_BLOCKS_PER_MESSAGE: usize = 50;
/// How much of an undelivered message the `Could not notify slack` note repeats.
pub(crate) const MAX_QUOTED_CHARS: usize = 500;

/// ``Command `<type>` about to start``
pub fn about_to_start(job_type: &str) -> String {
    format!("Command `{job_type}` about to start")
}

/// ``Command `<type>` succeeded``
pub fn succeeded(job_type: &str) -> String {
    format!("Command `{job_type}` succeeded")
}

/// ``No output found for command `<type>` ``
pub fn no_output(job_type: &str) -> String {
    format!("No output found for command `{job_type}`")
}

/// Why a job failed, as the failure report explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    /// A non-zero exit (including `command not found`) or a signal.
    Exit,
    /// Stopped at the job's timeout.
    TimedOut(u64),
    /// It could not be started (the reason follows).
    CouldNotStart(String),
    /// The job's stdout was not a JSON array of blocks (the parse error follows).
    InvalidBlocks(String),
    /// The job's stdout file could not be read (the error follows).
    UnreadableOutput(String),
}

/// Where a job's logs are, for users to read them.
#[derive(Debug, Clone, Copy)]
pub struct LogsHint<'a> {
    /// The folder as the host sees it.
    pub host_path: &'a Path,
    /// `<job_type>/<stamp>`, as `showlogs` takes it.
    pub name: &'a str,
    /// The bot's user name, as users mention it.
    pub app_username: &'a str,
}

impl LogsHint<'_> {
    fn lines(&self) -> String {
        format!(
            "Find logs in {}.\nRead them with `@{} showlogs tail error {}` (or `showlogs tail output`, `showlogs all error`).",
            self.host_path.display(),
            self.app_username,
            self.name
        )
    }
}

/// ``Command `<type>` failed.``, the cause when it says more than the logs, where the logs are,
/// and ``Calling tech-support.`` when asked to.
pub fn failure(
    job_type: &str,
    cause: &FailureCause,
    logs: Option<LogsHint<'_>>,
    calling_tech_support: bool,
) -> String {
    let mut text = format!("Command `{job_type}` failed.");
    match cause {
        FailureCause::Exit => {}
        FailureCause::TimedOut(seconds) => {
            text.push_str(&format!("\nIt timed out after {seconds} s."));
        }
        FailureCause::CouldNotStart(reason) => {
            text.push_str(&format!("\nIt could not start: {reason}"));
        }
        FailureCause::UnreadableOutput(error) => {
            text.push_str(&format!("\nIts output could not be read: {error}"));
        }
        FailureCause::InvalidBlocks(error) => text.push_str(&format!(
            "\nIts output is not a JSON array of Slack blocks ({error}); the raw output is attached."
        )),
    }
    if let Some(logs) = logs {
        text.push('\n');
        text.push_str(&logs.lines());
    }
    if calling_tech_support {
        text.push_str("\nCalling tech-support.");
    }
    text
}

/// ``Command `<type>` was interrupted ...``: the bot stopped while the job ran.
pub fn interrupted(job_type: &str, logs: Option<LogsHint<'_>>) -> String {
    let mut text = format!(
        "Command `{job_type}` was interrupted: the bot stopped while it was running. Run it again if it is still needed."
    );
    if let Some(logs) = logs {
        text.push('\n');
        text.push_str(&logs.lines());
    }
    text
}

/// ``Command `<type>` was stopped: job id [N] removed by <@USER>.``: `remove job id N` on a
/// running job.
pub fn stopped_by_removal(job_type: &str, job_id: i64, by: &str) -> String {
    format!("Command `{job_type}` was stopped: job id [{job_id}] removed by <@{by}>.")
}

/// The end of a job could not be recorded in the queue, so it was released without its
/// history row (or, if even that failed, is still being retried).
pub fn could_not_record_end(job_type: &str, job_id: i64, error: &str, released: bool) -> String {
    if released {
        format!(
            "Could not record the end of job id [{job_id}] (`{job_type}`): {error}. It was removed from the queue without its history entry, so `{job_type}` jobs can run again."
        )
    } else {
        format!(
            "Could not record the end of job id [{job_id}] (`{job_type}`): {error}. Retrying until the queue database answers; `{job_type}` jobs wait until then."
        )
    }
}

/// A queued job that cannot be run (unknown type, bad arguments).
pub fn unrunnable(job_type: &str, error: &str) -> String {
    format!("Command `{job_type}` cannot run: {error}. It has been removed from the queue.")
}

/// ``Could not refresh <url>: <error>``
pub fn could_not_refresh(url: &str, error: &str) -> String {
    format!("Could not refresh {url}: {error}")
}

/// The note posted when a Slack call failed for good.
pub fn could_not_notify(error: &SlackError, original: &str) -> String {
    format!(
        "Could not notify slack: {error}\nOriginal message:\n{}",
        truncate_chars(original, MAX_QUOTED_CHARS)
    )
}

/// The note that goes with output cut short.
pub fn truncated_note(shown: &str, stdout_path: &Path) -> String {
    format!(
        "Output truncated to the first {shown}; the whole output is in {}.",
        stdout_path.display()
    )
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// What a successful job's stdout becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Nothing (blank output).
    Empty,
    /// One message.
    Message(String),
    /// Messages of at most [`MAX_BLOCKS_PER_MESSAGE`] blocks each.
    Blocks(Vec<Vec<Value>>),
    /// The head's bytes as a file (`truncated` when the output was longer than what was
    /// read); the caller moves them out of the head rather than copy up to 5 MB.
    Upload { truncated: bool },
    /// `blocks` output that is not an array of blocks (the parse error).
    InvalidBlocks(String),
}

/// Turns the start of stdout (at most [`MAX_UPLOAD_BYTES`]) into what to post.
pub fn plan_output(format: ReportFormat, head: &Head) -> Output {
    if head.is_blank() && !head.truncated() {
        return Output::Empty;
    }
    let upload = || Output::Upload {
        truncated: head.truncated(),
    };
    match format {
        ReportFormat::File => upload(),
        ReportFormat::Text | ReportFormat::Code => {
            let limit = if format == ReportFormat::Text {
                MAX_MESSAGE_CHARS
            } else {
                MAX_CODE_CHARS
            };
            let text = head.text();
            if head.truncated() || text.chars().count() > limit {
                return upload();
            }
            if format == ReportFormat::Code {
                Output::Message(format!("```\n{}\n```", text.trim_end_matches('\n')))
            } else {
                Output::Message(text)
            }
        }
        ReportFormat::Blocks => {
            if head.truncated() {
                return Output::InvalidBlocks(format!(
                    "it is longer than {MAX_UPLOAD_BYTES} bytes"
                ));
            }
            match parse_blocks(&head.text()) {
                Ok(blocks) if blocks.is_empty() => Output::Empty,
                Ok(blocks) => Output::Blocks(
                    blocks
                        .chunks(MAX_BLOCKS_PER_MESSAGE)
                        .map(<[Value]>::to_vec)
                        .collect(),
                ),
                Err(e) => Output::InvalidBlocks(e),
            }
        }
    }
}

/// Slack blocks, read into slack-morphism's types (see [`crate::slack::blocks`]) and posted as
/// those types write them.
fn parse_blocks(text: &str) -> Result<Vec<Value>, String> {
    let blocks = blocks::parse_blocks(text).map_err(|e| e.to_string())?;
    blocks
        .iter()
        .map(|block| serde_json::to_value(block).map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn head(text: &str) -> Head {
        Head {
            bytes: text.as_bytes().to_vec(),
            total_len: text.len() as u64,
        }
    }

    #[test]
    fn wording_users_know() {
        assert_eq!(
            about_to_start("test_fail"),
            "Command `test_fail` about to start"
        );
        assert_eq!(succeeded("test_fail"), "Command `test_fail` succeeded");
        assert_eq!(
            no_output("test_fail"),
            "No output found for command `test_fail`"
        );
        assert_eq!(
            could_not_refresh("http://x/fab.py", "HTTP 404 Not Found"),
            "Could not refresh http://x/fab.py: HTTP 404 Not Found"
        );
    }

    #[test]
    fn failure_lists_cause_logs_and_tech_support() {
        let hint = LogsHint {
            host_path: Path::new("/srv/logs/test_slow/20261127-213005"),
            name: "test_slow/20261127-213005",
            app_username: "bennettbot",
        };
        assert_eq!(
            failure("test_slow", &FailureCause::TimedOut(60), Some(hint), true),
            "Command `test_slow` failed.\nIt timed out after 60 s.\n\
             Find logs in /srv/logs/test_slow/20261127-213005.\n\
             Read them with `@bennettbot showlogs tail error test_slow/20261127-213005` (or `showlogs tail output`, `showlogs all error`).\n\
             Calling tech-support."
        );
        assert_eq!(
            failure("test_fail", &FailureCause::Exit, None, false),
            "Command `test_fail` failed."
        );
    }

    #[test]
    fn undelivered_messages_are_quoted_short() {
        let error = SlackError::Transport {
            method: "chat.postMessage".into(),
            detail: "HTTP 503 Service Unavailable".into(),
        };
        let note = could_not_notify(&error, &"y".repeat(2_000));
        assert!(note.starts_with(
            "Could not notify slack: Slack API chat.postMessage request failed: HTTP 503 Service Unavailable\nOriginal message:\n"
        ), "{note}");
        assert!(
            note.ends_with(&format!("{}…", "y".repeat(MAX_QUOTED_CHARS))),
            "{note}"
        );
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("hé", 2), "hé");
    }

    #[test]
    fn text_and_code_post_inline_until_their_limits() {
        assert_eq!(
            plan_output(ReportFormat::Text, &head("hi\n")),
            Output::Message("hi\n".into())
        );
        assert_eq!(
            plan_output(ReportFormat::Code, &head("hi\n")),
            Output::Message("```\nhi\n```".into())
        );
        let long_code = "x".repeat(MAX_CODE_CHARS + 1);
        assert!(matches!(
            plan_output(ReportFormat::Code, &head(&long_code)),
            Output::Upload {
                truncated: false,
                ..
            }
        ));
        assert!(matches!(
            plan_output(ReportFormat::Text, &head(&long_code)),
            Output::Message(_)
        ));
        let long_text = "é".repeat(MAX_MESSAGE_CHARS + 1);
        assert!(matches!(
            plan_output(ReportFormat::Text, &head(&long_text)),
            Output::Upload { .. }
        ));
        let exactly = "é".repeat(MAX_MESSAGE_CHARS);
        assert!(matches!(
            plan_output(ReportFormat::Text, &head(&exactly)),
            Output::Message(_)
        ));
    }

    #[test]
    fn blank_output_is_empty_and_file_uploads() {
        assert_eq!(plan_output(ReportFormat::Text, &head(" \n")), Output::Empty);
        assert_eq!(
            plan_output(ReportFormat::Blocks, &head("[]")),
            Output::Empty
        );
        let cut = Head {
            bytes: b"abc".to_vec(),
            total_len: 10,
        };
        assert_eq!(
            plan_output(ReportFormat::File, &cut),
            Output::Upload { truncated: true }
        );
    }

    #[test]
    fn blocks_split_by_fifty_and_bad_blocks_are_named() {
        let blocks: Vec<Value> = (0..120)
            .map(|i| json!({"type": "section", "text": {"type": "mrkdwn", "text": i.to_string()}}))
            .collect();
        let Output::Blocks(messages) = plan_output(
            ReportFormat::Blocks,
            &head(&Value::from(blocks).to_string()),
        ) else {
            panic!("blocks expected");
        };
        assert_eq!(
            messages.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![50, 50, 20]
        );
        assert_eq!(messages[2][0]["text"]["text"], "100");
        assert!(matches!(
            plan_output(ReportFormat::Blocks, &head("not json")),
            Output::InvalidBlocks(_)
        ));
        assert_eq!(
            plan_output(ReportFormat::Blocks, &head("[{\"text\": 1}]")),
            Output::InvalidBlocks("block 0 is not a Slack block: it has no `type`".into())
        );
        let text_without_text =
            r#"[{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn"}}]"#;
        assert_eq!(
            plan_output(ReportFormat::Blocks, &head(text_without_text)),
            Output::InvalidBlocks(
                "block 1 is not a Slack block: not a valid `section` block: missing field `text`"
                    .into()
            )
        );
    }
}
