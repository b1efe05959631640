//! The outbox: what the bot must post to Slack because of the queue (job reports, failure
//! notes, tech-support reposts, notices), kept in the database until Slack has it. The stores
//! hold entries as written by the dispatcher (a JSON description, and a file's bytes apart);
//! delivering them, in order per channel under a lease, is the dispatcher's.

use chrono::{DateTime, Utc};

/// The most bytes of a file an entry keeps: the dispatcher uploads at most this much of a
/// job's output (`MAX_UPLOAD_BYTES`), so no entry is larger.
pub const MAX_ENTRY_CONTENT_BYTES: usize = 5 * 1024 * 1024;

/// An entry to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The channel it is delivered to, in order with that channel's other entries.
    pub channel: String,
    /// What to deliver, as the dispatcher describes it (JSON).
    pub report: String,
    /// A file's bytes, for an upload.
    pub content: Option<Vec<u8>>,
}

/// An entry waiting for Slack, or refused by it for good (kept for inspection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its place in the outbox: entries of a channel are delivered in id order.
    pub id: i64,
    pub channel: String,
    pub report: String,
    pub content: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    /// Why Slack refused it for good, if it did.
    pub failure: Option<String>,
}

/// The lease a process holds while it delivers `channel`'s entries, so that two processes
/// never deliver one channel's entries at once.
pub fn channel_lease(channel: &str) -> String {
    format!("outbox:{channel}")
}
