//! Posting the dispatcher's reports so that they survive Slack failing: the [`Reporter`] hands
//! each to the [`Outbox`] and waits as long as a job's bookkeeping should.

use std::sync::Arc;

use tokio::time::Instant;

use super::outbox::{Outbox, Report, Sent};
use crate::slack::{FileUpload, OutgoingMessage, PostedMessage, SlackApi};

/// Posts to Slack through the [`Outbox`]: in order per channel, retried through outages; a
/// report that fails for good is logged and noted in the logs channel, and never stops the
/// job's bookkeeping. Each call returns once its report is delivered, has failed, or its
/// channel is waiting out an outage (then delivery goes on in the background).
pub struct Reporter<S> {
    outbox: Outbox<S>,
    logs_channel: String,
}

impl<S: SlackApi> Reporter<S> {
    /// Reports through `slack`, noting failures in `logs_channel`.
    pub fn new(slack: Arc<S>, logs_channel: String) -> Self {
        Reporter {
            outbox: Outbox::new(slack, logs_channel.clone()),
            logs_channel,
        }
    }

    /// The logs channel.
    pub fn logs_channel(&self) -> &str {
        &self.logs_channel
    }

    /// Posts `text`; `None` unless it is posted already.
    pub async fn post(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Option<PostedMessage> {
        self.post_message(OutgoingMessage {
            channel: channel.to_string(),
            thread_ts: thread_ts.map(str::to_string),
            text: text.to_string(),
            blocks: None,
        })
        .await
    }

    /// Posts a message; `None` unless it is posted already.
    pub async fn post_message(&self, message: OutgoingMessage) -> Option<PostedMessage> {
        let report = Report::Post {
            message,
            link_in: None,
        };
        posted(self.outbox.send(report).await)
    }

    /// Posts `text`, then a link to it in `link_channel` (how tech-support is called), however
    /// long Slack takes; `None` unless it is posted already.
    pub async fn post_linked(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
        link_channel: &str,
    ) -> Option<PostedMessage> {
        let report = Report::Post {
            message: OutgoingMessage {
                channel: channel.to_string(),
                thread_ts: thread_ts.map(str::to_string),
                text: text.to_string(),
                blocks: None,
            },
            link_in: Some(link_channel.to_string()),
        };
        posted(self.outbox.send(report).await)
    }

    /// Uploads a file; `true` once uploaded.
    pub async fn upload(&self, upload: FileUpload) -> bool {
        matches!(
            self.outbox.send(Report::Upload(upload)).await,
            Sent::Delivered(_)
        )
    }

    /// Adds a reaction.
    pub async fn react(&self, channel: &str, ts: &str, name: &str) {
        let report = Report::React {
            channel: channel.to_string(),
            ts: ts.to_string(),
            name: name.to_string(),
        };
        self.outbox.send(report).await;
    }

    /// Delivers what is still queued until `until`, then logs what is left as lost.
    pub async fn drain(&self, until: Instant) {
        self.outbox.drain(until).await;
    }
}

fn posted(sent: Sent) -> Option<PostedMessage> {
    match sent {
        Sent::Delivered(posted) => posted,
        Sent::Failed | Sent::Pending => None,
    }
}
