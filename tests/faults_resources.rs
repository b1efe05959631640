//! Resource faults against the built binary and the fake Slack: a job that writes far more
//! output than can be reported leaves the dispatcher's memory bounded, and its report is cut
//! short with a note naming the log file that holds the whole output.

use bennettbot_test_support::wait::{eventually, WAIT};

use std::path::{Path, PathBuf};
use std::time::Duration;

use bennettbot::config::Args;
use bennettbot::dispatcher::report::MAX_UPLOAD_BYTES;
use bennettbot::queue::{ExitKind, SqliteStore as Queue};
use bennettbot_test_support::binary::Part;
use bennettbot_test_support::fake_slack::FakeSlack;

const JOBS: &str = "C0JOBS";
const THREAD: &str = "1800000000.000400";
/// How much the job writes to stdout: 40 times what is ever read back.
const OUTPUT_BYTES: u64 = 200_000_000;
/// The most memory the dispatcher may ever have held (its peak resident set). The report
/// reads at most [`MAX_UPLOAD_BYTES`] of output; a few copies of that, the runtime and the
/// HTTP client fit well within this, while reading the output whole would not.
const MAX_PEAK_RSS_KIB: u64 = 64 * 1024;

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
