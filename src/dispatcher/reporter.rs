//! Posting the dispatcher's reports so that they survive Slack failing: the [`Reporter`] hands
//! each to the [`Outbox`] and waits as long as a job's bookkeeping should.
//!
//! Every report passes through here, so this is where they are made safe to post: secret
//! values masked ([`SecretMask`]) in all of them, and broadcasts (`<!channel>`, `<!here>`...)
//! made text ([`crate::slack::broadcast`]) unless the report is the output of a job with
//! `allow_broadcast`.

use std::sync::Arc;

use tokio::time::Instant;

use super::entries::Report;
use super::outbox::{Outbox, Sent};
use super::secrets::SecretMask;
use crate::queue::Queue;
use crate::slack::broadcast::{neutralise, neutralise_blocks};
use crate::slack::{FileUpload, OutgoingMessage, PostedMessage, SlackApi};

/// Whether a report may notify a whole channel or user group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// Broadcasts in it are shown as text: every report but the output of a job with
    /// `allow_broadcast`.
    Neutralised,
    /// Broadcasts in it notify: the output of a job with `allow_broadcast = true`.
    Allowed,
}

impl Broadcast {
    /// What a job's `allow_broadcast` allows its output.
    pub fn allowed_if(allow_broadcast: bool) -> Self {
        if allow_broadcast {
            Broadcast::Allowed
        } else {
            Broadcast::Neutralised
        }
    }
}

/// Posts to Slack through the [`Outbox`]: in order per channel, retried through outages; a
/// report that fails for good is logged and noted in the logs channel, and never stops the
/// job's bookkeeping. Each call returns once its report is delivered, has failed, or its
/// channel is waiting out an outage (then delivery goes on in the background).
pub struct Reporter<S> {
    outbox: Outbox<S, Queue>,
    logs_channel: String,
    secrets: SecretMask,
}

impl<S: SlackApi> Reporter<S> {
    /// Reports through `slack`, kept in `queue`'s outbox until Slack has them (delivered as
    /// `owner`, under leases of `lease`), noting failures in `logs_channel`, masking `secrets`.
    pub fn new(
        slack: Arc<S>,
        queue: Queue,
        owner: String,
        lease: std::time::Duration,
        logs_channel: String,
        secrets: SecretMask,
    ) -> Self {
        Reporter {
            outbox: Outbox::new(slack, queue, owner, lease, logs_channel.clone()),
            logs_channel,
            secrets,
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
        posted(self.send(self.message(channel, thread_ts, text)).await)
    }

    /// Posts a message; `None` unless it is posted already.
    pub async fn post_message(
        &self,
        message: OutgoingMessage,
        broadcast: Broadcast,
    ) -> Option<PostedMessage> {
        posted(self.send(self.message_with(message, broadcast)).await)
    }

    /// Uploads a file; `true` once uploaded.
    pub async fn upload(&self, upload: FileUpload, broadcast: Broadcast) -> bool {
        let sent = self.send(self.file(upload, broadcast)).await;
        matches!(sent, Sent::Delivered(_))
    }

    /// Adds a reaction.
    pub async fn react(&self, channel: &str, ts: &str, name: &str) {
        self.send(reaction(channel, ts, name)).await;
    }

    /// Keeps `report` in the outbox and waits until it is delivered, has failed, or its
    /// channel stalls.
    pub async fn send(&self, report: Report) -> Sent {
        self.outbox.send(report).await
    }

    /// Delivers reports kept already (by id, with their channels: written with the job's
    /// end, in its transaction), waiting as [`Reporter::send`] does.
    pub async fn deliver_kept(&self, kept: &[(i64, &str)]) {
        self.outbox.deliver_kept(kept).await;
    }

    /// Delivers what is still queued until `until`; what is left stays in the outbox.
    pub async fn drain(&self, until: Instant) {
        self.outbox.drain(until).await;
    }

    /// Starts delivering what the outbox holds from earlier (a crash, a restart, a replica
    /// that died).
    pub async fn recover(&self) {
        self.outbox.recover().await;
    }
}

impl<S> Reporter<S> {
    /// `text` posted to `channel` (in `thread_ts`), made safe.
    pub fn message(&self, channel: &str, thread_ts: Option<&str>, text: &str) -> Report {
        let message = OutgoingMessage {
            channel: channel.to_string(),
            thread_ts: thread_ts.map(str::to_string),
            text: text.to_string(),
            blocks: None,
        };
        self.message_with(message, Broadcast::Neutralised)
    }

    /// `message` posted, made safe as `broadcast` says.
    pub fn message_with(&self, message: OutgoingMessage, broadcast: Broadcast) -> Report {
        Report::Post {
            message: self.safe_message(message, broadcast),
            link_in: None,
        }
    }

    /// `text` posted, then a link to it in `link_channel` (how tech support is called),
    /// however long Slack takes.
    pub fn linked(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
        link_channel: &str,
    ) -> Report {
        match self.message(channel, thread_ts, text) {
            Report::Post { message, .. } => Report::Post {
                message,
                link_in: Some(link_channel.to_string()),
            },
            other => other,
        }
    }

    /// `upload` uploaded, made safe as `broadcast` says.
    pub fn file(&self, upload: FileUpload, broadcast: Broadcast) -> Report {
        Report::Upload(self.safe_upload(upload, broadcast))
    }

    /// `text` with secrets masked, and broadcasts made text unless they are allowed.
    fn safe_text(&self, text: &str, broadcast: Broadcast) -> String {
        let masked = self.secrets.text(text);
        match broadcast {
            Broadcast::Allowed => masked.into_owned(),
            Broadcast::Neutralised => neutralise(&masked).into_owned(),
        }
    }

    /// The message's text and every string of its blocks made safe.
    fn safe_message(&self, mut message: OutgoingMessage, broadcast: Broadcast) -> OutgoingMessage {
        message.text = self.safe_text(&message.text, broadcast);
        if let Some(blocks) = &mut message.blocks {
            self.secrets.json(blocks);
            if broadcast == Broadcast::Neutralised {
                neutralise_blocks(blocks);
            }
        }
        message
    }

    /// The file's content masked; its name, title and comment made safe. The content itself
    /// is shown as a file, never read for mentions.
    fn safe_upload(&self, mut upload: FileUpload, broadcast: Broadcast) -> FileUpload {
        if let std::borrow::Cow::Owned(masked) = self.secrets.bytes(&upload.content) {
            upload.content = masked;
        }
        upload.filename = self.safe_text(&upload.filename, broadcast);
        upload.title = self.safe_text(&upload.title, broadcast);
        upload.initial_comment = upload
            .initial_comment
            .map(|comment| self.safe_text(&comment, broadcast));
        upload
    }
}

/// Reaction `name` added to message `ts` of `channel`.
pub fn reaction(channel: &str, ts: &str, name: &str) -> Report {
    Report::React {
        channel: channel.to_string(),
        ts: ts.to_string(),
        name: name.to_string(),
    }
}

fn posted(sent: Sent) -> Option<PostedMessage> {
    match sent {
        Sent::Delivered(posted) => posted,
        Sent::Failed | Sent::Pending => None,
    }
}
