//! The database schema and its migrations, tracked by `PRAGMA user_version`.
//!
//! Version 1 is the Python service's two tables, unchanged, so a database it created keeps
//! working (and a fresh one is one it could read). Later versions only add tables and indexes:
//! nothing alters `job` or `suppression`.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::QueueError;

/// Each step brings the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the Python service's tables, exactly as it creates them.
    "CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY, type TEXT NOT NULL, args TEXT,
       channel TEXT, thread_ts TEXT, message_ts TEXT, start_after DATETIME, started_at DATETIME,
       is_im BOOLEAN);
     CREATE TABLE IF NOT EXISTS suppression (id INTEGER PRIMARY KEY, job_type TEXT NOT NULL,
       start_at DATETIME, end_at DATETIME);",
    // 2: leases, so a dead dispatcher's jobs can be found; a table of its own rather than
    // columns on `job`, so `job` keeps exactly the columns the Python service knows.
    // The indexes serve reserve (pending in start order, running per type) and dedupe.
    "CREATE TABLE IF NOT EXISTS job_lease (job_id INTEGER PRIMARY KEY, owner TEXT NOT NULL,
       heartbeat_at TEXT NOT NULL);
     CREATE INDEX IF NOT EXISTS job_lease_owner ON job_lease (owner);
     CREATE INDEX IF NOT EXISTS job_pending ON job (start_after, id) WHERE started_at IS NULL;
     CREATE INDEX IF NOT EXISTS job_running ON job (type) WHERE started_at IS NOT NULL;
     CREATE INDEX IF NOT EXISTS job_type_args ON job (type, args);
     CREATE INDEX IF NOT EXISTS suppression_type ON suppression (job_type);",
    // 3: what ran and how it ended.
    "CREATE TABLE IF NOT EXISTS job_history (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL,
       type TEXT NOT NULL, args TEXT, channel TEXT, started_at TEXT, ended_at TEXT NOT NULL,
       exit_kind TEXT NOT NULL, exit_code INTEGER, exit_detail TEXT, log_dir TEXT);
     CREATE INDEX IF NOT EXISTS job_history_ended ON job_history (ended_at);",
    // 4: GitHub delivery ids already handled, so a redelivered webhook runs nothing twice.
    "CREATE TABLE IF NOT EXISTS webhook_delivery (delivery_id TEXT PRIMARY KEY,
       seen_at TEXT NOT NULL);
     CREATE INDEX IF NOT EXISTS webhook_delivery_seen ON webhook_delivery (seen_at);",
    // 5: the process group a leased job runs in, so that when its dispatcher dies the job's
    // processes can be stopped too, not left running beside the type's next job.
    "ALTER TABLE job_lease ADD COLUMN process_group INTEGER;",
    // 6: runs. A job id is reused once its row is deleted (the Python schema has no
    // AUTOINCREMENT), so leases become runs with an id that never is: every write after
    // reservation (finish, process group, stop) names its run, and a run outlives nothing of
    // another job. `stop_requested_by` marks a running job a user removed (the dispatcher stops
    // its process group, then finishes the run).
    "CREATE TABLE IF NOT EXISTS job_run (run_id INTEGER PRIMARY KEY AUTOINCREMENT,
       job_id INTEGER NOT NULL, owner TEXT NOT NULL, heartbeat_at TEXT NOT NULL,
       process_group INTEGER, stop_requested_by TEXT, stop_requested_at TEXT);
     INSERT INTO job_run (job_id, owner, heartbeat_at, process_group)
       SELECT job_id, owner, heartbeat_at, process_group FROM job_lease ORDER BY job_id;
     DROP TABLE job_lease;
     CREATE UNIQUE INDEX IF NOT EXISTS job_run_job ON job_run (job_id);
     CREATE INDEX IF NOT EXISTS job_run_owner ON job_run (owner);
     ALTER TABLE job_history ADD COLUMN run_id INTEGER;",
    // 7: due times of `[[ns.schedule]]` entries already claimed, so that of several
    // dispatchers on one database exactly one queues each due time. `job_id` is the job it
    // queued (NULL when suppressed); `outcome` says which.
    "CREATE TABLE IF NOT EXISTS schedule_run (schedule_key TEXT NOT NULL, due_at TEXT NOT NULL,
       claimed_at TEXT NOT NULL, outcome TEXT NOT NULL, job_id INTEGER,
       PRIMARY KEY (schedule_key, due_at));",
    // 8: claims shared by processes (see `claims.rs`): Slack events acted on, named leases.
    "CREATE TABLE IF NOT EXISTS slack_event (event_id TEXT PRIMARY KEY, claimed_at TEXT NOT NULL);
     CREATE INDEX IF NOT EXISTS slack_event_claimed ON slack_event (claimed_at);
     CREATE TABLE IF NOT EXISTS service_lease (name TEXT PRIMARY KEY, owner TEXT NOT NULL,
       expires_at TEXT NOT NULL);",
    // 9: who asked for each queued job (Slack user ids), who may then remove it. A table of
    // its own so that `job` keeps the Python service's columns.
    "CREATE TABLE IF NOT EXISTS job_requester (job_id INTEGER NOT NULL, user_id TEXT NOT NULL,
       requested_at TEXT NOT NULL, PRIMARY KEY (job_id, user_id));",
    // 10: the outbox: what the bot must post to Slack, kept until Slack has it (delivered in id
    // order per channel; AUTOINCREMENT so an id, and so the order, is never reused). `failure`
    // marks an entry Slack refused for good, kept for inspection.
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,
       channel TEXT NOT NULL, report TEXT NOT NULL, content BLOB, created_at TEXT NOT NULL,
       failure TEXT);
     CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (channel, id) WHERE failure IS NULL;",
    // 11: state every process must see: support calls claimed (by rule, and the calling
    // message), so that one reposts each call; files jobs write that every replica must
    // read (out-of-office files), as last found by the dispatcher that ran the job (`contents`
    // NULL: removed).
    "CREATE TABLE IF NOT EXISTS support_call (rule TEXT NOT NULL, channel TEXT NOT NULL,
       ts TEXT NOT NULL, claimed_at TEXT NOT NULL, PRIMARY KEY (rule, channel, ts));
     CREATE INDEX IF NOT EXISTS support_call_claimed ON support_call (claimed_at);
     CREATE TABLE IF NOT EXISTS shared_file (name TEXT PRIMARY KEY, contents TEXT,
       updated_at TEXT NOT NULL);",
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Sets the connection up (WAL, busy timeout) and brings the schema to [`SCHEMA_VERSION`].
pub(super) fn prepare(conn: &mut Connection) -> Result<(), QueueError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL lets the Slack bot, webhook server and dispatcher read while one of them writes.
    // It is a no-op ("memory") for in-memory databases.
    let mode: String =
        retry_busy(|| Ok(conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?))?;
    tracing::debug!(journal_mode = %mode, "queue database opened");
    // In WAL mode NORMAL cannot corrupt the database; a power cut may lose the last commits,
    // which for a chat bot's queue is worth the ~100x cheaper commits.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Each checkpoint costs two fsyncs (~3 ms each here); checkpointing every 10,000 pages
    // instead of SQLite's 1,000 spreads that over ten times more commits (one run of
    // benches/queue.rs on a loaded 2-core machine: mean reserve+finish 320 µs -> 125 µs),
    // at the price of a WAL file of up to ~40 MB.
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    retry_busy(|| migrate(conn))
}

