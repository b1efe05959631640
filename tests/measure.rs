//! Memory and throughput figures of the built binary's long-running parts against the fake
//! Slack, on loopback, and how fast a mention wakes a dispatcher in another process. Ignored by default: it prints figures (never asserts them) and takes a
//! while. `scripts/measure-e2e.sh` runs it as
//! `cargo test --release --test measure -- --ignored --nocapture --test-threads=1`.
//!
//! Every figure comes after the work it describes is checked to have happened (each job in
//! history and reported), so a broken run fails instead of printing a flattering number.

// fake_socket.rs allows dead code itself.

use bennettbot_test_support::postgres;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bennettbot::queue::{Database, Queue as AnyQueue, SqliteStore as Queue};
use bennettbot::webhook::signature::{sign, Algorithm};
use bennettbot_test_support::binary::{Part, SECRET};
use bennettbot_test_support::fake_slack::FakeSlack;
use bennettbot_test_support::fake_socket::FakeSocket;
use serde_json::json;

const JOBS: &str = "C0JOBS";
/// Jobs queued up front in each drain.
const QUEUED: usize = 1_000;
/// Webhook deliveries sent to the webserver.
const DELIVERIES: usize = 1_000;
/// How long a part is left alone before its idle figure is read.
const SETTLE: Duration = Duration::from_secs(2);
/// Far beyond any healthy drain of `QUEUED` jobs.
const DRAIN_WAIT: Duration = Duration::from_secs(600);

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
fn memory(part: &Part) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", part.child.id()))
        .expect("the process is alive");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Collects rows of the printed table.
#[derive(Default)]
struct Table(Vec<[String; 4]>);

impl Table {
    fn add(&mut self, what: &str, part: &Part, note: String) {
        let (rss, hwm) = memory(part);
        self.0.push([what.to_string(), mib(rss), mib(hwm), note]);
    }

    fn print(&self) {
        println!(
            "\n{:<46} {:>9} {:>9}  note",
            "process / moment", "RSS MiB", "peak MiB"
        );
        for [what, rss, hwm, note] in &self.0 {
            println!("{what:<46} {rss:>9} {hwm:>9}  {note}");
        }
    }
}

/// What the fake Slack workspace answers at the bot's start-up.
fn workspace(slack: &FakeSlack, socket: &FakeSocket) {
    slack.answer_start_up("U0BOT", &socket.url, None);
}

