//! [`SlackClient`]: the Slack Web API over HTTP, with retries for transient failures.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{FileUpload, OutgoingMessage, PostedMessage, SlackApi, SlackError};

/// Where Slack's Web API lives.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";

/// What the upload of a file's bytes is called in errors and metrics (it is no Web API method).
const UPLOAD_BYTES: &str = "files.upload (bytes)";

/// How often a failed call is tried again at once (`MAX_SLACK_NOTIFY_RETRIES`): only
/// [`SlackError::Unavailable`] failures are (HTTP 429 or 5xx, `ratelimited`, no connection).
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// The longest `Retry-After` a call waits out itself. A longer one ends the call with its
/// [`SlackError::Unavailable`] (which carries the whole wait), so the caller can retry when
/// Slack allows, never earlier, without holding up whoever awaits the call.
const MAX_WAIT_IN_CALL: Duration = Duration::from_secs(60);

/// A bot token, kept out of `Debug` output and logs.
#[derive(Clone)]
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The body of a Web API call: most methods take JSON, a few only form fields.
enum Body {
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

/// What `auth.test` says about the token's bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    /// The bot user's id, e.g. `U123`: mentions of the bot look like `<@U123>`.
    pub user_id: String,
    /// The bot user's name.
    pub user: String,
}

/// The Slack Web API over HTTP.
#[derive(Debug, Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    base_url: String,
    token: Token,
    max_retries: u32,
    retry_delay: Duration,
}

impl SlackClient {
    /// A client for `https://slack.com/api` with the default retries.
    pub fn new(token: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        SlackClient {
            http,
            base_url: DEFAULT_BASE_URL.to_string(),
            token: Token(token.into()),
            max_retries: DEFAULT_MAX_RETRIES,
            retry_delay: Duration::from_secs(1),
        }
    }

    /// Talks to another server (e.g. a test fake) instead of Slack.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_string();
        self
    }

    /// Tries a failed call this many more times.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Waits this long before a retry that Slack gave no `Retry-After` for (doubled each time).
    pub fn with_retry_delay(mut self, retry_delay: Duration) -> Self {
        self.retry_delay = retry_delay;
        self
    }

    /// The configured base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `auth.test`: who the token belongs to.
    pub async fn auth_test(&self) -> Result<AuthInfo, SlackError> {
        let answer = self.call("auth.test", Body::Json(json!({}))).await?;
        Ok(AuthInfo {
            user_id: str_field(&answer, "auth.test", "user_id")?,
            user: str_field(&answer, "auth.test", "user")?,
        })
    }

    /// Calls `method`, retrying transient failures, and returns Slack's `ok: true` answer.
    /// Every call the client makes goes through here (or [`Self::send_bytes`]), so this is
    /// where calls are counted.
    async fn call(&self, method: &str, body: Body) -> Result<Value, SlackError> {
        let result = self.call_retrying(method, body).await;
        crate::metrics::record::slack_call(method, &result);
        result
    }

    async fn call_retrying(&self, method: &str, body: Body) -> Result<Value, SlackError> {
        let mut attempt = 0;
        loop {
            let error = match self.attempt(method, &body).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let Some(wait) = self.retry_wait(&error, attempt) else {
                return Err(error);
            };
            tracing::warn!(method, %error, wait_ms = wait.as_millis() as u64, "retrying Slack call");
            crate::metrics::record::slack_retry(method);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// How long to wait before trying a failed call again, or `None` to give up on it:
    /// only transient failures are retried, `max_retries` times, after Slack's `Retry-After`
    /// (if it is at most [`MAX_WAIT_IN_CALL`]) or else `retry_delay` doubled each time.
    fn retry_wait(&self, error: &SlackError, attempt: u32) -> Option<Duration> {
        if !error.is_transient() || attempt >= self.max_retries {
            return None;
        }
        match error.retry_after() {
            Some(after) if after > MAX_WAIT_IN_CALL => None,
            Some(after) => Some(after),
            None => Some(self.retry_delay * 2u32.pow(attempt)),
        }
    }

    async fn attempt(&self, method: &str, body: &Body) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base_url);
        let request = self.http.post(url).bearer_auth(&self.token.0);
        let request = match body {
            Body::Json(value) => request.json(value),
            Body::Form(fields) => request.form(fields),
        };
        let transport = |detail: String| SlackError::Transport {
            method: method.to_string(),
            detail,
        };
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(method, without_url(e).to_string(), None))?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let after = retry_after(response.headers());
            return Err(unavailable(method, format!("HTTP {status}"), after));
        }
        if !status.is_success() {
            return Err(transport(format!("HTTP {status}")));
        }
        let headers = response.headers().clone();
        let answer: Value = response
            .json()
            .await
            .map_err(|e| transport(format!("bad answer: {}", without_url(e))))?;
        if answer.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(answer);
        }
        let error = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error")
            .to_string();
        if error == "ratelimited" {
            return Err(unavailable(method, error, retry_after(&headers)));
        }
        Err(SlackError::Api {
            method: method.to_string(),
            error,
        })
    }

    /// Sends the file's bytes to the URL `files.getUploadURLExternal` gave, with retries.
    async fn send_bytes(&self, upload_url: &str, content: &[u8]) -> Result<(), SlackError> {
        let result = self.send_bytes_retrying(upload_url, content).await;
        crate::metrics::record::slack_call(UPLOAD_BYTES, &result);
        result
    }

    async fn send_bytes_retrying(
        &self,
        upload_url: &str,
        content: &[u8],
    ) -> Result<(), SlackError> {
        let method = UPLOAD_BYTES;
        let mut attempt = 0;
        loop {
            let result = self
                .http
                .post(upload_url)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(content.to_vec())
                .send()
                .await;
            let error = match result {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    let detail = format!("HTTP {status}");
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        return Err(SlackError::Transport {
                            method: method.to_string(),
                            detail,
                        });
                    }
                    unavailable(method, detail, retry_after(response.headers()))
                }
                Err(e) => unavailable(method, without_url(e).to_string(), None),
            };
            let Some(wait) = self.retry_wait(&error, attempt) else {
                return Err(error);
            };
            crate::metrics::record::slack_retry(method);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

