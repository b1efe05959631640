//! [`SlackClient`]: the Slack Web API over HTTP through slack-morphism, with the one retry
//! policy of [`super::retry`]. Every Slack call bennettbot makes over HTTP goes through it:
//! the dispatcher's reports, the webhook's notices, the bot (and its Socket Mode URL) and
//! `check`.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use slack_morphism::errors as sm_errors;
use slack_morphism::prelude as sm;

use super::bot_api::{Channel, SearchMatch, SlackBotApi, User};
use super::retry::Policy;
use super::socket::{Connector, SocketModeClient};
use super::{FileUpload, OutgoingMessage, PostedMessage, SlackApi, SlackError};
use crate::error_chain::error_chain;
use crate::metrics::record::SlackCall;
use crate::settings::Settings;

/// Where Slack's Web API lives.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";

/// What the upload of a file's bytes is called in errors and metrics (it is no Web API method).
const UPLOAD_BYTES: &str = "files.upload (bytes)";

/// How often a failed call is tried again at once (`MAX_SLACK_NOTIFY_RETRIES`): only
/// [`SlackError::Unavailable`] failures are (HTTP 429 or 5xx, `ratelimited`, no connection).
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// The first backoff of a call's own retries (see [`Policy`]).
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The longest one try of a call may take before it counts as a lost connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Users and channels asked for per page.
const PAGE_SIZE: u16 = 200;

/// What `auth.test` says about the token's bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    /// The bot user's id, e.g. `U123`: mentions of the bot look like `<@U123>`.
    pub user_id: String,
    /// The bot user's name.
    pub user: String,
}

/// The Slack Web API over HTTP.
#[derive(Clone)]
pub struct SlackClient {
    client: std::sync::Arc<sm::SlackClient<Connector>>,
    base_url: String,
    bot: sm::SlackApiToken,
    /// The app-level token, for `apps.connections.open` (Socket Mode).
    app: Option<sm::SlackApiToken>,
    /// A user token, for `search.messages`.
    user: Option<sm::SlackApiToken>,
    max_retries: u32,
    retry_delay: Duration,
}

impl fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens never show in logs.
        f.debug_struct("SlackClient")
            .field("base_url", &self.base_url)
            .field("bot_token", &"<redacted>")
            .field("app_token", &self.app.as_ref().map(|_| "<redacted>"))
            .field("user_token", &self.user.as_ref().map(|_| "<redacted>"))
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// A slack-morphism client for `base_url`. Its own connector is HTTPS-only, and its rate
/// control would hold `chat.postMessage` to one a second: neither is used.
fn hyper_client(base_url: &str) -> sm::SlackClient<Connector> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    sm::SlackClient::new(
        sm::SlackClientHyperConnector::with_connector(https).with_slack_api_url(base_url),
    )
}

fn token(value: impl Into<String>) -> sm::SlackApiToken {
    sm::SlackApiToken::new(sm::SlackApiTokenValue(value.into()))
}

impl SlackClient {
    /// `apps.connections.open` (app token): a fresh Socket Mode URL. `check` asks for one to
    /// prove the app token works; the bot's own connections are opened by slack-morphism.
    pub async fn open_connection(&self) -> Result<String, SlackError> {
        let method = "apps.connections.open";
        let request = sm::SlackApiAppsConnectionOpenRequest::new();
        let request = &request;
        let answer = self
            .call(method, self.app_token(method)?, |session| async move {
                session.apps_connections_open(request).await
            })
            .await?;
        Ok(answer.url.0.to_string())
    }

    /// A client for `https://slack.com/api` with the default retries.
    pub fn new(bot_token: impl Into<String>) -> Self {
        SlackClient {
            client: std::sync::Arc::new(hyper_client(DEFAULT_BASE_URL)),
            base_url: DEFAULT_BASE_URL.to_string(),
            bot: token(bot_token),
            app: None,
            user: None,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_delay: DEFAULT_RETRY_DELAY,
        }
    }

