//! Checks the meaning of a parsed config: references, parameters, ambiguity, examples.

use std::collections::BTreeSet;

use bennettbot_pattern::{match_segments, param_names, parse_pattern, Segment};
use bennettbot_spec::Action;

use crate::automaton::{relate, Nfa, Relation};
use crate::hint::{list_or_none, unknown_job_help};
use crate::model::*;
use crate::source::Diagnostic;

/// A namespace's commands in the order the matcher must try them (more specific first).
pub type MatchOrder = Vec<usize>;

/// Validates `config`, pushing problems to `diags`; returns each namespace's match order.
pub fn validate(config: &ConfigModel, diags: &mut Vec<Diagnostic>) -> Vec<MatchOrder> {
    let mut orders = Vec::new();
    for ns in &config.namespaces {
        for cmd in &ns.slack {
            check_command(config, ns, cmd, diags);
        }
        for rule in &ns.github {
            check_github(ns, rule, diags);
        }
        for schedule in &ns.schedules {
            crate::schedule::check_schedule(ns, schedule, diags);
        }
        crate::schedule::check_repeats(ns, diags);
        let order = match_order(ns, diags);
        check_examples(ns, &order, diags);
        orders.push(order);
    }
    check_support(config, diags);
    crate::rules::check_rules(config, diags);
    orders
}

fn full_pattern(ns: &str, command: &str) -> String {
    format!("{ns} {command}")
}

/// Checks one Slack command: its pattern and parameters, that it leaves `<ns> help` alone, its
/// job, and that its parameters fit its action.
fn check_command(
    config: &ConfigModel,
    ns: &Namespace,
    cmd: &SlackCommand,
    diags: &mut Vec<Diagnostic>,
) {
    let n = &ns.name.value;
    let c = &cmd.command.value;
    let span = cmd.command.span.clone();
    let segments = match parse_pattern(c) {
        Ok(s) => s,
        Err(e) => {
            diags.push(
                Diagnostic::error(format!("bad command `{c}` in `[[{n}.slack]]`: {e}"), span)
                    .help("write literal words and `[param]`s, e.g. `command = \"hello [name]\"`"),
            );
            return;
        }
    };
    let params = param_names(&segments);
    check_param_names(n, cmd, &params, diags);
    check_help_collision(n, cmd, diags);
    let Some(job) = command_job(config, ns, cmd, diags) else {
        return;
    };
    check_params_fit_action(n, cmd, job, &params, diags);
}

/// Each parameter once, and none named like a Rust path keyword (they become field names).
fn check_param_names(n: &str, cmd: &SlackCommand, params: &[&str], diags: &mut Vec<Diagnostic>) {
    let c = &cmd.command.value;
    let span = &cmd.command.span;
    let mut seen = BTreeSet::new();
    for p in params {
        if !seen.insert(*p) {
            diags.push(
                Diagnostic::error(
                    format!("command `{n} {c}` has the parameter `[{p}]` twice"),
                    span.clone(),
                )
                .help(format!(
                    "give each parameter its own name, e.g. `[{p}]` and `[{p}_2]`"
                )),
            );
        }
        if matches!(*p, "self" | "super" | "crate") {
            diags.push(
                Diagnostic::error(
                    format!("parameter `[{p}]` of command `{n} {c}` is a reserved word"),
                    span.clone(),
                )
                .help(format!("rename it, e.g. `[{p}_name]`")),
            );
        }
    }
}

/// The built-in `<ns> help` is matched after compiled commands, so a command must not swallow it.
fn check_help_collision(n: &str, cmd: &SlackCommand, diags: &mut Vec<Diagnostic>) {
    let full = full_pattern(n, &cmd.command.value);
    let full_segments = parse_pattern(&full).expect("a valid command stays valid with a prefix");
    let help_text = format!("{n} help");
    if match_segments(&full_segments, &help_text).is_some() {
        diags.push(
            Diagnostic::error(format!("command `{full}` collides with the built-in `{help_text}`"), cmd.command.span.clone())
                .help("start the command with a literal word other than `help`, e.g. `command = \"show [name]\"`"),
        );
    }
}

