//! The built binary's `shell`, piped: the README's first command with no settings at all.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `bennettbot shell` in the repository with `input` on stdin and only a temporary
/// WRITEABLE_DIR set; returns (exit success, stdout).
fn shell(input: impl AsRef<[u8]>, writeable: &Path) -> (bool, String) {
    shell_with(&[], input, writeable)
}

/// [`shell`] with more arguments after `shell`.
fn shell_with(args: &[&str], input: impl AsRef<[u8]>, writeable: &Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bennettbot"))
        .arg("shell")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", writeable)
        .env("WRITEABLE_DIR", writeable)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_ref())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "shell failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), stdout)
}

#[test]
fn hello_prints_the_jobs_report_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = shell("test hello\n", dir.path());
    assert!(ok);
    assert!(out.lines().any(|l| l == "Hello World"), "{out}");
    assert!(out.contains("(:white_check_mark:)"), "{out}");
    // Its own database, in WRITEABLE_DIR, never a production queue.
    assert!(dir.path().join("bennettbot-shell.db").exists());
}

#[test]
fn parameters_arrive_verbatim_and_are_never_executed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let input = format!(
        "test hello $(touch {m}); `touch {m}` ' \"\n",
        m = marker.display()
    );
    let (_, out) = shell(&input, dir.path());
    let expected = format!("Hello $(touch {m}); `touch {m}` ' \"", m = marker.display());
    assert!(out.lines().any(|l| l == expected), "{out}");
    assert!(!marker.exists(), "a parameter was executed");
}

#[test]
fn help_and_namespace_help() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = shell("help\ntest help\n", dir.path());
    assert!(
        out.contains("Commands in the following categories are available:"),
        "{out}"
    );
    assert!(out.contains("* :lock: `techsupport`: "), "{out}");
    assert!(
        out.contains("Enter `status` to see running and scheduled jobs"),
        "{out}"
    );
    assert!(
        out.contains("The following commands are available:\n\n`test announce`: "),
        "{out}"
    );
    assert!(!out.contains("I'm sorry"), "{out}");
}

#[test]
fn not_understood_suggests_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = shell("test helo Bob\n", dir.path());
    assert!(
        out.starts_with("I'm sorry, I didn't understand you\n"),
        "{out}"
    );
    assert!(out.contains("Did you mean `test hello [name]`, "), "{out}");
}

#[test]
fn status_shows_queued_jobs_then_waits_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = shell("status\ntest slow\nstatus\n", dir.path());
    assert!(out.contains("Nothing is happening"), "{out}");
    assert!(
        out.contains("There is 1 scheduled job:\n\n* [1] test_slow")
            || out.contains("There is 1 running job:\n\n* [1] test_slow"),
        "{out}"
    );
    // At end of input the shell waited for the slow job's report.
    assert!(out.contains("Slow job finished"), "{out}");
}

#[test]
fn a_failing_job_is_reported_with_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = shell("test fail\n", dir.path());
    assert!(out.contains("Command `test_fail` failed."), "{out}");
    let logs = dir.path().join("logs").join("test_fail");
    assert!(
        out.contains(&format!("Find logs in {}", logs.display())),
        "{out}"
    );
    assert!(out.contains("(:x:)"), "{out}");
    let run = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_to_string(run.join("stderr")).unwrap(),
        "Something went wrong\n"
    );
}

#[test]
fn restricted_commands_run_for_the_shell_user() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = shell("techsupport out-of-office on from 2026-12-24 to 2027-01-02\ntechsupport out-of-office status\n", dir.path());
    assert!(!out.contains(":no_entry:"), "{out}");
    assert!(
        out.contains("Tech support out of office from 2026-12-24 to 2027-01-02"),
        "{out}"
    );
    let saved = std::fs::read_to_string(dir.path().join("techsupport_ooo.json")).unwrap();
    assert_eq!(saved.trim(), r#"{"start":"2026-12-24","end":"2027-01-02"}"#);
}

#[test]
fn a_line_that_is_not_utf8_is_answered_and_the_next_lines_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = shell(b"test hello \xff\ntest hello after\n", dir.path());
    assert!(
        out.lines()
            .any(|l| l == "I'm sorry, line 1 is not valid UTF-8 text, so I skipped it"),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "Hello after"), "{out}");
}

#[test]
fn as_a_user_the_shell_obeys_the_permission_rules() {
    let dir = tempfile::tempdir().unwrap();
    // The local operator may run anything, and removes what it started.
    let (_, out) = shell("test guarded\nhelp test\nremove job id 1\n", dir.path());
    assert!(out.contains("(:eyes:)"), "{out}");
    assert!(out.contains("Job id [1] removed"), "{out}");
    assert!(!out.contains("not for you"), "{out}");
    // A guest may not; a member in another channel may not; help marks it.
    let guest = ["--as", "U0GUS", "--guest", "--channel", "C0DEPLOYS"];
    let (_, out) = shell_with(&guest, "test guarded\nhelp test\n", dir.path());
    assert!(
        out.contains(":no_entry: Sorry, you may not run `test guarded`: it needs a member of the workspace, not a guest"),
        "{out}"
    );
    assert!(
        out.contains("`test guarded`: run the slow job: only for the S0DEPLOYERS user group, in channel C0DEPLOYS :no_entry_sign: _not for you here_"),
        "{out}"
    );
    let elsewhere = ["--as", "U0ALICE", "--channel", "C0ELSEWHERE"];
    let (_, out) = shell_with(&elsewhere, "test guarded\ntest hello\n", dir.path());
    assert!(out.contains("it needs run from <#C0DEPLOYS>"), "{out}");
    assert!(
        out.lines().any(|l| l.ends_with("] Hello World")),
        "open commands still run: {out}"
    );
    // In the right channel, the group's membership is what the shell cannot know: it says so.
    let member = ["--as", "U0ALICE", "--channel", "C0DEPLOYS"];
    let (_, out) = shell_with(&member, "test guarded\n", dir.path());
    assert!(
        out.contains("a member of the user group `S0DEPLOYERS`"),
        "{out}"
    );
}
