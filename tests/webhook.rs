//! The webhook server over real HTTP on 127.0.0.1: signatures, rules, redelivery, limits,
//! the suppression notice, middleware and shutdown. Queue effects are read back through
//! `Queue::status`; Slack is a recording fake.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bennettbot::config::CONFIG;
use bennettbot::connections::{ConnectionLimits, ServeError};
use bennettbot::queue::{Job, Queue};
use bennettbot::settings::Secret;
use bennettbot::slack::{FileUpload, OutgoingMessage, PostedMessage, SlackApi, SlackError};
use bennettbot::webhook::body::BUDGET_RETRY_AFTER_SECONDS;
use bennettbot::webhook::signature::{sign, Algorithm};
use bennettbot::webhook::{
    layers, layers_with_timeout, routes, AppState, BodyBudget, WebhookServer, WebhookSettings,
    MAX_BODY_BYTES,
};
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

// GitHub's documented example secret, so its test vector can be sent to the real server too.
const SECRET: &str = "It's a Secret to Everybody";
const FIXTURE: &str = include_str!("fixtures/pull_request_closed.json");

/// Records what the server posts; can be told to fail.
#[derive(Default)]
struct RecordingSlack {
    posted: Mutex<Vec<OutgoingMessage>>,
    /// Calls other than `post_message`, which the webhook server must never make.
    other_calls: Mutex<Vec<String>>,
    fail: bool,
}

impl SlackApi for RecordingSlack {
    async fn post_message(&self, message: OutgoingMessage) -> Result<PostedMessage, SlackError> {
        let channel = message.channel.clone();
        self.posted.lock().unwrap().push(message);
        if self.fail {
            return Err(SlackError::Api {
                method: "chat.postMessage".into(),
                error: "channel_not_found".into(),
            });
        }
        Ok(PostedMessage {
            channel,
            ts: "1764280000.000100".into(),
        })
    }

    async fn add_reaction(&self, channel: &str, ts: &str, name: &str) -> Result<(), SlackError> {
        self.other_calls
            .lock()
            .unwrap()
            .push(format!("add_reaction {channel} {ts} {name}"));
        Ok(())
    }

    async fn upload_file(&self, upload: FileUpload) -> Result<(), SlackError> {
        self.other_calls
            .lock()
            .unwrap()
            .push(format!("upload_file {}", upload.filename));
        Ok(())
    }

    async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        self.other_calls
            .lock()
            .unwrap()
            .push(format!("permalink {channel} {ts}"));
        Ok(format!("https://slack.invalid/{channel}/{ts}"))
    }
}

