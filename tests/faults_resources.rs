//! Resource faults against the built binary and the fake Slack: a job that writes far more
//! output than can be reported leaves the dispatcher's memory bounded, and its report is cut
//! short with a note naming the log file that holds the whole output; many slow unsigned
//! uploads at once leave the webhook server's memory bounded, and a signed delivery still
//! gets through.

use bennettbot_test_support::wait::{eventually, WAIT};

use std::path::{Path, PathBuf};
use std::time::Duration;

use bennettbot::config::Args;
use bennettbot::dispatcher::report::MAX_UPLOAD_BYTES;
use bennettbot::queue::{ExitKind, SqliteStore as Queue};
use bennettbot::webhook::body::{BUDGET_WAIT, REQUEST_MEMORY_BYTES};
use bennettbot::webhook::signature::{sign, Algorithm};
use bennettbot_test_support::binary::{Part, SECRET};
use bennettbot_test_support::fake_slack::FakeSlack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const JOBS: &str = "C0JOBS";
const THREAD: &str = "1800000000.000400";
/// How much the job writes to stdout: 40 times what is ever read back.
const OUTPUT_BYTES: u64 = 200_000_000;
/// The most memory the dispatcher may ever have held (its peak resident set). The report
/// reads at most [`MAX_UPLOAD_BYTES`] of output; a few copies of that (it is kept in the
/// outbox, read back, and handed to the HTTP client), the runtime and the HTTP client fit
/// within this (measured 64–66 MiB in a debug build, from 29 MiB idle), while reading the
/// output whole would not.
const MAX_PEAK_RSS_KIB: u64 = 80 * 1024;

/// A workspace whose `test/slow.sh` (the `test_slow` job, which reports its stdout) writes
/// [`OUTPUT_BYTES`] of 100-byte lines.
fn flooding_workspace(root: &Path) -> PathBuf {
    let ws = root.join("workspace");
    std::fs::create_dir_all(ws.join("test")).unwrap();
    let line = "x".repeat(99);
    std::fs::write(
        ws.join("test/slow.sh"),
        // No `pipefail`: `yes` ends on SIGPIPE once `head` has had enough.
        format!("#!/usr/bin/env bash\nset -eu\nyes {line} | head -c {OUTPUT_BYTES}\n"),
    )
    .unwrap();
    ws
}

/// A `/proc/<pid>/status` field in KiB, e.g. `VmHWM` (the peak resident set).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_writing_200_mb_leaves_the_dispatcher_small_and_its_report_truncated() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ws = flooding_workspace(dir.path());
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    let host_logs = "/host/logs";
    let mut dispatcher = Part::start(
        "dispatcher",
        &slack,
        dir.path(),
        &[
            ("WORKSPACE_DIR", ws.to_str().unwrap()),
            ("HOST_LOGS_DIR", host_logs),
        ],
    );
    let pid = dispatcher.child.id();
    dispatcher.wait_log("dispatcher started");
    let idle_kib = status_kib(pid, "VmHWM");
    // Scheduled from outside, as the bot would: the dispatcher sees it within a second.
    let job = queue
        .schedule_job(
            "test_slow",
            &Args::new(),
            JOBS,
            Some(THREAD),
            Duration::ZERO,
            false,
            None,
        )
        .unwrap()
        .id;

    let files = slack
        .wait_for("files.completeUploadExternal", 1, WAIT)
        .await;
    assert_eq!(files.len(), 1);
    let history = eventually("the job in history", WAIT, || {
        let h = queue.history(10).unwrap();
        (!h.is_empty()).then_some(h)
    })
    .await;
    // Measured after the whole run, report included, while the process still lives.
    let peak_kib = status_kib(pid, "VmHWM");
    let now_kib = status_kib(pid, "VmRSS");
    println!(
        "dispatcher after a {OUTPUT_BYTES}-byte job: peak RSS {:.1} MiB (idle {:.1} MiB), now {:.1} MiB (bound {} MiB)",
        peak_kib as f64 / 1024.0,
        idle_kib as f64 / 1024.0,
        now_kib as f64 / 1024.0,
        MAX_PEAK_RSS_KIB / 1024
    );
    assert!(dispatcher.terminate().success());

    // The whole output is on disk, in the log folder the history names.
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].job_id, &history[0].exit),
        (job, &ExitKind::Code(0))
    );
    let log_dir = PathBuf::from(history[0].log_dir.as_deref().expect("a log folder"));
    let stdout = log_dir.join("stdout");
    assert_eq!(std::fs::metadata(&stdout).unwrap().len(), OUTPUT_BYTES);

    // The report is the start of it, as one file, with a note naming that file as the host
    // sees it.
    let uploaded = slack.files();
    assert_eq!(uploaded.len(), 1);
    let file = &uploaded[0];
    assert_eq!(file.content.len(), MAX_UPLOAD_BYTES);
    let line = format!("{}\n", "x".repeat(99));
    assert!(file.content.starts_with(line.as_bytes()));
    assert!(file.content.iter().all(|b| *b == b'x' || *b == b'\n'));
    assert_eq!(file.channel_id.as_deref(), Some(JOBS));
    assert_eq!(file.thread_ts.as_deref(), Some(THREAD));
    let logs_name = log_dir.strip_prefix(dir.path().join("logs")).unwrap();
    let host_stdout = Path::new(host_logs).join(logs_name).join("stdout");
    assert_eq!(
        file.initial_comment.as_deref(),
        Some(
            format!(
                "Output truncated to the first 5 MB; the whole output is in {}.",
                host_stdout.display()
            )
            .as_str()
        )
    );
    // Nothing else was posted in the job's channel: the output went only into the file.
    assert!(
        slack.texts_in(JOBS).is_empty(),
        "{:?}",
        slack.texts_in(JOBS)
    );

    assert!(
        peak_kib < MAX_PEAK_RSS_KIB,
        "the dispatcher's peak RSS was {peak_kib} KiB, over {MAX_PEAK_RSS_KIB} KiB"
    );
}

