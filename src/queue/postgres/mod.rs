//! The PostgreSQL store: the same queue as the SQLite one, for several processes on several
//! hosts. Async all the way (tokio-postgres over a deadpool pool), so [`super::Queue`] awaits
//! it directly. Concurrency comes from PostgreSQL itself: `FOR UPDATE SKIP LOCKED` to reserve,
//! a unique partial index for one running job per type, `LISTEN/NOTIFY` for wake-ups.

mod claims;
mod deliveries;
mod history;
mod jobs;
mod listen;
mod migrate;
mod outbox;
mod requesters;
mod runs;
mod schedule_runs;
mod status;
mod suppression;
pub mod tls;

use std::str::FromStr;
use std::sync::Arc;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres_rustls::MakeRustlsConnect;

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
    /// The TLS every connection uses (the `LISTEN` one too).
    tls: MakeRustlsConnect,
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

/// tokio-postgres's config for a `postgres://` URL and the TLS connector its `sslmode` and
/// `sslrootcert` ask for.
fn read_url(
    url: &str,
) -> Result<(tokio_postgres::Config, MakeRustlsConnect, tls::SslMode), QueueError> {
    let (url, tls) = tls::split_url(url)?;
    let mut config = tokio_postgres::Config::from_str(&url)?;
    tls.apply(&mut config)?;
    Ok((config, tls.connector()?, tls.mode))
}

impl PgStore {
    /// Connects to the server named by a `postgres://` URL and migrates its schema.
    pub async fn connect(url: &str) -> Result<PgStore, QueueError> {
        let (mut config, tls, _) = read_url(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("bennettbot");
        }
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
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
            tls,
            wake: Arc::new(Wake::default()),
        };
        migrate::migrate(&mut store.client().await?).await?;
        tracing::debug!(server = %describe(&store.config), "PostgreSQL queue opened");
        Ok(store)
    }

    /// The server's version, the migration its database is at and whether the connection is
    /// encrypted, without migrating it (for `check`).
    pub async fn inspect(url: &str) -> Result<Inspection, QueueError> {
        let (config, tls, mode) = read_url(url)?;
        let (client, connection) = config.connect(tls).await?;
        let driver = tokio::spawn(connection);
        let server_version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
        let migration = migrate::version(&client).await?;
        let encrypted = encrypted(&client).await?;
        drop(client);
        let _ = driver.await;
        Ok(Inspection {
            server_version,
            migration,
            encrypted,
            mode,
        })
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Client, QueueError> {
        self.pool
            .get()
            .await
            .map_err(|e| QueueError::Pool(crate::error_chain::error_chain(&e)))
    }

    /// Wakes this process's dispatcher at once (other processes hear the `NOTIFY` sent in the
    /// transaction that made the change).
    fn wake(&self) {
        self.wake.local();
    }

    /// Resolves when any process has changed the queue since the last wait (at once if one
    /// has): the first call starts listening on a connection of its own.
    pub fn notified(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        listen::ensure_listening(&self.wake, &self.config, &self.tls);
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

    /// Whether every connection this store holds to the server now (the pool's and the
    /// `LISTEN` one) is encrypted, with how many there are.
    pub async fn all_connections_encrypted(&self) -> Result<(bool, i64), QueueError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT bool_and(s.ssl), count(*) FROM pg_stat_ssl s \
                 JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = current_database() AND a.application_name = $1",
                &[&self.config.get_application_name().unwrap_or("bennettbot")],
            )
            .await?;
        Ok((row.get::<_, Option<bool>>(0).unwrap_or(false), row.get(1)))
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

/// What `check` learns from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `SHOW server_version`.
    pub server_version: String,
    /// The migration the database is at.
    pub migration: i64,
    /// Whether the connection is encrypted (TLS).
    pub encrypted: bool,
    /// The `sslmode` it was made with.
    pub mode: tls::SslMode,
}

impl Inspection {
    /// `PostgreSQL 17.2, TLS (sslmode=verify-full)`, or `..., not encrypted`.
    pub fn describe(&self) -> String {
        let link = if self.encrypted {
            format!("TLS (sslmode={})", self.mode.name())
        } else {
            format!("not encrypted (sslmode={})", self.mode.name())
        };
        format!("PostgreSQL {}, {link}", self.server_version)
    }
}

/// Whether `client`'s own connection is encrypted, as the server sees it.
async fn encrypted(client: &tokio_postgres::Client) -> Result<bool, QueueError> {
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// The `NOTIFY` every changing transaction ends with; delivered to listeners at commit.
const NOTIFY_SQL: &str = "SELECT pg_notify('bennettbot_queue', '')";

/// Whether `e` is a unique-key violation (another transaction got there first).
fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}
