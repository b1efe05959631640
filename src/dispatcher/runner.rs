//! Running a job's bash line as its own process group, with a timeout and a kill switch.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::Instant;

/// How often a stopping group is checked for survivors.
const GROUP_POLL: Duration = Duration::from_millis(50);

/// What to run, and where.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The line given to `bash -c`.
    pub command_line: String,
    /// The working directory.
    pub workspace: PathBuf,
    /// The process's whole environment: nothing of the dispatcher's own is inherited.
    pub env: Vec<(String, OsString)>,
    /// Where standard output goes.
    pub stdout: PathBuf,
    /// Where standard error goes.
    pub stderr: PathBuf,
    /// SIGTERM to the group after this long.
    pub timeout: Option<Duration>,
    /// SIGKILL to the group this long after SIGTERM if anything in it is still alive.
    pub kill_grace: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// bash exited with this code.
    Exited(i32),
    /// bash was killed by this signal.
    Signalled(i32),
    /// The timeout passed and the group was stopped.
    TimedOut(Duration),
    /// The kill switch was thrown (shutdown) and the group was stopped.
    Interrupted,
    /// The process could not be started.
    FailedToStart(String),
}

impl Outcome {
    /// Whether the job succeeded.
    pub fn is_success(&self) -> bool {
        *self == Outcome::Exited(0)
    }
}

/// Runs `request`, stopping the whole process group on timeout or when `kill` becomes true.
/// `on_spawn` learns the group's id as soon as the process exists.
pub async fn run(
    request: &RunRequest,
    mut kill: watch::Receiver<bool>,
    on_spawn: impl FnOnce(i32),
) -> Outcome {
    // `_tracked` keeps the reaper off bash until tokio has waited for it.
    let (mut child, _tracked) = match spawn(request) {
        Ok(spawned) => spawned,
        Err(e) => return Outcome::FailedToStart(e.to_string()),
    };
    let Some(pgid) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw)
    else {
        return Outcome::FailedToStart("the process vanished at once".into());
    };
    on_spawn(pgid.as_raw());
    let cancelled = KillGroupIfCancelled(Some(pgid));
    let timeout = async {
        match request.timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let killed = async {
        // A dropped sender means nobody will ask for a kill.
        if kill.wait_for(|k| *k).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let outcome = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => Outcome::Exited(code),
                (None, Some(signal)) => Outcome::Signalled(signal),
                (None, None) => Outcome::FailedToStart(format!("unknown exit status {status}")),
            },
            Err(e) => Outcome::FailedToStart(format!("could not wait for the process: {e}")),
        },
        () = timeout => {
            stop_group(pgid, &mut child, request.kill_grace).await;
            Outcome::TimedOut(request.timeout.unwrap_or_default())
        }
        () = killed => {
            stop_group(pgid, &mut child, request.kill_grace).await;
            Outcome::Interrupted
        }
    };
    cancelled.disarm();
    outcome
}

/// SIGKILLs a job's group if its run is dropped unfinished (the dispatcher gave up waiting
/// at shutdown): `kill_on_drop` alone would reach bash, not what bash started.
struct KillGroupIfCancelled(Option<Pid>);

impl KillGroupIfCancelled {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for KillGroupIfCancelled {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            tracing::warn!(%pgid, "job's run was cancelled; killing its group");
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

fn spawn(request: &RunRequest) -> std::io::Result<(Child, super::reaper::Tracked)> {
    let stdout = File::create(&request.stdout)?;
    let stderr = File::create(&request.stderr)?;
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(&request.command_line)
        .current_dir(&request.workspace)
        // A clean start: the bot's tokens and secrets must not reach jobs unless named.
        .env_clear()
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        // Its own group, so that a timeout reaches every process the job started.
        .process_group(0)
        .kill_on_drop(true);
    super::reaper::spawn(&mut command)
}

/// SIGTERM to the group; SIGKILL after `grace` if any member outlives it. Members may outlive
/// bash itself (background processes), so the group is checked, not just the child.
async fn stop_group(pgid: Pid, child: &mut Child, grace: Duration) {
    if let Err(e) = killpg(pgid, Signal::SIGTERM) {
        tracing::debug!(%pgid, error = %e, "SIGTERM to the job's group failed");
    }
    let deadline = Instant::now() + grace;
    loop {
        // Reaping bash keeps it from counting as a (zombie) member.
        let _ = child.try_wait();
        if killpg(pgid, None) == Err(Errno::ESRCH) {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(GROUP_POLL).await;
    }
    tracing::warn!(%pgid, "job's group outlived SIGTERM; sending SIGKILL");
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.wait().await;
}
