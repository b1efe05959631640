//! The built binary's `check`: every problem listed at once, non-zero exit.

use bennettbot_test_support::postgres;
use std::path::Path;
use std::process::Command;

/// `bennettbot <command>` run in `cwd` with nothing from the test's environment but `PATH`,
/// its `WRITEABLE_DIR` being `writeable`.
fn bennettbot(command: &str, cwd: impl AsRef<Path>, writeable: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bennettbot"));
    cmd.arg(command)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WRITEABLE_DIR", writeable);
    cmd
}

#[test]
fn check_lists_every_missing_setting_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = bennettbot("check", dir.path(), dir.path())
        .env("MAX_SLACK_NOTIFY_RETRIES", "many")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    for name in [
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_APP_USERNAME",
        "SLACK_LOGS_CHANNEL",
        "SLACK_TECH_SUPPORT_CHANNEL",
        "SLACK_BENNETT_ADMINS_CHANNEL",
        "GITHUB_WEBHOOK_SECRET",
        "WEBHOOK_ORIGIN",
    ] {
        assert_eq!(
            stdout.matches(&format!("✗ {name} is not set: ")).count(),
            1,
            "{name}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("✗ MAX_SLACK_NOTIFY_RETRIES=\"many\" is not a whole number"),
        "{stdout}"
    );
    // The workspace is looked for in the current directory, which has none.
    assert!(stdout.contains("✗ WORKSPACE_DIR"), "{stdout}");
    assert!(stdout.contains("✓ database"), "{stdout}");
    assert!(stdout.contains("✓ LOGS_DIR"), "{stdout}");
    assert!(stdout.contains("problems found"), "{stdout}");
}

#[test]
fn check_passes_with_everything_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = bennettbot("check", env!("CARGO_MANIFEST_DIR"), dir.path())
        .envs([
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_APP_TOKEN", "xapp-1"),
            ("SLACK_APP_USERNAME", "bennett_bot"),
            ("SLACK_LOGS_CHANNEL", "#logs"),
            ("SLACK_TECH_SUPPORT_CHANNEL", "#tech-support"),
            ("SLACK_BENNETT_ADMINS_CHANNEL", "#admins"),
            ("GITHUB_WEBHOOK_SECRET", "s3cret"),
            ("WEBHOOK_ORIGIN", "https://bot.example.org:9000"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains('✗'), "{stdout}");
    assert!(
        !stdout.contains("xoxb-1") && !stdout.contains("s3cret"),
        "{stdout}"
    );
}

#[test]
fn a_part_without_its_settings_refuses_to_start_listing_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let out = bennettbot("serve", dir.path(), dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("error: missing or invalid settings"),
        "{stderr}"
    );
    for name in [
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_APP_USERNAME",
        "SLACK_LOGS_CHANNEL",
        "SLACK_TECH_SUPPORT_CHANNEL",
        "SLACK_BENNETT_ADMINS_CHANNEL",
        "GITHUB_WEBHOOK_SECRET",
        "WEBHOOK_ORIGIN",
    ] {
        assert_eq!(
            stderr.matches(&format!("  {name}: ")).count(),
            1,
            "{name}:\n{stderr}"
        );
    }
    // Nothing was started: no database was created.
    assert!(!dir.path().join("bennettbot.db").exists());
}

#[test]
fn a_bad_lease_timeout_is_named_with_its_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let out = bennettbot("check", dir.path(), dir.path())
        .env("LEASE_TIMEOUT_SECONDS", "abc")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("LEASE_TIMEOUT_SECONDS"))
        .unwrap_or_else(|| panic!("LEASE_TIMEOUT_SECONDS is not reported:\n{stdout}"));
    assert!(
        line.starts_with("✗ LEASE_TIMEOUT_SECONDS=\"abc\" is not a whole number (a dispatcher silent this long is dead"),
        "{line}"
    );
    assert!(!line.contains("support"), "{line}");
}

/// A `.env` in `dir` with a good line, two malformed ones (`KEY value` holds a secret) and a
/// good line after them.
fn malformed_env_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join(".env");
    std::fs::write(
        &path,
        "SLACK_APP_USERNAME=bennett_bot\nTHIS IS NOT VALID\nSLACK_BOT_TOKEN xoxb-secret\nGITHUB_WEBHOOK_SECRET=s3cret\n",
    )
    .unwrap();
    path
}

