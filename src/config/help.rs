//! The help texts users know, built from the compiled config.

use std::fmt::Write as _;

use super::spec::{Config, NamespaceSpec};

/// The general help. `mention` is `@<bot name> ` when replying to a mention, else empty.
pub fn general_help(config: &Config, mention: &str) -> String {
    let mut namespaces: Vec<&NamespaceSpec> = config.namespaces.iter().collect();
    namespaces.sort_by_key(|n| n.name);
    let mut out = String::from("Commands in the following categories are available:\n\n");
    for ns in &namespaces {
        let lock = if ns.restricted { ":lock: " } else { "" };
        let _ = writeln!(out, "* {lock}`{}`: {}", ns.name, ns.description);
    }
    let example = namespaces.first().map_or("test", |n| n.name);
    let _ = write!(
        out,
        "Enter `{mention}[category] help` (e.g. `{mention}{example} help`) for more help\n\
         Enter `{mention}status` to see running and scheduled jobs\n\
         Enter `{mention}remove job id [id]` to remove a job; a job in progress is stopped (its processes too) and reported in its thread, so you can retry a job that appears to have stalled."
    );
    out
}

/// The help of one namespace, commands sorted. `org` names the internal users; `closed` are
/// the usages the asker may not run, which are marked.
pub fn namespace_help(config: &Config, ns: &NamespaceSpec, org: &str, closed: &[&str]) -> String {
    let mut out = String::new();
    if ns.restricted {
        let _ = write!(
            out,
            ":lock: These commands are only available to {org} users :lock:\n\n"
        );
    }
    out.push_str("The following commands are available:\n\n");
    let lines: Vec<String> = config
        .sorted_commands(ns)
        .iter()
        .map(|c| {
            let mark = if closed.contains(&c.usage) {
                " :no_entry_sign: _not for you here_"
            } else {
                ""
            };
            format!("`{}`: {}{mark}", c.usage, c.help)
        })
        .collect();
    out.push_str(&lines.join("\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spec::*;

    static CONFIG: Config = Config {
        namespaces: &[
            NamespaceSpec {
                name: "zeta",
                description: "Last",
                restricted: true,
                fabfile: None,
                default_channel: "#tech",
                allow: None,
                env: &[],
                secret_env: &[],
                commands: &[0, 1],
                match_order: &[0, 1],
            },
            NamespaceSpec {
                name: "alpha",
                description: "First",
                restricted: false,
                fabfile: None,
                default_channel: "#tech",
                allow: None,
                env: &[],
                secret_env: &[],
                commands: &[],
                match_order: &[],
            },
        ],
        jobs: &[],
        commands: &[
            CommandSpec {
                namespace: "zeta",
                command: "stop",
                usage: "zeta stop",
                pattern: &[Segment::Literal("zeta stop")],
                params: &[],
                help: "stop it",
                action: Action::CancelJob,
                job_type: "zeta_go",
                delay_seconds: 0,
                examples: &[],
                allow: None,
            },
            CommandSpec {
                namespace: "zeta",
                command: "go",
                usage: "zeta go",
                pattern: &[Segment::Literal("zeta go")],
                params: &[],
                help: "go",
                action: Action::ScheduleJob,
                job_type: "zeta_go",
                delay_seconds: 0,
                examples: &[],
                allow: None,
            },
        ],
        github: &[],
        schedules: &[],
        support: &[],
    };

    #[test]
    fn general_help_lists_sorted_namespaces_with_locks() {
        let help = general_help(&CONFIG, "@bot ");
        assert!(help.starts_with(
            "Commands in the following categories are available:\n\n* `alpha`: First\n* :lock: `zeta`: Last\nEnter `@bot [category] help` (e.g. `@bot alpha help`) for more help\n"
        ), "{help}");
        assert!(help.contains("Enter `@bot status` to see running and scheduled jobs"));
        assert!(general_help(&CONFIG, "").contains("Enter `status` to see"));
    }

    #[test]
    fn namespace_help_is_sorted_and_locked() {
        assert_eq!(
            namespace_help(&CONFIG, &CONFIG.namespaces[0], "Bennett", &[]),
            ":lock: These commands are only available to Bennett users :lock:\n\nThe following commands are available:\n\n`zeta go`: go\n`zeta stop`: stop it"
        );
    }
}