impl SlackApi for SlackClient {
    async fn post_message(&self, message: OutgoingMessage) -> Result<PostedMessage, SlackError> {
        let mut body = json!({ "channel": message.channel, "text": message.text });
        if let Some(thread_ts) = message.thread_ts {
            body["thread_ts"] = json!(thread_ts);
        }
        if let Some(blocks) = message.blocks {
            body["blocks"] = blocks;
        }
        let answer = self.call("chat.postMessage", Body::Json(body)).await?;
        Ok(PostedMessage {
            channel: str_field(&answer, "chat.postMessage", "channel")?,
            ts: str_field(&answer, "chat.postMessage", "ts")?,
        })
    }

    async fn add_reaction(&self, channel: &str, ts: &str, name: &str) -> Result<(), SlackError> {
        let body = json!({ "channel": channel, "timestamp": ts, "name": name });
        match self.call("reactions.add", Body::Json(body)).await {
            Err(SlackError::Api { error, .. }) if error == "already_reacted" => Ok(()),
            other => other.map(drop),
        }
    }

    async fn upload_file(&self, upload: FileUpload) -> Result<(), SlackError> {
        let method = "files.getUploadURLExternal";
        let form = vec![
            ("filename", upload.filename.clone()),
            ("length", upload.content.len().to_string()),
        ];
        let answer = self.call(method, Body::Form(form)).await?;
        let upload_url = str_field(&answer, method, "upload_url")?;
        let file_id = str_field(&answer, method, "file_id")?;
        self.send_bytes(&upload_url, &upload.content).await?;
        let mut body = json!({
            "files": [{ "id": file_id, "title": upload.title }],
            "channel_id": upload.channel,
        });
        if let Some(thread_ts) = upload.thread_ts {
            body["thread_ts"] = json!(thread_ts);
        }
        if let Some(comment) = upload.initial_comment {
            body["initial_comment"] = json!(comment);
        }
        self.call("files.completeUploadExternal", Body::Json(body))
            .await
            .map(drop)
    }

    async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        // chat.getPermalink takes form fields only.
        let form = vec![
            ("channel", channel.to_string()),
            ("message_ts", ts.to_string()),
        ];
        let answer = self.call("chat.getPermalink", Body::Form(form)).await?;
        str_field(&answer, "chat.getPermalink", "permalink")
    }
}

/// A string field of an `ok: true` answer.
fn str_field(answer: &Value, method: &str, field: &str) -> Result<String, SlackError> {
    answer
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| SlackError::Transport {
            method: method.to_string(),
            detail: format!("the answer has no `{field}`"),
        })
}

/// A transient failure of `method`.
fn unavailable(method: &str, detail: String, retry_after: Option<Duration>) -> SlackError {
    SlackError::Unavailable {
        method: method.to_string(),
        detail,
        retry_after,
    }
}

/// Seconds from a `Retry-After` header.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// Upload URLs carry credentials in their query, so errors never show URLs.
fn without_url(error: reqwest::Error) -> reqwest::Error {
    error.without_url()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_token() {
        let client = SlackClient::new("xoxb-very-secret");
        let shown = format!("{client:?}");
        assert!(!shown.contains("xoxb-very-secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn base_url_loses_trailing_slash() {
        let client = SlackClient::new("t").with_base_url("http://127.0.0.1:1/api/");
        assert_eq!(client.base_url(), "http://127.0.0.1:1/api");
    }

    #[test]
    fn retry_after_is_parsed() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3600)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn only_transient_failures_are_retried_and_long_waits_are_left_to_the_caller() {
        let client = SlackClient::new("t").with_retry_delay(Duration::from_millis(100));
        let down = |after| unavailable("chat.postMessage", "HTTP 503".into(), after);
        assert_eq!(
            client.retry_wait(&down(None), 0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            client.retry_wait(&down(None), 1),
            Some(Duration::from_millis(200))
        );
        assert_eq!(client.retry_wait(&down(None), DEFAULT_MAX_RETRIES), None);
        let soon = Some(Duration::from_secs(2));
        assert_eq!(client.retry_wait(&down(soon), 0), soon);
        assert_eq!(
            client.retry_wait(&down(Some(MAX_WAIT_IN_CALL + Duration::from_secs(1))), 0),
            None,
            "never retried before Retry-After, and not waited out in the call either"
        );
        let not_found = SlackError::Transport {
            method: "chat.postMessage".into(),
            detail: "HTTP 404 Not Found".into(),
        };
        assert_eq!(client.retry_wait(&not_found, 0), None);
    }
}