    /// The client the settings describe: `SLACK_BOT_TOKEN` (required), `SLACK_APP_TOKEN` and
    /// `SLACK_BOT_USER_TOKEN` if set, `SLACK_API_URL`, `MAX_SLACK_NOTIFY_RETRIES`.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let bot = settings
            .slack_bot_token
            .as_ref()
            .context("SLACK_BOT_TOKEN is not set")?;
        let mut client = SlackClient::new(bot.expose())
            .with_base_url(settings.slack_api_url.clone())
            .with_max_retries(settings.max_slack_notify_retries);
        if let Some(app) = &settings.slack_app_token {
            client = client.with_app_token(app.expose());
        }
        if let Some(user) = &settings.slack_bot_user_token {
            client = client.with_user_token(user.expose());
        }
        Ok(client)
    }

    /// Talks to another server (e.g. a test fake) instead of Slack.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_string();
        self.client = std::sync::Arc::new(hyper_client(&self.base_url));
        self
    }

    /// Tries a failed call this many more times.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The first backoff before a retry that Slack gave no `Retry-After` for (doubled each
    /// time, jittered).
    pub fn with_retry_delay(mut self, retry_delay: Duration) -> Self {
        self.retry_delay = retry_delay;
        self
    }

    /// Opens Socket Mode connections with this app-level token.
    pub fn with_app_token(mut self, app_token: impl Into<String>) -> Self {
        self.app = Some(token(app_token));
        self
    }

    /// Searches with this user token.
    pub fn with_user_token(mut self, user_token: impl Into<String>) -> Self {
        self.user = Some(token(user_token));
        self
    }

    /// The configured base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn policy(&self) -> Policy {
        Policy::immediate(self.retry_delay, self.max_retries)
    }

    /// Makes one Web API call with `token` under the retry policy, and counts it. Every call
    /// the client makes goes through here, so this is where calls are counted.
    async fn call<'s, T, F, Fut>(
        &'s self,
        method: &str,
        token: &'s sm::SlackApiToken,
        mut attempt: F,
    ) -> Result<T, SlackError>
    where
        F: FnMut(sm::SlackClientSession<'s, Connector>) -> Fut,
        Fut: Future<Output = sm::ClientResult<T>>,
    {
        let result = self
            .policy()
            .call(method, || {
                let answer = attempt(self.client.open_session(token));
                async move {
                    match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
                        Ok(answer) => answer.map_err(|e| slack_error(method, e)),
                        Err(_) => Err(SlackError::Unavailable {
                            method: method.to_string(),
                            detail: format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
                            retry_after: None,
                        }),
                    }
                }
            })
            .await;
        crate::metrics::record::slack_call(method, call_outcome(&result));
        result
    }

    /// The app token, or an error naming the setting.
    fn app_token(&self, method: &str) -> Result<&sm::SlackApiToken, SlackError> {
        self.app.as_ref().ok_or_else(|| SlackError::Api {
            method: method.to_string(),
            error: "no app token (SLACK_APP_TOKEN)".to_string(),
        })
    }

    /// `auth.test`: who the token belongs to.
    pub async fn auth_test(&self) -> Result<AuthInfo, SlackError> {
        let answer = self
            .call("auth.test", &self.bot, |session| async move {
                session.auth_test().await
            })
            .await?;
        Ok(AuthInfo {
            user_id: answer.user_id.0,
            user: answer.user.unwrap_or_default(),
        })
    }
}

