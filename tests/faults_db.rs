//! Faults of the queue database, with the built binary against the fake Slack: `serve`
//! SIGKILLed with jobs running and queued loses none of them, and a database that cannot be
//! written (read-only, or the disk full) is reported in the logs channel without the process
//! exiting, and service resumes once it is fixed.

use bennettbot_test_support::args::args;
use bennettbot_test_support::binary::alive;
use bennettbot_test_support::job_groups::JobGroups;
use bennettbot_test_support::wait::{eventually, WAIT};
// fake_socket.rs allows dead code itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bennettbot::config::Args;
use bennettbot::queue::{ExitKind, SqliteStore as Queue};
use bennettbot_test_support::binary::Part;
use bennettbot_test_support::fake_slack::FakeSlack;
use bennettbot_test_support::fake_socket::FakeSocket;
use chrono::Utc;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::json;

const BOT: &str = "U0BOT";
const JOBS: &str = "C0JOBS";
/// The thread the queued `test_hello_name` jobs report in.
const QUEUED_THREAD: &str = "1800000000.000900";

/// What the fake Slack workspace answers at start-up.
fn slack_workspace(slack: &FakeSlack, socket: &FakeSocket) {
    slack.answer_start_up(BOT, &socket.url, Some((JOBS, "jobs")));
}

/// The body of every job script in [`held_workspace`]: records its pid, waits while the hold
/// file exists, then appends its label (its argument, or its name) to the ledger.
const HELD_SCRIPT: &str = r#"#!/usr/bin/env bash
set -u
label="${1:-$(basename "$0")}"
echo "$$ $label" >> "$WRITEABLE_DIR/started"
while [ -e "$WRITEABLE_DIR/hold" ]; do sleep 0.05; done
echo "$label" >> "$WRITEABLE_DIR/ledger"
echo "Hello $label"
"#;

/// The scripts of the jobs [`RUNNING`] names, all [`HELD_SCRIPT`].
const SCRIPTS: &[&str] = &[
    "test/hello.sh",
    "test/slow.sh",
    "test/fail.sh",
    "test/blocks.sh",
    "example/deploy.sh",
];

/// Five job types, each running one job: `(type, thread it reports in)`.
const RUNNING: &[(&str, &str)] = &[
    ("test_hello_name", "1800000000.000101"),
    ("test_slow", "1800000000.000102"),
    ("test_fail", "1800000000.000103"),
    ("test_blocks", "1800000000.000104"),
    ("example_deploy", "1800000000.000105"),
];

/// A workspace of held scripts under `root`.
fn held_workspace(root: &Path) -> PathBuf {
    let ws = root.join("workspace");
    for script in SCRIPTS {
        let path = ws.join(script);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, HELD_SCRIPT).unwrap();
    }
    ws
}

/// `(pid, label)` of every script start recorded under `dir`.
fn started(dir: &Path) -> Vec<(i32, String)> {
    std::fs::read_to_string(dir.join("started"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (pid, label) = line.split_once(' ')?;
            Some((pid.parse().ok()?, label.to_string()))
        })
        .collect()
}

