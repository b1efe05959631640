//! The permission function on a small config of its own, with facts made up per test.

use super::*;
use crate::config::spec::*;

const DEPLOY_RULE: AllowSpec = AllowSpec {
    users: &[],
    usergroups: &["S0DEPLOY"],
    channels: &["C0DEPLOYS"],
    guests: None,
};

const LEADS: AllowSpec = AllowSpec {
    users: &["U0LEAD"],
    usergroups: &[],
    channels: &[],
    guests: None,
};

const fn job(
    job_type: &'static str,
    namespace: &'static str,
    logs_of: Option<&'static str>,
) -> JobSpec {
    JobSpec {
        job_type,
        namespace,
        name: job_type,
        template_source: "",
        template: &[],
        report_stdout: false,
        report_success: true,
        report_format: ReportFormat::Text,
        call_tech_support_on_error: false,
        suppress_empty: false,
        timeout_seconds: None,
        allow: None,
        allow_broadcast: false,
        logs_of,
    }
}

const fn command(
    namespace: &'static str,
    usage: &'static str,
    job_type: &'static str,
    allow: Option<AllowSpec>,
) -> CommandSpec {
    CommandSpec {
        namespace,
        command: usage,
        usage,
        pattern: &[],
        params: &[],
        help: "",
        action: Action::ScheduleJob,
        job_type,
        delay_seconds: 0,
        examples: &[],
        allow,
    }
}

const fn namespace(
    name: &'static str,
    restricted: bool,
    allow: Option<AllowSpec>,
    commands: &'static [usize],
) -> NamespaceSpec {
    NamespaceSpec {
        name,
        description: "",
        restricted,
        fabfile: None,
        default_channel: "#tech",
        allow,
        env: &[],
        secret_env: &[],
        commands,
        match_order: commands,
    }
}

static CONFIG: Config = Config {
    namespaces: &[
        namespace("deploy", true, Some(DEPLOY_RULE), &[0, 1]),
        namespace("logs", false, None, &[2]),
        namespace("open", false, None, &[3]),
    ],
    jobs: &[
        job("deploy_staging", "deploy", None),
        job("deploy_production", "deploy", None),
        job("deploy_nightly", "deploy", None),
        job("logs_tail", "logs", Some("folder")),
        job("open_hello", "open", None),
    ],
    commands: &[
        command("deploy", "deploy staging", "deploy_staging", None),
        command(
            "deploy",
            "deploy production",
            "deploy_production",
            Some(LEADS),
        ),
        command("logs", "logs tail [folder]", "logs_tail", None),
        command("open", "open hello", "open_hello", None),
    ],
    github: &[],
    schedules: &[],
    support: &[],
};

/// Facts from lists: who is a guest, who is in which group.
struct Made {
    guests: &'static [&'static str],
    members: &'static [(&'static str, &'static str)],
}

impl Facts for Made {
    async fn is_guest(&self, user: &str) -> Fact {
        self.guests.contains(&user).into()
    }

    async fn in_usergroup(&self, user: &str, group: &str) -> Fact {
        self.members.contains(&(group, user)).into()
    }
}

const FACTS: Made = Made {
    guests: &["U0GUEST", "U0GUESTDEPLOYER"],
    members: &[
        ("S0DEPLOY", "U0DEPLOYER"),
        ("S0DEPLOY", "U0LEAD"),
        ("S0DEPLOY", "U0GUESTDEPLOYER"),
    ],
};

fn asker<'a>(user: &'a str, channel: &'a str) -> Asker<'a> {
    Asker { user, channel }
}

