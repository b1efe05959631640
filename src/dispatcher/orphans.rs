//! Stopping the processes of a job whose dispatcher died (e.g. SIGKILL): they run in their own
//! process group and outlive it, and would otherwise run beside the type's next job.
//!
//! A process group id may have been reused since, so a group is only signalled if one of its
//! members carries the job's marker in its environment (`BENNETTBOT_JOB_ID=<id>`, set by the
//! dispatcher for every job). This needs `/proc` (Linux); elsewhere nothing is stopped.

use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

/// The environment variable that marks a job's processes.
pub const JOB_ID_ENV: &str = "BENNETTBOT_JOB_ID";

/// How often a stopping group is checked for survivors.
const POLL: Duration = Duration::from_millis(50);

/// Whether any process in group `pgid` is marked as job `job_id`.
pub fn group_runs_job(pgid: i32, job_id: i64) -> bool {
    let marker = format!("{JOB_ID_ENV}={job_id}");
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

/// Stops job `job_id`'s orphaned group `pgid` if it still runs: SIGTERM, then SIGKILL after
/// `grace`. Returns whether anything was found to stop.
pub async fn stop_orphaned_group(pgid: i32, job_id: i64, grace: Duration) -> bool {
    if pgid <= 1 || !group_runs_job(pgid, job_id) {
        return false;
    }
    let group = Pid::from_raw(pgid);
    tracing::warn!(
        pgid,
        job_id,
        "stopping the processes of a job whose dispatcher died"
    );
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        if !group_runs_job(pgid, job_id) {
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
            .env(JOB_ID_ENV, "4242")
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
