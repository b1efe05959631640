//! [`SlackClient`]: the Slack Web API over HTTP, with retries for transient failures.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{FileUpload, OutgoingMessage, PostedMessage, SlackApi, SlackError};

/// Where Slack's Web API lives.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";

/// How often a failed call is tried again (`MAX_SLACK_NOTIFY_RETRIES`).
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// The longest `Retry-After` honoured: a longer one would stall a job's report for too long,
/// so the call waits this long instead and may fail, which the caller reports.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

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

/// Whether a failed attempt is worth repeating, and after how long.
enum Attempt {
    Done(Value),
    Retry {
        error: SlackError,
        after: Option<Duration>,
    },
    Fail(SlackError),
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
    async fn call(&self, method: &str, body: Body) -> Result<Value, SlackError> {
        let mut attempt = 0;
        loop {
            match self.attempt(method, &body).await {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { error, after } => {
                    if attempt >= self.max_retries {
                        return Err(error);
                    }
                    let wait = after.unwrap_or_else(|| self.retry_delay * 2u32.pow(attempt));
                    tracing::warn!(method, %error, wait_ms = wait.as_millis() as u64, "retrying Slack call");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, method: &str, body: &Body) -> Attempt {
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
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Attempt::Retry {
                    error: transport(without_url(e).to_string()),
                    after: None,
                }
            }
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry {
                error: transport(format!("HTTP {status}")),
                after: retry_after(response.headers()),
            };
        }
        if !status.is_success() {
            return Attempt::Fail(transport(format!("HTTP {status}")));
        }
        let headers = response.headers().clone();
        let answer: Value = match response.json().await {
            Ok(answer) => answer,
            Err(e) => return Attempt::Fail(transport(format!("bad answer: {}", without_url(e)))),
        };
        if answer.get("ok").and_then(Value::as_bool) == Some(true) {
            return Attempt::Done(answer);
        }
        let error = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error")
            .to_string();
        let api_error = SlackError::Api {
            method: method.to_string(),
            error: error.clone(),
        };
        if error == "ratelimited" {
            Attempt::Retry {
                error: api_error,
                after: retry_after(&headers),
            }
        } else {
            Attempt::Fail(api_error)
        }
    }

    /// Sends the file's bytes to the URL `files.getUploadURLExternal` gave, with retries.
    async fn send_bytes(&self, upload_url: &str, content: &[u8]) -> Result<(), SlackError> {
        let method = "files.upload (bytes)";
        let mut attempt = 0;
        loop {
            let result = self
                .http
                .post(upload_url)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(content.to_vec())
                .send()
                .await;
            let (error, after) = match result {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    let error = SlackError::Transport {
                        method: method.to_string(),
                        detail: format!("HTTP {status}"),
                    };
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        return Err(error);
                    }
                    (error, retry_after(response.headers()))
                }
                Err(e) => (
                    SlackError::Transport {
                        method: method.to_string(),
                        detail: without_url(e).to_string(),
                    },
                    None,
                ),
            };
            if attempt >= self.max_retries {
                return Err(error);
            }
            tokio::time::sleep(after.unwrap_or_else(|| self.retry_delay * 2u32.pow(attempt))).await;
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

/// Seconds from a `Retry-After` header, capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
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
    fn retry_after_is_parsed_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