async fn run(i: usize, user: &str, channel: &str, params: &[(&'static str, &str)]) -> Decision {
    let deed = Deed::Run {
        command: &CONFIG.commands[i],
        params,
    };
    authorize(&CONFIG, asker(user, channel), deed, &FACTS).await
}

fn refused_by(d: &Decision) -> (Scope, Need) {
    match d {
        Decision::Refused(r) => (r.scope.clone(), r.need),
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn every_rule_that_applies_must_allow() {
    // The namespace's rule (group, channel) and restricted; the command's rule narrows it.
    assert!(run(0, "U0DEPLOYER", "C0DEPLOYS", &[]).await.is_allowed());
    assert_eq!(
        refused_by(&run(0, "U0DEPLOYER", "C0OTHER", &[]).await),
        (Scope::Namespace("deploy"), Need::Channel(&["C0DEPLOYS"]))
    );
    assert_eq!(
        refused_by(&run(0, "U0ALICE", "C0DEPLOYS", &[]).await).0,
        Scope::Namespace("deploy")
    );
    assert_eq!(
        refused_by(&run(0, "U0GUESTDEPLOYER", "C0DEPLOYS", &[]).await),
        (Scope::Restricted("deploy"), Need::Member)
    );
    assert!(run(1, "U0LEAD", "C0DEPLOYS", &[]).await.is_allowed());
    assert_eq!(
        refused_by(&run(1, "U0DEPLOYER", "C0DEPLOYS", &[]).await).0,
        Scope::Command("deploy production")
    );
    // No rule: anyone, guests included.
    assert_eq!(
        run(3, "U0GUEST", "C0ANY", &[]).await,
        Decision::Allowed(Grant::Rules(Vec::new()))
    );
}

#[tokio::test]
async fn removal_is_for_the_requester_or_who_may_run_the_job_here() {
    let remove = |job_type: &'static str, requesters: &'static [String], user: &'static str| async move {
        let deed = Deed::Remove {
            job_type,
            requesters,
        };
        authorize(&CONFIG, asker(user, "C0DEPLOYS"), deed, &FACTS).await
    };
    static BY_GUEST: [String; 0] = [];
    assert!(remove("deploy_staging", &BY_GUEST, "U0DEPLOYER")
        .await
        .is_allowed());
    assert!(!remove("deploy_production", &BY_GUEST, "U0DEPLOYER")
        .await
        .is_allowed());
    assert!(!remove("deploy_staging", &BY_GUEST, "U0GUEST")
        .await
        .is_allowed());
    // A job no command starts: its namespace's and its own rules.
    assert!(remove("deploy_nightly", &BY_GUEST, "U0DEPLOYER")
        .await
        .is_allowed());
    assert!(!remove("deploy_nightly", &BY_GUEST, "U0ALICE")
        .await
        .is_allowed());
    static ALICE: std::sync::LazyLock<[String; 1]> =
        std::sync::LazyLock::new(|| ["U0ALICE".to_string()]);
    assert_eq!(
        remove("deploy_production", &*ALICE, "U0ALICE").await,
        Decision::Allowed(Grant::Requester)
    );
    // A job type this build does not know: its requesters only.
    assert_eq!(
        refused_by(&remove("gone_job", &BY_GUEST, "U0DEPLOYER").await),
        (Scope::Requesters("gone_job".into()), Need::Requester)
    );
}

#[tokio::test]
async fn logs_are_for_who_may_run_the_job_they_belong_to() {
    assert!(run(
        2,
        "U0DEPLOYER",
        "C0DEPLOYS",
        &[("folder", "deploy_staging/20261208-090000")]
    )
    .await
    .is_allowed());
    assert!(run(
        2,
        "U0GUEST",
        "C0ANY",
        &[("folder", "open_hello/20261208-090000")]
    )
    .await
    .is_allowed());
    let refused = run(2, "U0ALICE", "C0DEPLOYS", &[("folder", "deploy_staging/x")]).await;
    assert_eq!(
        refused_by(&refused).1,
        Need::Logs {
            job_type: Some("deploy_staging")
        }
    );
    for folder in ["../../etc", "", "nojob/x"] {
        let refused = run(2, "U0DEPLOYER", "C0DEPLOYS", &[("folder", folder)]).await;
        assert_eq!(
            refused_by(&refused).1,
            Need::Logs { job_type: None },
            "{folder:?}"
        );
    }
}

#[tokio::test]
async fn config_alone_makes_group_membership_a_condition() {
    let deed = Deed::Run {
        command: &CONFIG.commands[0],
        params: &[],
    };
    let d = authorize(
        &CONFIG,
        asker("U0X", "C0DEPLOYS"),
        deed,
        &Assumed { guest: false },
    )
    .await;
    let Decision::Depends(needs) = d else {
        panic!("{d:?}")
    };
    assert_eq!(needs[0].needs(), "a member of the user group `S0DEPLOY`");
    // A guest is refused outright: that much the config knows.
    let d = authorize(
        &CONFIG,
        asker("U0X", "C0DEPLOYS"),
        deed,
        &Assumed { guest: true },
    )
    .await;
    assert_eq!(refused_by(&d).1, Need::Member);
    assert!(authorize(&CONFIG, asker("U0X", "C0X"), deed, &Operator)
        .await
        .is_allowed());
}

#[test]
fn refusals_name_ids_without_notifying_anyone() {
    let r = Refusal {
        scope: Scope::Command("deploy production"),
        need: Need::Who {
            users: &["U0LEAD", "U0OTHER"],
            usergroups: &["S0DEPLOY"],
        },
    };
    assert_eq!(
        r.reply("run `deploy production`", "Bennett"),
        ":no_entry: Sorry, you may not run `deploy production`: it needs one of the users `U0LEAD` or `U0OTHER` or a member of the user group `S0DEPLOY` (the rule of command `deploy production`)."
    );
    let restricted = Refusal {
        scope: Scope::Restricted("deploy"),
        need: Need::Member,
    };
    assert_eq!(
        restricted.reply("run `deploy staging`", "Bennett"),
        ":no_entry: Sorry, only Bennett users are allowed to run `deploy` commands."
    );
}
