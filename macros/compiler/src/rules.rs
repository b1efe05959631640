//! Checks what the file says about who may run what and what jobs see: permission rules that
//! contradict each other or guard nothing, `logs_of` parameters, and the `env` lists.

use std::collections::BTreeMap;

use crate::model::*;
use crate::source::{closest, Diagnostic};

/// The bot's own secrets: a job sees one only if a namespace names it, which is warned about.
pub const BOT_SECRETS: [&str; 6] = [
    "SLACK_BOT_TOKEN",
    "SLACK_BOT_USER_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "GITHUB_WEBHOOK_SECRET",
    "DATABASE_URL",
];

/// Checks every namespace's rules, `logs_of` parameters and `env` lists.
pub fn check_rules(config: &ConfigModel, diags: &mut Vec<Diagnostic>) {
    for ns in &config.namespaces {
        check_guarded(config, ns, diags);
        check_guests(ns, diags);
        check_logs_of(ns, diags);
        check_env(ns, diags);
    }
}

/// A namespace with a rule but no jobs or commands is most likely a misspelt name
/// (`[deplyo.allow]` declares a namespace `deplyo`).
fn check_guarded(config: &ConfigModel, ns: &Namespace, diags: &mut Vec<Diagnostic>) {
    let Some(allow) = &ns.allow else {
        return;
    };
    if !ns.jobs.is_empty() || !ns.slack.is_empty() || !ns.broken_jobs.is_empty() {
        return;
    }
    let n = &ns.name.value;
    let others = (config.namespaces.iter())
        .map(|o| o.name.value.as_str())
        .filter(|o| o != n);
    let help = match closest(n, others) {
        Some(c) => format!("did you mean `[{c}.allow]`?"),
        None => format!("declare the namespace's jobs and commands, or remove `[{n}.allow]`"),
    };
    diags.push(
        Diagnostic::error(
            format!("`allow` rule for namespace `{n}`, which has no jobs or commands"),
            allow.span.clone(),
        )
        .help(help),
    );
}

/// Whether a rule (or `restricted = true` beside it) refuses guests.
fn refuses_guests(restricted: bool, allow: Option<&Allow>) -> bool {
    match allow.and_then(|a| a.guests.as_ref()) {
        Some(g) => !g.value,
        None => restricted,
    }
}

/// `guests = true` cannot widen what an outer rule (or `restricted = true`) refuses, and
/// cannot sit beside `restricted = true` on the same namespace.
fn check_guests(ns: &Namespace, diags: &mut Vec<Diagnostic>) {
    let n = &ns.name.value;
    let guests_true = |a: Option<&Allow>| a.and_then(|a| a.guests.clone()).filter(|g| g.value);
    if ns.restricted {
        if let Some(g) = guests_true(ns.allow.as_ref()) {
            diags.push(
                Diagnostic::error(format!("namespace `{n}` is `restricted = true` (members only) but its rule says `guests = true`"), g.span)
                    .help("choose one: remove `restricted = true` to let guests in, or remove `guests = true`"),
            );
        }
    }
    // `restricted = true` refuses guests even beside a contradicting `guests = true` (reported
    // above), so the inner rules are still checked against it.
    let ns_refuses = ns.restricted || refuses_guests(false, ns.allow.as_ref());
    for job in &ns.jobs {
        if let (true, Some(g)) = (ns_refuses, guests_true(job.allow.as_ref())) {
            diags.push(widen(&format!("job `{n}.{}`", job.name.value), n, g.span));
        }
    }
    for cmd in &ns.slack {
        let Some(g) = guests_true(cmd.allow.as_ref()) else {
            continue;
        };
        let job_refuses =
            (ns.job(&cmd.job_type.value)).is_some_and(|j| refuses_guests(false, j.allow.as_ref()));
        if ns_refuses || job_refuses {
            let what = format!("command `{n} {}`", cmd.command.value);
            diags.push(widen(&what, n, g.span));
        }
    }
}

fn widen(what: &str, n: &str, span: std::ops::Range<usize>) -> Diagnostic {
    Diagnostic::error(
        format!("the rule of {what} says `guests = true`, but a rule around it refuses guests"),
        span,
    )
    .help(format!("a job's or command's rule can only narrow what `[{n}]` and its job allow; remove `guests = true`, or allow guests on the namespace"))
}

/// `logs_of` names one of the job's own `{placeholders}`.
fn check_logs_of(ns: &Namespace, diags: &mut Vec<Diagnostic>) {
    let n = &ns.name.value;
    for job in &ns.jobs {
        let Some(logs_of) = &job.logs_of else {
            continue;
        };
        let placeholders = job.placeholders();
        if placeholders.contains(&logs_of.value.as_str()) {
            continue;
        }
        let list = crate::hint::list_or_none(placeholders.iter().map(|p| format!("`{p}`")));
        diags.push(
            Diagnostic::error(
                format!(
                    "`logs_of = \"{}\"` in job `{n}.{}` names no parameter of its `run_args_template`",
                    logs_of.value, job.name.value
                ),
                logs_of.span.clone(),
            )
            .help(format!("name the `{{placeholder}}` that holds the log folder; the job's are: {list}")),
        );
    }
}

/// Each variable once across `env` and `secret_env`.
fn check_env(ns: &Namespace, diags: &mut Vec<Diagnostic>) {
    let n = &ns.name.value;
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let lists = [("env", &ns.env), ("secret_env", &ns.secret_env)];
    for (list, names) in lists {
        for name in names.iter() {
            if let Some(first) = seen.insert(&name.value, list) {
                diags.push(
                    Diagnostic::error(
                        format!("`{}` is named twice in `[{n}]` (in `{first}` and `{list}`)", name.value),
                        name.span.clone(),
                    )
                    .help("name each variable once: in `secret_env` if its value must be masked in posts, else in `env`"),
                );
            }
        }
    }
}

/// Warnings: a namespace that hands one of the bot's own secrets to its jobs.
pub fn secret_warnings(config: &ConfigModel) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for ns in &config.namespaces {
        for name in ns.env.iter().chain(&ns.secret_env) {
            if BOT_SECRETS.contains(&name.value.as_str()) {
                out.push(
                    Diagnostic::warning(
                        format!("jobs of `{}` will see the bot's own secret `{}`", ns.name.value, name.value),
                        name.span.clone(),
                    )
                    .help("anyone who may run these jobs or read their logs can then act as the bot; give the jobs a credential of their own instead"),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(text: &str) -> ConfigModel {
        let mut diags = Vec::new();
        let config = crate::parse::parse_config(text, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        config
    }

    #[test]
    fn handing_a_bot_secret_to_jobs_is_warned_about_where_it_is_named() {
        let text =
            "[d]\nenv = [\"DEPLOY_HOST\", \"SLACK_BOT_TOKEN\"]\nsecret_env = [\"DATABASE_URL\"]\n";
        let warnings = secret_warnings(&compiled(text));
        let named: Vec<(&str, &str)> = warnings
            .iter()
            .map(|w| (w.message.as_str(), &text[w.span.clone().unwrap()]))
            .collect();
        assert_eq!(
            named,
            [
                (
                    "jobs of `d` will see the bot's own secret `SLACK_BOT_TOKEN`",
                    "\"SLACK_BOT_TOKEN\""
                ),
                (
                    "jobs of `d` will see the bot's own secret `DATABASE_URL`",
                    "\"DATABASE_URL\""
                ),
            ]
        );
        assert!(secret_warnings(&compiled("[d]\nenv = [\"DEPLOY_HOST\"]\n")).is_empty());
    }
}
