//! The queue shared by separate processes, as the Slack bot, webhook server and dispatcher
//! run: this test binary re-runs itself as child processes (selected by environment
//! variables), which drain one database file or die holding a job.

use bennettbot_test_support::args::args;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bennettbot::queue::{ExitKind, Finished, SqliteStore as Queue};
use chrono::{TimeDelta, Utc};

const DB: &str = "QUEUE_TEST_CHILD_DB";
const LOG: &str = "QUEUE_TEST_CHILD_LOG";
const OWNER: &str = "QUEUE_TEST_CHILD_OWNER";
const TOTAL: &str = "QUEUE_TEST_CHILD_TOTAL";
const START: &str = "QUEUE_TEST_CHILD_START";

/// Runs this binary's test `name` in a child process with `env` set.
fn spawn_child(name: &str, env: &[(&str, &str)]) -> std::process::Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new(exe);
    // The entry points are ignored tests, so a plain `cargo test` never runs them alone.
    command.args([
        name,
        "--exact",
        "--ignored",
        "--test-threads",
        "1",
        "--nocapture",
    ]);
    command
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command.spawn().expect("spawn child test")
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).map(PathBuf::from)
}

/// Appends one line with a single `write` on an `O_APPEND` file, so lines from several
/// processes never interleave and their order is the order of the writes.
fn log_line(log: &Path, line: &str) {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .expect("open log");
    file.write_all(format!("{line}\n").as_bytes())
        .expect("write log");
}

/// Child: drains the database, logging `R id type` after each reserve commits and
/// `F id type` before each finish commits. Does nothing when run as an ordinary test.
#[test]
#[ignore = "a child process's entry point, started by three_processes_drain_one_database"]
fn child_drain() {
    let (Some(db), Some(log)) = (env_path(DB), env_path(LOG)) else {
        panic!("run by three_processes_drain_one_database, not alone");
    };
    let owner = std::env::var(OWNER).expect("owner");
    let total: usize = std::env::var(TOTAL)
        .expect("total")
        .parse()
        .expect("total is a number");
    let start: i64 = std::env::var(START)
        .expect("start")
        .parse()
        .expect("start is a number");
    let queue = Queue::open(&db).expect("open in child");
    // Start together, so the children really contend.
    while Utc::now().timestamp_millis() < start {
        std::thread::sleep(Duration::from_millis(1));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let now = Utc::now() + TimeDelta::seconds(1);
    loop {
        assert!(Instant::now() < deadline, "child {owner} took too long");
        match queue.reserve(&owner, now).expect("reserve") {
            Some(job) => {
                log_line(&log, &format!("R {} {}", job.id, job.job_type));
                // Hold the job a little, as a real one would, so overlaps would show.
                std::thread::sleep(Duration::from_micros(300));
                log_line(&log, &format!("F {} {}", job.id, job.job_type));
                let record = Finished {
                    started_at: now,
                    ended_at: now,
                    exit: ExitKind::Code(0),
                    log_dir: None,
                };
                queue
                    .finish(job.run.expect("run"), &record)
                    .expect("finish");
            }
            None if queue.history(total).expect("history").len() >= total => return,
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Child: reserves one job and exits without finishing or heartbeating, as a crash would.
#[test]
#[ignore = "a child process's entry point, started by job_of_a_dead_process_is_reaped_not_rerun"]
fn child_die_holding_a_job() {
    let Some(db) = env_path(DB) else {
        panic!("run by a test of this file, not alone");
    };
    let queue = Queue::open(&db).expect("open in child");
    let job = queue
        .reserve("doomed", Utc::now())
        .expect("reserve")
        .expect("a job");
    assert_eq!(job.job_type, "crashy");
    std::process::exit(0);
}

#[test]
fn three_processes_drain_one_database() {
    const JOBS: usize = 300;
    const TYPES: usize = 10;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("queue.db");
    let log = dir.path().join("log.txt");
    let queue = Queue::open(&db).expect("open");
    for n in 0..JOBS {
        // Runs of one type in start order, so ignoring a running type would be caught.
        let job_type = format!("type{}", n * TYPES / JOBS);
        queue
            .schedule_job(
                &job_type,
                &args(&[("n", &n.to_string())]),
                "C1",
                None,
                Duration::ZERO,
                false,
                None,
            )
            .expect("schedule");
    }
    let total = JOBS.to_string();
    let start = (Utc::now() + TimeDelta::milliseconds(500))
        .timestamp_millis()
        .to_string();
    let (db_text, log_text) = (
        db.to_string_lossy().into_owned(),
        log.to_string_lossy().into_owned(),
    );
    let children: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|owner| {
            spawn_child(
                "child_drain",
                &[
                    (DB, &db_text),
                    (LOG, &log_text),
                    (OWNER, owner),
                    (TOTAL, &total),
                    (START, &start),
                ],
            )
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success(), "a child failed");
    }

    let text = std::fs::read_to_string(&log).expect("read log");
    let mut held = std::collections::HashMap::<String, String>::new();
    let mut reserved = std::collections::HashSet::<String>::new();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let (Some(kind), Some(id), Some(job_type)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("bad log line {line:?}")
        };
        match kind {
            "R" => {
                assert!(reserved.insert(id.to_owned()), "job {id} reserved twice");
                if let Some(other) = held.insert(job_type.to_owned(), id.to_owned()) {
                    panic!("job {id} of {job_type} reserved while job {other} held it");
                }
            }
            "F" => assert_eq!(
                held.remove(job_type).as_deref(),
                Some(id),
                "finish of a job not held"
            ),
            _ => panic!("bad log line {line:?}"),
        }
    }
    assert_eq!(reserved.len(), JOBS);
    assert!(queue
        .status(Utc::now())
        .expect("status")
        .scheduled
        .is_empty());
    assert_eq!(queue.history(JOBS + 1).expect("history").len(), JOBS);
}

#[test]
fn job_of_a_dead_process_is_reaped_not_rerun() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("queue.db");
    let queue = Queue::open(&db).expect("open");
    let scheduled = queue
        .schedule_job(
            "crashy",
            &args(&[("n", "1")]),
            "C9",
            Some("1.5"),
            Duration::ZERO,
            false,
            None,
        )
        .expect("schedule");
    let version = queue.data_version().expect("data_version");
    let db_text = db.to_string_lossy().into_owned();
    let mut child = spawn_child("child_die_holding_a_job", &[(DB, &db_text)]);
    assert!(child.wait().expect("wait").success(), "child failed");
    assert_ne!(
        queue.data_version().expect("data_version"),
        version,
        "the other process's commit shows"
    );

    let status = queue.status(Utc::now()).expect("status");
    assert_eq!(status.running.len(), 1);
    let timeout = Duration::from_secs(30);
    assert!(
        queue
            .reap_dead_leases(Utc::now(), timeout)
            .expect("reap")
            .is_empty(),
        "lease still fresh"
    );
    let later = Utc::now() + TimeDelta::seconds(31);
    let reaped = queue.reap_dead_leases(later, timeout).expect("reap");
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].id, scheduled.id);
    assert_eq!(reaped[0].channel, "C9");
    assert_eq!(reaped[0].thread_ts.as_deref(), Some("1.5"));
    assert_eq!(
        queue.history(5).expect("history")[0].exit,
        ExitKind::Interrupted
    );
    assert!(
        queue.reserve("survivor", later).expect("reserve").is_none(),
        "never re-run"
    );
}