/// How long opening waits out other processes opening the same file at once.
const OPEN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `step` again while SQLite answers `SQLITE_BUSY`, for up to [`OPEN_PATIENCE`]. Some
/// lock upgrades (switching a new file to WAL, a read turning into a write) fail with
/// `SQLITE_BUSY` at once instead of calling the busy handler, which would deadlock: parts
/// started together on a new database (or replicas) would otherwise fail to open it.
fn retry_busy<T>(step: impl FnMut() -> Result<T, QueueError>) -> Result<T, QueueError> {
    use backon::{BlockingRetryable, ConstantBuilder};
    let deadline = std::time::Instant::now() + OPEN_PATIENCE;
    // Jittered (10–20 ms), so processes that collided do not collide again.
    let backoff = ConstantBuilder::new()
        .with_delay(std::time::Duration::from_millis(10))
        .with_jitter()
        .without_max_times();
    step.retry(backoff)
        .when(|error| is_busy(error) && std::time::Instant::now() < deadline)
        .call()
}

/// Whether SQLite answered `SQLITE_BUSY`.
fn is_busy(error: &QueueError) -> bool {
    matches!(error, QueueError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
        if e.code == rusqlite::ErrorCode::DatabaseBusy)
}

/// Runs the missing migrations in one immediate transaction, so two processes starting at
/// once cannot interleave them.
fn migrate(conn: &mut Connection) -> Result<(), QueueError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(QueueError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.execute_batch(sql)?;
        if version == 0 {
            add_missing_columns(&tx)?;
        }
        tracing::info!(version = version + 1, "queue schema migrated");
    }
    // Only when something ran: an unchanged database gets no commit, which would otherwise
    // bump every other connection's `data_version` at each open.
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

