//! Reaping processes that jobs leave behind, so they do not linger as zombies.
//!
//! A job's background process whose parent exits is an orphan. The kernel hands it to the
//! nearest "child subreaper" ancestor, else to PID 1; when it exits, that process must wait
//! for it or it stays a zombie. In a container this binary may itself be PID 1, and
//! [`start`] also makes it a subreaper (Linux), so its jobs' orphans come to it either way.
//!
//! Reaping them must not steal the exit status of a child tokio waits for (a job's `bash`):
//! tokio waits for its own children by pid, and a blind `waitpid(-1)` would take theirs. So:
//! - every child is spawned through [`spawn`], which records its pid under a lock held across
//!   the spawn, so no child of ours exists unrecorded while the lock is free; the record is
//!   dropped only once tokio has waited for the child;
//! - on every SIGCHLD (and every [`SWEEP`], should one be missed) [`reap_orphans`] takes the
//!   lock, peeks whether any child is waitable at all (`waitid(P_ALL, WEXITED | WNOHANG |
//!   WNOWAIT)` reaps nothing), and if so reaps by pid each zombie whose parent is this process
//!   (`/proc/<pid>/stat`) and that is not recorded.
//!
//! A child whose run was cancelled is dropped unrecorded before tokio reaped it; this may then
//! reap it, which tokio's queue of dropped children tolerates.

use std::collections::BTreeSet;
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::process::{Child, Command};

/// How often orphans are looked for without a SIGCHLD.
pub const SWEEP: Duration = Duration::from_secs(30);

/// Pids of the children tokio waits for.
static TRACKED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn tracked() -> MutexGuard<'static, BTreeSet<i32>> {
    TRACKED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A child tokio waits for, left alone by the reaper while this lives.
#[derive(Debug)]
pub struct Tracked(Option<i32>);

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            tracked().remove(&pid);
        }
    }
}

/// Spawns `command`, recording the child so that the reaper leaves it to tokio. Keep the
/// [`Tracked`] until the child has been waited for.
pub fn spawn(command: &mut Command) -> io::Result<(Child, Tracked)> {
    let mut tracked = tracked();
    let child = command.spawn()?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok());
    if let Some(pid) = pid {
        tracked.insert(pid);
    }
    Ok((child, Tracked(pid)))
}

/// Makes this process a child subreaper (Linux) and reaps orphans handed to it from now on,
/// in a task. Call it inside the runtime of a process that runs jobs.
pub fn start() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?;
    tokio::spawn(async move {
        loop {
            let reaped = tokio::task::spawn_blocking(reap_orphans)
                .await
                .unwrap_or_default();
            if reaped > 0 {
                tracing::debug!(reaped, "reaped orphaned processes of jobs");
            }
            tokio::select! {
                _ = sigchld.recv() => {}
                () = tokio::time::sleep(SWEEP) => {}
            }
        }
    });
    Ok(())
}

/// Reaps every zombie child that tokio does not wait for; returns how many.
#[cfg(target_os = "linux")]
pub fn reap_orphans() -> usize {
    use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;

    let tracked = tracked();
    let peek = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::All, peek) {
        // No children, or none exited.
        Err(_) | Ok(WaitStatus::StillAlive) => return 0,
        Ok(_) => {}
    }
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| !tracked.contains(pid) && zombie_child_of(*pid, me))
        .filter(|pid| waitpid(Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG)).is_ok())
        .count()
}

/// Elsewhere orphans go to init, which reaps them.
#[cfg(not(target_os = "linux"))]
pub fn reap_orphans() -> usize {
    0
}

/// Whether `pid` is a zombie whose parent is `parent`, from `/proc/<pid>/stat`: the state and
/// the parent follow the `(comm)`, which may itself hold spaces and parentheses.
fn zombie_child_of(pid: i32, parent: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(end_of_comm) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[end_of_comm + 1..].split_whitespace();
    fields.next() == Some("Z") && fields.next().and_then(|p| p.parse().ok()) == Some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_zombies_of_the_given_parent_count() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        assert!(!zombie_child_of(me, me), "a running process is no zombie");
        // It exits at once, and stays a zombie until waited for.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !zombie_child_of(pid, me) {
            assert!(
                std::time::Instant::now() < deadline,
                "never became a zombie"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!zombie_child_of(pid, me + 1), "another parent's");
        child.wait().unwrap();
        assert!(!zombie_child_of(pid, me), "reaped");
    }
}
