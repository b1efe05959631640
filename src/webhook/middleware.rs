//! What every request goes through: a request id, a structured log line, panics turned into
//! 500s, a time limit, and the body size limit (GitHub deliveries it cuts off are counted).

use std::any::Any;
use std::time::Duration;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, Response, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::body::MAX_BODY_BYTES;
use crate::config::Config;

/// How long a request may take, body included: a client that trickles its body (or never
/// finishes it) gets 408 instead of holding a connection and a task for ever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The header carrying a request's id (set by a proxy, or generated here).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Wraps `router` in the middleware, outermost first; GitHub deliveries cut off by the limits
/// are counted under `config`'s project names.
pub fn layers(config: &'static Config, router: Router) -> Router {
    layers_with_timeout(config, router, REQUEST_TIMEOUT)
}

/// [`layers`] with another request time limit (tests use a short one).
pub fn layers_with_timeout(
    config: &'static Config,
    router: Router,
    request_timeout: Duration,
) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<Body>| {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            tracing::info_span!(
                "http",
                method = %req.method(),
                path = %req.uri().path(),
                request_id = %header(REQUEST_ID_HEADER),
                delivery = %header("x-github-delivery"),
            )
        })
        .on_request(())
        .on_response(log_response)
        // `on_response` already logged the status; a second line per 5xx would be noise.
        .on_failure(());
    router
        // Innermost, around the handler that reads the body.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        // axum's own 2 MB default would refuse bodies the limit below allows.
        .layer(DefaultBodyLimit::disable())
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(axum::middleware::from_fn(move |request, next| {
                    count_cut_off(config, request, next)
                }))
                // Refuses a declared Content-Length over the limit before reading any of the
                // body, and stops a chunked body as soon as it passes the limit.
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)),
        )
}

/// Counts as refused the GitHub deliveries answered by the limits below rather than by the
/// handler (which counts every other): a body over [`MAX_BODY_BYTES`] (413), or one still
/// arriving after the time limit (408).
async fn count_cut_off(
    config: &'static Config,
    request: Request<Body>,
    next: Next,
) -> Response<Body> {
    let project = request
        .uri()
        .path()
        .strip_prefix("/github/")
        .map(|rest| rest.trim_end_matches('/').to_owned());
    let response = next.run(request).await;
    let cut_off = matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    );
    if let (Some(project), true) = (project, cut_off) {
        crate::metrics::record::webhook_delivery(
            super::handler::counted_project(config, &project),
            crate::metrics::record::Delivery::Refused,
        );
    }
    response
}

fn log_response<B>(res: &Response<B>, latency: Duration, _: &Span) {
    tracing::info!(
        status = res.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked");
    (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response()
}
