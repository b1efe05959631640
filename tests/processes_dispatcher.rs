//! `dispatcher` processes of the built binary sharing one database, against the fake Slack:
//! a dispatcher killed mid-job leaves its job to be reaped (reported, recorded, never re-run)
//! by the next one, two dispatchers draining one queue run every job exactly once, and a
//! report Slack has not taken outlives a SIGKILL in the outbox and arrives once (twice at
//! most, for the one report Slack took as the process died).

use bennettbot_test_support::args::args;
use bennettbot_test_support::job_groups::JobGroups;
use bennettbot_test_support::wait::{eventually, WAIT};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bennettbot::config::Args;
use bennettbot::queue::{decode_args, ExitKind, HistoryEntry, SqliteStore as Queue};
use bennettbot_test_support::binary::{bennettbot_binary, Part};
use bennettbot_test_support::fake_slack::FakeSlack;
use chrono::Utc;
use nix::sys::signal::kill;
use nix::unistd::Pid;

const JOBS: &str = "C0JOBS";
const THREAD: &str = "1800000000.000300";
/// How many jobs the two dispatchers drain.
const DRAINED: usize = 1_000;
/// Draining takes a few seconds per hundred jobs on a loaded machine; this is far beyond.
const DRAIN_WAIT: Duration = Duration::from_secs(600);

/// Schedules a job due now, reported to `JOBS` in `THREAD`.
fn schedule(queue: &Queue, job_type: &str, a: &Args) -> i64 {
    queue
        .schedule_job(job_type, a, JOBS, Some(THREAD), Duration::ZERO, false, None)
        .expect("schedule")
        .id
}

/// Pids the replacement `slow.sh` recorded, one per run, in order.
fn slow_pids(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A workspace whose `test/slow.sh` is the shipped one plus a line recording its pid.
fn slow_workspace(root: &Path) -> PathBuf {
    let ws = root.join("workspace");
    std::fs::create_dir_all(ws.join("test")).unwrap();
    std::fs::write(
        ws.join("test/slow.sh"),
        "#!/usr/bin/env bash\nset -euo pipefail\necho \"$$\" >> \"$WRITEABLE_DIR/slow.pids\"\n\
         sleep \"${SLOW_JOB_SECONDS:-5}\"\necho \"Slow job finished\"\n",
    )
    .unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_dispatchers_job_is_reaped_reported_and_not_rerun() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ws = slow_workspace(dir.path());
    let ws = ws.to_str().unwrap();
    let pid_file = dir.path().join("slow.pids");
    let recorded = pid_file.clone();
    let _groups = JobGroups::new(dir.path().to_owned(), move || slow_pids(&recorded));
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    let first = schedule(&queue, "test_slow", &args(&[]));

    let mut doomed = Part::start(
        "dispatcher",
        &slack,
        dir.path(),
        &[("WORKSPACE_DIR", ws), ("SLOW_JOB_SECONDS", "30")],
    );
    slack
        .wait_for_text("#logs", "Command `test_slow` about to start", WAIT)
        .await;
    eventually("the slow job's script to start", WAIT, || {
        (slow_pids(&pid_file).len() == 1).then_some(())
    })
    .await;
    // Its reports are out (their channels' leases let go): what is tested here is the job.
    outbox_emptied(dir.path()).await;
    let status = doomed.sigkill();
    assert_eq!(status.code(), None, "killed by a signal: {status}");
    // Its job lives on in its own process group, orphaned.
    let orphan = Pid::from_raw(slow_pids(&pid_file)[0]);
    assert!(kill(orphan, None).is_ok(), "the orphaned job still runs");

    // The kill left the job started, under a lease nobody renews.
    let running = queue.status(Utc::now()).unwrap().running;
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].id, first);

    let mut next = Part::start(
        "dispatcher",
        &slack,
        dir.path(),
        &[
            ("WORKSPACE_DIR", ws),
            ("LEASE_TIMEOUT_SECONDS", "2"),
            ("SLOW_JOB_SECONDS", "1"),
        ],
    );
    let text = slack
        .wait_for_text(JOBS, "Command `test_slow` was interrupted", WAIT)
        .await;
    assert!(
        text.contains("Run it again if it is still needed"),
        "{text}"
    );
    // The reaper stopped the orphan's group (marked with its job id) before reporting, so it
    // cannot run beside the type's next job.
    eventually("the orphaned job to be stopped", WAIT, || {
        kill(orphan, None).is_err().then_some(())
    })
    .await;
    let posted = slack
        .calls("chat.postMessage")
        .into_iter()
        .find(|c| c.str("text") == Some(text.as_str()))
        .unwrap();
    assert_eq!(
        posted.str("thread_ts"),
        Some(THREAD),
        "reported in its thread"
    );
    let history = eventually("the interrupted job in history", WAIT, || {
        let h = queue.history(10).unwrap();
        (!h.is_empty()).then_some(h)
    })
    .await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (
            history[0].job_id,
            history[0].job_type.as_str(),
            &history[0].exit
        ),
        (first, "test_slow", &ExitKind::Interrupted)
    );
    let status = queue.status(Utc::now()).unwrap();
    assert!(
        status.running.is_empty() && status.scheduled.is_empty(),
        "the reaped job is gone: {status:?}"
    );

    // The type is free again: a new run goes through normally (1 s, this dispatcher's env).
    // `job.id` has no AUTOINCREMENT (the Python schema), so the freed id may come back.
    let second = schedule(&queue, "test_slow", &args(&[]));
    slack.wait_for_text(JOBS, "Slow job finished", WAIT).await;
    let history = eventually("the second run in history", WAIT, || {
        let h = queue.history(10).unwrap();
        (h.len() == 2).then_some(h)
    })
    .await;
    assert_eq!(
        (history[0].job_id, &history[0].exit),
        (second, &ExitKind::Code(0))
    );
    assert_eq!(
        history[1].exit,
        ExitKind::Interrupted,
        "still the first run"
    );
    assert!(next.terminate().success());

    // Exactly two runs of the script, two announcements, one report: the interrupted job was
    // not started again, neither by the reaper nor as a duplicate of the new one.
    assert_eq!(slow_pids(&pid_file).len(), 2, "slow.sh ran twice in all");
    let announced = slack
        .texts_in("#logs")
        .iter()
        .filter(|t| t.contains("Command `test_slow` about to start"))
        .count();
    assert_eq!(announced, 2, "{:?}", slack.texts_in("#logs"));
    let reports: Vec<String> = slack.texts_in(JOBS);
    assert_eq!(
        reports
            .iter()
            .filter(|t| t.contains("Slow job finished"))
            .count(),
        1,
        "{reports:#?}"
    );
    assert_eq!(
        reports
            .iter()
            .filter(|t| t.contains("was interrupted"))
            .count(),
        1,
        "{reports:#?}"
    );
}

