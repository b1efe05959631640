//! `GET /metrics` from the built binary: the counters move when a webhook is delivered and its
//! job runs; every command serves metrics only where `METRICS_BIND` asks it to, never on the
//! webhook address.

// fake_socket.rs allows dead code itself.

use bennettbot_test_support::wait::{eventually_async, WAIT};
use std::collections::HashSet;

use bennettbot::webhook::signature::{sign, Algorithm};
use bennettbot_test_support::binary::{Part, SECRET};
use bennettbot_test_support::fake_slack::FakeSlack;
use bennettbot_test_support::fake_socket::FakeSocket;
use serde_json::json;

const BOT: &str = "U0BOT";
const GENERAL: &str = "C0GENERAL";

/// What the fake Slack workspace answers at start-up.
fn workspace(slack: &FakeSlack, socket: &FakeSocket) {
    slack.answer_start_up(BOT, &socket.url, Some((GENERAL, "general")));
}

/// Sends a signed merged-PR webhook for `project`; returns the HTTP status.
async fn merged_pr(addr: &str, project: &str, delivery: &str) -> u16 {
    let mut payload: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/pull_request_closed.json")).unwrap();
    payload["pull_request"]["merged"] = json!(true);
    let body = serde_json::to_vec(&payload).unwrap();
    reqwest::Client::new()
        .post(format!("http://{addr}/github/{project}/"))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", delivery)
        .header(
            "X-Hub-Signature-256",
            sign(Algorithm::Sha256, SECRET.as_bytes(), &body),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Declares a body over the 25 MB limit for `path` and sends none of it; returns the status
/// line. The middleware answers before the handler runs.
async fn oversized(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-GitHub-Event: push\r\n\
         Content-Length: 30000000\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 64];
    let n = raw.read(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The status of `GET <path>` at `addr`.
async fn get_status(addr: &str, path: &str) -> u16 {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// One scrape: the series, each written as in the exposition (`name{labels}`), and values.
struct Scrape(Vec<(String, f64)>);

impl Scrape {
    /// The series' value, 0 when it is not exposed (a counter never incremented).
    fn get(&self, series: &str) -> f64 {
        self.find(series).unwrap_or(0.0)
    }

    /// The series' value if it is exposed.
    fn find(&self, series: &str) -> Option<f64> {
        self.0.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
    }
}

/// `GET /metrics` at `addr`, checked to be the Prometheus text format.
async fn scrape(addr: &str) -> Scrape {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = response.text().await.unwrap();
    Scrape(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').expect("`series value`");
                (series.to_string(), value.parse().expect("a number"))
            })
            .collect(),
    )
}

/// Scrapes until `done` holds, for at most [`WAIT`]; returns that scrape.
async fn scrape_until(addr: &str, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    eventually_async(what, WAIT, || async {
        let scraped = scrape(addr).await;
        done(&scraped).then_some(scraped)
    })
    .await
}

const QUEUED: &str = r#"bennettbot_jobs_queued_total{job_type="example_deploy"}"#;
const STARTED: &str = r#"bennettbot_jobs_started_total{job_type="example_deploy"}"#;
const SUCCEEDED: &str =
    r#"bennettbot_jobs_finished_total{job_type="example_deploy",outcome="succeeded"}"#;
const DURATIONS: &str = r#"bennettbot_job_duration_seconds_count{job_type="example_deploy"}"#;
const DEPTH: &str = r#"bennettbot_queue_depth{job_type="example_deploy"}"#;
const DELIVERED: &str = r#"bennettbot_webhook_deliveries_total{project="example",result="queued"}"#;
const DUPLICATE: &str =
    r#"bennettbot_webhook_deliveries_total{project="example",result="duplicate"}"#;
const REFUSED: &str = r#"bennettbot_webhook_deliveries_total{project="unknown",result="refused"}"#;
const CUT_OFF: &str = r#"bennettbot_webhook_deliveries_total{project="example",result="refused"}"#;
const POSTED: &str = r#"bennettbot_slack_api_calls_total{method="chat.postMessage",outcome="ok"}"#;
const ACKS: &str = "bennettbot_socket_mode_ack_latency_seconds_count";

#[tokio::test(flavor = "multi_thread")]
async fn serve_counts_a_webhook_its_job_and_the_slack_calls() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let serve = Part::start(
        "serve",
        &slack,
        dir.path(),
        &[("METRICS_BIND", "127.0.0.1:0")],
    );
    let metrics = serve.metrics_addr();
    let addr = serve.webhook_addr();
    socket.wait_connections(1).await;
    assert_eq!(
        get_status(&addr, "/metrics").await,
        404,
        "not on the webhook address"
    );

    let before = scrape(&metrics).await;
    for series in [
        QUEUED, STARTED, SUCCEEDED, DURATIONS, DELIVERED, DUPLICATE, REFUSED, CUT_OFF,
    ] {
        assert_eq!(before.get(series), 0.0, "{series}");
    }
    assert_eq!(before.find(DEPTH), None);

    // A merged PR queues example_deploy 60 s out; its redelivery and a made-up project do not.
    assert_eq!(merged_pr(&addr, "example", "delivery-1").await, 200);
    assert_eq!(merged_pr(&addr, "example", "delivery-1").await, 200);
    assert_eq!(merged_pr(&addr, "nonsense", "delivery-2").await, 400);
    // The queue gauges are read at most every 5 s, so the depth shows within that.
    let queued = scrape_until(&metrics, "the deploy in the queue depth", |s| {
        s.find(DEPTH) == Some(1.0)
    })
    .await;
    assert_eq!(queued.get(DELIVERED), 1.0);
    assert_eq!(queued.get(DUPLICATE), 1.0);
    assert_eq!(queued.get(REFUSED), 1.0);
    assert_eq!(queued.get(CUT_OFF), 0.0);
    assert_eq!(queued.get(QUEUED), 1.0);
    assert_eq!(queued.get(STARTED), 0.0);

    // Bodies the middleware refuses before the handler sees them count as refused too.
    assert_eq!(
        oversized(&addr, "/github/example/").await,
        "HTTP/1.1 413 Payload Too Large"
    );
    assert_eq!(
        oversized(&addr, "/github/nonsense").await,
        "HTTP/1.1 413 Payload Too Large"
    );
    let cut_off = scrape(&metrics).await;
    assert_eq!(cut_off.get(CUT_OFF), 1.0);
    assert_eq!(cut_off.get(REFUSED), 2.0);

    // An envelope is acked, and the ack timed.
    let envelope = socket.send_event(json!({
        "type": "app_mention", "user": "U0ALICE", "text": format!("<@{BOT}> hi"),
        "ts": "1800000000.000100", "channel": GENERAL, "event_ts": "1800000000.000100",
    }));
    socket.wait_ack(&envelope).await;

    // Sixty seconds pass: bring the deploy forward, as the clock would.
    let due = bennettbot::queue::format_time(chrono::Utc::now() - chrono::Duration::seconds(1));
    let conn = rusqlite::Connection::open(dir.path().join("bennettbot.db")).unwrap();
    conn.execute(
        "UPDATE job SET start_after = ?1 WHERE type = 'example_deploy'",
        [due],
    )
    .unwrap();
    let after = scrape_until(
        &metrics,
        "the deploy counted, and gone from the queue",
        |s| s.get(SUCCEEDED) == 1.0 && s.find(DEPTH).is_none(),
    )
    .await;
    assert_eq!(after.get(STARTED), 1.0);
    assert_eq!(after.get(DURATIONS), 1.0);
    assert_eq!(after.get(QUEUED), 1.0);
    assert!(after.get(ACKS) >= 1.0);
    // The start notice and the report, at least.
    assert!(
        after.get(POSTED) >= before.get(POSTED) + 2.0,
        "{} then {}",
        before.get(POSTED),
        after.get(POSTED)
    );
}

/// The TCP ports process `pid` listens on, from `/proc` (Linux).
fn listening_ports(pid: u32) -> HashSet<u16> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let mut ports = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is fields[1] (hex ip:port), st fields[3] (0A = LISTEN), inode fields[9].
            if fields.len() > 9 && fields[3] == "0A" && inodes.contains(fields[9]) {
                let port = fields[1].rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

#[tokio::test(flavor = "multi_thread")]
async fn dispatcher_alone_serves_metrics_on_metrics_bind_and_opens_no_port_without_it() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();

    let with = Part::start(
        "dispatcher",
        &slack,
        dir.path(),
        &[("METRICS_BIND", "127.0.0.1:0")],
    );
    let addr = with.metrics_addr();
    with.wait_log("dispatcher started");
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Families with no series yet are left out; the unlabelled histogram is always there.
    assert!(
        body.contains("# TYPE bennettbot_socket_mode_ack_latency_seconds histogram"),
        "{body}"
    );
    // Only /metrics: the webhook routes are not served there.
    let check = reqwest::get(format!("http://{addr}/check/")).await.unwrap();
    assert_eq!(check.status(), 404);
    assert_eq!(
        listening_ports(with.child.id()),
        HashSet::from([addr.rsplit(':').next().unwrap().parse().unwrap()])
    );

    let without = Part::start("dispatcher", &slack, dir.path(), &[]);
    without.wait_log("dispatcher started");
    assert_eq!(listening_ports(without.child.id()), HashSet::new());
}

/// The port of `addr` (`ip:port`).
fn port(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn webserver_and_bot_serve_metrics_on_metrics_bind_and_never_on_the_webhook_address() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let bind = [("METRICS_BIND", "127.0.0.1:0")];

    let web = Part::start("webserver", &slack, dir.path(), &bind);
    let metrics = web.metrics_addr();
    let addr = web.webhook_addr();
    assert_eq!(get_status(&addr, "/metrics").await, 404);
    assert_eq!(get_status(&addr, "/check/").await, 200);
    assert_eq!(get_status(&metrics, "/check/").await, 404);
    let scraped = scrape(&metrics).await;
    assert_eq!(scraped.get(DELIVERED), 0.0);
    assert_eq!(
        listening_ports(web.child.id()),
        HashSet::from([port(&addr), port(&metrics)])
    );

    let bare = Part::start("webserver", &slack, dir.path(), &[]);
    let addr = bare.webhook_addr();
    assert_eq!(get_status(&addr, "/metrics").await, 404);
    assert_eq!(
        listening_ports(bare.child.id()),
        HashSet::from([port(&addr)])
    );

    let bot = Part::start("bot", &slack, dir.path(), &bind);
    let metrics = bot.metrics_addr();
    socket.wait_connections(1).await;
    scrape(&metrics).await;
    assert_eq!(
        listening_ports(bot.child.id()),
        HashSet::from([port(&metrics)])
    );
}