#[test]
fn check_names_each_malformed_env_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = malformed_env_file(dir.path());
    let out = bennettbot("check", dir.path(), dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    for line in [2, 3] {
        assert!(
            stdout.contains(&format!(
                "✗ {} line {line} is not a `NAME=value` line",
                env_file.display()
            )),
            "line {line}:\n{stdout}"
        );
    }
    // Good lines on both sides of the bad ones were loaded; the bad line's secret is not shown.
    assert!(
        !stdout.contains("SLACK_APP_USERNAME is not set"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("GITHUB_WEBHOOK_SECRET is not set"),
        "{stdout}"
    );
    assert!(!stdout.contains("xoxb-secret"), "{stdout}");
}

#[test]
fn a_part_refuses_to_start_with_a_malformed_env_file() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = malformed_env_file(dir.path());
    let out = bennettbot("webserver", dir.path(), dir.path())
        .envs([
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("WEBSERVER_BIND", "127.0.0.1:0"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("error: missing or invalid settings"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "  {} line 2 is not a `NAME=value` line",
            env_file.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains(" line 3 is not"), "{stderr}");
    assert!(!stderr.contains("xoxb-secret"), "{stderr}");
    assert!(!dir.path().join("bennettbot.db").exists());
}

#[tokio::test]
async fn check_reaches_postgresql_and_says_its_version_and_migrations_without_the_password() {
    let url = postgres::database_url().await;
    // The test server trusts every login: a password in the URL is ignored by it but must
    // never be shown.
    let url = url.replacen("postgres@", "postgres:hunter2-secret@", 1);
    let dir = tempfile::tempdir().unwrap();
    let run = |url: String, dir: std::path::PathBuf| {
        let out = bennettbot("check", &dir, &dir)
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (u, d) = (url.clone(), dir.path().to_owned());
    let before = tokio::task::spawn_blocking(move || run(u, d))
        .await
        .unwrap();
    assert!(
        before.contains("✓ database PostgreSQL at postgres@127.0.0.1:"),
        "{before}"
    );
    assert!(before.contains("(PostgreSQL 1"), "server version: {before}");
    assert!(
        before.contains("not encrypted (sslmode=prefer)"),
        "the test server has no TLS: {before}"
    );
    assert!(
        before.contains("at migration 0 of"),
        "a fresh database is not migrated by check: {before}"
    );
    assert!(!before.contains("hunter2"), "{before}");

    bennettbot::queue::Queue::open_database(
        &bennettbot::queue::Database::from_settings(Some(&url), "unused".into()).unwrap(),
    )
    .await
    .unwrap();
    let (u, d) = (url.clone(), dir.path().to_owned());
    let after = tokio::task::spawn_blocking(move || run(u, d))
        .await
        .unwrap();
    assert!(after.contains("answers and is migrated"), "{after}");
}

#[tokio::test]
async fn check_says_postgresql_is_reached_over_tls_and_how_it_was_verified() {
    let ca = postgres::tls_server().ca.display().to_string();
    let url = postgres::tls_database_url(
        "localhost",
        &format!("?sslmode=verify-full&sslrootcert={ca}"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        bennettbot("check", &d, &d)
            .env("DATABASE_URL", url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("✓ database PostgreSQL at postgres@localhost:"),
        "{stdout}"
    );
    assert!(stdout.contains("TLS (sslmode=verify-full))"), "{stdout}");
}

#[test]
fn check_refuses_a_database_url_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = bennettbot("check", dir.path(), dir.path())
        .env("DATABASE_URL", "mysql://bot:pw@db/queue")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("✗ DATABASE_URL must start with sqlite:// or postgres://"),
        "{stdout}"
    );
    assert!(!stdout.contains("pw@"), "{stdout}");
}

#[test]
fn schedules_prints_due_times_without_opening_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("queue.db");
    let out = bennettbot("schedules", dir.path(), dir.path())
        .args(["--next", "3"])
        .env("DB_PATH", &db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // The shipped config declares no schedule (see README for the syntax).
    assert_eq!(
        stdout,
        "No schedules: the job config has no `[[<namespace>.schedule]]` entries.\n"
    );
    assert!(!db.exists(), "the queue database was not opened");
    let refused = bennettbot("schedules", dir.path(), dir.path())
        .args(["--next", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--next"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn check_says_how_the_bot_takes_slacks_events() {
    let dir = tempfile::tempdir().unwrap();
    let run = |vars: &[(&str, &str)]| {
        let out = bennettbot("check", dir.path(), dir.path())
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let socket = run(&[("SLACK_APP_TOKEN", "xapp-1")]);
    assert!(
        socket.contains("✓ the bot takes Slack's events by Socket Mode (SLACK_APP_TOKEN)"),
        "{socket}"
    );
    let http = run(&[("SLACK_SIGNING_SECRET", "s3cret")]);
    assert!(
        http.contains("✓ the bot takes Slack's events by the Events API over HTTP"),
        "{http}"
    );
    // Over HTTP the app token is not needed, but an address to listen on is.
    assert!(!http.contains("SLACK_APP_TOKEN is not set"), "{http}");
    assert!(http.contains("✗ WEBHOOK_ORIGIN is not set"), "{http}");
    assert!(!http.contains("s3cret"), "{http}");
}

#[test]
fn each_command_lists_the_settings_it_reads_and_options_win_over_variables() {
    let dir = tempfile::tempdir().unwrap();
    let help = |command: &str| {
        let out = bennettbot(command, dir.path(), dir.path())
            .arg("--help")
            .env("SLACK_APP_TOKEN", "xapp-very-secret")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let bot = help("bot");
    assert!(bot.contains("--slack-app-token <VALUE>"), "{bot}");
    assert!(bot.contains("[env: SLACK_APP_TOKEN]"), "{bot}");
    assert!(
        !bot.contains("xapp-very-secret"),
        "a secret's value was shown: {bot}"
    );
    assert!(bot.contains("[default: eyes]"), "{bot}");
    assert!(!bot.contains("GITHUB_WEBHOOK_SECRET"), "{bot}");
    let web = help("webserver");
    assert!(web.contains("[env: GITHUB_WEBHOOK_SECRET]"), "{web}");
    assert!(!web.contains("SLACK_APP_TOKEN"), "{web}");
    // An option wins over its variable.
    let out = bennettbot("check", dir.path(), dir.path())
        .args(["--lease-timeout-seconds", "soon"])
        .env("LEASE_TIMEOUT_SECONDS", "60")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("LEASE_TIMEOUT_SECONDS=\"soon\" is not a whole number"),
        "{stdout}"
    );
}