/// Labels in the ledger under `dir`, in order.
fn ledger(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("ledger"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Schedules a job due now from this process, as another part of bennettbot would.
fn schedule(queue: &Queue, job_type: &str, a: &Args, thread: &str) -> i64 {
    queue
        .schedule_job(job_type, a, JOBS, Some(thread), Duration::ZERO, false, None)
        .expect("schedule")
        .id
}

/// `PRAGMA integrity_check` of the database at `db`.
fn integrity(db: &Path) -> String {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_sigkilled_with_five_running_and_fifty_queued_loses_nothing() {
    const QUEUED: usize = 50;
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    slack_workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let ws = held_workspace(dir.path());
    let started_in = dir.path().to_owned();
    let _groups = JobGroups::new(dir.path().to_owned(), move || {
        started(&started_in)
            .into_iter()
            .map(|(pid, _)| pid)
            .collect()
    });
    std::fs::write(dir.path().join("hold"), "").unwrap();
    let db = dir.path().join("bennettbot.db");
    let queue = Queue::open(&db).unwrap();
    let env = [
        ("WORKSPACE_DIR", ws.to_str().unwrap()),
        ("LEASE_TIMEOUT_SECONDS", "2"),
    ];

    for (job_type, thread) in RUNNING {
        let a = if *job_type == "test_hello_name" {
            args(&[("name", "first")])
        } else {
            Args::new()
        };
        schedule(&queue, job_type, &a, thread);
    }
    let mut doomed = Part::start("serve", &slack, dir.path(), &env);
    let running = eventually("five jobs to be running", WAIT, || {
        let s = started(dir.path());
        (s.len() == RUNNING.len()).then_some(s)
    })
    .await;
    let names: Vec<String> = (0..QUEUED).map(|n| format!("name-{n:02}")).collect();
    for name in &names {
        schedule(
            &queue,
            "test_hello_name",
            &args(&[("name", name)]),
            QUEUED_THREAD,
        );
    }
    let status = queue.status(Utc::now()).unwrap();
    assert_eq!(
        (status.running.len(), status.scheduled.len()),
        (RUNNING.len(), QUEUED),
        "{status:?}"
    );

    let killed = doomed.sigkill();
    assert_eq!(killed.code(), None, "killed by a signal: {killed}");
    for (pid, label) in &running {
        assert!(alive(*pid), "{label} runs on, orphaned");
    }

    let mut serve = Part::start("serve", &slack, dir.path(), &env);
    // Each running job is reported interrupted in its own thread, once its processes are
    // stopped (the reaper stops the group before reporting).
    for (job_type, thread) in RUNNING {
        let text = slack
            .wait_for_text(JOBS, &format!("Command `{job_type}` was interrupted"), WAIT)
            .await;
        let posted = slack
            .calls("chat.postMessage")
            .into_iter()
            .find(|c| c.str("text") == Some(text.as_str()))
            .unwrap();
        assert_eq!(posted.str("thread_ts"), Some(*thread), "{job_type}");
    }
    for (pid, label) in &running {
        eventually(&format!("{label} to be stopped"), WAIT, || {
            (!alive(*pid)).then_some(())
        })
        .await;
    }
    // Jobs may go on now.
    std::fs::remove_file(dir.path().join("hold")).unwrap();
    let history = eventually("every job in history", WAIT * 4, || {
        let h = queue.history(1_000).unwrap();
        (h.len() >= RUNNING.len() + QUEUED).then_some(h)
    })
    .await;
    assert!(serve.terminate().success());

    // The ledger: each queued name exactly once; none of the interrupted jobs got that far.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for label in ledger(dir.path()) {
        *counts.entry(label).or_default() += 1;
    }
    let expected: HashMap<String, usize> = names.iter().map(|n| (n.clone(), 1)).collect();
    assert_eq!(counts, expected);

    // History: five interrupted, fifty succeeded; nothing left in the queue.
    assert_eq!(history.len(), RUNNING.len() + QUEUED, "{history:#?}");
    let interrupted: Vec<&str> = history
        .iter()
        .filter(|h| h.exit == ExitKind::Interrupted)
        .map(|h| h.job_type.as_str())
        .collect();
    assert_eq!(interrupted.len(), RUNNING.len(), "{history:#?}");
    for (job_type, _) in RUNNING {
        assert!(interrupted.contains(job_type), "{job_type} interrupted");
    }
    assert!(history
        .iter()
        .filter(|h| h.exit != ExitKind::Interrupted)
        .all(|h| h.exit == ExitKind::Code(0) && h.job_type == "test_hello_name"));
    let status = queue.status(Utc::now()).unwrap();
    assert!(
        status.running.is_empty() && status.scheduled.is_empty(),
        "{status:?}"
    );

    // Slack: each interruption reported once, each name's report once in its thread.
    let texts = slack.texts_in(JOBS);
    for (job_type, _) in RUNNING {
        let needle = format!("Command `{job_type}` was interrupted");
        let n = texts.iter().filter(|t| t.contains(&needle)).count();
        assert_eq!(n, 1, "{needle}: {texts:#?}");
    }
    for name in &names {
        let hello = format!("Hello {name}");
        let n = texts.iter().filter(|t| t.trim_end() == hello).count();
        assert_eq!(n, 1, "{hello}: {texts:#?}");
    }
    // Every script start was one of the five or one of the fifty, each once.
    assert_eq!(started(dir.path()).len(), RUNNING.len() + QUEUED);

    drop(queue);
    assert_eq!(integrity(&db), "ok");
}

/// Mentions the bot in `JOBS` with `text` in a message of its own (`ts`).
fn mention(socket: &FakeSocket, text: &str, ts: &str) {
    socket.send_event(json!({
        "type": "app_mention", "user": "U0ALICE", "text": format!("<@{BOT}> {text}"),
        "ts": ts, "channel": JOBS, "event_ts": ts,
    }));
}

/// The thread of the first message in `JOBS` containing `needle`.
fn thread_of(slack: &FakeSlack, needle: &str) -> Option<String> {
    slack
        .calls("chat.postMessage")
        .into_iter()
        .find(|c| {
            c.str("channel") == Some(JOBS) && c.str("text").is_some_and(|t| t.contains(needle))
        })
        .and_then(|c| c.str("thread_ts").map(str::to_string))
}

/// Messages in the logs channel containing `needle`.
fn notices(slack: &FakeSlack, needle: &str) -> usize {
    slack
        .texts_in("#logs")
        .iter()
        .filter(|t| t.contains(needle))
        .count()
}

/// Sets `RLIMIT_FSIZE` of process `pid`: past `bytes`, its writes to files fail (`EFBIG`,
/// with `SIGXFSZ` ignored), as they would on a full disk.
fn limit_file_size(pid: Pid, bytes: libc::rlim_t) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit only reads `limit`; a null old-limit pointer is allowed.
    let done = unsafe {
        libc::prlimit(
            pid.as_raw(),
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(done, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// Ignores `SIGXFSZ` in the child before it runs the binary (ignored signals stay ignored
/// across `exec`), so going past `RLIMIT_FSIZE` fails the write instead of killing it.
fn ignoring_sigxfsz(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: `signal` is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            nix::sys::signal::signal(Signal::SIGXFSZ, nix::sys::signal::SigHandler::SigIgn)
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_is_reported_once_and_service_resumes_once_there_is_room() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    slack_workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bennettbot.db");
    let mut serve = Part::start_with("serve", &slack, dir.path(), &[], ignoring_sigxfsz);
    socket.wait_connections(1).await;
    mention(&socket, "test hello before", "1800000000.000100");
    slack.wait_for_text(JOBS, "Hello before", WAIT).await;
    let queue = Queue::open(&db).unwrap();
    eventually("the first job in history", WAIT, || {
        (queue.history(10).unwrap().len() == 1).then_some(())
    })
    .await;

    // The disk fills up: no write of serve's succeeds any more.
    limit_file_size(serve.pid(), 0);
    // A command now cannot be queued: the bot says so in its thread.
    mention(&socket, "test hello during", "1800000000.000200");
    let error = slack.wait_for_text(JOBS, "Unexpected error", WAIT).await;
    assert!(error.contains("test hello during"), "{error}");
    assert!(
        !error.contains("disk I/O error"),
        "no internal detail: {error}"
    );
    // The detail is in the logs channel, under the error id the user was given.
    let id = error.split('`').nth(1).expect("an error id");
    let detail = slack.wait_for_text("#logs", id, WAIT).await;
    assert!(detail.contains("disk I/O error"), "{detail}");
    assert_eq!(
        thread_of(&slack, "Unexpected error").as_deref(),
        Some("1800000000.000200")
    );
    // A job queued by another process (whose disk is fine) cannot be reserved: the logs
    // channel hears of it once, however often the dispatcher tries.
    schedule(
        &queue,
        "test_hello_name",
        &args(&[("name", "waiting")]),
        QUEUED_THREAD,
    );
    let notice = slack
        .wait_for_text("#logs", "cannot use its job queue database", WAIT)
        .await;
    assert!(notice.contains("disk I/O error"), "{notice}");
    for _ in 0..3 {
        let line = serve.wait_log("could not reserve a job");
        assert!(line.contains("disk I/O error"), "{line}");
    }
    assert_eq!(notices(&slack, "cannot use its job queue database"), 1);
    assert!(serve.child.try_wait().unwrap().is_none(), "serve runs on");

    // Room again: the waiting job runs, the logs channel hears so, commands work.
    limit_file_size(serve.pid(), libc::RLIM_INFINITY);
    slack
        .wait_for_text("#logs", "job queue database works again", WAIT)
        .await;
    slack.wait_for_text(JOBS, "Hello waiting", WAIT).await;
    mention(&socket, "test hello after", "1800000000.000300");
    slack.wait_for_text(JOBS, "Hello after", WAIT).await;
    assert!(serve.terminate().success());

    assert_eq!(notices(&slack, "cannot use its job queue database"), 1);
    assert_eq!(notices(&slack, "job queue database works again"), 1);
    let texts = slack.texts_in(JOBS);
    for hello in ["Hello before", "Hello waiting", "Hello after"] {
        let n = texts.iter().filter(|t| t.trim_end() == hello).count();
        assert_eq!(n, 1, "{hello}: {texts:#?}");
    }
    assert!(
        !texts.iter().any(|t| t.contains("Hello during")),
        "the refused command never ran: {texts:#?}"
    );
    assert_eq!(socket.connections(), 1, "one process all along");
    drop(queue);
    assert_eq!(integrity(&db), "ok");
}

/// The user tests run `serve` as when they run as root, for whom file modes do not stop writes.
const NOBODY: u32 = 65534;

/// Whether the tests run as root.
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the child as [`NOBODY`] when the tests run as root (file modes bind only others).
fn as_nobody_if_root(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    if running_as_root() {
        command.uid(NOBODY).gid(NOBODY);
    }
}

/// Gives `path` to the user [`as_nobody_if_root`] runs `serve` as.
fn hand_over(path: &Path) {
    if running_as_root() {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
    }
}

/// Sets the mode of the database file and of its `-wal` and `-shm` files, where they exist.
fn chmod_database(db: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_database_is_reported_without_a_crash_loop_and_service_resumes_once_fixed() {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    slack_workspace(&slack, &socket);
    let dir = tempfile::tempdir().unwrap();
    hand_over(dir.path());
    let db = dir.path().join("bennettbot.db");
    let mut serve = Part::start_with("serve", &slack, dir.path(), &[], as_nobody_if_root);
    socket.wait_connections(1).await;
    mention(&socket, "test hello before", "1800000000.000100");
    slack.wait_for_text(JOBS, "Hello before", WAIT).await;

    // Made read-only while serve runs: its open files stay writeable, so it goes on working...
    chmod_database(&db, 0o444);
    mention(&socket, "test hello still", "1800000000.000200");
    slack.wait_for_text(JOBS, "Hello still", WAIT).await;
    // ...until it restarts (a deploy, a crash) and opens the database again.
    assert!(serve.terminate().success());
    let mut serve = Part::start_with("serve", &slack, dir.path(), &[], as_nobody_if_root);
    let notice = slack
        .wait_for_text("#logs", "cannot open its job queue", WAIT)
        .await;
    assert!(
        notice.contains("cannot be written: Permission denied"),
        "{notice}"
    );
    // It keeps trying, and says so once, rather than exiting to be restarted in a loop.
    for _ in 0..2 {
        let line = serve.wait_log("could not open the job queue");
        assert!(line.contains("cannot be written"), "{line}");
    }
    assert!(serve.child.try_wait().unwrap().is_none(), "serve runs on");
    assert_eq!(notices(&slack, "cannot open its job queue"), 1);

    // Fixed: the queue opens, the logs channel hears so, and commands work again.
    chmod_database(&db, 0o644);
    slack
        .wait_for_text("#logs", "job queue database works again", WAIT)
        .await;
    socket.wait_connections(2).await;
    mention(&socket, "test hello after", "1800000000.000300");
    slack.wait_for_text(JOBS, "Hello after", WAIT).await;
    assert!(serve.terminate().success());

    assert_eq!(notices(&slack, "cannot open its job queue"), 1);
    let texts = slack.texts_in(JOBS);
    for hello in ["Hello before", "Hello still", "Hello after"] {
        let n = texts.iter().filter(|t| t.trim_end() == hello).count();
        assert_eq!(n, 1, "{hello}: {texts:#?}");
    }
    assert_eq!(integrity(&db), "ok");
}
