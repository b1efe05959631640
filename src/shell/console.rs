//! The local shell's stand-in for Slack: every Web API call becomes text on the terminal.

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
