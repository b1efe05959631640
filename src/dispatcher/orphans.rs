//! Stopping the processes of a job whose dispatcher died (e.g. SIGKILL): they run in their own
//! process group and outlive it, and would otherwise run beside the type's next job.
//!
//! A process group id may have been reused since, so a group is only signalled if one of its
//! members carries the run's marker in its environment (`BENNETTBOT_RUN_ID=<run id>`, set by
//! the dispatcher for every job; run ids, unlike job ids, are never reused). This needs `/proc` (Linux); elsewhere nothing is stopped.

use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

/// The environment variable that tells a job its id (informative: job ids are reused).
pub const JOB_ID_ENV: &str = "BENNETTBOT_JOB_ID";

/// The environment variable that marks a run's processes.
pub const RUN_ID_ENV: &str = "BENNETTBOT_RUN_ID";

/// How often a stopping group is checked for survivors.
const POLL: Duration = Duration::from_millis(50);

/// Whether any process in group `pgid` is marked as run `run_id`.
pub fn group_runs_job(pgid: i32, run_id: i64) -> bool {
    let marker = format!("{RUN_ID_ENV}={run_id}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            return false;
        };
        process_group_of(pid) == Some(pgid) && environ_has(pid, &marker)
    })
}

/// The process group of `pid`, from `/proc/<pid>/stat` (the 5th field, after the `(comm)`
/// that may itself hold spaces and parentheses).
fn process_group_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(2)?.parse().ok()
}

fn environ_has(pid: i32, entry: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|b| *b == 0).any(|e| e == entry.as_bytes()))
        .unwrap_or(false)
}

/// [`group_runs_job`] off the async threads: it reads every process's files in `/proc`.
async fn scan(pgid: i32, run_id: i64) -> bool {
    tokio::task::spawn_blocking(move || group_runs_job(pgid, run_id))
        .await
        .unwrap_or(false)
}

/// Stops run `run_id`'s orphaned group `pgid` if it still runs: SIGTERM, then SIGKILL after
/// `grace`. Returns whether anything was found to stop.
pub async fn stop_orphaned_group(pgid: i32, run_id: i64, grace: Duration) -> bool {
    if pgid <= 1 || !scan(pgid, run_id).await {
        return false;
    }
    let group = Pid::from_raw(pgid);
    tracing::warn!(
        pgid,
        run_id,
        "stopping the processes of a job whose dispatcher died"
    );
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        if !scan(pgid, run_id).await {
            return true;
        }
    }
    let _ = killpg(group, Signal::SIGKILL);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[tokio::test]
    async fn stops_only_a_group_marked_with_the_job() {
        let mut child = Command::new("bash")
            .args(["-c", "trap '' TERM; sleep 30 & wait"])
            .env(RUN_ID_ENV, "4242")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        // Wait until bash has started its child with the marker.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !group_runs_job(pgid, 4242) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(group_runs_job(pgid, 4242));
        // Another job's id: the group is not touched.
        assert!(!stop_orphaned_group(pgid, 4243, Duration::from_millis(100)).await);
        assert!(group_runs_job(pgid, 4242));
        // Its own id: SIGTERM is ignored by bash, so SIGKILL ends the whole group.
        assert!(stop_orphaned_group(pgid, 4242, Duration::from_millis(300)).await);
        let _ = child.wait();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while group_runs_job(pgid, 4242) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!group_runs_job(pgid, 4242), "the group's sleep survived");
    }
}
