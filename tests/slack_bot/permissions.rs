//! Permissions through the real bot: who may run a command, remove a job and read its logs,
//! as `job_configs.toml`'s `test guarded` declares (the job: members of user group
//! S0DEPLOYERS, not guests; the command: from channel C0DEPLOYS). Users and the group's
//! members come from the fake Slack (`users.list`, `usergroups.users.list`); a dispatcher runs
//! the jobs, so removals meet a running job.

use std::sync::Arc;

use bennettbot::config::CONFIG;
use bennettbot::dispatcher::Dispatcher;
use bennettbot::slack::api::SlackClient;
use bennettbot_test_support::bot_harness::{
    default_workspace, Harness, Mode, Setup, BOT, GENERAL, GUEST, INTERNAL,
};
use bennettbot_test_support::both_modes;
use bennettbot_test_support::dispatcher_harness::dispatcher_settings;
use bennettbot_test_support::fake_slack::{FakeSlack, TOKEN};
use bennettbot_test_support::fake_socket::FakeSocket;
use bennettbot_test_support::wait::{eventually, WAIT};
use chrono::Utc;
use prometheus_client::encoding::text::encode;
use serde_json::json;
use tokio::sync::watch;

const DEPLOYS: &str = "C0DEPLOYS";
const GROUP: &str = "S0DEPLOYERS";
/// Members in the group.
const DEPLOYER: &str = "U0DEPLOYER";
const DEPLOYER_2: &str = "U0DEPLOYER2";
/// A guest in the group.
const GUEST_DEPLOYER: &str = "U0GUESTDEP";

/// What the bot did with a message.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// It reacted (the command went ahead).
    Reacted(String),
    /// It refused, saying this.
    Refused(String),
}

/// Sends `text` as `user` in `channel`; waits for a reaction to it or a new refusal there.
async fn ask(h: &Harness, user: &str, channel: &str, text: &str) -> Outcome {
    let refusals = |h: &Harness| -> Vec<String> {
        h.posts(channel)
            .iter()
            .filter_map(|c| c.str("text").map(str::to_string))
            .filter(|t| t.starts_with(":no_entry:"))
            .collect()
    };
    let before = refusals(h).len();
    let ts = h
        .mention_as(user, channel, &format!("<@{BOT}> {text}"))
        .await;
    let what = format!("an answer to {user}'s `{text}` in {channel}");
    eventually(&what, WAIT, || {
        if let Some(r) = h.reactions(channel, &ts).first() {
            return Some(Outcome::Reacted(r.clone()));
        }
        refusals(h).get(before).cloned().map(Outcome::Refused)
    })
    .await
}

fn refused(needle: &str) -> impl Fn(&Outcome) -> bool + '_ {
    move |o| matches!(o, Outcome::Refused(text) if text.contains(needle))
}

async fn workspace(mode: Mode) -> Harness {
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    default_workspace(&slack, &socket);
    slack.respond_with(
        "users.list",
        json!({ "members": [
            { "id": INTERNAL, "name": "alice" },
            { "id": DEPLOYER, "name": "dee" },
            { "id": DEPLOYER_2, "name": "dan" },
            { "id": GUEST, "name": "gus", "is_restricted": true },
            { "id": GUEST_DEPLOYER, "name": "gil", "is_restricted": true },
        ], "response_metadata": { "next_cursor": "" } }),
    );
    slack.set_usergroup(GROUP, &[DEPLOYER, DEPLOYER_2, GUEST_DEPLOYER]);
    Harness::start_with(slack, socket, Setup::mode(mode)).await
}

/// The id of a `test_guarded` job, queued or running, once there is one.
async fn guarded_job(h: &Harness) -> i64 {
    let find = || async {
        let status = h.queue.status(Utc::now()).await.unwrap();
        (status.running.iter().chain(&status.scheduled))
            .find(|j| j.job_type == "test_guarded")
            .map(|j| j.id)
    };
    bennettbot_test_support::wait::eventually_async("a test_guarded job", WAIT, find).await
}

/// The id of the `test_guarded` job once it runs.
async fn running_guarded_job(h: &Harness) -> i64 {
    let find = || async {
        let status = h.queue.status(Utc::now()).await.unwrap();
        (status.running.iter())
            .find(|j| j.job_type == "test_guarded")
            .map(|j| j.id)
    };
    bennettbot_test_support::wait::eventually_async("a running test_guarded job", WAIT, find).await
}

fn refusals_counted(action: &str) -> bool {
    let mut text = String::new();
    encode(&mut text, bennettbot::metrics::families::METRICS.registry()).unwrap();
    text.contains(&format!(
        "bennettbot_permission_refusals_total{{action=\"{action}\",namespace=\"test\"}}"
    )) || text.contains(&format!(
        "bennettbot_permission_refusals_total{{action=\"{action}\",namespace=\"showlogs\"}}"
    ))
}