/// The job the command acts on; reports a `job_type` that names no job of the namespace
/// (pointing at other namespaces that have one), unless the job is declared with errors of its
/// own, which are already reported.
fn command_job<'a>(
    config: &ConfigModel,
    ns: &'a Namespace,
    cmd: &SlackCommand,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'a Job> {
    let n = &ns.name.value;
    let job_type = &cmd.job_type.value;
    if let Some(job) = ns.job(job_type) {
        return Some(job);
    }
    if ns.broken_jobs.contains(job_type) {
        return None;
    }
    let mut help = unknown_job_help(ns, job_type);
    if ns.jobs.is_empty() {
        help = format!("declare it as `[{n}.jobs.{job_type}]` with a `run_args_template`");
    }
    let elsewhere: Vec<String> = config
        .namespaces
        .iter()
        .filter(|other| other.name.value != *n && other.job(job_type).is_some())
        .map(|other| format!("`{}`", other.name.value))
        .collect();
    if !elsewhere.is_empty() {
        help = format!(
            "`{job_type}` is a job of {}, but a command can only act on jobs of its own namespace; declare `[{n}.jobs.{job_type}]`, or move the command. {help}",
            elsewhere.join(", "),
        );
    }
    diags.push(
        Diagnostic::error(
            format!("`job_type = \"{job_type}\"` is not a job of namespace `{n}`"),
            cmd.job_type.span.clone(),
        )
        .help(help),
    );
    None
}

/// The parameters each action takes: `schedule_job` exactly the job's placeholders,
/// `schedule_suppression` `[start_at]` and `[end_at]`, the cancels none.
fn check_params_fit_action(
    n: &str,
    cmd: &SlackCommand,
    job: &Job,
    params: &[&str],
    diags: &mut Vec<Diagnostic>,
) {
    let c = &cmd.command.value;
    let span = &cmd.command.span;
    let full = full_pattern(n, c);
    let job_name = &job.name.value;
    match cmd.action {
        Action::ScheduleJob => {
            let placeholders = job.placeholders();
            for p in params {
                if !placeholders.contains(p) {
                    diags.push(
                        Diagnostic::error(
                            format!("parameter `[{p}]` of command `{full}` is not used by job `{n}.{job_name}`"),
                            span.clone(),
                        )
                        .help(format!(
                            "add `{{{p}}}` to the job's `run_args_template`, or remove `[{p}]` from the command (the template uses {})",
                            list_or_none(placeholders.iter().map(|p| format!("`{{{p}}}`")))
                        )),
                    );
                }
            }
            for p in &placeholders {
                if !params.contains(p) {
                    diags.push(
                        Diagnostic::error(
                            format!("placeholder `{{{p}}}` of job `{n}.{job_name}` has no parameter in command `{full}`"),
                            job.template.span.clone(),
                        )
                        .help(format!("add `[{p}]` to the command `{c}`, or remove `{{{p}}}` from the template")),
                    );
                }
            }
        }
        Action::ScheduleSuppression => {
            let got: BTreeSet<&str> = params.iter().copied().collect();
            if got != BTreeSet::from(["start_at", "end_at"]) || params.len() != 2 {
                diags.push(
                    Diagnostic::error(
                        format!("`schedule_suppression` command `{full}` must have exactly the parameters `[start_at]` and `[end_at]`"),
                        span.clone(),
                    )
                    .help(format!("write e.g. `command = \"suppress from [start_at] to [end_at]\"` (it has {})", list_or_none(params.iter().map(|p| format!("`[{p}]`"))))),
                );
            }
        }
        Action::CancelJob | Action::CancelSuppression => {
            if !params.is_empty() {
                diags.push(
                    Diagnostic::error(
                        format!(
                            "`{}` command `{full}` cannot have parameters",
                            cmd.action.name()
                        ),
                        span.clone(),
                    )
                    .help(format!(
                        "it acts on every pending `{n}_{job_name}`; remove {}",
                        list_or_none(params.iter().map(|p| format!("`[{p}]`")))
                    )),
                );
            }
        }
    }
}

