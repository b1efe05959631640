//! Slack's side of the Events API over HTTP, for tests: posts events to the bot's
//! `/slack/events` signed as Slack signs them (`X-Slack-Signature`, `X-Slack-Request-Timestamp`),
//! with retries (`X-Slack-Retry-Num`) and, on request, bad signatures or stale timestamps.

use std::sync::atomic::{AtomicU64, Ordering};

use bennettbot::slack::signing;
use serde_json::{json, Value};

/// The signing secret the tests give the bot.
pub const SIGNING_SECRET: &str = "test-signing-secret";

/// Posts signed event requests to one bot.
pub struct FakeEvents {
    /// `http://127.0.0.1:<port>/slack/events`.
    pub url: String,
    client: reqwest::Client,
    next_id: AtomicU64,
}

/// How to sign one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// As Slack does, now.
    Good,
    /// With another secret.
    Forged,
    /// As Slack did this many seconds ago (a replay of a captured request).
    Old(i64),
}

impl FakeEvents {
    /// Posts to the bot listening at `addr`.
    pub fn new(addr: std::net::SocketAddr) -> FakeEvents {
        FakeEvents {
            url: format!("http://{addr}/slack/events"),
            client: reqwest::Client::new(),
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh event id.
    pub fn event_id(&self) -> String {
        format!("EvHttp{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Posts `body` signed as asked, with `retry` as `X-Slack-Retry-Num` if set; returns the
    /// status and the answer's body.
    pub async fn post(&self, body: &str, signing: Signing, retry: Option<u32>) -> (u16, String) {
        let now = chrono::Utc::now().timestamp();
        let (secret, at) = match signing {
            Signing::Good => (SIGNING_SECRET, now),
            Signing::Forged => ("not-the-secret", now),
            Signing::Old(secs) => (SIGNING_SECRET, now - secs),
        };
        let timestamp = at.to_string();
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(signing::TIMESTAMP_HEADER, &timestamp)
            .header(
                signing::SIGNATURE_HEADER,
                signing::sign(secret.as_bytes(), &timestamp, body.as_bytes()),
            )
            .body(body.to_owned());
        if let Some(n) = retry {
            request = request
                .header("x-slack-retry-num", n.to_string())
                .header("x-slack-retry-reason", "http_timeout");
        }
        let response = request.send().await.expect("posting to /slack/events");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// The `event_callback` body Slack sends for `event`.
    pub fn body(event: &Value, event_id: &str) -> String {
        json!({
            "token": "deprecated-verification-token",
            "team_id": "T0TEAM",
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": chrono::Utc::now().timestamp(),
            "event": event,
        })
        .to_string()
    }

    /// Sends `event` as Slack would, asserting it is accepted; returns its event id.
    pub async fn send_event(&self, event: Value) -> String {
        let id = self.event_id();
        self.send_event_with_id(&event, &id, None).await;
        id
    }

    /// Sends `event` with `event_id` (retries reuse it), asserting a 200.
    pub async fn send_event_with_id(&self, event: &Value, event_id: &str, retry: Option<u32>) {
        let (status, answer) = self
            .post(&Self::body(event, event_id), Signing::Good, retry)
            .await;
        assert_eq!(status, 200, "event {event_id} refused: {answer}");
    }
}
