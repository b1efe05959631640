//! The built binary's process lifecycle, against the fake Slack: a second SIGTERM stops
//! running jobs at once (reported as interrupted), within a bounded time even when jobs ignore
//! SIGTERM and Slack keeps failing, and orphaned grandchildren of jobs are reaped rather than
//! left as zombies.

use bennettbot_test_support::wait::{eventually, WAIT};

use std::path::{Path, PathBuf};
use std::time::Duration;

use bennettbot::config::Args;
use bennettbot::queue::{ExitKind, SqliteStore as Queue};
use bennettbot_test_support::binary::Part;
use bennettbot_test_support::fake_slack::{Failure, FakeSlack};
use chrono::Utc;
use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpgid, getpgrp, Pid};

const JOBS: &str = "C0JOBS";
const THREAD: &str = "1800000000.000300";
/// The shutdown grace given to the dispatcher, far beyond [`WAIT`]: a process that waits for
/// it fails the test.
const LONG_GRACE: &str = "600";

/// Schedules `job_type` due now, reported to `JOBS` in `THREAD`.
fn schedule(queue: &Queue, job_type: &str) -> i64 {
    queue
        .schedule_job(
            job_type,
            &Args::new(),
            JOBS,
            Some(THREAD),
            Duration::ZERO,
            false,
            None,
        )
        .expect("schedule")
        .id
}

/// A workspace whose `test/slow.sh` is `script`.
fn workspace_with_slow_job(root: &Path, script: &str) -> PathBuf {
    let ws = root.join("workspace");
    std::fs::create_dir_all(ws.join("test")).unwrap();
    std::fs::write(ws.join("test/slow.sh"), script).unwrap();
    ws
}

/// A pid a job wrote to `file`, once it is there.
async fn pid_from(file: &Path) -> Pid {
    eventually("a job to record a pid", WAIT, || {
        let text = std::fs::read_to_string(file).ok()?;
        text.trim().parse().ok().map(Pid::from_raw)
    })
    .await
}

/// `(state, parent)` of `pid` from `/proc/<pid>/stat`, or `None` once it is gone.
fn state_and_parent(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// Zombies whose parent is `parent`.
fn zombie_children(parent: Pid) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| state_and_parent(*pid) == Some(('Z', parent.as_raw())))
        .collect()
}

/// SIGKILLs a job's process group when dropped, should the test fail with it still running.
struct KillGroup(Pid);

