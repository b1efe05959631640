//! `bennettbot explain "<message>"`: what a message would do, executing nothing.

use std::fmt::Write as _;

use crate::config::{suggest, Action, Config};
use crate::intent::{normalise, understand, Intent};
use crate::permissions::{authorize, Asker, Assumed, Decision, Deed, Grant};

/// Who `explain --as` judges the message for: a user id, a guest or not, in a channel.
#[derive(Debug, Clone, Default)]
pub struct AsUser {
    pub user: String,
    pub guest: bool,
    /// The channel id it is sent in (`None`: a channel no rule names).
    pub channel: Option<String>,
}

/// A human-readable account of what `message` would do, and, `as_user`, whether that user
/// would be allowed and by which rule (from the config alone).
pub async fn explain(config: &'static Config, message: &str, as_user: Option<&AsUser>) -> String {
    let mut out = describe(config, message);
    if let Some(who) = as_user {
        out.push_str(&permission(config, message, who).await);
    }
    out
}

/// The `Permission:` lines for `who`.
async fn permission(config: &'static Config, message: &str, who: &AsUser) -> String {
    let text = normalise(message);
    let Intent::Command(cmd) = understand(config, &text) else {
        return format!("Permission: {}: anyone may (a built-in; `remove job id` is judged on the job it names)\n", who.user);
    };
    let params = cmd.params();
    let deed = Deed::Run {
        command: cmd.spec(),
        params: &params,
    };
    let asker = Asker {
        user: &who.user,
        channel: who.channel.as_deref().unwrap_or("(no channel given)"),
    };
    let facts = Assumed { guest: who.guest };
    let whom = format!(
        "{}{}{}",
        who.user,
        if who.guest { " (a guest)" } else { "" },
        who.channel
            .as_deref()
            .map(|c| format!(" in {c}"))
            .unwrap_or_default()
    );
    match authorize(config, asker, deed, &facts).await {
        Decision::Allowed(Grant::Rules(scopes)) if scopes.is_empty() => {
            format!("Permission: {whom}: allowed (no rule applies: anyone may)\n")
        }
        Decision::Allowed(Grant::Rules(scopes)) => {
            let by: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
            format!("Permission: {whom}: allowed by {}\n", by.join(", "))
        }
        Decision::Allowed(grant) => format!("Permission: {whom}: allowed ({grant:?})\n"),
        Decision::Refused(r) => format!(
            "Permission: {whom}: refused: it needs {} ({})\n",
            r.needs(),
            r.scope
        ),
        Decision::Depends(needs) => {
            let mut out = format!(
                "Permission: {whom}: allowed only if Slack confirms, when the command is run:\n"
            );
            for r in needs {
                let _ = writeln!(out, "  {} ({})", r.needs(), r.scope);
            }
            out
        }
    }
}

