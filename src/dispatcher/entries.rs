//! Where the outbox keeps its reports until Slack has them ([`Entries`]: the queue's database,
//! so they outlive the process and any replica can deliver them), and how a report is written
//! there (a JSON description, and a file's bytes apart).

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::queue::{channel_lease, NewEntry, OutboxEntry, Queue, QueueError};
use crate::slack::{FileUpload, OutgoingMessage, PostedMessage};

/// Something to deliver to a channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// `chat.postMessage`; with `link_in`, a link to the message is then posted there.
    Post {
        message: OutgoingMessage,
        link_in: Option<String>,
    },
    /// A file upload.
    Upload(FileUpload),
    /// `reactions.add`
    React {
        channel: String,
        ts: String,
        name: String,
    },
    /// A link to a posted message (its permalink), posted in `channel`: how tech support is
    /// called to a failure.
    Link { channel: String, to: PostedMessage },
}

impl Report {
    /// The channel it goes to: its lane.
    pub fn channel(&self) -> &str {
        match self {
            Report::Post { message, .. } => &message.channel,
            Report::Upload(upload) => &upload.channel,
            Report::React { channel, .. } | Report::Link { channel, .. } => channel,
        }
    }

    /// What it is, for logs and the `Could not notify slack` note.
    pub fn describe(&self) -> String {
        match self {
            Report::Post { message, .. } => message.text.clone(),
            Report::Upload(upload) => format!(
                "file {} ({} bytes){}",
                upload.filename,
                upload.content.len(),
                upload
                    .initial_comment
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ),
            Report::React { channel, ts, name } => {
                format!("reaction :{name}: on message {ts} in {channel}")
            }
            Report::Link { to, .. } => format!("link to message {} in {}", to.ts, to.channel),
        }
    }
}

/// A report as the outbox table keeps it (without a file's bytes, which have a column).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Stored {
    Post {
        channel: String,
        thread_ts: Option<String>,
        text: String,
        blocks: Option<serde_json::Value>,
        link_in: Option<String>,
    },
    Upload {
        channel: String,
        thread_ts: Option<String>,
        filename: String,
        title: String,
        initial_comment: Option<String>,
    },
    React {
        channel: String,
        ts: String,
        name: String,
    },
    Link {
        channel: String,
        message_channel: String,
        ts: String,
    },
}

/// `report` as the outbox keeps it (a file's bytes moved, not copied).
pub fn encode(report: Report) -> NewEntry {
    let channel = report.channel().to_string();
    let (stored, content) = match report {
        Report::Post { message, link_in } => (
            Stored::Post {
                channel: message.channel,
                thread_ts: message.thread_ts,
                text: message.text,
                blocks: message.blocks,
                link_in,
            },
            None,
        ),
        Report::Upload(u) => (
            Stored::Upload {
                channel: u.channel,
                thread_ts: u.thread_ts,
                filename: u.filename,
                title: u.title,
                initial_comment: u.initial_comment,
            },
            Some(u.content),
        ),
        Report::React { channel, ts, name } => (Stored::React { channel, ts, name }, None),
        Report::Link { channel, to } => (
            Stored::Link {
                channel,
                message_channel: to.channel,
                ts: to.ts,
            },
            None,
        ),
    };
    let report = serde_json::to_string(&stored).expect("a report is plain data");
    NewEntry {
        channel,
        report,
        content,
    }
}

/// The report an outbox entry holds (its description `report`, and a file's bytes
/// `content`), or why it cannot be read.
pub fn decode(report: &str, content: Option<Vec<u8>>) -> Result<Report, serde_json::Error> {
    Ok(match serde_json::from_str(report)? {
        Stored::Post {
            channel,
            thread_ts,
            text,
            blocks,
            link_in,
        } => Report::Post {
            message: OutgoingMessage {
                channel,
                thread_ts,
                text,
                blocks,
            },
            link_in,
        },
        Stored::Upload {
            channel,
            thread_ts,
            filename,
            title,
            initial_comment,
        } => Report::Upload(FileUpload {
            channel,
            thread_ts,
            filename,
            title,
            content: content.unwrap_or_default(),
            initial_comment,
        }),
        Stored::React { channel, ts, name } => Report::React { channel, ts, name },
        Stored::Link {
            channel,
            message_channel,
            ts,
        } => Report::Link {
            channel,
            to: PostedMessage {
                channel: message_channel,
                ts,
            },
        },
    })
}

