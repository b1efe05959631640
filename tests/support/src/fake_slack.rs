//! A fake Slack Web API on 127.0.0.1 for integration tests.
//!
//! It speaks Slack's wire format (form-encoded or JSON bodies, `Authorization: Bearer`,
//! `{"ok": true, ...}` answers), records every call for assertions, and fails on demand.
//! More endpoints (e.g. Socket Mode's `apps.connections.open` and its websocket) are added by
//! giving [`FakeSlack::router`] more routes that share [`Shared`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The token the fake accepts; any other answers `invalid_auth`.
pub const TOKEN: &str = "xoxb-fake-slack-token";

/// The largest upload the fake takes.
const UPLOAD_LIMIT: usize = 64 * 1024 * 1024;

/// The method name recorded for a POST of file bytes to an upload URL.
pub const UPLOAD: &str = "upload";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The Web API method (`chat.postMessage`), or [`UPLOAD`].
    pub method: String,
    /// The parameters: a JSON body as sent, or form and query fields as a JSON object of strings.
    pub params: Value,
    /// The raw body (for uploads: the file's bytes).
    pub body: Vec<u8>,
    /// Whether the fake answered with success (`ok: true`, or 200 for an upload).
    pub ok: bool,
    /// The scripted failure it was answered with, if any.
    pub failure: Option<Failure>,
    /// When the request arrived.
    pub arrived: Instant,
    /// When its answer was ready to send.
    pub answered: Instant,
}

impl Call {
    /// A parameter as a string (`None` when absent or not a string).
    pub fn str(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(Value::as_str)
    }
}

/// A file that went through the whole upload dance.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    /// The name asked for in `files.getUploadURLExternal`.
    pub filename: String,
    /// The title given when completing the upload.
    pub title: Option<String>,
    /// The bytes posted to the upload URL.
    pub content: Vec<u8>,
    /// The channel it was shared to.
    pub channel_id: Option<String>,
    /// The thread it was shared in.
    pub thread_ts: Option<String>,
    /// The message posted with it.
    pub initial_comment: Option<String>,
}

/// How the fake fails a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Answer with this HTTP status and no JSON.
    Status(u16),
    /// HTTP 429 with `Retry-After: <seconds>`.
    RateLimited(u64),
    /// HTTP 200 with `{"ok": false, "error": <error>}`.
    Api(String),
}

/// The fake's state, shared by its handlers.
#[derive(Default)]
pub struct Shared {
    calls: Mutex<Vec<Call>>,
    failures: Mutex<HashMap<String, VecDeque<Failure>>>,
    responses: Mutex<HashMap<String, Value>>,
    /// Upload ids handed out, with the filename asked for.
    pending_uploads: Mutex<HashMap<String, String>>,
    /// Bytes received per upload id.
    uploaded: Mutex<HashMap<String, Vec<u8>>>,
    reactions: Mutex<HashSet<(String, String, String)>>,
    outage: AtomicBool,
    /// Every call fails as this until then.
    failing_until: Mutex<Option<(Instant, Failure)>>,
    /// Failures for the next calls of any method, once `failing_until` is past.
    failures_any: Mutex<VecDeque<Failure>>,
    /// How many of the next calls of each method are taken (recorded, acted on) but never
    /// answered, as when the caller dies before Slack's answer reaches it.
    unanswered: Mutex<HashMap<String, usize>>,
    /// Members of each user group, by group id (`usergroups.users.list`).
    usergroups: Mutex<HashMap<String, Vec<String>>>,
    counter: AtomicU64,
    changed: Notify,
    addr: Mutex<Option<SocketAddr>>,
}

impl Shared {
    fn record(&self, mut call: Call) {
        call.answered = Instant::now();
        self.calls.lock().unwrap().push(call);
        self.changed.notify_waiters();
    }