/// Job ids a dispatcher logged as starting, from its JSON log lines.
fn started_job_ids(lines: &[String]) -> Vec<i64> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["fields"]["message"] == "starting job")
        .map(|entry| entry["fields"]["job_id"].as_i64().expect("job_id logged"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_dispatchers_drain_a_thousand_jobs_of_one_type_exactly_once() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    let mut ids = HashSet::new();
    for n in 0..DRAINED {
        ids.insert(schedule(
            &queue,
            "test_hello_name",
            &args(&[("name", &n.to_string())]),
        ));
    }
    assert_eq!(ids.len(), DRAINED, "distinct args never dedupe");

    let began = Instant::now();
    // JSON logs, so job ids are read without depending on the text layout or colours.
    let env = [("LOG_FORMAT", "json")];
    let mut a = Part::start("dispatcher", &slack, dir.path(), &env);
    let mut b = Part::start("dispatcher", &slack, dir.path(), &env);
    let history = eventually("every job in history", DRAIN_WAIT, || {
        let h = queue.history(DRAINED * 2).unwrap();
        (h.len() >= DRAINED).then_some(h)
    })
    .await;
    let took = began.elapsed();
    assert!(a.terminate().success());
    assert!(b.terminate().success());

    // History: each job once, each name once, all succeeded.
    assert_eq!(history.len(), DRAINED);
    let names: HashSet<String> = history
        .iter()
        .map(|h| {
            assert_eq!(h.exit, ExitKind::Code(0), "{h:?}");
            assert_eq!(h.job_type, "test_hello_name");
            decode_args(h.args_json.as_deref().unwrap_or("{}")).unwrap()["name"].clone()
        })
        .collect();
    assert_eq!(names.len(), DRAINED);
    assert_eq!(
        history.iter().map(|h| h.job_id).collect::<HashSet<_>>(),
        ids
    );
    let status = queue.status(Utc::now()).unwrap();
    assert!(status.running.is_empty() && status.scheduled.is_empty());

    // Slack: each `Hello <n>` exactly once.
    let mut hellos: HashMap<String, usize> = HashMap::new();
    for text in slack.texts_in(JOBS) {
        *hellos.entry(text.trim_end().to_string()).or_default() += 1;
    }
    assert_eq!(hellos.len(), DRAINED, "one distinct report per job");
    for n in 0..DRAINED {
        assert_eq!(hellos.get(&format!("Hello {n}")), Some(&1), "Hello {n}");
    }

    // One at a time across both processes: sorted by start, each run began after the previous
    // one had ended (both stamps come from one machine's clock and are ordered by the queue's
    // transactions, not compared with any duration).
    let mut runs: Vec<&HistoryEntry> = history.iter().collect();
    runs.sort_by_key(|h| h.started_at);
    for pair in runs.windows(2) {
        let (prev, next) = (pair[0], pair[1]);
        assert!(
            next.started_at.unwrap() >= prev.ended_at,
            "job {} started before job {} ended",
            next.job_id,
            prev.job_id
        );
    }

    // Who ran what: the two processes' starts add up to every job, none twice.
    let by_a = started_job_ids(&a.logged_so_far());
    let by_b = started_job_ids(&b.logged_so_far());
    let mut all: Vec<i64> = by_a.iter().chain(&by_b).copied().collect();
    all.sort_unstable();
    let mut expected: Vec<i64> = ids.iter().copied().collect();
    expected.sort_unstable();
    assert_eq!(all, expected, "every job started once, by one of the two");
    let split: BTreeMap<&str, usize> = [("a", by_a.len()), ("b", by_b.len())].into();
    // The split depends on scheduling (a process's own finish wakes it at once, the other
    // sees it at its next poll), so it is reported, not asserted.
    println!(
        "two dispatchers drained {DRAINED} jobs of one type in {:.1} s ({:.0} jobs/s); split {split:?}",
        took.as_secs_f64(),
        DRAINED as f64 / took.as_secs_f64()
    );
}

/// What `bennettbot outbox` prints for the database under `dir`.
fn outbox_listing(dir: &Path) -> String {
    let out = std::process::Command::new(bennettbot_binary())
        .arg("outbox")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WRITEABLE_DIR", dir)
        .output()
        .expect("bennettbot outbox runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until `bennettbot outbox` says every report under `dir` is delivered.
async fn outbox_emptied(dir: &Path) {
    eventually("the outbox emptied", WAIT, || {
        outbox_listing(dir)
            .contains("The outbox is empty")
            .then_some(())
    })
    .await;
}

/// Successful posts to `channel` whose text contains `needle`.
fn posts_of(slack: &FakeSlack, channel: &str, needle: &str) -> usize {
    slack
        .texts_in(channel)
        .iter()
        .filter(|t| t.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_slack_refused_outlives_a_sigkill_and_arrives_once_after_a_restart() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    slack.set_outage(true);
    schedule(&queue, "test_hello_name", &args(&[("name", "Outbox")]));
    let lease = [("LEASE_TIMEOUT_SECONDS", "2")];
    let mut doomed = Part::start("dispatcher", &slack, dir.path(), &lease);
    // The job ends while Slack answers 503: its report is kept, and tried.
    eventually("the job's end in history", WAIT, || {
        (queue.history(10).unwrap().len() == 1).then_some(())
    })
    .await;
    slack
        .wait_until("the report tried", WAIT, |slack| {
            slack
                .attempts("chat.postMessage")
                .iter()
                .any(|c| c.str("text").is_some_and(|t| t.contains("Hello Outbox")))
                .then_some(())
        })
        .await;
    let listed = outbox_listing(dir.path());
    assert!(
        listed.contains("(waiting)") && listed.contains("Hello Outbox"),
        "{listed}"
    );
    assert!(doomed.sigkill().code().is_none());

    slack.set_outage(false);
    let mut next = Part::start("dispatcher", &slack, dir.path(), &lease);
    slack.wait_for_text(JOBS, "Hello Outbox", WAIT).await;
    slack
        .wait_for_text("#logs", "Command `test_hello_name` about to start", WAIT)
        .await;
    outbox_emptied(dir.path()).await;
    assert!(next.terminate().success());
    assert_eq!(posts_of(&slack, JOBS, "Hello Outbox"), 1, "delivered once");
    assert_eq!(
        posts_of(&slack, "#logs", "about to start"),
        1,
        "the notice too"
    );
    let history = queue.history(10).unwrap();
    assert_eq!(history.len(), 1, "the job ran once: {history:?}");
    assert_eq!(history[0].exit, ExitKind::Code(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_between_slacks_taking_a_report_and_its_delete_posts_that_report_again_only() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    schedule(&queue, "test_hello_name", &args(&[("name", "Twice")]));
    let lease = [("LEASE_TIMEOUT_SECONDS", "2")];
    let mut doomed = Part::start("dispatcher", &slack, dir.path(), &lease);
    slack
        .wait_for_text("#logs", "Command `test_hello_name` about to start", WAIT)
        .await;
    // Slack takes the report but its answer never reaches the dispatcher, which dies.
    slack.take_without_answering("chat.postMessage", 1);
    slack.wait_for_text(JOBS, "Hello Twice", WAIT).await;
    assert!(doomed.sigkill().code().is_none());
    assert_eq!(
        queue.history(10).unwrap().len(),
        1,
        "the job's end was recorded with its report"
    );

    let mut next = Part::start("dispatcher", &slack, dir.path(), &lease);
    eventually("the report posted again", WAIT, || {
        (posts_of(&slack, JOBS, "Hello Twice") == 2).then_some(())
    })
    .await;
    outbox_emptied(dir.path()).await;
    assert!(next.terminate().success());
    assert_eq!(posts_of(&slack, JOBS, "Hello Twice"), 2, "twice at most");
    assert_eq!(posts_of(&slack, "#logs", "about to start"), 1);
    assert!(
        slack
            .texts_in(JOBS)
            .iter()
            .all(|t| !t.contains("interrupted")),
        "the job ended: it is not reaped as interrupted: {:?}",
        slack.texts_in(JOBS)
    );
}
