//! The outbox in SQLite (see `queue/outbox.rs`).

use chrono::{DateTime, Utc};
use std::io::{Read, Write};

use rusqlite::blob::ZeroBlob;
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior, MAIN_DB};

use super::SqliteStore;
use crate::queue::outbox::{NewEntry, OutboxEntry};
use crate::queue::time::{format_time, parse_time};
use crate::queue::QueueError;

/// An outbox row's columns as read: id, channel, report, content, created_at, failure.
type Columns = (i64, String, String, Option<Vec<u8>>, String, Option<String>);

fn read(row: &Row<'_>) -> rusqlite::Result<Columns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn entry(
    (id, channel, report, content, created_at, failure): Columns,
) -> Result<OutboxEntry, QueueError> {
    Ok(OutboxEntry {
        id,
        channel,
        report,
        content,
        created_at: parse_time(&created_at).map_err(|source| QueueError::BadTime {
            table: "outbox",
            id,
            source,
        })?,
        failure,
    })
}

/// Adds `entry` within `tx`; returns its id.
pub(super) fn insert(
    tx: &Transaction<'_>,
    entry: &NewEntry,
    now: DateTime<Utc>,
) -> Result<i64, QueueError> {
    // A file's bytes are written through a blob handle: bound as a parameter, SQLite would
    // copy the whole file (up to 5 MiB) first.
    let room = entry
        .content
        .as_ref()
        .map(|bytes| ZeroBlob(i32::try_from(bytes.len()).unwrap_or(i32::MAX)));
    tx.prepare_cached(
        "INSERT INTO outbox (channel, report, content, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![entry.channel, entry.report, room, format_time(now)])?;
    let id = tx.last_insert_rowid();
    if let Some(bytes) = &entry.content {
        let mut blob = tx.blob_open(MAIN_DB, c"outbox", c"content", id, false)?;
        blob.write_all(bytes)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    }
    Ok(id)
}

/// Entry `id`'s file bytes, read through a blob handle (one copy, not two).
fn content(conn: &rusqlite::Connection, id: i64) -> Result<Vec<u8>, QueueError> {
    let mut blob = conn.blob_open(MAIN_DB, c"outbox", c"content", id, true)?;
    let mut bytes = Vec::with_capacity(blob.len());
    blob.read_to_end(&mut bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })?;
    Ok(bytes)
}

impl SqliteStore {
    /// Adds an entry; returns its id.
    pub fn add_outbox(&self, entry: &NewEntry, now: DateTime<Utc>) -> Result<i64, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = insert(&tx, entry, now)?;
        tx.commit()?;
        Ok(id)
    }

    /// `channel`'s first entry still to deliver.
    pub fn next_outbox(&self, channel: &str) -> Result<Option<OutboxEntry>, QueueError> {
        let conn = self.conn();
        let row = conn
            .prepare_cached(
                "SELECT id, channel, report, NULL, created_at, failure, content IS NOT NULL
                 FROM outbox WHERE channel = ?1 AND failure IS NULL ORDER BY id LIMIT 1",
            )?
            .query_row([channel], |row| Ok((read(row)?, row.get::<_, bool>(6)?)))
            .optional()?;
        let Some((row, has_content)) = row else {
            return Ok(None);
        };
        let mut found = entry(row)?;
        if has_content {
            found.content = Some(content(&conn, found.id)?);
        }
        Ok(Some(found))
    }

    /// Slack took entry `id`: deletes it and, in the same transaction, adds `then` (what its
    /// delivery leads to, such as a link to it); returns `then`'s id.
    pub fn settle_outbox(
        &self,
        id: i64,
        then: Option<&NewEntry>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?
            .execute([id])?;
        let then = then.map(|t| insert(&tx, t, now)).transpose()?;
        tx.commit()?;
        Ok(then)
    }

    /// Slack refused entry `id` for good: keeps it, marked with `failure`, and adds `note`
    /// (for the logs channel) in the same transaction; returns the note's id.
    pub fn fail_outbox(
        &self,
        id: i64,
        failure: &str,
        note: Option<&NewEntry>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("UPDATE outbox SET failure = ?2, content = NULL WHERE id = ?1")?
            .execute(params![id, failure])?;
        let note = note.map(|n| insert(&tx, n, now)).transpose()?;
        tx.commit()?;
        Ok(note)
    }

    /// Channels with entries to deliver.
    pub fn outbox_channels(&self) -> Result<Vec<String>, QueueError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT channel FROM outbox WHERE failure IS NULL ORDER BY channel",
        )?;
        let channels = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(channels)
    }

    /// Every entry not delivered (refused ones included), oldest first, without file bytes.
    pub fn undelivered(&self) -> Result<Vec<OutboxEntry>, QueueError> {
        let sql = "SELECT id, channel, report, NULL, created_at, failure FROM outbox ORDER BY id";
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], read)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(entry).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(channel: &str, report: &str) -> NewEntry {
        NewEntry {
            channel: channel.into(),
            report: report.into(),
            content: None,
        }
    }

    #[test]
    fn entries_go_in_order_per_channel_and_refused_ones_stay() {
        let store = SqliteStore::open_in_memory().expect("open");
        let now = Utc::now();
        let first = store.add_outbox(&new("C1", "one"), now).unwrap();
        store.add_outbox(&new("C2", "other"), now).unwrap();
        let bytes = [0u8, 1, 2, 255];
        let file = NewEntry {
            content: Some(bytes.to_vec()),
            ..new("C1", "two")
        };
        let second = store.add_outbox(&file, now).unwrap();
        assert_eq!(store.outbox_channels().unwrap(), ["C1", "C2"]);
        assert_eq!(store.next_outbox("C1").unwrap().unwrap().report, "one");
        let link = store
            .settle_outbox(first, Some(&new("C3", "link")), now)
            .unwrap();
        let next = store.next_outbox("C1").unwrap().unwrap();
        assert_eq!(
            (next.id, next.content.as_deref()),
            (second, Some(&bytes[..]))
        );
        let note = store
            .fail_outbox(second, "invalid_blocks", Some(&new("C0LOGS", "note")), now)
            .unwrap();
        assert!(link.is_some() && note.is_some());
        assert_eq!(
            store.next_outbox("C1").unwrap(),
            None,
            "refused for good: not retried"
        );
        let kept = store.undelivered().unwrap();
        let described: Vec<(&str, Option<&str>)> = kept
            .iter()
            .map(|e| (e.report.as_str(), e.failure.as_deref()))
            .collect();
        assert_eq!(
            described,
            [
                ("other", None),
                ("two", Some("invalid_blocks")),
                ("link", None),
                ("note", None)
            ]
        );
    }
}