    /// The failure scripted for the next call of `method`, if any.
    fn take_failure(&self, method: &str) -> Option<Failure> {
        if self.outage.load(Ordering::SeqCst) {
            return Some(Failure::Status(503));
        }
        if let Some((until, failure)) = self.failing_until.lock().unwrap().clone() {
            if Instant::now() < until {
                return Some(failure);
            }
        }
        if let Some(failure) = self.failures_any.lock().unwrap().pop_front() {
            return Some(failure);
        }
        self.failures.lock().unwrap().get_mut(method)?.pop_front()
    }

    fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// A running fake Slack.
pub struct FakeSlack {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeSlack {
    /// Starts the fake on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        *shared.addr.lock().unwrap() = Some(addr);
        let app = Self::router(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Slack serves");
        });
        FakeSlack {
            addr,
            shared,
            server,
        }
    }

    /// The fake's routes: Web API methods under `/api/`, uploads under `/upload/`.
    pub fn router(shared: Arc<Shared>) -> Router {
        Router::new()
            .route("/api/{method}", any(api))
            // Slack takes files far larger than axum's default 2 MB body limit.
            .route(
                "/upload/{id}",
                post(upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
            )
            .with_state(shared)
    }

    /// Answers the bot's start-up calls for a small workspace: the bot `bot`, one internal
    /// user `U0ALICE`, the support channels, `channel` (id, name) if given, and Socket Mode at
    /// `socket_url`.
    pub fn answer_start_up(&self, bot: &str, socket_url: &str, channel: Option<(&str, &str)>) {
        self.respond_with(
            "auth.test",
            json!({ "user_id": bot, "user": "bennettbot", "team_id": "T0" }),
        );
        self.respond_with("apps.connections.open", json!({ "url": socket_url }));
        self.respond_with("conversations.join", json!({ "channel": {} }));
        self.respond_with(
            "users.list",
            json!({ "members": [{ "id": "U0ALICE", "name": "alice" }],
                    "response_metadata": { "next_cursor": "" } }),
        );
        let mut channels = vec![
            json!({ "id": "C0TECH", "name": "tech-support", "is_member": true }),
            json!({ "id": "C0ADMINS", "name": "bennett-admins", "is_member": true }),
        ];
        if let Some((id, name)) = channel {
            channels.insert(0, json!({ "id": id, "name": name, "is_member": true }));
        }
        self.respond_with(
            "conversations.list",
            json!({ "channels": channels, "response_metadata": { "next_cursor": "" } }),
        );
    }

    /// Makes user group `group` (an `S…` id) have `members`, as `usergroups.users.list`
    /// answers; a group never set answers `no_such_subteam`, as Slack does.
    pub fn set_usergroup(&self, group: &str, members: &[&str]) {
        let members = members.iter().map(|m| m.to_string()).collect();
        (self.shared.usergroups.lock().unwrap()).insert(group.to_string(), members);
    }

    /// The base URL to give a Slack client, e.g. `http://127.0.0.1:4321/api`.
    pub fn url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state, for handlers added by other test modules.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Successful calls of `method`, in order.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.attempts(method).into_iter().filter(|c| c.ok).collect()
    }

