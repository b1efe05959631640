//! The job queue: a SQLite database shared by the Slack bot, the webhook server and the
//! dispatcher, which may be separate processes.
//!
//! The schema is the Python service's (`job`, `suppression`) plus tables added by migrations
//! (see `schema.rs`), so an existing database keeps working and its pending jobs run. Each
//! component opens one [`Queue`] (one connection) and clones it freely.
//!
//! Every call is synchronous and short, but may wait up to the 5 s busy timeout while another
//! process writes; async code that expects contention can call it in `spawn_blocking`.
//! Times are UTC text `YYYY-MM-DD HH:MM:SS.ffffff+00:00` (see [`format_time`]), compared
//! as text in SQL; `args` text is Python's `json.dumps(args, sort_keys=True)` (see
//! [`encode_args`]), so dedupe matches rows the Python service wrote.

mod args;
#[cfg(test)]
mod concurrency;
mod deliveries;
mod history;
mod job;
mod lease;
mod schedule;
mod schema;
mod status;
mod suppression;
mod time;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use tokio::sync::Notify;

pub use args::{decode_args, encode_args, ArgsError};
pub use deliveries::DELIVERY_RETENTION;
pub use history::{ExitKind, Finished, HistoryEntry, HISTORY_RETENTION};
pub use job::{BadRow, Job, NewJob, Scheduled};
pub use lease::Reaped;
pub use schema::SCHEMA_VERSION;
pub use status::Status;
pub use suppression::Suppression;
pub use time::{format_time, parse_time, TimeError};

/// Everything that can go wrong with the queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// SQLite failed (including `SQLITE_BUSY` after the 5 s busy timeout).
    #[error("queue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// `open` was given a path whose directory does not exist; it is never created.
    #[error("queue database directory `{0}` does not exist")]
    MissingDirectory(PathBuf),
    /// The database was migrated by a newer build; running against it could corrupt it.
    #[error("queue database schema is version {found}, newer than this build's {supported}")]
    SchemaTooNew {
        /// `PRAGMA user_version` in the file.
        found: i64,
        /// [`SCHEMA_VERSION`].
        supported: i64,
    },
    /// One job row cannot be read (bad args JSON or times); other rows are unaffected.
    /// From [`Queue::reserve`] the row is already marked started: see its docs.
    #[error("{0}")]
    BadRow(Box<BadRow>),
    /// One suppression row has times that cannot be read.
    #[error("suppression {id} cannot be read: {source}")]
    BadSuppression {
        /// The row's id (remove it with `cancel_suppressions` for its type).
        id: i64,
        /// The unreadable time.
        source: TimeError,
    },
    /// A time in a table this crate writes (`job_history`) cannot be read.
    #[error("{table} row {id} cannot be read: {source}")]
    BadTime {
        /// The table.
        table: &'static str,
        /// The row's id.
        id: i64,
        /// The unreadable time.
        source: TimeError,
    },
    /// A delay or timeout too long to add to a date.
    #[error("duration {0:?} is too long")]
    DurationTooLong(std::time::Duration),
    /// A suppression that ends before it starts would never apply.
    #[error("suppression ends ({end}) before it starts ({start})")]
    EmptySuppression {
        /// The requested start.
        start: chrono::DateTime<chrono::Utc>,
        /// The requested end.
        end: chrono::DateTime<chrono::Utc>,
    },
}

/// A handle on the queue database: one connection, cheap to clone, safe to share.
#[derive(Clone)]
pub struct Queue {
    conn: Arc<Mutex<Connection>>,
    // In-process wake-up for a dispatcher waiting in `notified()`; other processes poll
    // `data_version()` instead.
    notify: Arc<Notify>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").finish_non_exhaustive()
    }
}