/// What `message` would do, executing nothing.
fn describe(config: &'static Config, message: &str) -> String {
    let text = normalise(message);
    let mut out = format!("Message: {text:?}\n");
    match understand(config, &text) {
        Intent::Status => {
            out.push_str("Built-in: `status` lists running and scheduled jobs and suppressions.\n")
        }
        Intent::RemoveJob(id) => {
            let _ = writeln!(out, "Built-in: `remove job id [id]` removes job {id} from the queue (a running job is stopped first).");
        }
        Intent::NamespaceHelp(ns) => {
            let _ = writeln!(out, "Built-in: help for namespace `{}`.", ns.name);
        }
        Intent::Help { understood: true } => {
            out.push_str("Built-in: `help` lists the namespaces.\n")
        }
        Intent::Help { understood: false } => {
            out.push_str(
                "Nothing matched: the bot would say it did not understand, and show help.\n",
            );
            let near = suggest::nearest(config, &text, 3);
            if !near.is_empty() {
                out.push_str("Nearest commands:\n");
                for c in near {
                    let _ = writeln!(out, "  `{}`: {}", c.usage, c.help);
                }
            }
        }
        Intent::Command(cmd) => {
            let spec = cmd.spec();
            let ns = cmd.namespace(config);
            let job = cmd.job_type().spec();
            let _ = writeln!(out, "Command:    `{}` ({})", spec.usage, spec.help);
            let _ = writeln!(
                out,
                "Namespace:  {}{}",
                ns.name,
                if ns.restricted {
                    " (restricted to internal users)"
                } else {
                    ""
                }
            );
            let params = cmd.params();
            if params.is_empty() {
                out.push_str("Parameters: none\n");
            } else {
                out.push_str("Parameters:\n");
                for (name, value) in params {
                    let _ = writeln!(out, "  {name} = {value:?}");
                }
            }
            let _ = writeln!(out, "Action:     {}", spec.action.name());
            let _ = writeln!(out, "Job type:   {}", job.job_type);
            if spec.action == Action::ScheduleJob {
                match cmd.render_job() {
                    Ok(line) => {
                        let _ = writeln!(out, "Shell:      {line}");
                        out.push_str("            (run as `bash -c` with that line; each parameter is one quoted word)\n");
                    }
                    Err(e) => {
                        let _ = writeln!(out, "Shell:      cannot run: {e}");
                    }
                }
                let _ = writeln!(out, "Delay:      {} s", spec.delay_seconds);
                let report = if job.report_stdout {
                    format!("stdout as {}", job.report_format.name())
                } else if job.report_success {
                    "\"succeeded\" on success".to_string()
                } else {
                    "nothing on success".to_string()
                };
                let _ = writeln!(out, "Report:     {report}");
                if let Some(t) = job.timeout_seconds {
                    let _ = writeln!(out, "Timeout:    {t} s");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;

    #[test]
    fn explains_a_command_with_its_quoted_shell_line() {
        let out = describe(&CONFIG, "test hello $(rm -rf /)");
        assert!(out.contains("Command:    `test hello [name]`"), "{out}");
        assert!(out.contains("name = \"$(rm -rf /)\""), "{out}");
        assert!(
            out.contains("Shell:      bash hello.sh '$(rm -rf /)'\n"),
            "{out}"
        );
        assert!(out.contains("Job type:   test_hello_name"), "{out}");
    }

    #[tokio::test]
    async fn explains_who_may_run_a_command_from_the_config_alone() {
        let who = |user: &str, guest: bool, channel: Option<&str>| AsUser {
            user: user.into(),
            guest,
            channel: channel.map(Into::into),
        };
        let out = explain(&CONFIG, "test hello Bob", Some(&who("U1", true, None))).await;
        assert!(
            out.contains("Permission: U1 (a guest): allowed (no rule applies: anyone may)"),
            "{out}"
        );
        let here = Some("C0DEPLOYS");
        let out = explain(&CONFIG, "test guarded", Some(&who("U1", false, here))).await;
        assert!(
            out.contains("Permission: U1 in C0DEPLOYS: allowed only if Slack confirms"),
            "{out}"
        );
        assert!(
            out.contains(
                "  a member of the user group `S0DEPLOYERS` (the rule of job `test_guarded`)"
            ),
            "{out}"
        );
        let out = explain(&CONFIG, "test guarded", Some(&who("U1", true, here))).await;
        assert!(out.contains("refused: it needs a member of the workspace, not a guest (the rule of job `test_guarded`)"), "{out}");
        let out = explain(
            &CONFIG,
            "test guarded",
            Some(&who("U1", false, Some("C0X"))),
        )
        .await;
        assert!(
            out.contains(
                "refused: it needs run from <#C0DEPLOYS> (the rule of command `test guarded`)"
            ),
            "{out}"
        );
        let out = explain(
            &CONFIG,
            "techsupport out-of-office status",
            Some(&who("U1", false, None)),
        )
        .await;
        assert!(
            out.contains("allowed by `restricted = true` of namespace `techsupport`"),
            "{out}"
        );
    }

    #[test]
    fn explains_nothing_matched_with_suggestions() {
        let out = describe(&CONFIG, "test helo Bob");
        assert!(out.contains("Nothing matched"), "{out}");
        assert!(out.contains("`test hello [name]`"), "{out}");
    }
}