/// Where outbox entries are kept, and the per-channel lease that lets one process at a time
/// deliver a channel's entries. The queue in production; memory in unit tests.
pub trait Entries: Send + Sync + 'static {
    /// Adds an entry; returns its id.
    fn add(&self, entry: NewEntry) -> impl Future<Output = Result<i64, QueueError>> + Send;

    /// `channel`'s first entry still to deliver.
    fn next(
        &self,
        channel: &str,
    ) -> impl Future<Output = Result<Option<OutboxEntry>, QueueError>> + Send;

    /// Deletes delivered entry `id` and adds `then`, at once; returns `then`'s id.
    fn settle(
        &self,
        id: i64,
        then: Option<NewEntry>,
    ) -> impl Future<Output = Result<Option<i64>, QueueError>> + Send;

    /// Keeps entry `id` marked as refused for good and adds `note`, at once.
    fn fail(
        &self,
        id: i64,
        failure: &str,
        note: Option<NewEntry>,
    ) -> impl Future<Output = Result<Option<i64>, QueueError>> + Send;

    /// Channels with entries to deliver.
    fn channels(&self) -> impl Future<Output = Result<Vec<String>, QueueError>> + Send;

    /// Takes or renews `channel`'s delivery lease for `owner`: `true` if `owner` holds it.
    fn hold(
        &self,
        channel: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send;

    /// Gives up `channel`'s delivery lease if `owner` holds it.
    fn release(
        &self,
        channel: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

impl Entries for Queue {
    async fn add(&self, entry: NewEntry) -> Result<i64, QueueError> {
        self.add_outbox(entry).await
    }

    async fn next(&self, channel: &str) -> Result<Option<OutboxEntry>, QueueError> {
        self.next_outbox(channel).await
    }

    async fn settle(&self, id: i64, then: Option<NewEntry>) -> Result<Option<i64>, QueueError> {
        self.settle_outbox(id, then).await
    }

    async fn fail(
        &self,
        id: i64,
        failure: &str,
        note: Option<NewEntry>,
    ) -> Result<Option<i64>, QueueError> {
        self.fail_outbox(id, failure, note).await
    }

    async fn channels(&self) -> Result<Vec<String>, QueueError> {
        self.outbox_channels().await
    }

    async fn hold(&self, channel: &str, owner: &str, ttl: Duration) -> Result<bool, QueueError> {
        self.hold_lease(&channel_lease(channel), owner, Utc::now(), ttl)
            .await
    }

    async fn release(&self, channel: &str, owner: &str) -> Result<(), QueueError> {
        self.release_lease(&channel_lease(channel), owner).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(report: Report) {
        let entry = encode(report.clone());
        assert_eq!(entry.channel, report.channel());
        assert_eq!(decode(&entry.report, entry.content).unwrap(), report);
    }

    #[test]
    fn every_kind_of_report_reads_back_as_written() {
        roundtrip(Report::Post {
            message: OutgoingMessage {
                channel: "C1".into(),
                thread_ts: Some("1.2".into()),
                text: "done <!here>".into(),
                blocks: Some(serde_json::json!([{"type": "divider"}])),
            },
            link_in: Some("C0TECH".into()),
        });
        roundtrip(Report::Upload(FileUpload {
            channel: "C1".into(),
            thread_ts: None,
            filename: "out.txt".into(),
            title: "output".into(),
            content: vec![0, 159, 146, 150, 255],
            initial_comment: Some("here".into()),
        }));
        roundtrip(Report::React {
            channel: "C1".into(),
            ts: "1.2".into(),
            name: "x".into(),
        });
        roundtrip(Report::Link {
            channel: "C0TECH".into(),
            to: PostedMessage {
                channel: "C1".into(),
                ts: "1.3".into(),
            },
        });
    }
}
