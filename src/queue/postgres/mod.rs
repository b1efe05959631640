//! The PostgreSQL store: the same queue as the SQLite one, for several processes on several
//! hosts. Async all the way (tokio-postgres over a deadpool pool), so [`super::Queue`] awaits
//! it directly. Concurrency comes from PostgreSQL itself: `FOR UPDATE SKIP LOCKED` to reserve,
//! a unique partial index for one running job per type, `LISTEN/NOTIFY` for wake-ups.

mod claims;
mod jobs;
mod listen;
mod migrate;
mod records;
mod runs;
mod schedule_runs;

use std::str::FromStr;
use std::sync::Arc;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

use super::QueueError;
use listen::Wake;

pub use migrate::MIGRATIONS;

/// The channel every queue change is announced on.
const CHANNEL: &str = "bennettbot_queue";

/// At most this many connections per process: the dispatcher, bot and webhook server together
/// rarely hold more than a few at once.
const POOL_SIZE: usize = 8;

/// How long a new connection may take (unless the URL sets `connect_timeout`): an unreachable
/// server fails a call in seconds, not after the kernel's two-minute TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a call waits for a free pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// A handle on the PostgreSQL queue: a connection pool, cheap to clone, safe to share.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    config: Arc<tokio_postgres::Config>,
    wake: Arc<Wake>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("PgStore")
            .field("server", &describe(&self.config))
            .finish_non_exhaustive()
    }
}

/// `user@host:port/dbname`, for logs: everything but the password.
pub fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{}:{}/{}",
        config.get_user().unwrap_or("?"),
        hosts.join(","),
        port,
        config.get_dbname().unwrap_or("?")
    )
}

impl PgStore {
    /// Connects to the server named by a `postgres://` URL and migrates its schema.
    pub async fn connect(url: &str) -> Result<PgStore, QueueError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(QueueError::Postgres)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("bennettbot");
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(POOL_WAIT),
                create: Some(CONNECT_TIMEOUT),
                recycle: Some(CONNECT_TIMEOUT),
            })
            .build()
            .map_err(|e| QueueError::Pool(e.to_string()))?;
        let store = PgStore {
            pool,
            config: Arc::new(config),
            wake: Arc::new(Wake::default()),
        };
        migrate::migrate(&mut store.client().await?).await?;
        tracing::debug!(server = %describe(&store.config), "PostgreSQL queue opened");
        Ok(store)
    }

    /// The server's version and the migration its database is at, without migrating it
    /// (for `check`).
    pub async fn inspect(url: &str) -> Result<(String, i64), QueueError> {
        let config = tokio_postgres::Config::from_str(url)?;
        let (client, connection) = config.connect(NoTls).await?;
        let driver = tokio::spawn(connection);
        let server: String = client.query_one("SHOW server_version", &[]).await?.get(0);
        let found = migrate::version(&client).await?;
        drop(client);
        let _ = driver.await;
        Ok((server, found))
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Client, QueueError> {
        self.pool
            .get()
            .await
            .map_err(|e| QueueError::Pool(e.to_string()))
    }

    /// Wakes this process's dispatcher at once (other processes hear the `NOTIFY` sent in the
    /// transaction that made the change).
    fn wake(&self) {
        self.wake.local();
    }

    /// Resolves when any process has changed the queue since the last wait (at once if one
    /// has): the first call starts listening on a connection of its own.
    pub fn notified(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        listen::ensure_listening(&self.wake, &self.config);
        let wake = Arc::clone(&self.wake);
        async move { wake.notified().await }
    }

    /// Counts the change notifications heard, standing in for SQLite's `data_version`.
    pub fn data_version(&self) -> i64 {
        self.wake.version()
    }

    /// The migration version recorded in the database.
    pub async fn schema_version(&self) -> Result<i64, QueueError> {
        migrate::version(&**self.client().await?).await
    }

    /// The server's version string (`SHOW server_version`).
    pub async fn server_version(&self) -> Result<String, QueueError> {
        let row = self
            .client()
            .await?
            .query_one("SHOW server_version", &[])
            .await?;
        Ok(row.get(0))
    }
}

/// The `NOTIFY` every changing transaction ends with; delivered to listeners at commit.
const NOTIFY_SQL: &str = "SELECT pg_notify('bennettbot_queue', '')";

/// Whether `e` is a unique-key violation (another transaction got there first).
fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}