async fn who_may_run_remove_and_read_logs(mode: Mode) {
    let h = workspace(mode).await;
    let settings = dispatcher_settings(&h.dir.path().join("dispatcher"));
    let client = Arc::new(SlackClient::new(TOKEN).with_base_url(h.slack.url()));
    let dispatcher = Dispatcher::new(&CONFIG, h.queue.clone(), client, settings);
    let (stop_dispatcher, stopped) = watch::channel(false);
    let dispatcher = tokio::spawn(dispatcher.run(stopped));

    // Run: every rule that applies must allow.
    let run = "test guarded";
    let eyes = Outcome::Reacted("eyes".into());
    assert_eq!(ask(&h, DEPLOYER, DEPLOYS, run).await, eyes);
    let table: [(&str, &str, &str); 4] = [
        (DEPLOYER, GENERAL, "it needs run from <#C0DEPLOYS>"),
        (
            INTERNAL,
            DEPLOYS,
            "a member of the user group `S0DEPLOYERS`",
        ),
        (
            GUEST_DEPLOYER,
            DEPLOYS,
            "a member of the workspace, not a guest",
        ),
        (GUEST, DEPLOYS, "a member of the workspace, not a guest"),
    ];
    for (user, channel, needle) in table {
        let got = ask(&h, user, channel, run).await;
        assert!(refused(needle)(&got), "{user} in {channel}: {got:?}");
        assert!(
            matches!(&got, Outcome::Refused(t) if t.contains("you may not run `test guarded`")),
            "{got:?}"
        );
    }

    assert!(refusals_counted("run"));

    // Remove a running job: a guest and a member outside the group are refused, and the
    // job's processes run on to their end.
    let id = running_guarded_job(&h).await;
    let remove = format!("remove job id {id}");
    for user in [GUEST, INTERNAL] {
        let got = ask(&h, user, DEPLOYS, &remove).await;
        assert!(
            refused(&format!(
                "you may not remove job id [{id}] (`test_guarded`)"
            ))(&got),
            "{user}: {got:?}"
        );
    }
    assert!(refusals_counted("remove"));
    h.reply(DEPLOYS, "Slow job finished").await;
    let ended = bennettbot_test_support::wait::eventually_async("its history", WAIT, || async {
        let history = h.queue.history(10).await.unwrap();
        history.into_iter().find(|e| e.job_id == id)
    })
    .await;
    assert_eq!(
        ended.exit,
        bennettbot::queue::ExitKind::Code(0),
        "it ran to its end"
    );

    // A member who may run it removes it from the allowed channel, not from another; its
    // requester may from anywhere.
    assert_eq!(ask(&h, DEPLOYER, DEPLOYS, run).await, eyes);
    let second = guarded_job(&h).await;
    let remove = format!("remove job id {second}");
    let got = ask(&h, DEPLOYER_2, GENERAL, &remove).await;
    assert!(refused("it needs run from <#C0DEPLOYS>")(&got), "{got:?}");
    let got = ask(&h, DEPLOYER_2, DEPLOYS, &remove).await;
    assert_eq!(got, Outcome::Reacted("crossed_fingers".into()));
    h.reply(DEPLOYS, &format!("Job id [{second}] removed"))
        .await;

    assert_eq!(ask(&h, DEPLOYER, DEPLOYS, run).await, eyes);
    let third = guarded_job(&h).await;
    let got = ask(&h, DEPLOYER, GENERAL, &format!("remove job id {third}")).await;
    assert_eq!(
        got,
        Outcome::Reacted("crossed_fingers".into()),
        "the requester"
    );

    // Logs: only of jobs the asker may run (here: run from C0DEPLOYS by the group).
    let logs = "showlogs tail output test_guarded/20261208-090000";
    assert_eq!(ask(&h, DEPLOYER, DEPLOYS, logs).await, eyes);
    let table: [(&str, &str, &str); 4] = [
        (DEPLOYER, GENERAL, "someone who may run `test_guarded`"),
        (INTERNAL, DEPLOYS, "someone who may run `test_guarded`"),
        (
            GUEST_DEPLOYER,
            DEPLOYS,
            "someone who may run `test_guarded`",
        ),
        (GUEST, GENERAL, "someone who may run `test_guarded`"),
    ];
    for (user, channel, needle) in table {
        let got = ask(&h, user, channel, logs).await;
        assert!(refused(needle)(&got), "{user} in {channel}: {got:?}");
    }
    let got = ask(&h, INTERNAL, GENERAL, "showlogs tail output ../../etc").await;
    assert!(refused("a log folder of a job")(&got), "{got:?}");
    // Logs of a job anyone may run: anyone may read them.
    let open = "showlogs tail output test_hello_world/20261208-090000";
    assert_eq!(ask(&h, GUEST, GENERAL, open).await, eyes);
    assert!(refusals_counted("logs"));

    let _ = stop_dispatcher.send(true);
    dispatcher.await.unwrap();
    assert!(h.stop().await.is_ok());
}

both_modes!(who_may_run_remove_and_read_logs);