impl Queue {
    /// Opens (creating if needed) the database file and migrates it; the directory must exist.
    pub fn open(path: &Path) -> Result<Queue, QueueError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.is_dir() {
                return Err(QueueError::MissingDirectory(dir.to_owned()));
            }
        }
        Self::with_connection(Connection::open(path)?)
    }

    /// Opens a private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Queue, QueueError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(mut conn: Connection) -> Result<Queue, QueueError> {
        schema::prepare(&mut conn)?;
        // The hot statements stay prepared across calls.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Queue {
            conn: Arc::new(Mutex::new(conn)),
            notify: Arc::new(Notify::new()),
        })
    }

    /// Locks the connection. A panic while it was held cannot leave a transaction open
    /// (`Transaction` rolls back on drop), so a poisoned lock is safe to reuse.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| {
            tracing::warn!("queue connection lock was poisoned by a panic; reusing it");
            poisoned.into_inner()
        })
    }

    /// Wakes the in-process waiter of [`Queue::notified`].
    fn wake(&self) {
        // `notify_one` keeps a permit when nobody waits yet, so a change made while the
        // dispatcher is busy running a job is not lost.
        self.notify.notify_one();
    }

    /// Resolves when this process has scheduled or changed something since the last wait
    /// (at once if it already has). Meant for one waiter, the dispatcher; other processes'
    /// changes show in [`Queue::data_version`] instead.
    pub fn notified(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let notify = Arc::clone(&self.notify);
        async move { notify.notified().await }
    }

    /// SQLite's `PRAGMA data_version`: changes when another connection (another process or
    /// another `Queue::open`) commits, never for this connection's own commits.
    pub fn data_version(&self) -> Result<i64, QueueError> {
        Ok(self
            .conn()
            .query_row("PRAGMA data_version", [], |row| row.get(0))?)
    }

    /// The schema version recorded in the database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, QueueError> {
        schema::user_version(&self.conn())
    }

    /// The journal mode in force: `wal` for a file database, `memory` in memory.
    pub fn journal_mode(&self) -> Result<String, QueueError> {
        schema::journal_mode(&self.conn())
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::config::Args;

    /// A fixed instant, so tests never race the clock.
    pub fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 6, 1, 12, 0, 0)
            .single()
            .expect("valid test time")
    }

    /// `t0()` plus some seconds.
    pub fn at(secs: i64) -> DateTime<Utc> {
        t0() + chrono::TimeDelta::seconds(secs)
    }

    /// Args from pairs.
    pub fn args(pairs: &[(&str, &str)]) -> Args {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Schedules a job starting at `at(secs)` in channel `C1`.
    pub fn add(queue: &Queue, job_type: &str, a: &Args, secs: i64) -> Scheduled {
        queue
            .schedule(&NewJob {
                job_type,
                args: a,
                channel: "C1",
                thread_ts: None,
                message_ts: None,
                is_im: false,
                start_after: at(secs),
            })
            .expect("schedule")
    }

    /// Runs raw SQL on the queue's connection, to plant rows as Python would.
    pub fn raw(queue: &Queue, sql: &str) {
        queue.conn().execute_batch(sql).expect("raw sql");
    }

    /// Counts rows in a table.
    pub fn count(queue: &Queue, table: &str) -> i64 {
        queue
            .conn()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::test_util::*;
    use super::*;

    #[test]
    fn open_in_memory_sets_user_version() {
        let queue = Queue::open_in_memory().expect("open");
        assert_eq!(queue.schema_version().expect("version"), SCHEMA_VERSION);
    }

    #[test]
    fn open_file_uses_wal_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue.db");
        let queue = Queue::open(&path).expect("open");
        assert_eq!(queue.journal_mode().expect("mode"), "wal");
        assert_eq!(queue.schema_version().expect("version"), SCHEMA_VERSION);
        add(&queue, "t", &args(&[]), 0);
        drop(queue);
        let again = Queue::open(&path).expect("reopen");
        assert_eq!(again.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(count(&again, "job"), 1);
    }

    #[test]
    fn open_refuses_missing_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope").join("queue.db");
        assert!(matches!(
            Queue::open(&path),
            Err(QueueError::MissingDirectory(_))
        ));
    }

    #[test]
    fn open_refuses_newer_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue.db");
        let conn = Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set version");
        drop(conn);
        assert!(matches!(
            Queue::open(&path),
            Err(QueueError::SchemaTooNew { .. })
        ));
    }

    #[test]
    fn python_database_migrates_and_its_pending_job_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("python.db");
        let conn = Connection::open(&path).expect("raw open");
        // Exactly what the Python service creates and writes.
        conn.execute_batch(
            r#"CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY, type TEXT NOT NULL, args TEXT,
                 channel TEXT, thread_ts TEXT, message_ts TEXT, start_after DATETIME, started_at DATETIME, is_im BOOLEAN);
               CREATE TABLE IF NOT EXISTS suppression (id INTEGER PRIMARY KEY, job_type TEXT NOT NULL,
                 start_at DATETIME, end_at DATETIME);
               INSERT INTO job (type, args, channel, thread_ts, message_ts, start_after, started_at, is_im)
                 VALUES ('greet_hello', '{"name": "Bob"}', 'C123', '1700000000.000100', NULL,
                         '2024-01-01 10:00:00.123456+00:00', NULL, 1);
               INSERT INTO job (type, args, channel, thread_ts, message_ts, start_after, started_at, is_im)
                 VALUES ('greet_bye', '{}', 'C123', NULL, NULL, '2024-01-01 10:00:00+00:00', NULL, 0);"#,
        )
        .expect("python schema");
        assert_eq!(
            conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
                .expect("v"),
            0
        );
        drop(conn);

        let queue = Queue::open(&path).expect("open python db");
        assert_eq!(queue.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(queue.journal_mode().expect("mode"), "wal");
        let now = t0();
        // The row without a fraction is earlier, so it runs first.
        let first = queue.reserve("d1", now).expect("reserve").expect("a job");
        assert_eq!(first.job_type, "greet_bye");
        assert!(!first.is_im);
        let job = queue.reserve("d1", now).expect("reserve").expect("a job");
        assert_eq!(job.job_type, "greet_hello");
        assert_eq!(job.args, args(&[("name", "Bob")]));
        assert_eq!(job.channel, "C123");
        assert_eq!(job.thread_ts.as_deref(), Some("1700000000.000100"));
        assert!(job.is_im);
        assert_eq!(
            job.start_after,
            parse_time("2024-01-01 10:00:00.123456+00:00").expect("time")
        );
        assert_eq!(job.started_at, Some(now));
        // Python dedupe text matches ours: scheduling the same args updates nothing running,
        // but a pending duplicate would be found (see schedule tests); here it is running.
        let again = queue
            .schedule_job(
                "greet_hello",
                &args(&[("name", "Bob")]),
                "C9",
                None,
                Duration::ZERO,
                false,
                None,
            )
            .expect("schedule");
        assert!(again.already_running);
        assert_ne!(again.id, job.id);
    }

    #[test]
    fn old_python_table_missing_columns_gets_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        let conn = Connection::open(&path).expect("raw open");
        conn.execute_batch(
            r#"CREATE TABLE job (id INTEGER PRIMARY KEY, type TEXT NOT NULL, args TEXT,
                 channel TEXT, thread_ts TEXT, start_after DATETIME, started_at DATETIME);
               INSERT INTO job (type, args, channel, start_after) VALUES ('t', '{}', 'C1', '2024-01-01 10:00:00+00:00');"#,
        )
        .expect("old schema");
        drop(conn);
        let queue = Queue::open(&path).expect("open old db");
        let job = queue.reserve("d", t0()).expect("reserve").expect("job");
        assert_eq!(
            (job.job_type.as_str(), job.is_im, job.message_ts),
            ("t", false, None)
        );
    }

    #[test]
    fn reopening_migrated_database_is_a_no_op() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue.db");
        let first = Queue::open(&path).expect("open");
        let before = first.data_version().expect("dv");
        let second = Queue::open(&path).expect("reopen");
        assert_eq!(second.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(
            first.data_version().expect("dv"),
            before,
            "opening commits nothing"
        );
    }

    #[test]
    fn data_version_sees_other_connections_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue.db");
        let a = Queue::open(&path).expect("open a");
        let b = Queue::open(&path).expect("open b");
        let before = a.data_version().expect("dv");
        add(&a, "t", &args(&[]), 0);
        assert_eq!(
            a.data_version().expect("dv"),
            before,
            "own commits do not count"
        );
        add(&b, "t", &args(&[("x", "1")]), 0);
        assert_ne!(a.data_version().expect("dv"), before);
    }

    #[tokio::test]
    async fn notified_fires_after_schedule_in_this_process() {
        let queue = Queue::open_in_memory().expect("open");
        let quiet = tokio::time::timeout(Duration::from_millis(20), queue.notified()).await;
        assert!(quiet.is_err(), "nothing changed yet");
        let waiter = tokio::spawn(queue.notified());
        queue
            .schedule_job("t", &args(&[]), "C1", None, Duration::ZERO, false, None)
            .expect("schedule");
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("join");
    }
}
