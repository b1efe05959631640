//! `GET /metrics`: the registry in the Prometheus text format, with the queue's gauges read
//! at the moment of the scrape. Served on the webhook server's address by `serve` and
//! `webserver`, and on `METRICS_BIND` by `bot` and `dispatcher` run alone.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

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
use super::queue_gauges::{set_queue_gauges, QueueGauges};
use crate::connections::{self, ConnectionLimits, ServeError};

/// One scrape at a time: the queue gauges are cleared and refilled for each, and two scrapes
/// interleaving could expose a half-filled set.
static SCRAPE: Mutex<()> = Mutex::const_new(());

/// The `/metrics` route alone. It goes outside the webhook middleware, so a scrape every few
/// seconds does not log a request line each time.
/// `queue` gives the queue gauges' numbers at each scrape.
pub fn router(queue: Arc<dyn QueueGauges>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(queue)
}

async fn scrape(State(queue): State<Arc<dyn QueueGauges>>) -> Response {
    let _one_at_a_time = SCRAPE.lock().await;
    match queue.pending(Utc::now()).await {
        Ok(pending) => set_queue_gauges(&METRICS, &pending),
        Err(e) => {
            // Counters are still worth serving; stale gauges are not.
            tracing::warn!(error = %e, "metrics: could not read the queue for its gauges");
            set_queue_gauges(&METRICS, &[]);
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
    /// Listens on `bind` and logs the real address (port 0 leaves it to the OS); `queue`
    /// gives the queue gauges' numbers.
    pub async fn bind(bind: SocketAddr, queue: Arc<dyn QueueGauges>) -> Result<Self, ServeError> {
        let (listener, addr) = connections::listen(bind).await?;
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
        connections::serve(self.listener, self.app, limits, shutdown).await;
        tracing::info!(addr = %self.addr, "metrics server stopped");
    }
}
