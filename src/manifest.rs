//! `bennettbot commands`: the compiled command table, as text or a JSON manifest.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::config::Config;

/// The command table for people: one block per namespace, commands sorted.
pub fn table(config: &Config) -> String {
    let mut namespaces: Vec<_> = config.namespaces.iter().collect();
    namespaces.sort_by_key(|n| n.name);
    let mut out = String::new();
    for ns in namespaces {
        let lock = if ns.restricted { " (restricted)" } else { "" };
        let _ = writeln!(out, "{}{lock}: {}", ns.name, ns.description);
        for c in config.sorted_commands(ns) {
            let _ = writeln!(
                out,
                "  {:<50} {:<20} {}",
                c.usage,
                c.action.name(),
                c.job_type
            );
        }
        for r in config.github.iter().filter(|r| r.namespace == ns.name) {
            let _ = writeln!(
                out,
                "  {:<50} {:<20} {}",
                format!("(GitHub {} {})", r.event, r.action.unwrap_or("*")),
                "schedule_job",
                r.job_type
            );
        }
        for s in config.schedules.iter().filter(|s| s.namespace == ns.name) {
            let _ = writeln!(
                out,
                "  {:<50} {:<20} {}",
                format!("(schedule `{}` {})", s.cron, s.timezone),
                "schedule_job",
                s.job_type
            );
        }
    }
    out
}

/// The whole compiled config as JSON, for tools.
pub fn json(config: &Config) -> Value {
    json!({
        "namespaces": config.namespaces.iter().map(|ns| json!({
            "name": ns.name,
            "description": ns.description,
            "restricted": ns.restricted,
            "fabfile": ns.fabfile,
            "default_channel": ns.default_channel,
            "commands": config.sorted_commands(ns).iter().map(|c| json!({
                "usage": c.usage,
                "params": c.params,
                "help": c.help,
                "action": c.action.name(),
                "job_type": c.job_type,
                "delay_seconds": c.delay_seconds,
                "examples": c.examples,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "jobs": config.jobs.iter().map(|j| json!({
            "job_type": j.job_type,
            "run_args_template": j.template_source,
            "report_stdout": j.report_stdout,
            "report_success": j.report_success,
            "report_format": j.report_format.name(),
            "call_tech_support_on_error": j.call_tech_support_on_error,
            "suppress_empty": j.suppress_empty,
            "timeout_seconds": j.timeout_seconds,
        })).collect::<Vec<_>>(),
        "github": config.github.iter().map(|r| json!({
            "namespace": r.namespace,
            "event": r.event,
            "action": r.action,
            "merged": r.merged,
            "base_branch": r.base_branch,
            "job_type": r.job_type,
            "delay_seconds": r.delay_seconds,
        })).collect::<Vec<_>>(),
        "schedules": config.schedules.iter().map(|s| json!({
            "key": s.key,
            "namespace": s.namespace,
            "job_type": s.job_type,
            "cron": s.cron,
            "timezone": s.timezone,
            "args": s.args.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "channel": s.channel,
            "catch_up": s.catch_up.name(),
        })).collect::<Vec<_>>(),
        "support": config.support.iter().map(|s| json!({
            "name": s.name,
            "keywords": s.keywords,
            "channel_env": s.channel_env,
            "reaction": s.reaction,
            "out_of_office_file": s.out_of_office_file,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CatchUp, NamespaceSpec, ScheduleSpec};

    static CONFIG: Config = Config {
        namespaces: &[NamespaceSpec {
            name: "report",
            description: "Reports",
            restricted: false,
            fabfile: None,
            default_channel: "#reports",
            allow: None,
            env: &[],
            secret_env: &[],
            commands: &[],
            match_order: &[],
        }],
        jobs: &[],
        commands: &[],
        github: &[],
        schedules: &[ScheduleSpec {
            key: "report_summary 0 9 * * MON-FRI Europe/London week=current",
            namespace: "report",
            job_type: "report_summary",
            cron: "0 9 * * MON-FRI",
            timezone: "Europe/London",
            args: &[("week", "current")],
            channel: "#reports",
            catch_up: CatchUp::Latest,
        }],
        support: &[],
    };

    #[test]
    fn schedules_are_listed_in_the_table_and_the_json() {
        let table = table(&CONFIG);
        assert!(
            table.contains("(schedule `0 9 * * MON-FRI` Europe/London)")
                && table.trim_end().ends_with("report_summary"),
            "{table}"
        );
        assert_eq!(
            json(&CONFIG)["schedules"],
            json!([{
                "key": "report_summary 0 9 * * MON-FRI Europe/London week=current",
                "namespace": "report",
                "job_type": "report_summary",
                "cron": "0 9 * * MON-FRI",
                "timezone": "Europe/London",
                "args": { "week": "current" },
                "channel": "#reports",
                "catch_up": "latest",
            }])
        );
    }
}