/// Sorts slack-morphism's errors for the retry policy: 429 and `ratelimited` (with Slack's
/// `Retry-After`), 5xx and connection failures are [`SlackError::Unavailable`]; `ok: false`
/// answers are [`SlackError::Api`]; other statuses and unreadable answers are
/// [`SlackError::Transport`].
fn slack_error(method: &str, error: sm_errors::SlackClientError) -> SlackError {
    let method = method.to_string();
    let unavailable = |detail: String, retry_after| SlackError::Unavailable {
        method: method.clone(),
        detail,
        retry_after,
    };
    match error {
        sm_errors::SlackClientError::ApiError(e) if e.code == "ratelimited" => {
            unavailable(e.code, None)
        }
        sm_errors::SlackClientError::ApiError(e) => SlackError::Api {
            method,
            error: e.code,
        },
        sm_errors::SlackClientError::RateLimitError(e) => unavailable(
            format!("HTTP {}", hyper::StatusCode::TOO_MANY_REQUESTS),
            e.retry_after,
        ),
        sm_errors::SlackClientError::HttpError(e) if e.status_code.is_server_error() => {
            unavailable(format!("HTTP {}", e.status_code), None)
        }
        sm_errors::SlackClientError::HttpError(e) => SlackError::Transport {
            method,
            detail: format!("HTTP {}", e.status_code),
        },
        sm_errors::SlackClientError::HttpProtocolError(e) => {
            let detail = match &e.cause {
                Some(cause) => error_chain(cause.as_ref()),
                None => "connection failed".to_string(),
            };
            unavailable(detail, None)
        }
        sm_errors::SlackClientError::EndOfStream(_) => {
            unavailable("connection closed".to_string(), None)
        }
        sm_errors::SlackClientError::ProtocolError(e) => SlackError::Transport {
            method,
            detail: format!("bad answer: {}", e.json_error),
        },
        other => SlackError::Transport {
            method,
            detail: other.to_string(),
        },
    }
}

/// A channel id as slack-morphism types it.
/// How a call that ended with `result` is counted.
fn call_outcome<T>(result: &Result<T, SlackError>) -> SlackCall {
    match result {
        Ok(_) => SlackCall::Ok,
        Err(SlackError::Api { .. }) => SlackCall::ApiError,
        Err(SlackError::Unavailable { .. }) => SlackCall::Unavailable,
        Err(SlackError::Transport { .. }) => SlackCall::TransportError,
    }
}

fn channel_id(channel: &str) -> sm::SlackChannelId {
    sm::SlackChannelId(channel.to_string())
}

fn message_ts(ts: &str) -> sm::SlackTs {
    sm::SlackTs(ts.to_string())
}

impl SlackApi for SlackClient {
    async fn post_message(&self, message: OutgoingMessage) -> Result<PostedMessage, SlackError> {
        let method = "chat.postMessage";
        let blocks = match message.blocks {
            None => None,
            Some(blocks) => Some(
                serde_json::from_value::<Vec<sm::SlackBlock>>(blocks).map_err(|e| {
                    SlackError::Api {
                        method: method.to_string(),
                        error: format!("invalid_blocks ({e})"),
                    }
                })?,
            ),
        };
        let request = sm::SlackApiChatPostMessageRequest::new(
            channel_id(&message.channel),
            sm::SlackMessageContent::new()
                .with_text(message.text)
                .opt_blocks(blocks),
        )
        .opt_thread_ts(message.thread_ts.as_deref().map(message_ts));
        let request = &request;
        let answer = self
            .call(method, &self.bot, |session| async move {
                session.chat_post_message(request).await
            })
            .await?;
        Ok(PostedMessage {
            channel: answer.channel.0,
            ts: answer.ts.0,
        })
    }

    async fn add_reaction(&self, channel: &str, ts: &str, name: &str) -> Result<(), SlackError> {
        self.add_reaction_once(channel, ts, name).await.map(drop)
    }

