//! Talking to Slack: the Web API surface bennettbot needs, as a trait so that the dispatcher,
//! the webhook server and the bot can run against the real API, a test fake or the local shell.

pub mod api;
pub mod blocks;
use std::future::Future;
use std::time::Duration;

/// A message to post.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutgoingMessage {
    /// Channel id or `#name`.
    pub channel: String,
    /// Reply in this thread, if set.
    pub thread_ts: Option<String>,
    /// The text (also the notification fallback when `blocks` is set).
    pub text: String,
    /// Block Kit blocks (a JSON array), if any.
    pub blocks: Option<serde_json::Value>,
}

/// Where a posted message landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    /// The channel id Slack answered with.
    pub channel: String,
    /// The message's timestamp (its id).
    pub ts: String,
}

/// A file to upload into a channel (and thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpload {
    pub channel: String,
    pub thread_ts: Option<String>,
    pub filename: String,
    pub title: String,
    pub content: Vec<u8>,
    /// Text posted with the file.
    pub initial_comment: Option<String>,
}

/// A Slack call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false`.
    #[error("Slack API {method} failed: {error}")]
    Api { method: String, error: String },
    /// The request did not get a usable answer (HTTP status, bad JSON).
    #[error("Slack API {method} request failed: {detail}")]
    Transport { method: String, detail: String },
    /// Slack could not take the call just now (HTTP 429 or 5xx, `ratelimited`, or no
    /// connection): worth trying again, not before `retry_after` when Slack said so.
    #[error("Slack API {method} request failed: {detail}")]
    Unavailable {
        method: String,
        detail: String,
        /// Slack's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
}

impl SlackError {
    /// Whether the call may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SlackError::Unavailable { .. })
    }

    /// How long Slack asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SlackError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The Web API calls every part makes. Implemented by the HTTP client and by the local shell;
/// the bot's own calls are [`bot_api::SlackBotApi`].
pub trait SlackApi: Send + Sync + 'static {
    /// `chat.postMessage`
    fn post_message(
        &self,
        message: OutgoingMessage,
    ) -> impl Future<Output = Result<PostedMessage, SlackError>> + Send;

    /// `reactions.add`; adding a reaction that is already there is not an error.
    fn add_reaction(
        &self,
        channel: &str,
        ts: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), SlackError>> + Send;

    /// `files.getUploadURLExternal`, the upload, then `files.completeUploadExternal`.
    fn upload_file(
        &self,
        upload: FileUpload,
    ) -> impl Future<Output = Result<(), SlackError>> + Send;

    /// `chat.getPermalink`
    fn permalink(
        &self,
        channel: &str,
        ts: &str,
    ) -> impl Future<Output = Result<String, SlackError>> + Send;
}

pub mod bot;
pub mod bot_api;
pub mod broadcast;
pub mod channels;
pub mod events;
pub mod facts;
pub mod http_events;
pub mod mention;
pub mod rate;
pub mod recent;
pub mod retry;
pub mod search;
pub mod signing;
pub mod socket;
pub mod support;
mod support_calls;
pub mod usergroups;
pub mod users;