    /// Every call of `method`, failed ones included.
    pub fn attempts(&self, method: &str) -> Vec<Call> {
        let calls = self.shared.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Every call received, in order.
    pub fn all_calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// Texts of successful `chat.postMessage` calls to `channel`.
    pub fn texts_in(&self, channel: &str) -> Vec<String> {
        self.calls("chat.postMessage")
            .iter()
            .filter(|c| c.str("channel") == Some(channel))
            .map(|c| c.str("text").unwrap_or_default().to_string())
            .collect()
    }

    /// Files whose upload was completed, in order.
    pub fn files(&self) -> Vec<UploadedFile> {
        let pending = self.shared.pending_uploads.lock().unwrap().clone();
        let uploaded = self.shared.uploaded.lock().unwrap().clone();
        let mut files = Vec::new();
        for call in self.calls("files.completeUploadExternal") {
            let entries = call
                .params
                .get("files")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for entry in entries {
                let id = entry["id"].as_str().unwrap_or_default();
                files.push(UploadedFile {
                    filename: pending.get(id).cloned().unwrap_or_default(),
                    title: entry["title"].as_str().map(str::to_string),
                    content: uploaded.get(id).cloned().unwrap_or_default(),
                    channel_id: call.str("channel_id").map(str::to_string),
                    thread_ts: call.str("thread_ts").map(str::to_string),
                    initial_comment: call.str("initial_comment").map(str::to_string),
                });
            }
        }
        files
    }

    /// Makes the next `n` calls of `method` (or [`UPLOAD`]) fail as `failure` says.
    pub fn fail_next(&self, method: &str, n: usize, failure: Failure) {
        let mut failures = self.shared.failures.lock().unwrap();
        let queue = failures.entry(method.to_string()).or_default();
        queue.extend(std::iter::repeat_n(failure, n));
    }

    /// Makes every call (of any method, uploads included) fail as `failure` for `duration`
    /// from now.
    pub fn fail_all_for(&self, duration: Duration, failure: Failure) {
        *self.shared.failing_until.lock().unwrap() = Some((Instant::now() + duration, failure));
    }

    /// Makes the next `n` calls of any method fail as `failure`, once a
    /// [`FakeSlack::fail_all_for`] is over (so `fail_all_for(10 s, 500)` then
    /// `fail_all_next(1, RateLimited(2))` is an outage ending in one rate limit).
    pub fn fail_all_next(&self, n: usize, failure: Failure) {
        let mut failures = self.shared.failures_any.lock().unwrap();
        failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Takes the next `n` calls of `method` as Slack would (they are recorded, and count as
    /// posted) but never answers them: the caller is left waiting, as if it died between
    /// Slack's taking the call and hearing so.
    pub fn take_without_answering(&self, method: &str, n: usize) {
        *self
            .shared
            .unanswered
            .lock()
            .unwrap()
            .entry(method.to_string())
            .or_default() += n;
    }

    /// While on, every call answers HTTP 503.
    pub fn set_outage(&self, down: bool) {
        self.shared.outage.store(down, Ordering::SeqCst);
    }

    /// Answers `method` with `answer` (merged over `{"ok": true}`) instead of the default.
    pub fn respond_with(&self, method: &str, answer: Value) {
        self.shared
            .responses
            .lock()
            .unwrap()
            .insert(method.to_string(), answer);
    }

    /// Waits until `check` gives `Some`, looking again after each call the fake records;
    /// panics naming `what`, with every call seen, after `timeout`.
    pub async fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&FakeSlack) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Made before the check: a call recorded in between still wakes it.
            let notified = self.shared.changed.notified();
            if let Some(found) = check(self) {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "waited {timeout:?} for {what}; all calls: {:#?}",
                    self.all_calls()
                );
            }
        }
    }

    /// Waits until `method` has succeeded `count` times; panics with every call seen after
    /// `timeout`.
    pub async fn wait_for(&self, method: &str, count: usize, timeout: Duration) -> Vec<Call> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            let calls = self.calls(method);
            if calls.len() >= count {
                return calls;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "waited {timeout:?} for {count} successful {method} calls, got {}; all calls: {:#?}",
                    calls.len(),
                    self.all_calls()
                );
            }
        }
    }

    /// Waits until a message whose text contains `needle` was posted to `channel`.
    pub async fn wait_for_text(&self, channel: &str, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if let Some(text) = self
                .texts_in(channel)
                .into_iter()
                .find(|t| t.contains(needle))
            {
                return text;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "waited {timeout:?} for {needle:?} in {channel}; all calls: {:#?}",
                    self.all_calls()
                );
            }
        }
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Parses a form-encoded string into a JSON object of strings.
fn form_fields(text: &str, into: &mut Map<String, Value>) {
    let url = reqwest::Url::parse(&format!("http://fake/?{text}")).expect("form parses as query");
    for (key, value) in url.query_pairs() {
        into.insert(key.into_owned(), Value::String(value.into_owned()));
    }
}

