//! Cleaning up after jobs whose parent was killed: a job whose `serve` or `dispatcher` was
//! SIGKILLed runs on, and must not outlive a failing test.

use std::path::PathBuf;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{getpgid, getpgrp, Pid};

/// Kills, when dropped, the process groups of the job scripts that `pids` lists and that still
/// run. A pid is only trusted while its environment still names the test's `WRITEABLE_DIR`
/// (the pid may have been reused by then).
pub struct JobGroups {
    marker: Vec<u8>,
    pids: Box<dyn Fn() -> Vec<i32> + Send>,
}

impl JobGroups {
    /// Guards the jobs run with `WRITEABLE_DIR=writeable_dir` whose pids `pids` reads (from a
    /// file the scripts write).
    pub fn new(writeable_dir: PathBuf, pids: impl Fn() -> Vec<i32> + Send + 'static) -> JobGroups {
        JobGroups {
            marker: format!("WRITEABLE_DIR={}\0", writeable_dir.display()).into_bytes(),
            pids: Box::new(pids),
        }
    }
}

impl Drop for JobGroups {
    fn drop(&mut self) {
        for pid in (self.pids)() {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if !environ.windows(self.marker.len()).any(|w| w == self.marker) {
                continue; // Gone (or the pid was reused by something else).
            }
            if let Ok(pgid) = getpgid(Some(Pid::from_raw(pid))) {
                // The runner gives each job its own group; never signal the test's own.
                if pgid != getpgrp() {
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
            }
        }
    }
}
