//! The Web API calls only the bot makes (Socket Mode, users, channels, search), kept apart from
//! the shared [`super::SlackApi`] so the dispatcher's client stays small.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::SlackError;
use crate::settings::Secret;

/// A Slack user, as `users.list` and `users.info` describe them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct User {
    /// The user id (`U...`).
    pub id: String,
    #[serde(default)]
    pub is_bot: bool,
    /// Guests (single- and multi-channel).
    #[serde(default)]
    pub is_restricted: bool,
    #[serde(default)]
    pub is_ultra_restricted: bool,
    #[serde(default)]
    pub deleted: bool,
}

impl User {
    /// A member of the organisation: not a bot, not a guest, not deactivated.
    pub fn is_internal(&self) -> bool {
        !(self.is_bot || self.is_restricted || self.is_ultra_restricted || self.deleted)
    }
}

/// A channel, as `conversations.list` describes it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Channel {
    /// The channel id (`C...`).
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_member: bool,
    #[serde(default)]
    pub is_archived: bool,
}

/// Where a search hit was posted.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SearchChannel {
    /// The channel id.
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_im: bool,
    #[serde(default)]
    pub is_mpim: bool,
}

/// One `search.messages` hit.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SearchMatch {
    /// Where it was posted.
    pub channel: SearchChannel,
    /// The message's timestamp (its id).
    pub ts: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub permalink: Option<String>,
}

/// The bot's extra Web API calls over HTTP, against `SLACK_API_URL`.
#[derive(Clone)]
pub struct BotWeb {
    http: reqwest::Client,
    base: String,
    bot_token: Secret,
    app_token: Secret,
    user_token: Option<Secret>,
    retries: u32,
}

impl std::fmt::Debug for BotWeb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotWeb").field("base", &self.base).finish()
    }
}

/// Which token a call uses.
#[derive(Clone, Copy)]
enum Token {
    Bot,
    App,
    User,
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new", alias = "members", alias = "channels")]
    items: Vec<T>,
    #[serde(default)]
    response_metadata: Option<Cursor>,
}

#[derive(Deserialize)]
struct Cursor {
    #[serde(default)]
    next_cursor: String,
}

impl BotWeb {
    /// A client for `base` (e.g. `https://slack.com/api`); `retries` extra attempts on
    /// transport failures and rate limits.
    pub fn new(
        base: &str,
        bot_token: Secret,
        app_token: Secret,
        user_token: Option<Secret>,
        retries: u32,
    ) -> Self {
        BotWeb {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_string(),
            bot_token,
            app_token,
            user_token,
            retries,
        }
    }

    /// Whether searching for support calls is possible (`SLACK_BOT_USER_TOKEN` is set).
    pub fn can_search(&self) -> bool {
        self.user_token.is_some()
    }

    /// Every call this client makes goes through here, so this is where calls are counted.
    async fn call(
        &self,
        method: &str,
        token: Token,
        form: &[(&str, String)],
    ) -> Result<Value, SlackError> {
        let result = self.call_retrying(method, token, form).await;
        crate::metrics::record::slack_call(method, &result);
        result
    }