    async fn upload_file(&self, upload: FileUpload) -> Result<(), SlackError> {
        let asked = sm::SlackApiFilesGetUploadUrlExternalRequest::new(
            upload.filename.clone(),
            upload.content.len(),
        );
        let asked = &asked;
        let url = self
            .call(
                "files.getUploadURLExternal",
                &self.bot,
                |session| async move { session.get_upload_url_external(asked).await },
            )
            .await?;
        let bytes = sm::SlackApiFilesUploadViaUrlRequest::new(
            url.upload_url,
            upload.content,
            "application/octet-stream".to_string(),
        );
        let bytes = &bytes;
        // Upload URLs carry credentials: errors name the step, never the URL.
        self.call(UPLOAD_BYTES, &self.bot, |session| async move {
            session.files_upload_via_url(bytes).await
        })
        .await?;
        let complete = sm::SlackApiFilesCompleteUploadExternalRequest::new(vec![
            sm::SlackApiFilesComplete::new(url.file_id).with_title(upload.title),
        ])
        .with_channel_id(channel_id(&upload.channel))
        .opt_thread_ts(upload.thread_ts.as_deref().map(message_ts))
        .opt_initial_comment(upload.initial_comment);
        let complete = &complete;
        self.call(
            "files.completeUploadExternal",
            &self.bot,
            |session| async move { session.files_complete_upload_external(complete).await },
        )
        .await
        .map(drop)
    }

    async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        let request = sm::SlackApiChatGetPermalinkRequest::new(channel_id(channel), message_ts(ts));
        let request = &request;
        let answer = self
            .call("chat.getPermalink", &self.bot, |session| async move {
                session.chat_get_permalink(request).await
            })
            .await?;
        Ok(answer.permalink.to_string())
    }
}

/// `search.messages`' answer: slack-morphism has no type for it.
#[derive(Deserialize)]
struct SearchAnswer {
    #[serde(default)]
    messages: Option<SearchMessages>,
}

#[derive(Deserialize)]
struct SearchMessages {
    #[serde(default)]
    matches: Vec<SearchMatch>,
}

impl From<sm::SlackUser> for User {
    fn from(user: sm::SlackUser) -> Self {
        User {
            id: user.id.0,
            is_bot: user.flags.is_bot.unwrap_or(false),
            is_restricted: user.flags.is_restricted.unwrap_or(false),
            is_ultra_restricted: user.flags.is_ultra_restricted.unwrap_or(false),
            deleted: user.deleted.unwrap_or(false),
        }
    }
}

impl From<sm::SlackChannelInfo> for Channel {
    fn from(channel: sm::SlackChannelInfo) -> Self {
        Channel {
            id: channel.id.0,
            name: channel.name.unwrap_or_default(),
            is_member: channel.flags.is_member.unwrap_or(false),
            is_archived: channel.flags.is_archived.unwrap_or(false),
        }
    }
}

impl SlackBotApi for SlackClient {
    fn socket_mode(&self) -> Result<SocketModeClient, SlackError> {
        Ok(SocketModeClient {
            client: self.client.clone(),
            app_token: self.app_token("apps.connections.open")?.clone(),
        })
    }

    async fn bot_user_id(&self) -> Result<String, SlackError> {
        Ok(self.auth_test().await?.user_id)
    }

    async fn users(&self) -> Result<Vec<User>, SlackError> {
        let mut users = Vec::new();
        let mut cursor = None;
        loop {
            let request = sm::SlackApiUsersListRequest::new()
                .with_limit(PAGE_SIZE)
                .opt_cursor(cursor);
            let request = &request;
            let page = self
                .call("users.list", &self.bot, |session| async move {
                    session.users_list(request).await
                })
                .await?;
            users.extend(page.members.into_iter().map(User::from));
            cursor = page.response_metadata.and_then(|m| m.next_cursor);
            if cursor.is_none() {
                return Ok(users);
            }
        }
    }

    async fn user(&self, id: &str) -> Result<User, SlackError> {
        let request = sm::SlackApiUsersInfoRequest::new(sm::SlackUserId(id.to_string()));
        let request = &request;
        let answer = self
            .call("users.info", &self.bot, |session| async move {
                session.users_info(request).await
            })
            .await?;
        Ok(answer.user.into())
    }

