//! The Events API over HTTP, for workspaces that forbid Socket Mode and for distributed apps:
//! Slack POSTs each event to `/slack/events`, signed with the app's signing secret. A request
//! is verified ([`super::signing`]), answered at once (Slack wants an answer within 3 s), and
//! its event handed to the bot through the same channel Socket Mode uses, so the bot acts on
//! it exactly as on an envelope: a retry of an event already taken (`X-Slack-Retry-Num`) is
//! acknowledged and not acted on again, even while the first delivery is being handled (the
//! bot claims each `event_id` before acting).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::events::Callback;
use super::signing;
use super::socket::SocketEvent;
use crate::settings::Secret;

/// The path Slack's request URL points at: `WEBHOOK_ORIGIN/slack/events`.
pub const PATH: &str = "/slack/events";

/// The largest request accepted: Slack's event payloads are a few kilobytes.
const BODY_LIMIT: usize = 1024 * 1024;

struct EventsState {
    secret: Secret,
    events: mpsc::UnboundedSender<SocketEvent>,
}

/// The `/slack/events` route, handing accepted events to `events` (the bot's receiver).
pub fn router(secret: Secret, events: mpsc::UnboundedSender<SocketEvent>) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::new(EventsState { secret, events }))
}

async fn receive(
    State(state): State<Arc<EventsState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = signing::verify(state.secret.expose().as_bytes(), &headers, &body, now) {
        tracing::warn!(error = %e, "refused a Slack events request");
        return (StatusCode::UNAUTHORIZED, e.to_string()).into_response();
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(payload @ Value::Object(_)) => payload,
        Ok(_) | Err(_) => {
            tracing::warn!("a signed Slack events request was not a JSON object");
            return (StatusCode::BAD_REQUEST, "not a JSON object").into_response();
        }
    };
    match payload.get("type").and_then(Value::as_str) {
        Some("url_verification") => {
            let challenge = payload.get("challenge").cloned().unwrap_or(Value::Null);
            tracing::info!("answered Slack's url_verification");
            Json(json!({ "challenge": challenge })).into_response()
        }
        Some("event_callback") => {
            if let Some(retry) = headers.get("x-slack-retry-num") {
                let reason = headers
                    .get("x-slack-retry-reason")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info!(retry = ?retry, reason, "Slack retried an event");
            }
            // The same typed callback as a Socket Mode envelope's payload (unknown event types
            // have their own variant, so only a malformed body fails here).
            let callback = match Callback::from_value(payload) {
                Ok(callback) => callback,
                Err(e) => {
                    tracing::warn!(error = %e, "a signed Slack event could not be read");
                    return (
                        StatusCode::BAD_REQUEST,
                        format!("not an event callback: {e}"),
                    )
                        .into_response();
                }
            };
            if state
                .events
                .send(SocketEvent::Events(Box::new(callback)))
                .is_err()
            {
                // The bot has stopped (shutting down): let Slack retry elsewhere or later.
                return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
            }
            StatusCode::OK.into_response()
        }
        other => {
            tracing::info!(kind = ?other, "ignored a Slack events request");
            StatusCode::OK.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    /// The lines of a manifest that are not comments, with trailing comments removed.
    fn settings_of(manifest: &str) -> Vec<String> {
        manifest
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| l.split(" #").next().unwrap_or(l).trim_end().to_owned())
            .collect()
    }

    #[test]
    fn the_http_manifest_is_the_socket_mode_one_but_for_how_events_arrive() {
        let socket = settings_of(include_str!("../../slack-app-manifest.yml"));
        let http = settings_of(include_str!("../../slack-app-manifest.http.yml"));
        let only = |a: &[String], b: &[String]| -> Vec<String> {
            a.iter().filter(|l| !b.contains(l)).cloned().collect()
        };
        assert_eq!(only(&socket, &http), ["  socket_mode_enabled: true"]);
        assert_eq!(
            only(&http, &socket),
            [
                format!("    request_url: WEBHOOK_ORIGIN{}", super::PATH),
                "  socket_mode_enabled: false".to_owned()
            ]
        );
    }
}