struct Server {
    addr: SocketAddr,
    queue: Queue,
    slack: Arc<RecordingSlack>,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl Server {
    async fn start() -> Server {
        Self::start_with(RecordingSlack::default()).await
    }

    async fn start_with(slack: RecordingSlack) -> Server {
        Self::start_on(slack, Queue::open_in_memory().unwrap()).await
    }

    async fn start_on(slack: RecordingSlack, queue: Queue) -> Server {
        Self::start_with_budget(slack, queue, None).await
    }

    /// The server as the binary builds it, or with `bodies` as its body budget.
    async fn start_with_budget(
        slack: RecordingSlack,
        queue: Queue,
        bodies: Option<BodyBudget>,
    ) -> Server {
        let slack = Arc::new(slack);
        let settings = WebhookSettings {
            bind: "127.0.0.1:0".parse().unwrap(),
            secret: Secret::new(SECRET),
        };
        let server = match bodies {
            None => WebhookServer::bind(&CONFIG, settings, queue.clone(), slack.clone()).await,
            Some(bodies) => {
                let state = AppState {
                    secret: settings.secret,
                    queue: queue.clone(),
                    slack: slack.clone(),
                    config: &CONFIG,
                    bodies,
                };
                WebhookServer::bind_app(settings.bind, layers(&CONFIG, routes(state))).await
            }
        }
        .unwrap();
        let addr = server.local_addr();
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            queue,
            slack,
            client: client(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A delivery signed with `signature` headers (none when empty).
    async fn deliver(
        &self,
        project: &str,
        event: &str,
        delivery: &str,
        body: impl Into<Vec<u8>>,
        signatures: &[(&str, String)],
    ) -> (StatusCode, String) {
        let mut req = self
            .client
            .post(self.url(&format!("/github/{project}/")))
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/2d2e1a1")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .body(body.into());
        for (name, value) in signatures {
            req = req.header(*name, value);
        }
        let res = req.send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    }

    /// A delivery signed the way GitHub signs today.
    async fn signed(
        &self,
        project: &str,
        event: &str,
        delivery: &str,
        body: &[u8],
    ) -> (StatusCode, String) {
        let sig = sign(Algorithm::Sha256, SECRET.as_bytes(), body);
        self.deliver(
            project,
            event,
            delivery,
            body,
            &[("x-hub-signature-256", sig)],
        )
        .await
    }

    async fn scheduled(&self) -> Vec<Job> {
        let status = self.queue.status(Utc::now()).await.unwrap();
        assert!(status.running.is_empty(), "{status:?}");
        status.scheduled
    }

    fn posted(&self) -> Vec<OutgoingMessage> {
        assert!(self.slack.other_calls.lock().unwrap().is_empty());
        self.slack.posted.lock().unwrap().clone()
    }

    async fn stop(mut self) -> SocketAddr {
        self.stop.take().unwrap().send(()).unwrap();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap();
        self.addr
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn merged() -> Vec<u8> {
    FIXTURE.as_bytes().to_vec()
}

/// The fixture with `pull_request.merged` edited (the text, so the rest stays byte-for-byte).
fn with_merged(value: bool) -> Vec<u8> {
    assert_eq!(FIXTURE.matches("\"merged\": true").count(), 1);
    FIXTURE
        .replace("\"merged\": true", &format!("\"merged\": {value}"))
        .into_bytes()
}

fn with_action(action: &str) -> Vec<u8> {
    let mut payload: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    payload["action"] = action.into();
    payload["pull_request"]["merged"] = false.into();
    payload["pull_request"]["state"] = "open".into();
    serde_json::to_vec(&payload).unwrap()
}

fn assert_one_deploy(jobs: &[Job]) {
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job.job_type, "example_deploy");
    assert!(job.args.is_empty(), "{job:?}");
    assert_eq!(job.channel, "#tech");
    assert_eq!(
        (
            job.thread_ts.as_deref(),
            job.message_ts.as_deref(),
            job.is_im
        ),
        (None, None, false)
    );
    // The rule's 60 s delay, so a second merge can push the deploy back.
    let wait = job.start_after - Utc::now();
    assert!(
        wait > chrono::TimeDelta::seconds(50) && wait <= chrono::TimeDelta::seconds(60),
        "{wait:?}"
    );
}

#[test]
fn the_fixture_looks_like_githubs_payload() {
    let payload: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    assert!(FIXTURE.len() > 20_000, "{}", FIXTURE.len());
    assert_eq!(payload["action"], "closed");
    assert_eq!(payload["pull_request"]["merged"], true);
    assert_eq!(payload["pull_request"]["base"]["ref"], "main");
    for key in ["repository", "sender", "organization"] {
        assert!(payload[key].is_object(), "{key}");
    }
    assert_eq!(payload["pull_request"]["user"]["login"], "alice-dev");
}

#[tokio::test]
async fn check_says_ok() {
    let server = Server::start().await;
    let res = server
        .client
        .get(server.url("/check/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok");
    let missing = server
        .client
        .get(server.url("/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_merged_pull_request_signed_with_sha256_queues_a_deploy() {
    let server = Server::start().await;
    let (status, body) = server
        .signed("example", "pull_request", "d-sha256", &merged())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("Scheduled example_deploy ["), "{body}");
    assert_one_deploy(&server.scheduled().await);
    assert!(server.posted().is_empty(), "no suppression, no notice");
}

#[tokio::test]
async fn a_merged_pull_request_signed_with_sha1_queues_a_deploy() {
    let server = Server::start().await;
    let sig = sign(Algorithm::Sha1, SECRET.as_bytes(), &merged());
    let (status, body) = server
        .deliver(
            "example",
            "pull_request",
            "d-sha1",
            merged(),
            &[("x-hub-signature", sig)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_one_deploy(&server.scheduled().await);
}

#[tokio::test]
async fn the_path_works_without_its_trailing_slash() {
    let server = Server::start().await;
    let body = merged();
    let res = server
        .client
        .post(server.url("/github/example"))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "d-no-slash")
        .header(
            "x-hub-signature-256",
            sign(Algorithm::Sha256, SECRET.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_one_deploy(&server.scheduled().await);
}

#[tokio::test]
async fn unmerged_and_opened_pull_requests_and_issues_do_nothing() {
    let server = Server::start().await;
    let cases = [
        ("pull_request", with_merged(false)),
        ("pull_request", with_action("opened")),
        ("pull_request", with_action("reopened")),
        // The merged payload, but announced as another event.
        ("issues", merged()),
        ("push", merged()),
    ];
    for (i, (event, body)) in cases.iter().enumerate() {
        let (status, text) = server
            .signed("example", event, &format!("d-nothing-{i}"), body)
            .await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::OK, "No rule matches; nothing to do"),
            "{event} #{i}"
        );
    }
    assert!(server.scheduled().await.is_empty());
    assert!(server.posted().is_empty());
}

#[tokio::test]
async fn ping_is_answered_and_does_nothing() {
    let server = Server::start().await;
    let ping = br#"{"zen":"Design for failure.","hook_id":30,"hook":{"type":"Repository","events":["pull_request"]}}"#;
    assert_eq!(
        server.signed("example", "ping", "d-ping", ping).await,
        (StatusCode::OK, "pong".into())
    );
    // Even a ping must be signed.
    let (status, _) = server
        .deliver("example", "ping", "d-ping-2", ping.to_vec(), &[])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(server.scheduled().await.is_empty());
}

#[tokio::test]
async fn a_redelivery_does_nothing_again() {
    let server = Server::start().await;
    let first = server
        .signed(
            "example",
            "pull_request",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            &merged(),
        )
        .await;
    assert_eq!(first.0, StatusCode::OK);
    let jobs = server.scheduled().await;
    assert_one_deploy(&jobs);

    // Time passes before the redelivery, so a deploy it pushed back would start later.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = server
        .signed(
            "example",
            "pull_request",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            &merged(),
        )
        .await;
    assert_eq!(again, (StatusCode::OK, "Delivery already handled".into()));
    assert_eq!(
        server.scheduled().await,
        jobs,
        "the redelivery did not even push the deploy back"
    );

    // A different delivery (a second merge) pushes the pending deploy back instead of adding one.
    let second = server
        .signed("example", "pull_request", "another-merge", &merged())
        .await;
    assert_eq!(second.0, StatusCode::OK);
    let after = server.scheduled().await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].id, jobs[0].id);
    assert!(
        after[0].start_after > jobs[0].start_after,
        "{after:?} vs {jobs:?}"
    );
}

#[tokio::test]
async fn a_delivery_is_never_recorded_without_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("queue.db");
    let server = Server::start_on(RecordingSlack::default(), Queue::open(&db).unwrap()).await;
    // Queueing fails, and so would any attempt to forget the delivery afterwards: as when
    // the process dies between two transactions.
    let sql = rusqlite::Connection::open(&db).unwrap();
    sql.execute_batch(
        "CREATE TRIGGER no_jobs BEFORE INSERT ON job BEGIN SELECT RAISE(ABORT, 'queue broken (test)'); END;
         CREATE TRIGGER no_forgetting BEFORE DELETE ON webhook_delivery BEGIN SELECT RAISE(ABORT, 'crashed (test)'); END;",
    )
    .unwrap();
    let failed = server
        .signed("example", "pull_request", "delivery-1", &merged())
        .await;
    assert_eq!(failed.0, StatusCode::INTERNAL_SERVER_ERROR);
    let recorded: i64 = sql
        .query_row("SELECT COUNT(*) FROM webhook_delivery", [], |r| r.get(0))
        .unwrap();
    assert_eq!(recorded, 0, "the delivery was recorded without its deploy");

    // Repaired: GitHub's redelivery of the same id queues the deploy.
    sql.execute_batch("DROP TRIGGER no_jobs; DROP TRIGGER no_forgetting;")
        .unwrap();
    let again = server
        .signed("example", "pull_request", "delivery-1", &merged())
        .await;
    assert_eq!(again.0, StatusCode::OK, "{again:?}");
    assert_one_deploy(&server.scheduled().await);
}

#[tokio::test]
async fn unknown_projects_are_refused() {
    let server = Server::start().await;
    assert_eq!(
        server
            .signed("nope", "pull_request", "d-unknown", &merged())
            .await,
        (StatusCode::BAD_REQUEST, "Unknown project: nope".into())
    );
    // A namespace, but one without GitHub rules.
    assert_eq!(
        server
            .signed("test", "pull_request", "d-unknown-2", &merged())
            .await,
        (StatusCode::BAD_REQUEST, "Unknown project: test".into())
    );
    assert!(server.scheduled().await.is_empty());
}

/// What is wrong, the body sent, and the signature headers sent with it.
type ForgedCase = (&'static str, Vec<u8>, Vec<(&'static str, String)>);

#[tokio::test]
async fn every_bad_signature_is_forbidden_and_changes_nothing() {
    let server = Server::start().await;
    let body = merged();
    let good = sign(Algorithm::Sha256, SECRET.as_bytes(), &body);
    let hex = good.trim_start_matches("sha256=").to_string();
    let mut tampered = body.clone();
    let at = FIXTURE.find("\"merged\": true").unwrap() + "\"merged\": ".len();
    tampered[at] = b'T'; // `True`: the same length, one byte changed after signing.
    let cases: Vec<ForgedCase> = vec![
        ("missing", body.clone(), vec![]),
        (
            "no prefix",
            body.clone(),
            vec![("x-hub-signature-256", hex.clone())],
        ),
        (
            "sha1 prefix on sha256",
            body.clone(),
            vec![("x-hub-signature-256", format!("sha1={hex}"))],
        ),
        (
            "sha256 digest in sha1 header",
            body.clone(),
            vec![("x-hub-signature", format!("sha256={hex}"))],
        ),
        (
            "bad hex",
            body.clone(),
            vec![("x-hub-signature-256", format!("sha256={}", "zz".repeat(32)))],
        ),
        (
            "odd hex",
            body.clone(),
            vec![("x-hub-signature-256", good[..good.len() - 1].to_string())],
        ),
        (
            "wrong secret",
            body.clone(),
            vec![(
                "x-hub-signature-256",
                sign(Algorithm::Sha256, b"not the secret", &body),
            )],
        ),
        (
            "wrong sha1",
            body.clone(),
            vec![(
                "x-hub-signature",
                sign(Algorithm::Sha1, b"not the secret", &body),
            )],
        ),
        (
            "body changed by one byte",
            tampered,
            vec![("x-hub-signature-256", good.clone())],
        ),
        (
            "empty",
            body.clone(),
            vec![("x-hub-signature-256", String::new())],
        ),
    ];
    for (what, body, headers) in cases {
        let (status, text) = server
            .deliver("example", "pull_request", "d-forged", body, &headers)
            .await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::FORBIDDEN, "Invalid signature"),
            "{what}"
        );
    }
    assert!(server.scheduled().await.is_empty());
    // Nothing was recorded either: the genuine delivery with the same id still deploys.
    let (status, _) = server
        .signed("example", "pull_request", "d-forged", &body)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_one_deploy(&server.scheduled().await);
}

#[tokio::test]
async fn githubs_test_vector_passes_the_signature_check() {
    let server = Server::start().await;
    let vector =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".to_string();
    let (status, text) = server
        .deliver(
            "example",
            "pull_request",
            "d-vector",
            "Hello, World!",
            &[("x-hub-signature-256", vector)],
        )
        .await;
    // Past the signature (not 403); the body is simply not JSON.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.starts_with("Invalid JSON: "), "{text}");
}

#[tokio::test]
async fn bodies_that_are_not_json_are_bad_requests() {
    let server = Server::start().await;
    let truncated = &merged()[..1000];
    let not_utf8: &[u8] = b"{\"action\": \"closed\xff\xfe\"}";
    // The merged payload with one byte of a field nobody reads made invalid UTF-8.
    let mut latin1 = merged();
    let at = FIXTURE.find("alice-dev").unwrap();
    latin1[at] = 0xe9;
    for (what, body) in [
        ("truncated", truncated),
        ("not UTF-8", not_utf8),
        ("not UTF-8 in a skipped field", &latin1),
        ("empty", b""),
    ] {
        let (status, text) = server
            .signed("example", "pull_request", "d-bad-json", body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {text}");
        assert!(
            text.starts_with("Invalid JSON: ") && text.len() < 200,
            "{what}: {text}"
        );
    }
    assert!(server.scheduled().await.is_empty());
}

#[tokio::test]
async fn bodies_over_25_mib_are_refused_with_413() {
    let server = Server::start().await;
    // 30 MB, signed properly: the size alone refuses it.
    let huge = vec![b' '; 30_000_000];
    let (status, _) = server
        .signed("example", "pull_request", "d-huge", &huge)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Declared but never sent: the answer comes before any of the body is read.
    let mut raw = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /github/example/ HTTP/1.1\r\nHost: {}\r\nContent-Length: 30000000\r\nX-GitHub-Event: pull_request\r\n\r\n",
        server.addr
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), raw.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A body well over axum's 2 MB default but under the limit gets through to the JSON check.
    let big = vec![b'x'; 3 * 1024 * 1024];
    assert!(big.len() < MAX_BODY_BYTES);
    let (status, text) = server
        .signed("example", "pull_request", "d-big", &big)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(server.scheduled().await.is_empty());
}

/// Sends `head` (a request line and headers, ending in the blank line) and none of the body
/// it declares; returns the answer's status line, which has to come without the body.
async fn answered_without_the_body(addr: SocketAddr, head: &str) -> String {
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(LIVENESS, raw.read(&mut buf))
            .await
            .expect("answered although the body never came")
            .unwrap();
        assert!(n > 0, "closed without answering: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer.lines().next().unwrap().to_string()
}

#[tokio::test]
async fn what_the_headers_condemn_is_refused_before_the_body_is_read() {
    let server = Server::start().await;
    let addr = server.addr;
    // Well-formed, so only what each case changes is wrong (the body would show it forged).
    let forged = format!("x-hub-signature-256: sha256={}\r\n", "00".repeat(32));
    let json = "content-type: application/json\r\n";
    let head = |path: &str, headers: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nx-github-event: pull_request\r\n\
             {headers}Content-Length: {length}\r\n\r\n"
        )
    };
    let cases = [
        (
            "a project without GitHub rules",
            head("/github/test/", &format!("{forged}{json}"), 20_000),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "no signature",
            head("/github/example/", json, 20_000),
            "HTTP/1.1 403 Forbidden",
        ),
        (
            "a signature that is not hex",
            head(
                "/github/example/",
                &format!("x-hub-signature-256: sha256=zz\r\n{json}"),
                20_000,
            ),
            "HTTP/1.1 403 Forbidden",
        ),
        (
            "a content type GitHub does not send",
            head(
                "/github/example/",
                &format!("{forged}content-type: text/plain\r\n"),
                20_000,
            ),
            "HTTP/1.1 415 Unsupported Media Type",
        ),
        (
            "no content type",
            head("/github/example/", &forged, 20_000),
            "HTTP/1.1 415 Unsupported Media Type",
        ),
        (
            "a declared length over the limit",
            head(
                "/github/example/",
                &format!("{forged}{json}"),
                MAX_BODY_BYTES + 1,
            ),
            "HTTP/1.1 413 Payload Too Large",
        ),
    ];
    for (what, head, expected) in cases {
        assert_eq!(
            answered_without_the_body(addr, &head).await,
            expected,
            "{what}"
        );
    }
    // GitHub's other content type passes them (and fails only on its body, which is not JSON).
    let form = b"payload=%7B%7D";
    let res = server
        .client
        .post(server.url("/github/example/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-event", "pull_request")
        .header(
            "x-hub-signature-256",
            sign(Algorithm::Sha256, SECRET.as_bytes(), form),
        )
        .body(form.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().starts_with("Invalid JSON: "));
    assert!(server.scheduled().await.is_empty());
}

#[tokio::test]
async fn without_budget_small_deliveries_pass_and_larger_ones_get_503_with_retry_after() {
    // No shared budget at all: each body has only its own 16 KiB.
    let budget = BodyBudget::new(0, 16 * 1024, Duration::from_millis(50));
    let queue = Queue::open_in_memory().unwrap();
    let server =
        Server::start_with_budget(RecordingSlack::default(), queue, Some(budget.clone())).await;
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":31}"#;
    assert_eq!(
        server.signed("example", "ping", "d-small", ping).await,
        (StatusCode::OK, "pong".into())
    );

    // The merged pull request is over 20 KB.
    let body = merged();
    let res = server
        .client
        .post(server.url("/github/example/"))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "d-busy")
        .header(
            "x-hub-signature-256",
            sign(Algorithm::Sha256, SECRET.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.headers()["retry-after"],
        BUDGET_RETRY_AFTER_SECONDS.to_string().as_str()
    );

    // A chunked body (no length declared) is counted as it streams.
    let mut raw = TcpStream::connect(server.addr).await.unwrap();
    let mut request = format!(
        "POST /github/example/ HTTP/1.1\r\nHost: {}\r\ncontent-type: application/json\r\n\
         x-hub-signature-256: sha256={}\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr,
        "00".repeat(32)
    )
    .into_bytes();
    for _ in 0..3 {
        request.extend_from_slice(format!("{:x}\r\n", 8 * 1024).as_bytes());
        request.extend_from_slice(&[b' '; 8 * 1024]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    raw.write_all(&request).await.unwrap();
    let mut answer = [0u8; 64];
    let n = tokio::time::timeout(LIVENESS, raw.read(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

    assert!(server.scheduled().await.is_empty());
    assert_eq!(budget.available(), 0);
}

#[tokio::test]
async fn a_suppressed_deploy_is_announced_with_the_real_commands() {
    let server = Server::start().await;
    let end = Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap();
    server
        .queue
        .schedule_suppression(
            "example_deploy",
            Utc::now() - chrono::TimeDelta::minutes(1),
            end,
        )
        .await
        .unwrap();

    let (status, body) = server
        .signed("example", "pull_request", "d-suppressed", &merged())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.ends_with("suppressed"), "{body}");
    let posted = server.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].channel, "#tech");
    assert_eq!(posted[0].thread_ts, None);
    assert_eq!(
        posted[0].text,
        "PR merged, not deploying because deploys suppressed until 2099-01-01 00:00:00+00:00.\n\
         In an emergency, use `example cancel suppression` followed by `example deploy` to force a deployment"
    );
    // Still queued: the dispatcher holds it until the suppression ends.
    assert_one_deploy(&server.scheduled().await);

    // A redelivery does not announce it twice.
    server
        .signed("example", "pull_request", "d-suppressed", &merged())
        .await;
    assert_eq!(server.posted().len(), 1);
}

#[tokio::test]
async fn a_suppression_that_has_not_started_is_not_announced() {
    let server = Server::start().await;
    let start = Utc::now() + chrono::TimeDelta::hours(1);
    server
        .queue
        .schedule_suppression("example_deploy", start, start + chrono::TimeDelta::hours(1))
        .await
        .unwrap();
    let (status, _) = server
        .signed("example", "pull_request", "d-later", &merged())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(server.posted().is_empty());
    assert_one_deploy(&server.scheduled().await);
}

#[tokio::test]
async fn a_failed_notice_still_answers_200_with_the_job_queued() {
    let server = Server::start_with(RecordingSlack {
        fail: true,
        ..Default::default()
    })
    .await;
    let end = Utc::now() + chrono::TimeDelta::hours(2);
    server
        .queue
        .schedule_suppression(
            "example_deploy",
            Utc::now() - chrono::TimeDelta::minutes(1),
            end,
        )
        .await
        .unwrap();
    let (status, _) = server
        .signed("example", "pull_request", "d-slack-down", &merged())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.posted().len(), 1, "the notice was attempted");
    assert_one_deploy(&server.scheduled().await);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let server = Server::start().await;
    let res = server
        .client
        .get(server.url("/check/"))
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let res = server
        .client
        .get(server.url("/check/"))
        .header("x-request-id", "from-the-proxy")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "from-the-proxy");
    let (status, _) = server
        .deliver("example", "pull_request", "d-id", "{}", &[])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408_and_frees_the_connection() {
    let router = Router::new().route(
        "/github/{project}/",
        axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }),
    );
    let server = WebhookServer::bind_app(
        "127.0.0.1:0".parse().unwrap(),
        layers_with_timeout(&CONFIG, router, Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /github/example/ HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000\r\n\r\n{{\"action\"");
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), raw.read(&mut answer))
        .await
        .expect("answered although the body never ended")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

async fn boom() -> &'static str {
    panic!("deliberate panic in a test handler")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
    let router = Router::new()
        .route("/boom", get(boom))
        .route("/check/", get(|| async { "ok" }));
    let server = WebhookServer::bind_app("127.0.0.1:0".parse().unwrap(), layers(&CONFIG, router))
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let client = client();
    for _ in 0..3 {
        let res = client
            .get(format!("http://{addr}/boom"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().contains_key("x-request-id"));
        assert_eq!(res.text().await.unwrap(), "Internal error");
        let ok = client
            .get(format!("http://{addr}/check/"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.text().await.unwrap(), "ok");
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_stops_the_server_gracefully() {
    let server = Server::start().await;
    let res = server
        .client
        .get(server.url("/check/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let addr = server.stop().await;
    let refused = client().get(format!("http://{addr}/check/")).send().await;
    assert!(
        refused.is_err(),
        "still answering after shutdown: {refused:?}"
    );
}

#[tokio::test]
async fn binding_a_taken_address_names_it() {
    let server = Server::start().await;
    let settings = WebhookSettings {
        bind: server.addr,
        secret: Secret::new(SECRET),
    };
    let err = WebhookServer::bind(
        &CONFIG,
        settings,
        server.queue.clone(),
        server.slack.clone(),
    )
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on {}: ", server.addr)),
        "{err}"
    );
}

/// Collects formatted log output.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_request_is_logged_with_its_method_path_status_delivery_and_latency() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime is single-threaded, so the server's tasks log on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = Server::start().await;
    let (status, _) = server
        .deliver("example", "pull_request", "d-logged", "{}", &[])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let listening = lines
        .iter()
        .find(|l| l["fields"]["message"] == "webhook server listening")
        .expect("the real address is logged");
    assert_eq!(listening["fields"]["addr"], server.addr.to_string());
    let request = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request")
        .unwrap_or_else(|| panic!("no request line in {text}"));
    assert_eq!(request["fields"]["status"], 403);
    assert!(request["fields"]["latency_ms"].as_f64().unwrap() >= 0.0);
    let span = &request["span"];
    assert_eq!(span["method"], "POST");
    assert_eq!(span["path"], "/github/example/");
    assert_eq!(span["delivery"], "d-logged");
    assert_eq!(span["request_id"].as_str().unwrap().len(), 36, "{span}");
    assert!(!text.contains(SECRET), "the secret never reaches the logs");
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    // The handler says when it has started, so the stop surely comes while it runs.
    let started = Arc::new(tokio::sync::Notify::new());
    let signal = started.clone();
    let slow = move || async move {
        signal.notify_one();
        // The handler's own work, during which the stop comes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        "finished"
    };
    let router = Router::new().route("/slow", get(slow));
    let server = WebhookServer::bind_app("127.0.0.1:0".parse().unwrap(), layers(&CONFIG, router))
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let in_flight = tokio::spawn(async move {
        let res = client()
            .get(format!("http://{addr}/slow"))
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    });
    started.notified().await;
    stop.send(()).unwrap();
    assert_eq!(
        in_flight.await.unwrap(),
        (StatusCode::OK, "finished".to_string())
    );
    task.await.unwrap().unwrap();
    assert!(client()
        .get(format!("http://{addr}/slow"))
        .send()
        .await
        .is_err());
}

/// Far longer than anything below should take: only a server that hangs reaches it.
const LIVENESS: Duration = Duration::from_secs(10);

/// A server with `/check/` and the middleware, under `limits`; the sender stops it.
async fn start_limited(
    router: Router,
    limits: ConnectionLimits,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<Result<(), ServeError>>,
) {
    let router = router.route("/check/", get(|| async { "ok" }));
    let server = WebhookServer::bind_app("127.0.0.1:0".parse().unwrap(), layers(&CONFIG, router))
        .await
        .unwrap()
        .with_limits(limits);
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// A client that sends a request line and one header, then nothing more.
async fn stalled_client(addr: SocketAddr) -> TcpStream {
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(format!("GET /check/ HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
        .await
        .unwrap();
    raw
}

/// Waits for the server to close `raw` (a reset counts); returns what it sent first.
async fn closed_by_server(raw: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(LIVENESS, raw.read_to_end(&mut seen))
        .await
        .expect("the server closes the connection");
    seen
}

/// Reads from `raw` until a whole `/check/` answer has arrived.
async fn read_check_answer(raw: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n\r\nok") {
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(LIVENESS, raw.read(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(n > 0, "closed before answering: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(seen).unwrap()
}

async fn check_is_ok(addr: SocketAddr) {
    let res = client()
        .get(format!("http://{addr}/check/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_millis(500),
        ..ConnectionLimits::default()
    };
    let (addr, stop, task) = start_limited(Router::new(), limits).await;
    let mut stalled = stalled_client(addr).await;
    // Other clients are served while it stalls.
    check_is_ok(addr).await;
    let answer = closed_by_server(&mut stalled).await;
    assert!(answer.is_empty(), "{answer:?}");
    check_is_ok(addr).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    };
    let (addr, stop, task) = start_limited(Router::new(), limits).await;
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(format!("GET /check/ HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let answer = read_check_answer(&mut raw).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("connection: close"), "{answer}");
    let after = closed_by_server(&mut raw).await;
    assert!(after.is_empty(), "{after:?}");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_does_not_wait_on_a_stalled_client() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        drain_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    };
    let (addr, stop, task) = start_limited(Router::new(), limits).await;
    let mut stalled = stalled_client(addr).await;
    // Connections are accepted in order, so the stalled one is being served once this is.
    check_is_ok(addr).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("shutdown finishes although a client stalls")
        .unwrap()
        .unwrap();
    closed_by_server(&mut stalled).await;
}

#[tokio::test]
async fn shutdown_drops_a_request_still_running_after_the_drain_time() {
    let started = Arc::new(Notify::new());
    let running = started.clone();
    let router = Router::new().route(
        "/forever",
        get(move || async move {
            running.notify_one();
            std::future::pending::<&'static str>().await
        }),
    );
    let limits = ConnectionLimits {
        drain_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    };
    let (addr, stop, task) = start_limited(router, limits).await;
    let in_flight =
        tokio::spawn(async move { client().get(format!("http://{addr}/forever")).send().await });
    started.notified().await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("shutdown finishes although a request never does")
        .unwrap()
        .unwrap();
    let dropped = tokio::time::timeout(LIVENESS, in_flight)
        .await
        .expect("the client sees its connection go")
        .unwrap();
    assert!(dropped.is_err(), "{dropped:?}");
}

#[tokio::test]
async fn clients_over_the_connection_cap_wait_until_one_closes() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        max_connections: 4,
        ..ConnectionLimits::default()
    };
    let (addr, stop, task) = start_limited(Router::new(), limits).await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(stalled_client(addr).await);
    }
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    fifth
        .write_all(format!("GET /check/ HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Asserts an absence, so it can only wait a while: an answer now would break the cap.
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), fifth.read(&mut buf)).await;
    assert!(early.is_err(), "answered over the cap: {early:?}");
    drop(stalled.pop());
    let answer = read_check_answer(&mut fifth).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
