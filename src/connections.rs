//! Serving an HTTP server's connections (the webhook server's and `/metrics` alone): at most
//! so many at once, each given a time limit for sending its next request's headers, and a
//! shutdown that does not wait on stalled clients.
//!
//! `axum::serve` offers none of this (a client that never finishes its headers holds its
//! connection for ever, and holds up shutdown), so connections are served with hyper's HTTP/1
//! builder here. HTTP/1 only: GitHub and proxies speak it, and hyper's header time limit does
//! not cover HTTP/2.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// How long a connection may take to send a request's headers, counted from when it opens or
/// from its previous response: it also closes idle keep-alive connections.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections are served at once; well under systemd's default 1,024 open files.
pub const MAX_CONNECTIONS: usize = 256;

/// The most a connection reads ahead of its handler (hyper's default is about 400 KiB): a body
/// arrives through this buffer, so it bounds what each connection holds beyond what the
/// handler counts (the webhook body budget), at 256 × 64 KiB = 16 MiB for all. Also the
/// largest request head accepted; GitHub's and Slack's are a few KB.
pub const MAX_READ_BUFFER_BYTES: usize = 16 * 1024;

/// How long requests in flight may finish after the shutdown signal before their connections
/// are dropped.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The limits the server puts on its connections (tests shorten them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`MAX_CONNECTIONS`]; clients over it wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// See [`DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            drain_timeout: DRAIN_TIMEOUT,
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be listened on (in use, not ours, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
}

/// Listens on `bind`; also returns the real address (port 0 leaves it to the OS).
pub async fn listen(bind: SocketAddr) -> Result<(TcpListener, SocketAddr), ServeError> {
    let bind_error = |source| ServeError::Bind { addr: bind, source };
    let listener = TcpListener::bind(bind).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, addr))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// for at most `limits.drain_timeout` and drops whatever connections are left.
pub async fn serve(
    mut listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_READ_BUFFER_BYTES);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (permit, stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                log_panic(ended);
                continue;
            }
            accepted = accept(&mut listener, &permits) => accepted,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(err) = connection.await {
                if err.is_timeout() {
                    tracing::info!(%remote, "closed a connection that sent no request in time");
                } else {
                    tracing::debug!(%remote, error = %err, "connection ended with an error");
                }
            }
            drop(permit);
        });
    }
    // New clients are refused from here on.
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "dropping connections still open after the drain time"
        );
    }
    // Aborts the connections left (stalled clients, requests over the drain time).
    connections.shutdown().await;
}

/// The next connection, once there is room for it: at the cap, clients wait in the listen
/// backlog (costing the server no file) rather than being turned away.
async fn accept(
    listener: &mut TcpListener,
    permits: &Arc<Semaphore>,
) -> (OwnedSemaphorePermit, TcpStream, SocketAddr) {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    // axum's accept retries, and waits a second after errors such as running out of files.
    let (stream, remote) = Listener::accept(listener).await;
    (permit, stream, remote)
}

fn log_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(err) = ended {
        tracing::error!(error = %err, "a connection task failed");
    }
}