/// Orders the namespace's commands so that a strictly more specific command is tried before a
/// more general one; reports commands that could match the same text otherwise.
fn match_order(ns: &Namespace, diags: &mut Vec<Diagnostic>) -> MatchOrder {
    let n = &ns.name.value;
    let patterns: Vec<Option<(String, Nfa)>> = ns
        .slack
        .iter()
        .map(|cmd| {
            let full = full_pattern(n, &cmd.command.value);
            let nfa = parse_pattern(&full).ok().map(|s| Nfa::new(&s))?;
            Some((full, nfa))
        })
        .collect();
    let count = ns.slack.len();
    // before[i] lists the commands that must be tried before command i.
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); count];
    for i in 0..count {
        for j in i + 1..count {
            let (Some((pi, ni)), Some((pj, nj))) = (&patterns[i], &patterns[j]) else {
                continue;
            };
            match relate(ni, nj) {
                Relation::Disjoint => {}
                Relation::FirstMoreSpecific => before[j].push(i),
                Relation::SecondMoreSpecific => before[i].push(j),
                Relation::Same { witness } => diags.push(
                    Diagnostic::error(
                        format!("commands `{pi}` and `{pj}` match exactly the same messages (e.g. `{witness}`)"),
                        ns.slack[j].command.span.clone(),
                    )
                    .help("remove one of them, or add a literal word that tells them apart"),
                ),
                Relation::Ambiguous { witness } => diags.push(
                    Diagnostic::error(
                        format!("commands `{pi}` and `{pj}` are ambiguous: `{witness}` matches both"),
                        ns.slack[j].command.span.clone(),
                    )
                    .help("make one strictly more specific (e.g. a literal word instead of a parameter), or add a literal word that tells them apart"),
                ),
            }
        }
    }
    // Kahn's algorithm, taking the earliest ready command so file order breaks ties.
    let mut order = Vec::with_capacity(count);
    let mut done = vec![false; count];
    while order.len() < count {
        let next = (0..count).find(|&i| !done[i] && before[i].iter().all(|&b| done[b]));
        let Some(i) = next else {
            // Only reachable if specificity were cyclic, which strict subsets cannot be.
            order.extend((0..count).filter(|&i| !done[i]));
            break;
        };
        done[i] = true;
        order.push(i);
    }
    order
}

