//! The local shell's terminal: every Web API call becomes text on it (a stand-in for Slack),
//! and piped input is read from it line by line.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc::UnboundedSender;

use crate::slack::{FileUpload, OutgoingMessage, PostedMessage, SlackApi, SlackError};

use super::blocks::render_blocks;

/// The channel id the shell's own conversation uses (a DM with the bot).
pub const SHELL_CHANNEL: &str = "shell";

/// How much of an uploaded file the shell prints before cutting it short.
const MAX_FILE_PRINT: usize = 20_000;

/// Prints what the bot would post. Output goes through a channel so that one printer owns the
/// terminal (the interactive prompt redraws around it).
#[derive(Debug)]
pub struct ConsoleSlack {
    out: UnboundedSender<String>,
    next_ts: AtomicU64,
}

impl ConsoleSlack {
    /// A console that sends each printed block of text to `out`.
    pub fn new(out: UnboundedSender<String>) -> Self {
        ConsoleSlack {
            out,
            next_ts: AtomicU64::new(1),
        }
    }

    fn print(&self, text: String) {
        // The printer only stops when the shell exits; nothing is lost before then.
        let _ = self.out.send(text);
    }

    /// A message ts, unique within this shell run.
    pub fn new_ts(&self) -> String {
        format!("{}.000000", self.next_ts.fetch_add(1, Ordering::Relaxed))
    }

    fn prefix(channel: &str) -> String {
        if channel == SHELL_CHANNEL {
            String::new()
        } else {
            format!("[{channel}] ")
        }
    }
}

/// A line of piped input that is not text: it is answered, and the lines after it still run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("I'm sorry, line {line} is not valid UTF-8 text, so I skipped it")]
pub struct NotUtf8 {
    /// The line's number, from 1.
    pub line: usize,
}

/// Reads `input` to its end, giving `send` each line (without its line ending) until `send`
/// returns false. A read error ends the input like its end does.
pub fn read_lines(mut input: impl BufRead, mut send: impl FnMut(Result<String, NotUtf8>) -> bool) {
    let mut bytes = Vec::new();
    for line in 1.. {
        bytes.clear();
        match input.read_until(b'\n', &mut bytes) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let line = String::from_utf8(text.to_vec()).map_err(|_| NotUtf8 { line });
        if !send(line) {
            return;
        }
    }
}

impl SlackApi for ConsoleSlack {
    async fn post_message(&self, message: OutgoingMessage) -> Result<PostedMessage, SlackError> {
        let body = match &message.blocks {
            Some(blocks) => render_blocks(blocks),
            // Job output ends with a newline; the printer adds its own.
            None => message.text.trim_end_matches('\n').to_string(),
        };
        self.print(format!("{}{body}", Self::prefix(&message.channel)));
        Ok(PostedMessage {
            channel: message.channel,
            ts: self.new_ts(),
        })
    }

    async fn add_reaction(&self, channel: &str, _ts: &str, name: &str) -> Result<(), SlackError> {
        self.print(format!("{}(:{name}:)", Self::prefix(channel)));
        Ok(())
    }

    async fn upload_file(&self, upload: FileUpload) -> Result<(), SlackError> {
        let mut text = format!("{}File {}", Self::prefix(&upload.channel), upload.filename);
        if let Some(comment) = &upload.initial_comment {
            text.push_str(&format!(" ({comment})"));
        }
        text.push_str(":\n");
        let content = String::from_utf8_lossy(&upload.content);
        if content.len() > MAX_FILE_PRINT {
            let cut = (0..=MAX_FILE_PRINT)
                .rev()
                .find(|&i| content.is_char_boundary(i))
                .unwrap_or(0);
            text.push_str(&content[..cut]);
            text.push_str(&format!("\n... ({} bytes in all)", upload.content.len()));
        } else {
            text.push_str(content.trim_end());
        }
        self.print(text);
        Ok(())
    }

    async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        Ok(format!("shell://{channel}/{ts}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_is_not_utf8_is_named_and_reading_goes_on() {
        let mut lines = Vec::new();
        read_lines(&b"one\r\ntw\xff\n\nthree"[..], |line| {
            lines.push(line);
            true
        });
        assert_eq!(
            lines,
            [
                Ok("one".to_string()),
                Err(NotUtf8 { line: 2 }),
                Ok(String::new()),
                Ok("three".to_string()),
            ]
        );
        assert_eq!(
            NotUtf8 { line: 2 }.to_string(),
            "I'm sorry, line 2 is not valid UTF-8 text, so I skipped it"
        );
    }

    #[test]
    fn reading_stops_when_told() {
        let mut count = 0;
        read_lines(&b"a\nb\nc\n"[..], |_| {
            count += 1;
            false
        });
        assert_eq!(count, 1);
    }

    #[tokio::test]
    async fn prints_messages_reactions_and_files() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let console = ConsoleSlack::new(tx);
        let posted = console
            .post_message(OutgoingMessage {
                channel: SHELL_CHANNEL.into(),
                text: "Hello Bob".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(posted.ts, "1.000000");
        console.add_reaction("#logs", "1", "x").await.unwrap();
        console
            .upload_file(FileUpload {
                channel: SHELL_CHANNEL.into(),
                thread_ts: None,
                filename: "out.txt".into(),
                title: "out".into(),
                content: b"line\n".to_vec(),
                initial_comment: None,
            })
            .await
            .unwrap();
        assert_eq!(rx.recv().await.unwrap(), "Hello Bob");
        assert_eq!(rx.recv().await.unwrap(), "[#logs] (:x:)");
        assert_eq!(rx.recv().await.unwrap(), "File out.txt:\nline");
    }
}