fn failure_response(failure: Failure) -> Response {
    match failure {
        Failure::Status(status) => {
            let status = StatusCode::from_u16(status).expect("valid status");
            (status, "fake Slack failure").into_response()
        }
        Failure::RateLimited(seconds) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, seconds.to_string())],
            "rate limited",
        )
            .into_response(),
        Failure::Api(error) => Json(json!({ "ok": false, "error": error })).into_response(),
    }
}

async fn api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut params = Map::new();
    if let Some(query) = &query {
        form_fields(query, &mut params);
    }
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => params.extend(fields),
            _ => {
                let answer = json!({ "ok": false, "error": "invalid_json" });
                return finish(&shared, &method, params, &body, answer, arrived);
            }
        }
    } else if !body.is_empty() {
        form_fields(&String::from_utf8_lossy(&body), &mut params);
    }
    if let Some(failure) = shared.take_failure(&method) {
        shared.record(Call {
            method,
            params: Value::Object(params),
            body: body.to_vec(),
            ok: false,
            failure: Some(failure.clone()),
            arrived,
            answered: arrived,
        });
        return failure_response(failure);
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            params
                .get("token")
                .and_then(Value::as_str)
                .map(|t| format!("Bearer {t}"))
        });
    let answer = match authorization {
        None => json!({ "ok": false, "error": "not_authed" }),
        Some(auth) if auth != format!("Bearer {TOKEN}") => {
            json!({ "ok": false, "error": "invalid_auth" })
        }
        Some(_) => answer(&shared, &method, &params),
    };
    let unanswered = {
        let mut unanswered = shared.unanswered.lock().unwrap();
        match unanswered.get_mut(&method) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    };
    let response = finish(&shared, &method, params, &body, answer, arrived);
    if unanswered {
        std::future::pending::<()>().await;
    }
    response
}

/// Records the call and sends the answer.
fn finish(
    shared: &Shared,
    method: &str,
    params: Map<String, Value>,
    body: &[u8],
    answer: Value,
    arrived: Instant,
) -> Response {
    shared.record(Call {
        method: method.to_string(),
        params: Value::Object(params),
        body: body.to_vec(),
        ok: answer["ok"] == json!(true),
        failure: None,
        arrived,
        answered: arrived,
    });
    Json(answer).into_response()
}