impl Drop for KillGroup {
    fn drop(&mut self) {
        // The runner gives each job its own group; never signal the test's own.
        if self.0 != getpgrp() {
            let _ = killpg(self.0, Signal::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_stops_running_jobs_at_once_and_reports_them_interrupted() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace_with_slow_job(
        dir.path(),
        "#!/usr/bin/env bash\necho \"$$\" > \"$WRITEABLE_DIR/slow.pid\"\nsleep 600\n",
    );
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    let job = schedule(&queue, "test_slow");
    let mut part = Part::start(
        "dispatcher",
        &slack,
        dir.path(),
        &[
            ("WORKSPACE_DIR", ws.to_str().unwrap()),
            ("SHUTDOWN_GRACE_SECONDS", LONG_GRACE),
        ],
    );
    let script = pid_from(&dir.path().join("slow.pid")).await;
    let group = getpgid(Some(script)).expect("the job runs");
    assert_ne!(group, getpgrp(), "the job has a group of its own");
    let _cleanup = KillGroup(group);

    kill(part.pid(), Signal::SIGTERM).unwrap();
    part.wait_log("dispatcher stopping");
    // The first signal lets the job go on, for the grace period.
    assert!(killpg(group, None).is_ok(), "the job still runs");
    assert!(part.child.try_wait().unwrap().is_none(), "still running");

    kill(part.pid(), Signal::SIGTERM).unwrap();
    let status = eventually("the process to exit after a second SIGTERM", WAIT, || {
        part.child.try_wait().unwrap()
    })
    .await;
    assert!(status.success(), "{status}");
    assert_eq!(
        killpg(group, None),
        Err(Errno::ESRCH),
        "the job's process group is gone"
    );
    let text = slack
        .wait_for_text(JOBS, "Command `test_slow` was interrupted", WAIT)
        .await;
    assert!(
        text.contains("Run it again if it is still needed"),
        "{text}"
    );
    let history = queue.history(10).unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(
        (history[0].job_id, &history[0].exit),
        (job, &ExitKind::Interrupted)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_at_once_is_bounded_when_jobs_ignore_sigterm_and_slack_rate_limits() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Ignored signals stay ignored in children: neither bash nor sleep ends on SIGTERM.
    let ws = workspace_with_slow_job(
        dir.path(),
        "#!/usr/bin/env bash\ntrap '' TERM\necho \"$$\" > \"$WRITEABLE_DIR/slow.pid\"\n\
         sleep 600 & wait\n",
    );
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    let job = schedule(&queue, "test_slow");
    let mut part = Part::start(
        "dispatcher",
        &slack,
        dir.path(),
        &[
            ("WORKSPACE_DIR", ws.to_str().unwrap()),
            ("SHUTDOWN_GRACE_SECONDS", LONG_GRACE),
            // Each report would wait 60 s per retry: minutes in all, unless cut short.
            ("MAX_SLACK_NOTIFY_RETRIES", "5"),
        ],
    );
    slack
        .wait_for_text("#logs", "Command `test_slow` about to start", WAIT)
        .await;
    let script = pid_from(&dir.path().join("slow.pid")).await;
    let group = getpgid(Some(script)).expect("the job runs");
    assert_ne!(group, getpgrp(), "the job has a group of its own");
    let _cleanup = KillGroup(group);
    slack.fail_next("chat.postMessage", 100, Failure::RateLimited(60));

    kill(part.pid(), Signal::SIGTERM).unwrap();
    part.wait_log("dispatcher stopping");
    kill(part.pid(), Signal::SIGTERM).unwrap();
    let status = eventually("the process to exit after a second SIGTERM", WAIT, || {
        part.child.try_wait().unwrap()
    })
    .await;
    assert!(status.success(), "{status}");
    // Its group was killed, not left running without a dispatcher.
    eventually("the job's group to be gone", WAIT, || {
        (killpg(group, None) == Err(Errno::ESRCH)).then_some(())
    })
    .await;
    // Unreported, it stays leased: the next dispatcher reports it as interrupted.
    assert!(queue.history(10).unwrap().is_empty());
    let running = queue.status(Utc::now()).unwrap().running;
    assert_eq!(running.iter().map(|j| j.id).collect::<Vec<_>>(), [job]);
}

#[tokio::test(flavor = "multi_thread")]
async fn orphaned_grandchildren_of_jobs_are_reaped() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The subshell exits at once, leaving its `sleep` an orphan, which outlives the job.
    let ws = workspace_with_slow_job(
        dir.path(),
        "#!/usr/bin/env bash\n(sleep 1 & echo \"$!\" > \"$WRITEABLE_DIR/grandchild.pid\")\n\
         echo \"Job done\"\n",
    );
    let queue = Queue::open(&dir.path().join("bennettbot.db")).unwrap();
    let mut part = Part::start(
        "dispatcher",
        &slack,
        dir.path(),
        &[("WORKSPACE_DIR", ws.to_str().unwrap())],
    );
    let bot = part.pid();
    let job = schedule(&queue, "test_slow");
    let grandchild = pid_from(&dir.path().join("grandchild.pid")).await;
    // The binary is a child subreaper: the orphan is handed to it, not to init.
    eventually("the orphan to be handed to the binary", WAIT, || {
        let (_, parent) = state_and_parent(grandchild.as_raw())?;
        (parent == bot.as_raw()).then_some(())
    })
    .await;
    slack.wait_for_text(JOBS, "Job done", WAIT).await;

    // Once it has exited, nothing of the binary's is left a zombie.
    eventually("the orphan to exit", WAIT, || {
        match state_and_parent(grandchild.as_raw()) {
            None | Some(('Z', _)) => Some(()),
            Some(_) => None,
        }
    })
    .await;
    eventually("the binary to reap its zombies", WAIT, || {
        zombie_children(bot).is_empty().then_some(())
    })
    .await;
    // The job itself (a child the runtime waits for) was not reaped from under it.
    let history = eventually("the job in history", WAIT, || {
        let h = queue.history(10).unwrap();
        (!h.is_empty()).then_some(h)
    })
    .await;
    assert_eq!(
        (history[0].job_id, &history[0].exit),
        (job, &ExitKind::Code(0))
    );
    assert!(part.terminate().success());
}
