//! Running the built `bennettbot` binary in tests, against the fake Slack.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use crate::fake_slack::{FakeSlack, TOKEN};
use crate::repo::repo_root;
use crate::wait::WAIT;

/// The secret every part is given for GitHub webhooks.
pub const SECRET: &str = "webhook-secret";

/// The built `bennettbot` binary: cargo names it to the integration test running (at build
/// time and at run time); else it sits next to the test binary's `deps/` folder.
pub fn bennettbot_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_bennettbot") {
        return PathBuf::from(path);
    }
    let test = std::env::current_exe().expect("the test binary's path");
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps");
    profile.join("bennettbot")
}

/// A running `bennettbot <part>` that is killed if the test ends early.
pub struct Part {
    /// The process.
    pub child: Child,
    /// Lines the process logged to stderr.
    logs: mpsc::Receiver<String>,
}

impl Part {
    /// Starts `bennettbot <part>` from the repository root (so the shipped `workspace/` is
    /// used unless `extra` sets `WORKSPACE_DIR`), with everything under `dir` and Slack at
    /// `slack`. `extra` variables come last and win.
    pub fn start(part: &str, slack: &FakeSlack, dir: &Path, extra: &[(&str, &str)]) -> Part {
        Part::start_with(part, slack, dir, extra, |_| {})
    }

    /// [`Part::start`], letting `adjust` change the command last (e.g. the user it runs as,
    /// or what happens in the child before `exec`).
    pub fn start_with(
        part: &str,
        slack: &FakeSlack,
        dir: &Path,
        extra: &[(&str, &str)],
        adjust: impl FnOnce(&mut Command),
    ) -> Part {
        let mut command = Command::new(bennettbot_binary());
        command
            .arg(part)
            .current_dir(repo_root())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs([
                ("SLACK_BOT_TOKEN", TOKEN),
                ("SLACK_APP_TOKEN", TOKEN),
                ("SLACK_APP_USERNAME", "bennettbot"),
                ("SLACK_LOGS_CHANNEL", "#logs"),
                ("SLACK_TECH_SUPPORT_CHANNEL", "#tech-support"),
                ("SLACK_BENNETT_ADMINS_CHANNEL", "#bennett-admins"),
                ("GITHUB_WEBHOOK_SECRET", SECRET),
                ("WEBSERVER_BIND", "127.0.0.1:0"),
                ("MAX_SLACK_NOTIFY_RETRIES", "0"),
                ("LOG_LEVEL", "info"),
            ])
            .env("SLACK_API_URL", slack.url())
            .env("WRITEABLE_DIR", dir)
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        adjust(&mut command);
        let mut child = command.spawn().expect("the binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Part { child, logs }
    }

    /// Waits for a log line containing `needle`; returns it. Lines before it are consumed.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.logs.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?}; saw:\n{}", seen.join("\n"));
    }

    /// Every log line not consumed yet, without waiting for more.
    pub fn logged_so_far(&self) -> Vec<String> {
        self.logs.try_iter().collect()
    }

    /// The webhook server's real address, from its log line.
    pub fn webhook_addr(&self) -> String {
        self.logged_addr("webhook server listening")
    }

    /// The `/metrics` server's real address (given `METRICS_BIND=127.0.0.1:0`), from its log
    /// line. Every command logs it before the webhook server's, so ask for it first: waiting
    /// for a line consumes those before it.
    pub fn metrics_addr(&self) -> String {
        self.logged_addr("metrics server listening")
    }

    /// The `127.0.0.1:<port>` in the first log line containing `needle`.
    fn logged_addr(&self, needle: &str) -> String {
        let line = self.wait_log(needle);
        let at = line.find("127.0.0.1:").expect("the address is logged");
        line[at..]
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
            .next()
            .unwrap()
            .to_string()
    }

    /// The process id.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
        self.child.wait().unwrap()
    }

    /// SIGKILL (no chance to clean up), then waits for the exit.
    pub fn sigkill(&mut self) -> ExitStatus {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGKILL).unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat[stat.rfind(')')? + 1..].split_whitespace().next()?;
            Some(state != "Z")
        })
        .unwrap_or(false)
}
