//! The job queue: a database shared by the Slack bot, the webhook server and the dispatcher,
//! which may be separate processes: SQLite (the embedded default, `sqlite/`) or PostgreSQL
//! (several hosts, `postgres/`).
//!
//! [`Queue`] (`handle.rs`) is the interface every part uses: async, whatever the store; each
//! component opens one and clones it freely. The files beside it hold what both stores share:
//! the types they return, retention periods, and the rules that touch no SQL. The two store
//! folders each hold one file per concern under the same names, and never import each other.
//!
//! SQLite's schema is the Python service's (`job`, `suppression`) plus tables added by
//! migrations (see `sqlite/schema.rs`), so an existing database keeps working and its pending
//! jobs run. The SQLite store ([`SqliteStore`]) is synchronous, one connection per process,
//! and runs on the blocking pool. Its times are UTC text
//! `YYYY-MM-DD HH:MM:SS.ffffff+00:00` (see [`format_time`]), compared as text in SQL; `args`
//! text is Python's `json.dumps(args, sort_keys=True)` in both stores (see [`encode_args`]),
//! so dedupe matches rows the Python service wrote.

mod args;
mod claims;
mod database;
mod deliveries;
mod gauges;
mod handle;
mod history;
mod job;
mod outbox;
mod postgres;
mod runs;
mod schedule_runs;
mod sqlite;
mod status;
mod suppression;
mod time;

use std::path::PathBuf;

pub use args::{decode_args, encode_args, ArgsError};
pub use claims::EVENT_RETENTION;
pub use database::{Database, DatabaseUrlError, PostgresUrl};
pub use deliveries::{QueuedByDelivery, DELIVERY_RETENTION};
pub use handle::Queue;
pub use history::{ExitKind, Finished, HistoryEntry, HISTORY_RETENTION};
pub use job::{BadRow, Job, NewJob, Removal, Requested, RunId, Scheduled};
pub use outbox::{channel_lease, NewEntry, OutboxEntry, MAX_ENTRY_CONTENT_BYTES};
pub use postgres::{PgStore, MIGRATIONS as POSTGRES_MIGRATIONS};
pub use runs::Reaped;
pub use schedule_runs::{ScheduleClaim, ScheduleRun, SCHEDULE_RUN_RETENTION};
pub use sqlite::{SqliteStore, SCHEMA_VERSION};
pub use status::Status;
pub use suppression::Suppression;
pub use time::{format_time, parse_time, start_after, TimeError};

/// Everything that can go wrong with the queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// SQLite failed (including `SQLITE_BUSY` after the 5 s busy timeout).
    #[error("queue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (the message never includes the password).
    #[error("queue database (PostgreSQL): {}", crate::error_chain::error_chain(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The URL's TLS keys (`sslmode`, `sslrootcert`) cannot be used.
    #[error("queue database (PostgreSQL) URL: {0}")]
    PostgresUrl(#[from] postgres::tls::TlsUrlError),
    /// TLS for PostgreSQL could not be set up (an unreadable `sslrootcert`).
    #[error("queue database (PostgreSQL): {0}")]
    PostgresTls(#[from] postgres::tls::TlsSetupError),
    /// No PostgreSQL connection could be had from the pool.
    #[error("queue database (PostgreSQL) connection: {0}")]
    Pool(String),
    /// `open` was given a path whose directory does not exist; it is never created.
    #[error("queue database directory `{0}` does not exist")]
    MissingDirectory(PathBuf),
    /// The database was migrated by a newer build; running against it could corrupt it.
    #[error("queue database schema is version {found}, newer than this build's {supported}")]
    SchemaTooNew {
        /// The version recorded in the database.
        found: i64,
        /// [`SCHEMA_VERSION`].
        supported: i64,
    },
    /// One job row cannot be read (bad args JSON or times); other rows are unaffected.
    /// From [`SqliteStore::reserve`] the row is already marked started: see its docs.
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
    /// The runtime is shutting down, so the call was not run.
    #[error("the queue call was cancelled: shutting down")]
    ShuttingDown,
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
    /// An outbox entry's file is larger than [`MAX_ENTRY_CONTENT_BYTES`].
    #[error(
        "an outbox entry of {0} bytes is larger than the {MAX_ENTRY_CONTENT_BYTES} bytes kept"
    )]
    EntryTooLarge(usize),
}
