//! The SQLite store: one connection per process, shared under a mutex. Every method is
//! synchronous and may wait up to the 5 s busy timeout while another process writes, so async
//! code never calls it directly: [`super::Queue`] runs each call on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Notify;

use crate::queue::QueueError;

mod claims;
#[cfg(test)]
mod concurrency;
mod deliveries;
mod history;
mod jobs;
mod outbox;
mod requesters;
mod runs;
mod schedule_runs;
mod schema;
mod status;
mod suppression;
#[cfg(test)]
mod test_util;

pub use schema::SCHEMA_VERSION;

/// A handle on the queue database: one connection, cheap to clone, safe to share.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    // Wake-up for a dispatcher waiting in `notified()`: rung by this process's changes, and
    // by the watcher thread when another process commits.
    notify: Arc<Notify>,
    // The file, for the watcher's own connection (`None` in memory, where no other process
    // can write).
    path: Option<Arc<PathBuf>>,
    watching: Arc<AtomicBool>,
}

/// How often the watcher looks at `data_version` for other processes' commits: a job queued
/// by the bot in another process starts within this (plus the reservation itself).
const WATCH_EVERY: Duration = Duration::from_millis(10);

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it; the directory must exist.
    pub fn open(path: &Path) -> Result<SqliteStore, QueueError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.is_dir() {
                return Err(QueueError::MissingDirectory(dir.to_owned()));
            }
        }
        let mut store = Self::with_connection(Connection::open(path)?)?;
        store.path = Some(Arc::new(path.to_owned()));
        Ok(store)
    }

    /// Opens a private in-memory database, for tests.
    pub fn open_in_memory() -> Result<SqliteStore, QueueError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(mut conn: Connection) -> Result<SqliteStore, QueueError> {
        schema::prepare(&mut conn)?;
        // The hot statements stay prepared across calls.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            notify: Arc::new(Notify::new()),
            path: None,
            watching: Arc::new(AtomicBool::new(false)),
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

    /// Wakes the in-process waiter of [`SqliteStore::notified`].
    fn wake(&self) {
        // `notify_one` keeps a permit when nobody waits yet, so a change made while the
        // dispatcher is busy running a job is not lost.
        self.notify.notify_one();
    }

    /// Resolves when the queue has changed since the last wait (at once if it has): in this
    /// process, or (for a file, once this has been called) in another, seen by a watcher
    /// thread polling `data_version` every `WATCH_EVERY` on a connection of its own. Meant
    /// for one waiter, the dispatcher.
    pub fn notified(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.watch_other_processes();
        let notify = Arc::clone(&self.notify);
        async move { notify.notified().await }
    }

    /// Starts the watcher thread once; it ends when the store is dropped.
    fn watch_other_processes(&self) {
        let Some(path) = &self.path else {
            return;
        };
        if self.watching.swap(true, Ordering::AcqRel) {
            return;
        }
        let (path, notify) = (Arc::clone(path), Arc::downgrade(&self.notify));
        let spawned = std::thread::Builder::new()
            .name("queue-watch".into())
            .spawn(move || watch(&path, &notify));
        if let Err(e) = spawned {
            // The dispatcher's one-second poll still sees other processes' jobs.
            tracing::warn!(error = %e, "could not start the queue watcher thread");
        }
    }

    /// SQLite's `PRAGMA data_version`: changes when another connection (another process or
    /// another `SqliteStore::open`) commits, never for this connection's own commits.
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

/// Wakes `notify` whenever `data_version` on a connection of its own changes, that is when
/// any other connection (another process, or this process's store) commits.
fn watch(path: &Path, notify: &Weak<Notify>) {
    let conn = match Connection::open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "queue watcher could not open the database");
            return;
        }
    };
    let read =
        |conn: &Connection| conn.query_row("PRAGMA data_version", [], |row| row.get::<_, i64>(0));
    // The first reading is taken before any sleep, so every commit after it changes the
    // version this loop compares with. A commit made before it (between the first wait and
    // now) is covered by waking the waiter once, harmlessly.
    let mut last = read(&conn).ok();
    if let Some(notify) = notify.upgrade() {
        notify.notify_one();
    }
    loop {
        std::thread::sleep(WATCH_EVERY);
        let Some(notify) = notify.upgrade() else {
            return;
        };
        match read(&conn) {
            Ok(version) => {
                if last.is_some_and(|last| last != version) {
                    notify.notify_one();
                }
                last = Some(version);
            }
            Err(e) => tracing::debug!(error = %e, "queue watcher could not read data_version"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::test_util::*;
    use super::*;
    use crate::queue::time::parse_time;

    #[test]
    fn open_in_memory_sets_user_version() {
        let queue = SqliteStore::open_in_memory().expect("open");
        assert_eq!(queue.schema_version().expect("version"), SCHEMA_VERSION);
    }

    #[test]
    fn open_file_uses_wal_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue.db");
        let queue = SqliteStore::open(&path).expect("open");
        assert_eq!(queue.journal_mode().expect("mode"), "wal");
        assert_eq!(queue.schema_version().expect("version"), SCHEMA_VERSION);
        add(&queue, "t", &args(&[]), 0);
        drop(queue);
        let again = SqliteStore::open(&path).expect("reopen");
        assert_eq!(again.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(count(&again, "job"), 1);
    }

    #[test]
    fn open_refuses_missing_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope").join("queue.db");
        assert!(matches!(
            SqliteStore::open(&path),
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
            SqliteStore::open(&path),
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

        let queue = SqliteStore::open(&path).expect("open python db");
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
        let queue = SqliteStore::open(&path).expect("open old db");
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
        let first = SqliteStore::open(&path).expect("open");
        let before = first.data_version().expect("dv");
        let second = SqliteStore::open(&path).expect("reopen");
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
        let a = SqliteStore::open(&path).expect("open a");
        let b = SqliteStore::open(&path).expect("open b");
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
        let queue = SqliteStore::open_in_memory().expect("open");
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

    #[tokio::test]
    async fn a_commit_right_after_watching_starts_wakes_the_waiter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue.db");
        let watcher = SqliteStore::open(&path).expect("open");
        let other = SqliteStore::open(&path).expect("open");
        // Starting to watch wakes the waiter once; the commit then lands at once, before the
        // watcher's first interval has passed, and must still be heard.
        tokio::time::timeout(Duration::from_secs(5), watcher.notified())
            .await
            .expect("the first wait returns at once");
        add(&other, "t", &args(&[("x", "1")]), 0);
        tokio::time::timeout(Duration::from_secs(5), watcher.notified())
            .await
            .expect("the other handle's commit wakes the watcher");
    }
}