/// Columns of the Python tables that a database made by an older Python release may lack
/// (`CREATE TABLE IF NOT EXISTS` leaves an existing table as it is).
const PYTHON_COLUMNS: &[(&str, &str, &str)] = &[
    ("job", "args", "TEXT"),
    ("job", "channel", "TEXT"),
    ("job", "thread_ts", "TEXT"),
    ("job", "message_ts", "TEXT"),
    ("job", "start_after", "DATETIME"),
    ("job", "started_at", "DATETIME"),
    ("job", "is_im", "BOOLEAN"),
    ("suppression", "start_at", "DATETIME"),
    ("suppression", "end_at", "DATETIME"),
];

/// Adds any of [`PYTHON_COLUMNS`] a table lacks: nullable columns, which older Python code
/// ignores and ours reads as absent values.
fn add_missing_columns(tx: &Transaction<'_>) -> Result<(), QueueError> {
    for (table, column, kind) in PYTHON_COLUMNS {
        let present: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            [table, column],
            |row| row.get(0),
        )?;
        if !present {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
            tracing::warn!(
                table,
                column,
                "added a column missing from an old Python database"
            );
        }
    }
    Ok(())
}

/// The schema version recorded in the database.
pub(super) fn user_version(conn: &Connection) -> Result<i64, QueueError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// The journal mode in force (`wal` for a file database).
pub(super) fn journal_mode(conn: &Connection) -> Result<String, QueueError> {
    Ok(conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> QueueError {
        QueueError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        ))
    }

    #[test]
    fn opening_waits_out_a_busy_answer_but_not_other_errors() {
        let mut calls = 0;
        let opened = retry_busy(|| {
            calls += 1;
            if calls < 3 {
                Err(busy())
            } else {
                Ok("wal")
            }
        });
        assert_eq!(
            (opened.expect("opened after two busy answers"), calls),
            ("wal", 3)
        );
        let mut calls = 0;
        let failed: Result<(), QueueError> = retry_busy(|| {
            calls += 1;
            Err(QueueError::MissingDirectory("/nowhere".into()))
        });
        assert!(matches!(failed, Err(QueueError::MissingDirectory(_))));
        assert_eq!(calls, 1, "only SQLITE_BUSY is retried");
    }

    #[test]
    fn migrating_a_version_6_database_adds_schedule_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v6.db");
        let mut conn = Connection::open(&path).expect("open");
        // A database at schema version 6: six migrations and a pending job.
        for sql in &MIGRATIONS[..6] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.pragma_update(None, "user_version", 6)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO job (type, args, channel, start_after) VALUES ('t', '{}', 'C1', '2030-01-01 00:00:00+00:00');",
        )
        .expect("job");
        let has_table = |conn: &Connection| -> bool {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'schedule_run')",
                [],
                |r| r.get(0),
            )
            .expect("query")
        };
        assert!(!has_table(&conn));

        prepare(&mut conn).expect("migrate");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
        assert!(has_table(&conn));
        let jobs: i64 = conn
            .query_row("SELECT COUNT(*) FROM job", [], |r| r.get(0))
            .expect("count");
        assert_eq!(jobs, 1, "the pending job survives");
        // The key is (schedule, due time): a second claim of one due time is refused.
        let claim = "INSERT INTO schedule_run (schedule_key, due_at, claimed_at, outcome)
                     VALUES ('k', '2030-01-01 09:00:00+00:00', 'now', 'queued')";
        conn.execute(claim, []).expect("first claim");
        assert!(conn.execute(claim, []).is_err(), "second claim");
    }
}
