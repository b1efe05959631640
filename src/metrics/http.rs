//! `GET /metrics`: the registry in the Prometheus text format, with the queue's gauges read
//! at most once per [`GAUGES_FRESH_FOR`]. Served only on `METRICS_BIND`, by whichever command
//! runs (`serve`, `webserver`, `bot`, `dispatcher`): never on the webhook address, which faces
//! the internet.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use prometheus_client::encoding::prometheus_text::{encode, CONTENT_TYPE};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::families::METRICS;
use super::queue_gauges::{set_queue_gauges, QueueGauges};
use crate::connections::{self, ConnectionLimits, ServeError};

/// How long the queue gauges read for one scrape also answer the scrapes after it. Reading
/// them is a query over every pending job; whoever can reach `/metrics` may scrape as often as
/// they like, and several Prometheus servers may scrape one process, so without this each
/// scrape would be a load on the shared database. 5 s is well under any useful scrape interval
/// (Prometheus' default is 15 s), so a gauge is at most that much staler than it could be.
pub const GAUGES_FRESH_FOR: Duration = Duration::from_secs(5);

/// One scrape at a time: the queue gauges are cleared and refilled for each, and two scrapes
/// interleaving could expose a half-filled set.
static SCRAPE: Mutex<()> = Mutex::const_new(());

/// Where a router's scrapes read the queue gauges from, and when they last did.
struct Gauges {
    queue: Arc<dyn QueueGauges>,
    /// When the queue was last read (whatever came of it), changed only under [`SCRAPE`].
    read_at: std::sync::Mutex<Option<Instant>>,
}

impl Gauges {
    /// Sets the queue gauges from the queue, unless it was read less than
    /// [`GAUGES_FRESH_FOR`] ago (the gauges then still hold what that read set).
    async fn refresh(&self) {
        let now = Instant::now();
        {
            let mut read_at = self.read_at.lock().expect("no panic while held");
            if read_at.is_some_and(|at| now.duration_since(at) < GAUGES_FRESH_FOR) {
                return;
            }
            // A failed read counts too: a database in trouble is not asked more often.
            *read_at = Some(now);
        }
        match self.queue.pending(Utc::now()).await {
            Ok(pending) => set_queue_gauges(&METRICS, &pending),
            Err(e) => {
                // Counters are still worth serving; stale gauges are not.
                tracing::warn!(error = %e, "metrics: could not read the queue for its gauges");
                set_queue_gauges(&METRICS, &[]);
            }
        }
    }
}

/// The `/metrics` route alone, without the webhook middleware, so a scrape every few seconds
/// does not log a request line each time. `queue` gives the queue gauges' numbers.
pub fn router(queue: Arc<dyn QueueGauges>) -> Router {
    let gauges = Gauges {
        queue,
        read_at: std::sync::Mutex::new(None),
    };
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Arc::new(gauges))
}

async fn scrape(State(gauges): State<Arc<Gauges>>) -> Response {
    let _one_at_a_time = SCRAPE.lock().await;
    gauges.refresh().await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::queue_gauges::{GaugeError, PendingGauge};
    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::Request;
    use chrono::DateTime;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    /// Counts the reads; one job pending.
    #[derive(Default)]
    struct CountingGauges {
        reads: AtomicUsize,
    }

    #[async_trait]
    impl QueueGauges for CountingGauges {
        async fn pending(&self, _now: DateTime<Utc>) -> Result<Vec<PendingGauge>, GaugeError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![PendingGauge {
                job_type: "cached_gauges_test".into(),
                depth: 1,
                oldest_age_seconds: 0.0,
            }])
        }
    }

    async fn scrape_once(app: &Router) -> String {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_is_read_at_most_once_per_period_however_many_scrape() {
        let queue = Arc::new(CountingGauges::default());
        let app = router(queue.clone());
        let reads = || queue.reads.load(Ordering::SeqCst);

        // A burst, partly at once: one read serves them all.
        let burst: Vec<_> = (0..20).map(|_| scrape_once(&app)).collect();
        for text in futures_util::future::join_all(burst).await {
            assert!(text.contains("cached_gauges_test"), "{text}");
        }
        for _ in 0..20 {
            scrape_once(&app).await;
        }
        assert_eq!(reads(), 1);

        tokio::time::advance(GAUGES_FRESH_FOR - Duration::from_millis(1)).await;
        scrape_once(&app).await;
        assert_eq!(reads(), 1, "still fresh");

        tokio::time::advance(Duration::from_millis(1)).await;
        for _ in 0..5 {
            scrape_once(&app).await;
        }
        assert_eq!(
            reads(),
            2,
            "read again once the period is over, and only once"
        );
    }
}