fn field<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The answer Slack would give to a well-authenticated call.
fn answer(shared: &Shared, method: &str, params: &Map<String, Value>) -> Value {
    if let Some(custom) = shared.responses.lock().unwrap().get(method) {
        let mut answer = json!({ "ok": true });
        if let (Some(into), Some(from)) = (answer.as_object_mut(), custom.as_object()) {
            into.extend(from.clone());
        }
        complete(method, &mut answer);
        return answer;
    }
    let error = |e: &str| json!({ "ok": false, "error": e });
    match method {
        "usergroups.users.list" => {
            let group = field(params, "usergroup").unwrap_or_default();
            match shared.usergroups.lock().unwrap().get(group) {
                Some(members) => json!({ "ok": true, "users": members }),
                None => error("no_such_subteam"),
            }
        }
        "auth.test" => json!({
            "ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "bennettbot",
            "team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT",
        }),
        "chat.postMessage" => {
            let Some(channel) = field(params, "channel") else {
                return error("channel_not_found");
            };
            if field(params, "text").is_none() && params.get("blocks").is_none() {
                return error("no_text");
            }
            if let Some(blocks) = params.get("blocks").and_then(Value::as_array) {
                if blocks.len() > 50 {
                    return error("invalid_blocks");
                }
            }
            let ts = format!("1700000000.{:06}", shared.next_id());
            json!({ "ok": true, "channel": channel, "ts": ts, "message": { "text": params.get("text"), "ts": ts } })
        }
        "reactions.add" => {
            let (Some(channel), Some(ts), Some(name)) = (
                field(params, "channel"),
                field(params, "timestamp"),
                field(params, "name"),
            ) else {
                return error("invalid_arguments");
            };
            let key = (channel.to_string(), ts.to_string(), name.to_string());
            if shared.reactions.lock().unwrap().insert(key) {
                json!({ "ok": true })
            } else {
                error("already_reacted")
            }
        }
        "chat.getPermalink" => {
            let (Some(channel), Some(ts)) = (field(params, "channel"), field(params, "message_ts"))
            else {
                return error("invalid_arguments");
            };
            let permalink = format!(
                "https://fake.slack.com/archives/{channel}/p{}",
                ts.replace('.', "")
            );
            json!({ "ok": true, "channel": channel, "permalink": permalink })
        }
        "files.getUploadURLExternal" => {
            let Some(filename) = field(params, "filename") else {
                return error("invalid_arguments");
            };
            if field(params, "length")
                .and_then(|l| l.parse::<u64>().ok())
                .is_none()
            {
                return error("invalid_arguments");
            }
            let id = format!("F{:08}", shared.next_id());
            let addr = shared.addr.lock().unwrap().expect("started");
            shared
                .pending_uploads
                .lock()
                .unwrap()
                .insert(id.clone(), filename.to_string());
            json!({ "ok": true, "upload_url": format!("http://{addr}/upload/{id}"), "file_id": id })
        }
        "files.completeUploadExternal" => {
            // Form-encoded callers send `files` as a JSON string, JSON callers as an array.
            let files = match params.get("files") {
                Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
                Some(other) => other.clone(),
                None => Value::Null,
            };
            let Some(files) = files.as_array().filter(|f| !f.is_empty()) else {
                return error("invalid_arguments");
            };
            let uploaded = shared.uploaded.lock().unwrap();
            for file in files {
                let id = file["id"].as_str().unwrap_or_default();
                if !uploaded.contains_key(id) {
                    return error("file_not_found");
                }
            }
            json!({ "ok": true, "files": files })
        }
        _ => error("unknown_method"),
    }
}

/// Fills in the fields Slack always sends (and the client's types require) that a test's
/// answer leaves out as beside its point.
fn complete(method: &str, answer: &mut Value) {
    let fill = |object: &mut Value, defaults: Value| {
        if let (Some(object), Some(defaults)) = (object.as_object_mut(), defaults.as_object()) {
            for (key, value) in defaults {
                object.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
    };
    match method {
        "auth.test" => fill(
            answer,
            json!({ "url": "https://fake.slack.com/", "team": "Fake", "team_id": "T0FAKE" }),
        ),
        "conversations.list" => {
            if let Some(channels) = answer["channels"].as_array_mut() {
                for channel in channels {
                    fill(channel, json!({ "created": 1700000000 }));
                }
            }
        }
        "conversations.join" => {
            fill(answer, json!({ "channel": {} }));
            fill(
                &mut answer["channel"],
                json!({ "id": "C0JOINED", "created": 1700000000 }),
            );
        }
        _ => {}
    }
}

async fn upload(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let call = |ok, failure| Call {
        method: UPLOAD.to_string(),
        params: json!({ "id": id }),
        body: body.to_vec(),
        ok,
        failure,
        arrived,
        answered: arrived,
    };
    if let Some(failure) = shared.take_failure(UPLOAD) {
        shared.record(call(false, Some(failure.clone())));
        return failure_response(failure);
    }
    if !shared.pending_uploads.lock().unwrap().contains_key(&id) {
        shared.record(call(false, None));
        return (StatusCode::NOT_FOUND, "no such upload").into_response();
    }
    shared
        .uploaded
        .lock()
        .unwrap()
        .insert(id.clone(), body.to_vec());
    shared.record(call(true, None));
    (StatusCode::OK, format!("OK - {}", body.len())).into_response()
}