    async fn call_retrying(
        &self,
        method: &str,
        token: Token,
        form: &[(&str, String)],
    ) -> Result<Value, SlackError> {
        let token = match token {
            Token::Bot => &self.bot_token,
            Token::App => &self.app_token,
            Token::User => self.user_token.as_ref().ok_or_else(|| SlackError::Api {
                method: method.to_string(),
                error: "no user token (SLACK_BOT_USER_TOKEN)".to_string(),
            })?,
        };
        let transport = |detail: String| SlackError::Transport {
            method: method.to_string(),
            detail,
        };
        let mut attempt = 0;
        loop {
            let sent = self
                .http
                .post(format!("{}/{method}", self.base))
                .bearer_auth(token.expose())
                .form(form)
                .send()
                .await;
            let retry_after: Result<(), (Duration, String)> = match sent {
                Ok(resp) if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    let secs = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1);
                    Err((
                        Duration::from_secs(secs.min(60)),
                        "rate limited".to_string(),
                    ))
                }
                Ok(resp) if !resp.status().is_success() => Err((
                    Duration::from_millis(200),
                    format!("HTTP {}", resp.status()),
                )),
                Ok(resp) => {
                    let body: Value = resp
                        .json()
                        .await
                        .map_err(|e| transport(format!("bad JSON: {e}")))?;
                    if body.get("ok").and_then(Value::as_bool) == Some(true) {
                        return Ok(body);
                    }
                    let error = body
                        .get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown_error");
                    return Err(SlackError::Api {
                        method: method.to_string(),
                        error: error.to_string(),
                    });
                }
                Err(e) => Err((Duration::from_millis(200), e.without_url().to_string())),
            };
            let (wait, detail) = retry_after.expect_err("successes return above");
            if attempt >= self.retries {
                return Err(transport(detail));
            }
            attempt += 1;
            tracing::warn!(method, attempt, %detail, "retrying Slack call");
            crate::metrics::record::slack_retry(method);
            tokio::time::sleep(wait).await;
        }
    }

    async fn field<T: DeserializeOwned>(
        &self,
        method: &str,
        token: Token,
        form: &[(&str, String)],
        pointer: &str,
    ) -> Result<T, SlackError> {
        let body = self.call(method, token, form).await?;
        let value = body.pointer(pointer).cloned().unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|e| SlackError::Transport {
            method: method.to_string(),
            detail: format!("unexpected {pointer}: {e}"),
        })
    }

    async fn all_pages<T: DeserializeOwned>(
        &self,
        method: &str,
        form: &[(&str, String)],
    ) -> Result<Vec<T>, SlackError> {
        let mut items = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut args = form.to_vec();
            args.push(("limit", "200".to_string()));
            if !cursor.is_empty() {
                args.push(("cursor", cursor.clone()));
            }
            let body = self.call(method, Token::Bot, &args).await?;
            let page: Page<T> =
                serde_json::from_value(body).map_err(|e| SlackError::Transport {
                    method: method.to_string(),
                    detail: format!("unexpected page: {e}"),
                })?;
            items.extend(page.items);
            cursor = page
                .response_metadata
                .map(|m| m.next_cursor)
                .unwrap_or_default();
            if cursor.is_empty() {
                return Ok(items);
            }
        }
    }

    /// `apps.connections.open` (app token): a fresh Socket Mode URL.
    pub async fn open_connection(&self) -> Result<String, SlackError> {
        self.field("apps.connections.open", Token::App, &[], "/url")
            .await
    }

    /// `auth.test`: the bot's own user id.
    pub async fn bot_user_id(&self) -> Result<String, SlackError> {
        self.field("auth.test", Token::Bot, &[], "/user_id").await
    }

    /// `users.list`, every page.
    pub async fn users(&self) -> Result<Vec<User>, SlackError> {
        self.all_pages("users.list", &[]).await
    }

    /// `users.info`
    pub async fn user(&self, id: &str) -> Result<User, SlackError> {
        self.field(
            "users.info",
            Token::Bot,
            &[("user", id.to_string())],
            "/user",
        )
        .await
    }

    /// `conversations.list`: public, unarchived channels, every page.
    pub async fn public_channels(&self) -> Result<Vec<Channel>, SlackError> {
        let form = [
            ("types", "public_channel".to_string()),
            ("exclude_archived", "true".to_string()),
        ];
        self.all_pages("conversations.list", &form).await
    }

    /// `conversations.join`
    pub async fn join(&self, channel: &str) -> Result<(), SlackError> {
        self.call(
            "conversations.join",
            Token::Bot,
            &[("channel", channel.to_string())],
        )
        .await
        .map(drop)
    }

    /// `reactions.add`, telling apart a reaction that was already there (`Ok(false)`): for
    /// support calls that answer means "already handled". The shared
    /// [`super::SlackApi::add_reaction`] treats it as success instead.
    pub async fn add_reaction_once(
        &self,
        channel: &str,
        ts: &str,
        name: &str,
    ) -> Result<bool, SlackError> {
        let form = [
            ("channel", channel.to_string()),
            ("timestamp", ts.to_string()),
            ("name", name.to_string()),
        ];
        match self.call("reactions.add", Token::Bot, &form).await {
            Ok(_) => Ok(true),
            Err(SlackError::Api { error, .. }) if error == "already_reacted" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `search.messages` (user token): the first page of hits, newest first.
    pub async fn search(&self, query: &str) -> Result<Vec<SearchMatch>, SlackError> {
        let form = [
            ("query", query.to_string()),
            ("sort", "timestamp".to_string()),
            ("count", "100".to_string()),
        ];
        let hits: Option<Vec<SearchMatch>> = self
            .field("search.messages", Token::User, &form, "/messages/matches")
            .await?;
        Ok(hits.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::routing::post;
    use axum::{Form, Json, Router};
    use serde_json::json;

    use super::*;

    type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

    /// A Slack stand-in whose `users.list` and `conversations.list` answer in two pages.
    async fn paged_slack() -> (String, Seen) {
        async fn page(
            method: &'static str,
            seen: Seen,
            form: std::collections::HashMap<String, String>,
        ) -> Json<Value> {
            let cursor = form.get("cursor").cloned();
            seen.lock()
                .unwrap()
                .push((method.to_string(), cursor.clone()));
            let key = if method == "users.list" {
                "members"
            } else {
                "channels"
            };
            Json(match cursor.as_deref() {
                None => {
                    json!({"ok": true, key: [{"id": "A1"}], "response_metadata": {"next_cursor": "page2"}})
                }
                Some(_) => {
                    json!({"ok": true, key: [{"id": "A2", "is_bot": true}], "response_metadata": {"next_cursor": ""}})
                }
            })
        }
        let seen: Seen = Arc::default();
        let app = Router::new()
            .route(
                "/api/users.list",
                post(|State(s): State<Seen>, Form(f)| page("users.list", s, f)),
            )
            .route(
                "/api/conversations.list",
                post(|State(s): State<Seen>, Form(f)| page("conversations.list", s, f)),
            )
            .route("/api/{method}", post(token_echo))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, seen)
    }

    /// Answers any other method with the bearer token it was called with.
    async fn token_echo(
        axum::extract::Path(method): axum::extract::Path<String>,
        headers: axum::http::HeaderMap,
    ) -> Json<Value> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Json(json!({
            "ok": true, "method": method, "url": token, "user_id": token,
            "messages": {"matches": [{"channel": {"id": "C1"}, "ts": "1.0", "text": token}]},
        }))
    }

    #[tokio::test]
    async fn each_call_uses_its_own_token() {
        let (url, _) = paged_slack().await;
        let web = BotWeb::new(
            &url,
            Secret::new("xoxb-bot"),
            Secret::new("xapp-app"),
            Some(Secret::new("xoxp-user")),
            0,
        );
        assert_eq!(web.open_connection().await.unwrap(), "Bearer xapp-app");
        assert_eq!(web.bot_user_id().await.unwrap(), "Bearer xoxb-bot");
        let hits = web.search("tech-support").await.unwrap();
        assert_eq!(hits[0].text, "Bearer xoxp-user");
        assert!(web.can_search());
        assert!(
            !format!("{web:?}").contains("xox"),
            "tokens never show in logs"
        );
    }

    #[tokio::test]
    async fn lists_follow_cursors_to_the_last_page() {
        let (url, seen) = paged_slack().await;
        let web = BotWeb::new(&url, Secret::new("xoxb"), Secret::new("xapp"), None, 0);
        let users = web.users().await.unwrap();
        assert_eq!(
            users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
            ["A1", "A2"]
        );
        assert!(users[0].is_internal() && !users[1].is_internal());
        let channels = web.public_channels().await.unwrap();
        assert_eq!(channels.len(), 2);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                ("users.list".to_string(), None),
                ("users.list".to_string(), Some("page2".to_string())),
                ("conversations.list".to_string(), None),
                ("conversations.list".to_string(), Some("page2".to_string())),
            ]
        );
        assert!(!web.can_search());
        assert!(matches!(web.search("x").await, Err(SlackError::Api { .. })));
    }
}
