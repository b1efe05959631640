//! `GET /metrics`: the registry in the Prometheus text format, with the queue's gauges read
//! at the moment of the scrape. Served on the webhook server's address by `serve` and
//! `webserver`, and on `METRICS_BIND` by `bot` and `dispatcher` run alone.

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use prometheus_client::encoding::prometheus_text::{encode, CONTENT_TYPE};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use super::families::METRICS;
use super::queue_gauges::set_queue_gauges;
use crate::queue::Queue;
use crate::webhook::{serve_connections, ConnectionLimits, ServeError};

/// One scrape at a time: the queue gauges are cleared and refilled for each, and two scrapes
/// interleaving could expose a half-filled set.
static SCRAPE: Mutex<()> = Mutex::const_new(());

/// The `/metrics` route alone. It goes outside the webhook middleware, so a scrape every few
/// seconds does not log a request line each time.
pub fn router(queue: Queue) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(queue)
}

async fn scrape(State(queue): State<Queue>) -> Response {
    let _one_at_a_time = SCRAPE.lock().await;
    let now = Utc::now();
    match queue.status(now).await {
        Ok(status) => set_queue_gauges(&METRICS, &status, now),
        Err(e) => {
            // Counters are still worth serving; stale gauges are not.
            tracing::warn!(error = %e, "metrics: could not read the queue for its gauges");
            set_queue_gauges(&METRICS, &Default::default(), now);
        }
    }
    let mut text = String::new();
    if let Err(e) = encode(&mut text, METRICS.registry()) {
        tracing::error!(error = %e, "metrics: could not encode");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// A server for `/metrics` alone (`METRICS_BIND`), listening but not yet serving.
pub struct MetricsServer {
    listener: TcpListener,
    addr: SocketAddr,
    app: Router,
}

impl MetricsServer {
    /// Listens on `bind` and logs the real address (port 0 leaves it to the OS).
    pub async fn bind(bind: SocketAddr, queue: Queue) -> Result<Self, ServeError> {
        let bind_error = |source| ServeError::Bind { addr: bind, source };
        let listener = TcpListener::bind(bind).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        tracing::info!(%addr, "metrics server listening");
        Ok(MetricsServer {
            listener,
            addr,
            app: router(queue),
        })
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, with the webhook server's connection limits.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let limits = ConnectionLimits::default();
        serve_connections(self.listener, self.app, limits, shutdown).await;
        tracing::info!(addr = %self.addr, "metrics server stopped");
    }
}
