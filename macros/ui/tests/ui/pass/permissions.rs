bennettbot::job_configs!("permissions.toml");

use bennettbot_spec::AllowSpec;

fn main() {
    let deploy = CONFIG.namespace("deploy").unwrap();
    assert!(deploy.restricted);
    assert_eq!(deploy.env, &["DEPLOY_HOST"]);
    assert_eq!(deploy.secret_env, &["DEPLOY_TOKEN"]);
    assert_eq!(
        deploy.allow,
        Some(AllowSpec {
            users: &[],
            usergroups: &["S0614TZR7"],
            channels: &["C0123ABCD"],
            guests: None,
        })
    );
    let run = CONFIG.job("deploy_run").unwrap();
    assert!(run.allow_broadcast);
    assert_eq!(run.allow.unwrap().users, &["U012AB3CD", "W0A1B2C3"]);
    // `[deploy.slack.allow]` after `[[deploy.slack]]` is that command's rule.
    assert_eq!(CONFIG.commands[0].allow.unwrap().channels, &["C0123ABCD"]);
    let tail = CONFIG.job("showlogs_tail").unwrap();
    assert_eq!(tail.logs_of, Some("log_dir"));
    assert_eq!(tail.allow, None);
    assert!(CONFIG.namespace("showlogs").unwrap().env.is_empty());
}