/// How many uploads are under way at once: most of the server's 256 connections.
const UPLOADS: usize = 200;
/// What each upload declares: well under the 25 MB limit, so only the budget stands in the way.
const DECLARED_BYTES: usize = 20_000_000;
/// What each upload actually sends before trickling: all of them together (100 MiB) are more
/// than the server may hold, so a server that read every body as it came would go over (it
/// grew by 116 MiB with the budget made unlimited).
const SENT_BYTES: usize = 512 * 1024;

/// What came of one upload.
#[derive(Debug, PartialEq)]
enum Upload {
    /// Sent [`SENT_BYTES`] and now trickles a byte at a time, mid-body.
    Trickling,
    /// The server answered or closed the connection.
    Ended,
}

/// Uploads a body declared [`DECLARED_BYTES`] long to `addr` with headers that pass every
/// check made before the body is read (a project with rules, a well-formed but forged
/// signature, JSON), until the server answers or closes, or the task is dropped. Reports
/// `(n, Trickling)` once it trickles and `(n, Ended)` once it ended.
async fn slow_upload(n: usize, addr: String, done: mpsc::UnboundedSender<(usize, Upload)>) {
    if let Ok(stream) = TcpStream::connect(&addr).await {
        let (mut read, write) = stream.into_split();
        let mut answer = [0u8; 256];
        tokio::select! {
            _ = send_slowly(n, &addr, write, &done) => {}
            _ = read.read(&mut answer) => {}
        }
    }
    let _ = done.send((n, Upload::Ended));
}

/// Sends the head and [`SENT_BYTES`] of body in 64 KiB writes, then a byte every 200 ms for
/// ever; returns only when a write fails.
async fn send_slowly(
    n: usize,
    addr: &str,
    mut write: tokio::net::tcp::OwnedWriteHalf,
    done: &mpsc::UnboundedSender<(usize, Upload)>,
) -> std::io::Result<()> {
    let head = format!(
        "POST /github/example/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: pull_request\r\nX-Hub-Signature-256: sha256={}\r\n\
         Content-Length: {DECLARED_BYTES}\r\n\r\n",
        "0".repeat(64)
    );
    write.write_all(head.as_bytes()).await?;
    let piece = [b' '; 64 * 1024];
    for _ in 0..SENT_BYTES / piece.len() {
        write.write_all(&piece).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = done.send((n, Upload::Trickling));
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        write.write_all(b" ").await?;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_unsigned_uploads_leave_the_webhook_server_small_and_signed_deliveries_queued() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let web = Part::start("webserver", &slack, dir.path(), &[]);
    let pid = web.child.id();
    let addr = web.webhook_addr();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let check = client.get(format!("http://{addr}/check/")).send().await;
    assert_eq!(check.unwrap().status(), 200);
    let idle_kib = status_kib(pid, "VmRSS");

    let (done_tx, mut done) = mpsc::unbounded_channel();
    let uploads: Vec<_> = (0..UPLOADS)
        .map(|n| tokio::spawn(slow_upload(n, addr.clone(), done_tx.clone())))
        .collect();
    // Once a body has been refused for want of budget, the budget has been all taken.
    web.wait_log("no memory budget for its body");

    let body = include_bytes!("fixtures/pull_request_closed.json");
    let delivered = client
        .post(format!("http://{addr}/github/example/"))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", "during-the-uploads")
        .header(
            "X-Hub-Signature-256",
            sign(Algorithm::Sha256, SECRET.as_bytes(), body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = delivered.status();
    let text = delivered.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    let scheduled = queue.status(chrono::Utc::now()).unwrap().scheduled;
    assert!(
        scheduled.iter().any(|j| j.job_type == "example_deploy"),
        "{text}: {scheduled:?}"
    );

    // Every upload has either sent all it will send at once, or been answered.
    let mut settled = std::collections::HashSet::new();
    while settled.len() < UPLOADS {
        let next = tokio::time::timeout(WAIT, done.recv()).await;
        let (n, _) = next.expect("every upload trickles or ends").unwrap();
        settled.insert(n);
    }
    // Bodies still waiting for budget are answered within this; the rest hold theirs.
    tokio::time::sleep(BUDGET_WAIT * 3).await;
    let trickling = uploads.iter().filter(|u| !u.is_finished()).count();
    let peak_kib = status_kib(pid, "VmHWM");
    let now_kib = status_kib(pid, "VmRSS");
    let bound_kib = (REQUEST_MEMORY_BYTES / 1024) as u64;
    println!(
        "webserver under {UPLOADS} uploads of {SENT_BYTES} bytes (declaring {DECLARED_BYTES}): \
         peak RSS {:.1} MiB (idle {:.1} MiB), now {:.1} MiB; {trickling} still uploading; \
         bound {} MiB above idle",
        peak_kib as f64 / 1024.0,
        idle_kib as f64 / 1024.0,
        now_kib as f64 / 1024.0,
        bound_kib / 1024
    );
    for upload in &uploads {
        upload.abort();
    }
    assert!(
        peak_kib.saturating_sub(idle_kib) < bound_kib,
        "the webhook server grew by {} KiB, over the {bound_kib} KiB requests may take",
        peak_kib - idle_kib
    );
}
