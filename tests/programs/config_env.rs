//! `BENNETTBOT_JOB_CONFIGS` makes the build compile another config, and a bad one fails the
//! build with every mistake named at its `--> file:line:col`. This runs a real `cargo check`
//! of the package, in its own target directory under `target/` so that it neither waits for
//! nor invalidates the build running the tests (the directory is kept and reused: after the
//! first run only the bennettbot crate itself is checked again).

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo check -p bennettbot --lib` with `BENNETTBOT_JOB_CONFIGS=config`; returns whether it
/// succeeded and its stderr.
fn check_with(config: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO"))
        .args([
            "check",
            "-p",
            "bennettbot",
            "--lib",
            "--message-format",
            "human",
        ])
        .current_dir(manifest_dir())
        .env("BENNETTBOT_JOB_CONFIGS", config)
        .env("CARGO_TARGET_DIR", manifest_dir().join("target/config-env"))
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("cargo runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Each `error: ...` the build printed, as (message, line in `path`) when it points there.
fn errors_in(stderr: &str, path: &str) -> Vec<(String, Option<usize>)> {
    let marker = format!("--> {path}:");
    let mut out: Vec<(String, Option<usize>)> = Vec::new();
    for line in stderr.lines() {
        if let Some(message) = line.strip_prefix("error") {
            out.push((message.to_string(), None));
        } else if let Some(at) = line.trim_start().strip_prefix(&marker) {
            let number = at.split(':').next().and_then(|n| n.parse().ok());
            if let Some(last) = out.last_mut() {
                last.1 = last.1.or(number);
            }
        }
    }
    out
}

/// The `# ERROR: <part of the message>` markers of a config, as (line, part).
fn expected_errors(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let (_, part) = line.split_once("# ERROR: ")?;
            Some((i + 1, part.trim().to_string()))
        })
        .collect()
}

/// Checks a bad config: the build fails, every marked mistake is reported at its line, and
/// nothing else is reported (no cascade of Rust errors from the generated code).
fn assert_reports_exactly_its_marked_mistakes(relative: &str) {
    let path = manifest_dir().join(relative);
    let shown = path.to_str().expect("UTF-8 path");
    let expected = expected_errors(&std::fs::read_to_string(&path).expect("config exists"));
    assert!(!expected.is_empty(), "{relative} marks no mistakes");
    let (ok, stderr) = check_with(&path);
    assert!(!ok, "a bad config must fail the build:\n{stderr}");
    let errors = errors_in(&stderr, shown);
    for (line, part) in &expected {
        assert!(
            errors
                .iter()
                .any(|(m, l)| *l == Some(*line) && m.contains(part.as_str())),
            "no error containing `{part}` at {shown}:{line}; the build printed:\n{stderr}"
        );
    }
    let in_config: Vec<_> = errors.iter().filter(|(_, l)| l.is_some()).collect();
    assert_eq!(
        in_config.len(),
        expected.len(),
        "unexpected errors; the build printed:\n{stderr}"
    );
    // The rest is cargo's summary ("could not compile ..."), never a Rust error of its own.
    for (message, _) in errors.iter().filter(|(_, l)| l.is_none()) {
        assert!(
            message.starts_with(": could not compile"),
            "unexpected `error{message}`:\n{stderr}"
        );
    }
    // Nor a warning about the crate's own code: the stub items the macro emits next to the
    // errors must leave the rest of the crate as it is (no "unreachable expression").
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning"))
        .collect();
    assert!(
        warnings.is_empty(),
        "warnings next to the config errors:\n{stderr}"
    );
}

/// One test, so that the checks (which take turns at the target directory's lock) hold one
/// test thread, not three: the first checks every dependency, the rest only bennettbot.
#[test]
fn a_config_given_by_env_builds_or_reports_every_mistake_at_its_line() {
    // A good alternative config builds with its commands.
    let path = manifest_dir().join("macros/ui/tests/ui/pass/namespace_without_commands.toml");
    let (ok, stderr) = check_with(&path);
    assert!(ok, "a valid config must build:\n{stderr}");
    // Every mistake is reported at its line in one build.
    assert_reports_exactly_its_marked_mistakes("macros/ui/tests/ui/env/every_mistake.toml");
    // Syntax and support table mistakes are reported at their lines; these cannot share a file
    // with the rest (see every_mistake.toml).
    assert_reports_exactly_its_marked_mistakes("macros/ui/tests/ui/env/toml_syntax.toml");
    assert_reports_exactly_its_marked_mistakes("macros/ui/tests/ui/env/support_table.toml");
}