/// Queues `QUEUED` `test_hello_name` jobs named `<prefix><n>` through another connection,
/// waits until all are in history, and checks each was reported once. Returns the drain time.
async fn drain(slack: &FakeSlack, db: &Path, prefix: &str) -> Duration {
    let queue = Queue::open(db).unwrap();
    let before = queue.history(usize::MAX).unwrap().len();
    let began = Instant::now();
    for n in 0..QUEUED {
        let args = [("name".to_string(), format!("{prefix}{n}"))].into();
        queue
            .schedule_job(
                "test_hello_name",
                &args,
                JOBS,
                None,
                Duration::ZERO,
                false,
                None,
            )
            .unwrap();
    }
    let deadline = Instant::now() + DRAIN_WAIT;
    while queue.history(usize::MAX).unwrap().len() < before + QUEUED {
        assert!(Instant::now() < deadline, "{prefix}: jobs never drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = began.elapsed();
    let texts = slack.texts_in(JOBS);
    for n in 0..QUEUED {
        let hello = format!("Hello {prefix}{n}");
        assert_eq!(
            texts.iter().filter(|t| t.trim_end() == hello).count(),
            1,
            "{hello}"
        );
    }
    took
}

/// Sends a signed merged-PR delivery; returns the HTTP status.
async fn merged_pr(client: &reqwest::Client, addr: &str, delivery: &str, body: &[u8]) -> u16 {
    client
        .post(format!("http://{addr}/github/example/"))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", delivery)
        .header(
            "X-Hub-Signature-256",
            sign(Algorithm::Sha256, SECRET.as_bytes(), body),
        )
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn rate(n: usize, took: Duration) -> String {
    format!(
        "{n} jobs in {:.1} s = {:.0} jobs/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "prints memory figures; run by scripts/measure-e2e.sh"]
async fn memory_of_serve_and_of_separate_parts() {
    let mut table = Table::default();

    // `serve`: bot, webserver and dispatcher in one process.
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bennettbot.db");
    let mut serve = Part::start("serve", &slack, dir.path(), &[]);
    serve.webhook_addr();
    socket.wait_connections(1).await;
    tokio::time::sleep(SETTLE).await;
    table.add("serve, idle (Socket Mode connected)", &serve, String::new());
    let took = drain(&slack, &db, "serve").await;
    table.add(
        "serve, after draining 1,000 queued jobs",
        &serve,
        rate(QUEUED, took),
    );
    assert!(serve.terminate().success());

    // `webserver` and `dispatcher` as separate processes on one database.
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bennettbot.db");
    let mut web = Part::start("webserver", &slack, dir.path(), &[]);
    let addr = web.webhook_addr();
    let mut dispatcher = Part::start("dispatcher", &slack, dir.path(), &[]);
    dispatcher.wait_log("dispatcher started");
    tokio::time::sleep(SETTLE).await;
    table.add("webserver, idle", &web, String::new());
    table.add("dispatcher, idle", &dispatcher, String::new());

    let mut payload: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/pull_request_closed.json")).unwrap();
    payload["pull_request"]["merged"] = json!(true);
    let body = serde_json::to_vec(&payload).unwrap();
    let client = reqwest::Client::new();
    let began = Instant::now();
    for n in 0..DELIVERIES {
        let status = merged_pr(&client, &addr, &format!("delivery-{n}"), &body).await;
        assert_eq!(status, 200, "delivery {n}");
    }
    let took = began.elapsed();
    // Every delivery is recorded; the deploys dedupe onto one pending job, 60 s out.
    let status = Queue::open(&db)
        .unwrap()
        .status(chrono::Utc::now())
        .unwrap();
    assert_eq!(status.scheduled.len(), 1, "{status:?}");
    table.add(
        "webserver, after 1,000 signed deliveries",
        &web,
        format!(
            "sequential, {:.0} requests/s",
            DELIVERIES as f64 / took.as_secs_f64()
        ),
    );
    let took = drain(&slack, &db, "parts").await;
    table.add(
        "dispatcher, after draining 1,000 queued jobs",
        &dispatcher,
        rate(QUEUED, took),
    );
    assert!(web.terminate().success());
    assert!(dispatcher.terminate().success());

    table.print();
}

/// Mentions measured per store by [`wake_up_across_processes`].
const WAKE_RUNS: usize = 50;

/// `test/hello.sh` that notes when it started (`<label> <seconds since the epoch>`), then
/// says hello.
const TIMED_HELLO: &str = r#"#!/usr/bin/env bash
echo "$1 $EPOCHREALTIME" >> "$WRITEABLE_DIR/started"
echo "Hello $1"
"#;

/// The `q`th quantile (0..=1) of `sorted`, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

/// `p50 / p99` of `samples`, in milliseconds.
fn p50_p99(samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "p50 {:.1} ms, p99 {:.1} ms",
        quantile_ms(samples, 0.5),
        quantile_ms(samples, 0.99)
    )
}

/// Waits for the report `Hello <label>` and checks it was posted once; returns when it
/// arrived.
async fn only_report(slack: &FakeSlack, label: &str) -> Instant {
    let hello = format!("Hello {label}");
    slack
        .wait_for_text(JOBS, &hello, Duration::from_secs(30))
        .await;
    let reports: Vec<_> = slack
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.str("text").map(str::trim_end) == Some(hello.as_str()))
        .collect();
    assert_eq!(reports.len(), 1, "{hello}");
    reports[0].arrived
}

/// Runs `bot` and `dispatcher` as separate processes on the store `db` names (an extra
/// variable), mentions the bot [`WAKE_RUNS`] times one after the other, and returns how long
/// each mention took to start its job (the script's own clock) and to be reported (when the
/// fake Slack received the report). Each run is checked: its job started and was reported once.
async fn wake_up(db: (&str, String), database: Database) -> (Vec<Duration>, Vec<Duration>) {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("workspace/test/hello.sh");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(&script, TIMED_HELLO).unwrap();
    let ws = dir.path().join("workspace");
    let env = [
        ("WORKSPACE_DIR", ws.to_str().unwrap()),
        (db.0, db.1.as_str()),
    ];
    let mut dispatcher = Part::start("dispatcher", &slack, dir.path(), &env);
    dispatcher.wait_log("dispatcher started");
    let mut bot = Part::start("bot", &slack, dir.path(), &env);
    socket.wait_connections(1).await;
    let queue = AnyQueue::open_database(&database).await.unwrap();

    let (mut to_start, mut to_report) = (Vec::new(), Vec::new());
    for n in 0..WAKE_RUNS {
        let label = format!("wake{n}");
        let ts = format!("1800000000.{n:06}");
        let sent_wall = SystemTime::now();
        let sent = Instant::now();
        socket.send_event(json!({
            "type": "app_mention", "user": "U0ALICE", "text": format!("<@U0BOT> test hello {label}"),
            "ts": ts, "channel": JOBS, "event_ts": ts,
        }));
        to_report.push(only_report(&slack, &label).await - sent);
        let started = std::fs::read_to_string(dir.path().join("started")).unwrap();
        let starts: Vec<f64> = started
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{label} ")))
            .map(|at| at.parse().unwrap())
            .collect();
        assert_eq!(starts.len(), 1, "{label}: {started}");
        let sent_at = sent_wall.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        to_start.push(Duration::from_secs_f64((starts[0] - sent_at).max(0.0)));
        // The next mention must not find this job still running (it would queue behind it).
        let deadline = Instant::now() + Duration::from_secs(30);
        while queue.history(10_000).await.unwrap().len() < n + 1 {
            assert!(Instant::now() < deadline, "{label} never finished");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(bot.terminate().success());
    assert!(dispatcher.terminate().success());
    (to_start, to_report)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "prints wake-up figures; run by scripts/measure-e2e.sh"]
async fn wake_up_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("split.db");
    let url = postgres::database_url().await;
    let stores = [
        (
            "SQLite",
            ("DB_PATH", file.display().to_string()),
            Database::Sqlite(file.clone()),
        ),
        (
            "PostgreSQL",
            ("DATABASE_URL", url.clone()),
            Database::from_settings(Some(&url), "unused".into()).unwrap(),
        ),
    ];
    println!(
        "\n{:<48} {:<30} mention -> report",
        "wake-up (bot and dispatcher processes)", "mention -> job start"
    );
    for (name, db, database) in stores {
        let (mut start, mut report) = wake_up(db, database).await;
        println!(
            "{:<48} {:<30} {}",
            format!("wake-up {name}, {WAKE_RUNS} mentions"),
            p50_p99(&mut start),
            p50_p99(&mut report)
        );
    }
}

/// Mentions measured in one `serve`.
const SERVE_RUNS: usize = 200;

/// A workspace of 1,000 users and 500 channels, as the start-up figure asks.
fn large_workspace(slack: &FakeSlack, socket: &FakeSocket) {
    workspace(slack, socket);
    let members: Vec<_> = (0..1_000)
        .map(|n| json!({ "id": format!("U{n:05}"), "name": format!("user{n}") }))
        .collect();
    slack.respond_with(
        "users.list",
        json!({ "members": members, "response_metadata": { "next_cursor": "" } }),
    );
    let mut channels: Vec<_> = (0..498)
        .map(|n| json!({ "id": format!("C{n:05}"), "name": format!("channel{n}"), "is_member": true }))
        .collect();
    channels.push(json!({ "id": "C0TECH", "name": "tech-support", "is_member": true }));
    channels.push(json!({ "id": "C0ADMINS", "name": "bennett-admins", "is_member": true }));
    slack.respond_with(
        "conversations.list",
        json!({ "channels": channels, "response_metadata": { "next_cursor": "" } }),
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "prints latency figures; run by scripts/measure-e2e.sh"]
async fn mention_to_report_in_one_serve() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    large_workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let mut serve = Part::start("serve", &slack, dir.path(), &[]);
    socket.wait_connections(1).await;
    let connected = began.elapsed();

    let (mut to_report, mut acks) = (Vec::new(), Vec::new());
    for n in 0..SERVE_RUNS {
        let label = format!("echo{n}");
        let ts = format!("1800000001.{n:06}");
        let sent = Instant::now();
        let envelope = socket.send_event(json!({
            "type": "app_mention", "user": "U00001", "text": format!("<@U0BOT> test hello {label}"),
            "ts": ts, "channel": JOBS, "event_ts": ts,
        }));
        to_report.push(only_report(&slack, &label).await - sent);
        socket.wait_ack(&envelope).await;
        acks.push(socket.ack_latency(&envelope).expect("acked"));
        // The next mention must not queue behind this job: wait for its success reaction.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !slack.calls("reactions.add").iter().any(|c| {
            c.str("timestamp") == Some(ts.as_str()) && c.str("name") == Some("white_check_mark")
        }) {
            assert!(Instant::now() < deadline, "{label} never finished");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(serve.terminate().success());
    println!(
        "\nserve, {SERVE_RUNS} mentions of an echo job through the fake Slack (1,000 users, 500 channels):"
    );
    println!(
        "  start-up to connected: {:.0} ms",
        connected.as_secs_f64() * 1000.0
    );
    println!("  mention -> report: {}", p50_p99(&mut to_report));
    println!("  envelope ack: {}", p50_p99(&mut acks));
}
