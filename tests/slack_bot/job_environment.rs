//! What jobs see of the bot's environment: none of its secrets, the variables their namespace
//! names, and those named as secret masked in everything posted, `showlogs` included. Runs the
//! bot with a dispatcher whose environment holds the bot's tokens and secrets, as `serve`'s
//! would, against the fake Slack, in both modes.

use std::collections::BTreeSet;

use bennettbot_test_support::bot_harness::{Harness, Mode, Setup, GENERAL};
use bennettbot_test_support::both_modes;
use bennettbot_test_support::fake_events::SIGNING_SECRET;
use bennettbot_test_support::fake_slack::TOKEN;
use bennettbot_test_support::wait::WAIT;

const VISIBLE: &str = "visible-value-789";
const SECRET: &str = "hunter2-secret-000";
const DB_PASSWORD: &str = "db-password-123";
const GITHUB_SECRET: &str = "github-secret-456";

/// The names of the variables in an `env` listing posted as code.
fn names(listing: &str) -> BTreeSet<String> {
    listing
        .trim_matches('`')
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.to_string()))
        .collect()
}

/// Panics if any call the fake Slack received (parameters or body) holds `value`.
fn assert_never_posted(h: &Harness, value: &str) {
    for call in h.slack.all_calls() {
        let params = call.params.to_string();
        let body = String::from_utf8_lossy(&call.body);
        assert!(
            !params.contains(value) && !body.contains(value),
            "{} posted {value:?}: {params} {body}",
            call.method
        );
    }
}

async fn jobs_see_no_secret_of_the_bot_and_their_own_secrets_are_masked(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let database_url = format!("postgres://bot:{DB_PASSWORD}@db.example.org/bot");
    let dispatcher = h.start_dispatcher(&[
        ("DATABASE_URL", &database_url),
        ("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET),
        ("TESTENV_VISIBLE", VISIBLE),
        ("TESTENV_SECRET", SECRET),
        ("SOME_OTHER_SETTING", "not-named"),
    ]);

    h.mention(GENERAL, "testenv show").await;
    let report = h.reply(GENERAL, "TESTENV_VISIBLE=").await;
    let listing = report.str("text").unwrap().to_string();
    assert!(
        listing.contains(&format!("\nTESTENV_VISIBLE={VISIBLE}\n")),
        "{listing}"
    );
    assert!(listing.contains("\nTESTENV_SECRET=***\n"), "{listing}");
    // Exactly bennettbot's own variables, the namespace's, and what bash sets itself.
    let mut expected: BTreeSet<String> = [
        "BENNETTBOT_JOB_ID",
        "BENNETTBOT_RUN_ID",
        "TESTENV_SECRET",
        "TESTENV_VISIBLE",
        "HOST_LOGS_DIR",
        "LOGS_DIR",
        "PATH",
        "PWD",
        "PYTHONPATH",
        "SHLVL",
        "WRITEABLE_DIR",
        "_",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    for passed in ["HOME", "LANG"] {
        if std::env::var_os(passed).is_some() {
            expected.insert(passed.to_string());
        }
    }
    assert_eq!(names(&listing), expected, "{listing}");

    // The job's log on disk holds what it printed; `showlogs` posts it masked.
    let job_logs = h.dir.path().join("logs/testenv_show");
    let stamp = std::fs::read_dir(&job_logs)
        .unwrap()
        .next()
        .expect("the job's log folder")
        .unwrap()
        .file_name();
    let log_dir = format!("testenv_show/{}", stamp.to_str().unwrap());
    let stdout = std::fs::read_to_string(job_logs.join(&stamp).join("stdout")).unwrap();
    assert!(
        stdout.contains(SECRET),
        "logs on disk are not masked: {stdout}"
    );
    h.mention("C0TAIL", &format!("showlogs tail output {log_dir}"))
        .await;
    let tail = h.reply("C0TAIL", "TESTENV_SECRET=").await;
    assert!(
        tail.str("text").unwrap().contains("\nTESTENV_SECRET=***\n"),
        "{tail:?}"
    );
    h.mention("C0ALL", &format!("showlogs all output {log_dir}"))
        .await;
    let file = h
        .slack
        .wait_until("the whole log as a file", WAIT, |slack| {
            slack
                .files()
                .into_iter()
                .find(|f| f.channel_id.as_deref() == Some("C0ALL"))
        })
        .await;
    let content = String::from_utf8(file.content).unwrap();
    assert!(content.contains("\nTESTENV_SECRET=***\n"), "{content}");
    assert!(
        content.contains(&format!("\nTESTENV_VISIBLE={VISIBLE}\n")),
        "{content}"
    );

    for secret in [
        TOKEN,
        SIGNING_SECRET,
        DB_PASSWORD,
        GITHUB_SECRET,
        SECRET,
        "not-named",
    ] {
        assert_never_posted(&h, secret);
    }
    dispatcher.stop().await;
}

both_modes!(jobs_see_no_secret_of_the_bot_and_their_own_secrets_are_masked);