    async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let request =
            sm::SlackApiUserGroupsUsersListRequest::new(sm::SlackUserGroupId(group.to_string()));
        let request = &request;
        let answer = self
            .call("usergroups.users.list", &self.bot, |session| async move {
                session.usergroups_users_list(request).await
            })
            .await?;
        Ok(answer.users.into_iter().map(|u| u.0).collect())
    }

    async fn public_channels(&self) -> Result<Vec<Channel>, SlackError> {
        let mut channels = Vec::new();
        let mut cursor = None;
        loop {
            let request = sm::SlackApiConversationsListRequest::new()
                .with_limit(PAGE_SIZE)
                .with_exclude_archived(true)
                .with_types(vec![sm::SlackConversationType::Public])
                .opt_cursor(cursor);
            let request = &request;
            let page = self
                .call("conversations.list", &self.bot, |session| async move {
                    session.conversations_list(request).await
                })
                .await?;
            channels.extend(page.channels.into_iter().map(Channel::from));
            cursor = page.response_metadata.and_then(|m| m.next_cursor);
            if cursor.is_none() {
                return Ok(channels);
            }
        }
    }

    async fn join(&self, channel: &str) -> Result<(), SlackError> {
        let request = sm::SlackApiConversationsJoinRequest::new(channel_id(channel));
        let request = &request;
        self.call("conversations.join", &self.bot, |session| async move {
            session.conversations_join(request).await
        })
        .await
        .map(drop)
    }

    async fn add_reaction_once(
        &self,
        channel: &str,
        ts: &str,
        name: &str,
    ) -> Result<bool, SlackError> {
        let request = sm::SlackApiReactionsAddRequest::new(
            channel_id(channel),
            sm::SlackReactionName(name.to_string()),
            message_ts(ts),
        );
        let request = &request;
        let added = self
            .call("reactions.add", &self.bot, |session| async move {
                session.reactions_add(request).await
            })
            .await;
        match added {
            Ok(_) => Ok(true),
            Err(SlackError::Api { error, .. }) if error == "already_reacted" => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn can_search(&self) -> bool {
        self.user.is_some()
    }

    async fn search(&self, query: &str) -> Result<Vec<SearchMatch>, SlackError> {
        let method = "search.messages";
        let user = self.user.as_ref().ok_or_else(|| SlackError::Api {
            method: method.to_string(),
            error: "no user token (SLACK_BOT_USER_TOKEN)".to_string(),
        })?;
        let params = [
            ("query", Some(query.to_string())),
            ("sort", Some("timestamp".to_string())),
            ("count", Some("100".to_string())),
        ];
        let params = &params;
        let answer: SearchAnswer = self
            .call(method, user, |session| async move {
                session
                    .http_session_api
                    .http_get(method, params, None)
                    .await
            })
            .await?;
        Ok(answer.messages.map(|m| m.matches).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_tokens() {
        let client = SlackClient::new("xoxb-very-secret")
            .with_app_token("xapp-secret")
            .with_user_token("xoxp-secret");
        let shown = format!("{client:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn base_url_loses_trailing_slash() {
        let client = SlackClient::new("t").with_base_url("http://127.0.0.1:1/api/");
        assert_eq!(client.base_url(), "http://127.0.0.1:1/api");
    }

    #[test]
    fn slack_morphism_errors_are_sorted_for_the_retry_policy() {
        let rate_limited = sm_errors::SlackClientError::RateLimitError(
            sm_errors::SlackRateLimitError::new().with_retry_after(Duration::from_secs(3)),
        );
        let error = slack_error("chat.postMessage", rate_limited);
        assert!(error.is_transient());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
        let down = sm_errors::SlackClientHttpError::new(hyper::StatusCode::BAD_GATEWAY);
        let error = slack_error("m", sm_errors::SlackClientError::HttpError(down));
        assert!(
            error.is_transient() && error.to_string().contains("HTTP 502"),
            "{error}"
        );
        let refused = sm_errors::SlackClientHttpError::new(hyper::StatusCode::FORBIDDEN);
        let error = slack_error("m", sm_errors::SlackClientError::HttpError(refused));
        assert!(
            !error.is_transient() && error.to_string().contains("HTTP 403"),
            "{error}"
        );
        let answered = sm_errors::SlackClientApiError::new("ratelimited".into());
        assert!(slack_error("m", sm_errors::SlackClientError::ApiError(answered)).is_transient());
        let answered = sm_errors::SlackClientApiError::new("channel_not_found".into());
        assert_eq!(
            slack_error("m", sm_errors::SlackClientError::ApiError(answered)),
            SlackError::Api {
                method: "m".into(),
                error: "channel_not_found".into()
            }
        );
    }

    /// A Slack stand-in: `users.list` and `conversations.list` answer in two pages (recording
    /// the cursors asked for); any other method answers with the bearer token it was called
    /// with, in the fields the client reads.
    async fn paged_slack() -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>,
    ) {
        use axum::extract::{Path, Query, State};
        use axum::http::HeaderMap;
        use serde_json::{json, Value};
        type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;
        async fn answer(
            State(seen): State<Seen>,
            Path(method): Path<String>,
            Query(query): Query<std::collections::HashMap<String, String>>,
            headers: HeaderMap,
        ) -> axum::Json<Value> {
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let cursor = query.get("cursor").cloned();
            let key = match method.as_str() {
                "users.list" => "members",
                "conversations.list" => "channels",
                _ => {
                    return axum::Json(json!({
                        "ok": true, "url": "wss://example.com/socket", "user_id": token,
                        "user": "bot", "team_id": "T1", "team": "Team",
                        "messages": {"matches": [{"channel": {"id": "C1"}, "ts": "1.0", "text": token}]},
                    }))
                }
            };
            seen.lock().unwrap().push((method, cursor.clone()));
            let (id, next) = match cursor {
                None => ("A1", "page2"),
                Some(_) => ("A2", ""),
            };
            axum::Json(json!({
                "ok": true,
                key: [{"id": id, "created": 1, "is_bot": id == "A2"}],
                "response_metadata": {"next_cursor": next},
            }))
        }
        let seen: Seen = Default::default();
        let app = axum::Router::new()
            .route("/api/{method}", axum::routing::any(answer))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, seen)
    }

    #[tokio::test]
    async fn each_call_uses_its_own_token() {
        let (url, _) = paged_slack().await;
        let client = SlackClient::new("xoxb-bot").with_base_url(&url);
        assert!(!client.can_search());
        assert!(matches!(
            client.search("x").await,
            Err(SlackError::Api { .. })
        ));
        assert!(matches!(
            client.open_connection().await,
            Err(SlackError::Api { .. })
        ));
        let client = client
            .with_app_token("xapp-app")
            .with_user_token("xoxp-user");
        assert_eq!(client.bot_user_id().await.unwrap(), "Bearer xoxb-bot");
        assert_eq!(
            client.open_connection().await.unwrap(),
            "wss://example.com/socket"
        );
        let hits = client.search("tech-support").await.unwrap();
        assert_eq!(hits[0].text, "Bearer xoxp-user");
        assert!(client.can_search());
    }

    #[tokio::test]
    async fn lists_follow_cursors_to_the_last_page() {
        let (url, seen) = paged_slack().await;
        let client = SlackClient::new("xoxb-bot").with_base_url(&url);
        let users = client.users().await.unwrap();
        assert_eq!(
            users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
            ["A1", "A2"]
        );
        assert!(users[0].is_internal() && !users[1].is_internal());
        assert_eq!(client.public_channels().await.unwrap().len(), 2);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                ("users.list".to_string(), None),
                ("users.list".to_string(), Some("page2".to_string())),
                ("conversations.list".to_string(), None),
                ("conversations.list".to_string(), Some("page2".to_string())),
            ]
        );
    }
}