/// Parses `text` the way the generated matcher will, within one namespace.
pub fn parse_in_namespace(ns: &Namespace, order: &[usize], text: &str) -> Option<usize> {
    let n = &ns.name.value;
    order.iter().copied().find(|&i| {
        let full = full_pattern(n, &ns.slack[i].command.value);
        parse_pattern(&full)
            .map(|s: Vec<Segment<'_>>| match_segments(&s, text).is_some())
            .unwrap_or(false)
    })
}

fn check_examples(ns: &Namespace, order: &[usize], diags: &mut Vec<Diagnostic>) {
    let n = &ns.name.value;
    for (i, cmd) in ns.slack.iter().enumerate() {
        let full = full_pattern(n, &cmd.command.value);
        for example in &cmd.examples {
            let text = bennettbot_pattern::collapse_whitespace(&example.value);
            let starts_here = text.split(' ').next() == Some(n.as_str());
            let parsed = if starts_here {
                parse_in_namespace(ns, order, &text)
            } else {
                None
            };
            match parsed {
                Some(j) if j == i => {}
                Some(j) => diags.push(
                    Diagnostic::error(
                        format!(
                            "example `{}` of command `{full}` parses as `{n} {}` instead",
                            example.value, ns.slack[j].command.value
                        ),
                        example.span.clone(),
                    )
                    .help("change the example, or make the commands tell it apart"),
                ),
                None => diags.push(
                    Diagnostic::error(
                        format!(
                            "example `{}` does not parse as command `{full}` (nor any other)",
                            example.value
                        ),
                        example.span.clone(),
                    )
                    .help(format!(
                        "an example is the whole message, starting with the namespace, e.g. `{}`",
                        example_for(&full)
                    )),
                ),
            }
        }
    }
}

fn example_for(full: &str) -> String {
    let Ok(segments) = parse_pattern(full) else {
        return full.to_string();
    };
    let values: Vec<String> = param_names(&segments)
        .iter()
        .map(|p| p.to_uppercase())
        .collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    bennettbot_pattern::render(&segments, &refs)
}

fn check_github(ns: &Namespace, rule: &GithubRule, diags: &mut Vec<Diagnostic>) {
    let n = &ns.name.value;
    if let Some(merged) = &rule.merged {
        if rule.event.value != "pull_request" {
            diags.push(
                Diagnostic::error(
                    format!(
                        "`merged` only applies to `pull_request` events, not `{}`",
                        rule.event.value
                    ),
                    merged.span.clone(),
                )
                .help("remove `merged`, or set `event = \"pull_request\"`"),
            );
        }
    }
    let Some(job) = ns.job(&rule.job_type.value) else {
        if ns.broken_jobs.contains(&rule.job_type.value) {
            return;
        }
        diags.push(
            Diagnostic::error(
                format!(
                    "`job_type = \"{}\"` in `[[{n}.github]]` is not a job of namespace `{n}`",
                    rule.job_type.value
                ),
                rule.job_type.span.clone(),
            )
            .help(unknown_job_help(ns, &rule.job_type.value)),
        );
        return;
    };
    let placeholders = job.placeholders();
    if !placeholders.is_empty() {
        diags.push(
            Diagnostic::error(
                format!("job `{n}.{}` started by a GitHub rule cannot have parameters, but its template uses {}", job.name.value, list_or_none(placeholders.iter().map(|p| format!("`{{{p}}}`")))),
                rule.job_type.span.clone(),
            )
            .help("webhooks carry no parameters: point the rule at a job whose `run_args_template` has no `{placeholders}`"),
        );
    }
}

fn check_support(config: &ConfigModel, diags: &mut Vec<Diagnostic>) {
    let mut names = BTreeSet::new();
    let mut keywords = BTreeSet::new();
    for rule in &config.support {
        if !names.insert(rule.name.value.clone()) {
            diags.push(
                Diagnostic::error(
                    format!("support rule `{}` is declared twice", rule.name.value),
                    rule.name.span.clone(),
                )
                .help("remove one of them"),
            );
        }
        for k in &rule.keywords {
            let lower = k.value.to_lowercase();
            let valid = !lower.is_empty()
                && lower
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
            if !valid {
                diags.push(
                    Diagnostic::error(
                        format!("support keyword `{}` must be one word", k.value),
                        k.span.clone(),
                    )
                    .help("use letters, digits, `-` and `_` only, e.g. `tech-support`"),
                );
            } else if !keywords.insert(lower) {
                diags.push(
                    Diagnostic::error(
                        format!("support keyword `{}` is used twice", k.value),
                        k.span.clone(),
                    )
                    .help("each keyword calls one rule; remove the repeat"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_config;

    fn errors(toml: &str) -> Vec<String> {
        let mut diags = Vec::new();
        let config = parse_config(toml, &mut diags);
        validate(&config, &mut diags);
        diags.into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn more_specific_wins_whatever_the_order() {
        let toml = r#"
[t.jobs.deploy]
run_args_template = "deploy {env}"
[t.jobs.now]
run_args_template = "deploy-now"
[[t.slack]]
command = "deploy [env]"
help = "x"
action = "schedule_job"
job_type = "deploy"
examples = ["t deploy prod"]
[[t.slack]]
command = "deploy now"
help = "x"
action = "schedule_job"
job_type = "now"
examples = ["t deploy now"]
"#;
        let mut diags = Vec::new();
        let config = parse_config(toml, &mut diags);
        let orders = validate(&config, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(orders, vec![vec![1, 0]]);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let toml = r#"
[t.jobs.hello]
run_args_template = "echo {name}"
[[t.slack]]
command = "hello [who]"
help = "x"
action = "schedule_job"
job_type = "hello"
[[t.slack]]
command = "stop [x]"
help = "x"
action = "cancel_job"
job_type = "helo"
"#;
        let errs = errors(toml);
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(errs[0].contains("parameter `[who]`"));
        assert!(errs[1].contains("placeholder `{name}`"));
        assert!(errs[2].contains("`job_type = \"helo\"`"));
    }

    fn helps(toml: &str) -> Vec<(String, String)> {
        let mut diags = Vec::new();
        let config = parse_config(toml, &mut diags);
        validate(&config, &mut diags);
        diags
            .into_iter()
            .map(|d| (d.message, d.help.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_job_with_errors_is_not_also_reported_as_unknown() {
        // The template error is the only problem: the command and the GitHub rule name a job
        // that exists, so "not a job of namespace" would send the user the wrong way.
        let toml = r#"
[t.jobs.hello]
run_args_template = "echo {name"
[t.jobs.deploy]
report_stdout = true
[[t.slack]]
command = "hello [name]"
help = "x"
action = "schedule_job"
job_type = "hello"
[[t.github]]
event = "push"
job_type = "deploy"
"#;
        let errs = errors(toml);
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].contains("bad `run_args_template`"), "{errs:#?}");
        assert!(
            errs[1].contains("missing key `run_args_template`"),
            "{errs:#?}"
        );
    }

    #[test]
    fn a_job_of_another_namespace_is_named_in_the_help() {
        let toml = r#"
[a.jobs.hello]
run_args_template = "echo hello"
[b.jobs.bye]
run_args_template = "echo bye"
[[b.slack]]
command = "hello"
help = "x"
action = "schedule_job"
job_type = "hello"
[[b.slack]]
command = "bye"
help = "x"
action = "schedule_job"
job_type = "bye"
"#;
        let got = helps(toml);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].1.contains("`hello` is a job of `a`"), "{got:#?}");
        assert!(got[0].1.contains("jobs in `b`: `bye`"), "{got:#?}");
    }

    #[test]
    fn unknown_github_job_suggests_the_nearest() {
        let toml = r#"
[t.jobs.deploy]
run_args_template = "./deploy.sh"
[[t.slack]]
command = "deploy"
help = "x"
action = "schedule_job"
job_type = "deploy"
[[t.github]]
event = "push"
job_type = "deploi"
"#;
        let got = helps(toml);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].1.starts_with("did you mean `deploy`?"), "{got:#?}");
    }

    #[test]
    fn identical_commands_get_a_readable_witness() {
        let toml = r#"
[t.jobs.a]
run_args_template = "echo {x}"
[t.jobs.b]
run_args_template = "echo {y}"
[[t.slack]]
command = "show [x]"
help = "x"
action = "schedule_job"
job_type = "a"
[[t.slack]]
command = "show [y]"
help = "x"
action = "schedule_job"
job_type = "b"
"#;
        let errs = errors(toml);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        // The example message is one a user could type: no doubled or trailing space.
        let witness = errs[0]
            .split("(e.g. `")
            .nth(1)
            .and_then(|w| w.split('`').next())
            .unwrap();
        assert_eq!(
            witness,
            bennettbot_pattern::collapse_whitespace(witness),
            "{errs:#?}"
        );
        assert!(
            witness.starts_with("t show ") && witness.len() > "t show ".len(),
            "{errs:#?}"
        );
    }
}
