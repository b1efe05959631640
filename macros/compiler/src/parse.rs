//! Reads the TOML document into the model, collecting every problem instead of stopping at the
//! first (serde's `deny_unknown_fields` would stop at one).

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::model::*;
use crate::source::{closest, Diagnostic};
use crate::template::parse_template;

/// Names that cannot be namespaces: the bot's built-in words and the `[[support]]` rules.
pub const RESERVED_NAMESPACES: [&str; 4] = ["help", "status", "remove", "support"];

const NAMESPACE_KEYS: &[&str] = &[
    "description",
    "restricted",
    "fabfile",
    "default_channel",
    "jobs",
    "slack",
    "github",
];
const JOB_KEYS: &[&str] = &[
    "run_args_template",
    "report_stdout",
    "report_success",
    "report_format",
    "call_tech_support_on_error",
    "suppress_empty",
    "timeout_seconds",
];
const SLACK_KEYS: &[&str] = &[
    "command",
    "help",
    "action",
    "job_type",
    "delay_seconds",
    "examples",
];
const GITHUB_KEYS: &[&str] = &[
    "event",
    "action",
    "merged",
    "base_branch",
    "job_type",
    "delay_seconds",
];
const SUPPORT_KEYS: &[&str] = &[
    "name",
    "keywords",
    "channel_env",
    "reaction",
    "out_of_office_file",
];

/// Parses `text` into a model; problems are pushed to `diags`. Parts with errors are left out.
pub fn parse_config(text: &str, diags: &mut Vec<Diagnostic>) -> Config {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            diags.push(
                Diagnostic::error(format!("TOML syntax error: {}", e.message().trim()), span)
                    .help("fix the TOML syntax; see https://toml.io"),
            );
        }
        return Config::default();
    }
    let mut config = Config::default();
    for (key, value) in doc.get_ref() {
        let name = key.get_ref().as_ref();
        if name == "support" {
            if let DeValue::Table(_) = value.get_ref() {
                // `[support]` is either a namespace with a reserved name or a support rule
                // written with one pair of brackets; say both rather than "not an array".
                diags.push(
                    Diagnostic::error("`[support]` cannot be a namespace: `support` is reserved for the `[[support]]` rules", key.span())
                        .help("rename the namespace, e.g. `[support-jobs]`; a support rule is written `[[support]]` (two brackets) with `name`, `keywords`, `channel_env` and `reaction`"),
                );
                continue;
            }
            if let Some(items) = array_of_tables(key, value, "support", diags) {
                for (table, span) in items {
                    if let Some(rule) = read_support(table, span, diags) {
                        config.support.push(rule);
                    }
                }
            }
            continue;
        }
        let DeValue::Table(table) = value.get_ref() else {
            diags.push(
                Diagnostic::error(
                    format!("top-level key `{name}` is not a namespace table"),
                    key.span(),
                )
                .help(format!("declare a namespace as a table: `[{name}]`")),
            );
            continue;
        };
        let ns_span = key.span();
        let mut ok = true;
        if name.contains('_') {
            diags.push(
                Diagnostic::error(format!("namespace `{name}` contains `_`"), ns_span.clone())
                    .help(format!(
                    "job types are `<namespace>_<job>`, so namespaces cannot contain `_`; try `{}`",
                    name.replace('_', "-")
                )),
            );
            ok = false;
        } else if !is_namespace_name(name) {
            diags.push(
                Diagnostic::error(
                    format!("namespace `{name}` is not a valid name"),
                    ns_span.clone(),
                )
                .help("use lowercase letters, digits and `-` only"),
            );
            ok = false;
        } else if RESERVED_NAMESPACES.contains(&name) {
            diags.push(
                Diagnostic::error(format!("namespace `{name}` is a reserved name"), ns_span.clone()).help(format!(
                    "`help`, `status`, `remove` and `support` are the bot's own words; rename it, e.g. `{name}-jobs`"
                )),
            );
            ok = false;
        }
        let ns = read_namespace(Sp::new(name.to_string(), ns_span), table, diags);
        if ok {
            config.namespaces.push(ns);
        }
    }
    config
}

fn is_namespace_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

fn is_job_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

fn read_namespace(name: Sp<String>, table: &DeTable<'_>, diags: &mut Vec<Diagnostic>) -> Namespace {
    let ctx = format!("namespace `[{}]`", name.value);
    let mut r = Reader::new(table, name.span.clone(), ctx, NAMESPACE_KEYS, diags);
    let description = r.string("description").map(|s| s.value).unwrap_or_default();
    let restricted = r.bool("restricted").unwrap_or(false);
    let fabfile = r.string("fabfile").map(|s| s.value);
    let default_channel = r
        .string("default_channel")
        .map(|s| s.value)
        .unwrap_or_else(|| "#tech".to_string());
    let jobs_value = r.take("jobs");
    let slack_value = r.take("slack");
    let github_value = r.take("github");
    r.finish();

    let mut ns = Namespace {
        name,
        description,
        restricted,
        fabfile,
        default_channel,
        jobs: Vec::new(),
        broken_jobs: Vec::new(),
        slack: Vec::new(),
        github: Vec::new(),
    };
    let n = ns.name.value.clone();
    if let Some((key, value)) = jobs_value {
        match value.get_ref() {
            DeValue::Table(jobs) => {
                for (job_key, job_value) in jobs {
                    let job_name = job_key.get_ref().as_ref();
                    if !is_job_name(job_name) {
                        diags.push(
                            Diagnostic::error(
                                format!("job name `{job_name}` in `[{n}.jobs]` is not valid"),
                                job_key.span(),
                            )
                            .help("use lowercase letters, digits and `_` only, e.g. `hello_name`"),
                        );
                        continue;
                    }
                    let DeValue::Table(job_table) = job_value.get_ref() else {
                        diags.push(
                            Diagnostic::error(format!("job `{n}.jobs.{job_name}` must be a table"), job_key.span())
                                .help(format!("write it as `[{n}.jobs.{job_name}]` with `run_args_template = \"...\"`")),
                        );
                        continue;
                    };
                    match read_job(
                        &n,
                        Sp::new(job_name.to_string(), job_key.span()),
                        job_table,
                        diags,
                    ) {
                        Some(job) => ns.jobs.push(job),
                        None => ns.broken_jobs.push(job_name.to_string()),
                    }
                }
            }
            _ => diags.push(
                Diagnostic::error(format!("`{n}.jobs` must be a table of jobs"), key.span())
                    .help(format!("declare each job as `[{n}.jobs.<name>]`")),
            ),
        }
    }
    if let Some((key, value)) = slack_value {
        if let Some(items) = array_of_tables(&key, &value, &format!("{n}.slack"), diags) {
            for (table, span) in items {
                if let Some(cmd) = read_slack(&n, table, span, diags) {
                    ns.slack.push(cmd);
                }
            }
        }
    }
    if let Some((key, value)) = github_value {
        if let Some(items) = array_of_tables(&key, &value, &format!("{n}.github"), diags) {
            for (table, span) in items {
                if let Some(rule) = read_github(&n, table, span, diags) {
                    ns.github.push(rule);
                }
            }
        }
    }
    ns
}

fn read_job(
    ns: &str,
    name: Sp<String>,
    table: &DeTable<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Job> {
    let ctx = format!("job `[{ns}.jobs.{}]`", name.value);
    let mut r = Reader::new(table, name.span.clone(), ctx, JOB_KEYS, diags);
    let template = r.required_string(
        "run_args_template",
        "the bash command to run, e.g. `run_args_template = \"./run.sh\"`",
    );
    let report_stdout = r.bool("report_stdout").unwrap_or(false);
    let report_success = r.bool("report_success").unwrap_or(true);
    let report_format = r
        .choice("report_format", &ReportFormat::NAMES)
        .map(|s| ReportFormat::from_name(&s).expect("checked by choice"));
    let call_tech_support_on_error = r.bool("call_tech_support_on_error").unwrap_or(true);
    let suppress_empty = r.bool("suppress_empty").unwrap_or(false);
    let timeout = r.seconds("timeout_seconds", 1);
    r.finish();
    let template = template?;
    let parts = match parse_template(&template.value) {
        Ok(parts) => parts,
        Err(e) => {
            // Point inside the string: skip the opening quote.
            let at = template.span.start + 1 + e.offset;
            diags.push(
                Diagnostic::error(
                    format!(
                        "bad `run_args_template` in job `{ns}.{}`: {}",
                        name.value, e.message
                    ),
                    at..at + 1,
                )
                .help(e.help),
            );
            return None;
        }
    };
    Some(Job {
        name,
        template,
        parts,
        report_stdout,
        report_success,
        report_format: report_format.unwrap_or(ReportFormat::Text),
        call_tech_support_on_error,
        suppress_empty,
        timeout_seconds: timeout,
    })
}

fn read_slack(
    ns: &str,
    table: &DeTable<'_>,
    span: Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<SlackCommand> {
    let ctx = format!("slack command in `[[{ns}.slack]]`");
    let mut r = Reader::new(table, span, ctx, SLACK_KEYS, diags);
    let command = r.required_string(
        "command",
        "the words users type after the namespace, e.g. `command = \"hello [name]\"`",
    );
    let help = r.required_string(
        "help",
        "one line for the namespace help, e.g. `help = \"say hello\"`",
    );
    let action = r.required_choice("action", &Action::NAMES);
    let job_type = r.required_string(
        "job_type",
        "the job (of this namespace) the command acts on, e.g. `job_type = \"hello\"`",
    );
    let delay = r.seconds("delay_seconds", 0);
    let examples = r.string_array("examples");
    r.finish();
    let command = command?;
    let action = Action::from_name(&action?.value)?;
    let normalised = bennettbot_pattern::collapse_whitespace(&command.value);
    Some(SlackCommand {
        command: Sp::new(normalised, command.span),
        help: help?.value,
        action,
        job_type: job_type?,
        delay_seconds: delay.unwrap_or(0),
        examples: examples.unwrap_or_default(),
    })
}

fn read_github(
    ns: &str,
    table: &DeTable<'_>,
    span: Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<GithubRule> {
    let ctx = format!("GitHub rule in `[[{ns}.github]]`");
    let mut r = Reader::new(table, span, ctx, GITHUB_KEYS, diags);
    let event = r.required_string(
        "event",
        "the `X-GitHub-Event` to act on, e.g. `event = \"pull_request\"`",
    );
    let action = r.string("action").map(|s| s.value);
    let merged = r.bool_spanned("merged");
    let base_branch = r.string("base_branch").map(|s| s.value);
    let job_type = r.required_string(
        "job_type",
        "the job (of this namespace) to schedule, e.g. `job_type = \"deploy\"`",
    );
    let delay = r.seconds("delay_seconds", 0);
    r.finish();
    let rule = GithubRule {
        event: event?,
        action,
        merged,
        base_branch,
        job_type: job_type?,
        delay_seconds: delay.unwrap_or(0),
    };
    Some(rule)
}

fn read_support(
    table: &DeTable<'_>,
    span: Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<SupportRule> {
    let mut r = Reader::new(
        table,
        span,
        "support rule in `[[support]]`".into(),
        SUPPORT_KEYS,
        diags,
    );
    let name = r.required_string("name", "who is called, e.g. `name = \"tech-support\"`");
    let keywords = r.string_array("keywords");
    let channel_env = r.required_string("channel_env", "the env var naming the support channel, e.g. `channel_env = \"SLACK_TECH_SUPPORT_CHANNEL\"`");
    let reaction = r.required_string(
        "reaction",
        "the emoji to react with, e.g. `reaction = \"sos\"`",
    );
    let ooo = r.string("out_of_office_file").map(|s| s.value);
    let table_span = r.span.clone();
    r.finish();
    let name = name?;
    let keywords = match keywords {
        Some(k) if !k.is_empty() => k,
        _ => {
            diags.push(
                Diagnostic::error(
                    format!("support rule `{}` has no `keywords`", name.value),
                    table_span,
                )
                .help("list the words that call it, e.g. `keywords = [\"tech-support\"]`"),
            );
            return None;
        }
    };
    let channel_env = channel_env?;
    if !channel_env
        .value
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        diags.push(
            Diagnostic::error(
                format!(
                    "`channel_env = \"{}\"` is not an environment variable name",
                    channel_env.value
                ),
                channel_env.span.clone(),
            )
            .help("use uppercase letters, digits and `_`, e.g. `SLACK_TECH_SUPPORT_CHANNEL`"),
        );
        return None;
    }
    Some(SupportRule {
        name,
        keywords,
        channel_env,
        reaction: reaction?.value,
        out_of_office_file: ooo,
    })
}

/// Checks that `value` is an array of tables (`[[key]]`) and returns them with their spans.
fn array_of_tables<'a, 'i>(
    key: &Spanned<toml::de::DeString<'i>>,
    value: &'a Spanned<DeValue<'i>>,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(&'a DeTable<'i>, Range<usize>)>> {
    let wrong = || {
        Diagnostic::error(format!("`{what}` must be an array of tables"), key.span())
            .help(format!("write each entry as `[[{what}]]`"))
    };
    let DeValue::Array(items) = value.get_ref() else {
        diags.push(wrong());
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        match item.get_ref() {
            DeValue::Table(t) => out.push((t, item.span())),
            _ => {
                diags.push(wrong());
                return None;
            }
        }
    }
    Some(out)
}

/// Reads typed keys from one table and reports wrong types, missing and unknown keys.
struct Reader<'a, 'i> {
    table: &'a DeTable<'i>,
    span: Range<usize>,
    ctx: String,
    allowed: &'static [&'static str],
    diags: &'a mut Vec<Diagnostic>,
}

impl<'a, 'i> Reader<'a, 'i> {
    fn new(
        table: &'a DeTable<'i>,
        span: Range<usize>,
        ctx: String,
        allowed: &'static [&'static str],
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Reader {
            table,
            span,
            ctx,
            allowed,
            diags,
        }
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn get(
        &self,
        key: &str,
    ) -> Option<(
        &'a Spanned<toml::de::DeString<'i>>,
        &'a Spanned<DeValue<'i>>,
    )> {
        self.table.get_key_value(key)
    }

    fn take(
        &mut self,
        key: &str,
    ) -> Option<(Spanned<toml::de::DeString<'i>>, Spanned<DeValue<'i>>)> {
        self.get(key).map(|(k, v)| (k.clone(), v.clone()))
    }

    fn type_error(&mut self, key: &str, expected: &str, span: Range<usize>) {
        let d = Diagnostic::error(format!("`{key}` in {} must be {expected}", self.ctx), span)
            .help(format!("write e.g. `{key} = {}`", example_of(expected)));
        self.push(d);
    }

    fn string(&mut self, key: &str) -> Option<Sp<String>> {
        let (_, v) = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Sp::new(s.to_string(), v.span())),
            _ => {
                self.type_error(key, "a string", v.span());
                None
            }
        }
    }

    fn required_string(&mut self, key: &str, what: &str) -> Option<Sp<String>> {
        if self.get(key).is_none() {
            let d = Diagnostic::error(
                format!("missing key `{key}` in {}", self.ctx),
                self.span.clone(),
            )
            .help(format!("add `{key}`: {what}"));
            self.push(d);
            return None;
        }
        self.string(key)
    }

    fn choice(&mut self, key: &str, choices: &[&str]) -> Option<String> {
        let s = self.string(key)?;
        if choices.contains(&s.value.as_str()) {
            return Some(s.value);
        }
        let mut help = format!(
            "use one of {}",
            choices
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(c) = closest(&s.value, choices.iter().copied()) {
            help = format!("did you mean `{c}`? {help}");
        }
        let d = Diagnostic::error(
            format!("`{key} = \"{}\"` in {} is not valid", s.value, self.ctx),
            s.span,
        )
        .help(help);
        self.push(d);
        None
    }

    fn required_choice(&mut self, key: &str, choices: &[&str]) -> Option<Sp<String>> {
        if self.get(key).is_none() {
            let list = choices
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let d = Diagnostic::error(
                format!("missing key `{key}` in {}", self.ctx),
                self.span.clone(),
            )
            .help(format!("add `{key}`, one of {list}"));
            self.push(d);
            return None;
        }
        let span = self.get(key).map(|(_, v)| v.span()).unwrap_or_default();
        self.choice(key, choices).map(|v| Sp::new(v, span))
    }

    fn bool(&mut self, key: &str) -> Option<bool> {
        self.bool_spanned(key).map(|b| b.value)
    }

    fn bool_spanned(&mut self, key: &str) -> Option<Sp<bool>> {
        let (_, v) = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Sp::new(*b, v.span())),
            _ => {
                self.type_error(key, "`true` or `false`", v.span());
                None
            }
        }
    }

    /// A whole number of seconds, at least `min`.
    fn seconds(&mut self, key: &str, min: u64) -> Option<u64> {
        let (_, v) = self.get(key)?;
        let span = v.span();
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => {
                let digits = i.as_str().replace('_', "");
                let digits = digits
                    .trim_start_matches("0x")
                    .trim_start_matches("0o")
                    .trim_start_matches("0b");
                i64::from_str_radix(digits, i.radix()).ok()
            }
            _ => None,
        };
        match parsed {
            Some(n) if n >= min as i64 => Some(n as u64),
            _ => {
                let what = if min == 0 {
                    "a whole number of seconds, 0 or more"
                } else {
                    "a whole number of seconds, 1 or more"
                };
                let shown = match v.get_ref() {
                    DeValue::Integer(i) => i.as_str().to_string(),
                    DeValue::Float(f) => f.as_str().to_string(),
                    DeValue::String(s) => format!("\"{s}\""),
                    _ => "this value".to_string(),
                };
                let example = if min == 0 { 60 } else { 3600 };
                let help = match v.get_ref() {
                    DeValue::String(s)
                        if s.trim().parse::<i64>().is_ok_and(|n| n >= min as i64) =>
                    {
                        format!("a number is written without quotes: `{key} = {}`", s.trim())
                    }
                    DeValue::Float(_) => {
                        format!("seconds are whole numbers: write e.g. `{key} = {example}`")
                    }
                    DeValue::Integer(i) if min == 0 && i.as_str().starts_with('-') => {
                        format!("a delay cannot be negative: write `{key} = 0` to start at once, or e.g. `{key} = {example}`")
                    }
                    DeValue::Integer(i) if i.as_str().parse::<i64>().is_ok() => {
                        format!("a job needs at least {min} second to run: write e.g. `{key} = {example}`, or leave `{key}` out")
                    }
                    _ => format!("write e.g. `{key} = {example}`"),
                };
                let d = Diagnostic::error(
                    format!("`{key} = {shown}` in {} must be {what}", self.ctx),
                    span,
                )
                .help(help);
                self.push(d);
                None
            }
        }
    }

    fn string_array(&mut self, key: &str) -> Option<Vec<Sp<String>>> {
        let (_, v) = self.get(key)?;
        let DeValue::Array(items) = v.get_ref() else {
            self.type_error(key, "an array of strings", v.span());
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item.get_ref() {
                DeValue::String(s) => out.push(Sp::new(s.to_string(), item.span())),
                _ => {
                    self.type_error(key, "an array of strings", item.span());
                    return None;
                }
            }
        }
        Some(out)
    }

    /// Reports unknown keys.
    fn finish(self) {
        for (key, _) in self.table {
            let name = key.get_ref().as_ref();
            if self.allowed.contains(&name) {
                continue;
            }
            let allowed = self
                .allowed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let help = match closest(name, self.allowed.iter().copied()) {
                Some(c) => format!("did you mean `{c}`? Allowed keys: {allowed}"),
                None => format!("remove it; allowed keys: {allowed}"),
            };
            self.diags.push(
                Diagnostic::error(format!("unknown key `{name}` in {}", self.ctx), key.span())
                    .help(help),
            );
        }
    }
}

fn example_of(expected: &str) -> &'static str {
    match expected {
        "a string" => "\"...\"",
        "`true` or `false`" => "true",
        _ => "[\"...\"]",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    /// Each diagnostic as `(line, message)`, in the order found.
    fn located(text: &str) -> Vec<(usize, String)> {
        let mut diags = Vec::new();
        parse_config(text, &mut diags);
        let source = Source {
            display_path: "t.toml".into(),
            text: text.into(),
        };
        diags
            .iter()
            .map(|d| {
                (
                    source.line_col(d.span.clone().unwrap().start).line,
                    d.message.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn missing_key_in_an_array_table_points_at_that_entry() {
        let text = "\
[t.jobs.a]
run_args_template = \"x\"

[[t.slack]]
command = \"a\"
help = \"x\"
action = \"schedule_job\"
job_type = \"a\"

[[t.slack]]
command = \"b\"
action = \"schedule_job\"
job_type = \"a\"
";
        let got = located(text);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].1.contains("missing key `help`"), "{got:?}");
        // Line 10 is the second `[[t.slack]]` header, not the first entry nor the namespace.
        assert_eq!(got[0].0, 10, "{got:?}");
    }

    #[test]
    fn missing_keys_of_jobs_and_rules_point_at_their_headers() {
        let text = "\
[[support]]
name = \"s\"
keywords = [\"s\"]
channel_env = \"S\"

[t.jobs.a]
report_stdout = true

[[t.github]]
event = \"push\"
";
        let got = located(text);
        let lines: Vec<usize> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[0].1.contains("missing key `reaction` in support rule"),
            "{got:?}"
        );
        assert!(
            got[1]
                .1
                .contains("missing key `run_args_template` in job `[t.jobs.a]`"),
            "{got:?}"
        );
        assert!(
            got[2].1.contains("missing key `job_type` in GitHub rule"),
            "{got:?}"
        );
        assert_eq!(lines, vec![1, 6, 9]);
    }

    #[test]
    fn support_as_a_table_says_it_is_reserved() {
        let got = located("[support]\ndescription = \"x\"\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, 1);
        assert!(got[0].1.contains("`support` is reserved"), "{got:?}");
    }

    fn help_of(text: &str) -> String {
        let mut diags = Vec::new();
        parse_config(text, &mut diags);
        assert_eq!(diags.len(), 1, "{diags:?}");
        diags[0].help.clone().unwrap_or_default()
    }

    #[test]
    fn seconds_say_how_to_fix_each_kind_of_value() {
        let job = |value: &str| {
            format!("[t.jobs.a]\nrun_args_template = \"x\"\ntimeout_seconds = {value}\n")
        };
        assert_eq!(
            help_of(&job("\"60\"")),
            "a number is written without quotes: `timeout_seconds = 60`"
        );
        assert!(help_of(&job("1.5")).starts_with("seconds are whole numbers"));
        assert!(help_of(&job("0")).starts_with("a job needs at least 1 second"));
        assert_eq!(
            help_of(&job("\"1h\"")),
            "write e.g. `timeout_seconds = 3600`"
        );
        // A quoted number that would still be out of range gets the general hint, not "remove
        // the quotes" (which would only lead to the next error).
        assert_eq!(
            help_of(&job("\"0\"")),
            "write e.g. `timeout_seconds = 3600`"
        );
        let delay = "[[t.slack]]\ncommand = \"a\"\nhelp = \"a\"\naction = \"cancel_job\"\njob_type = \"a\"\ndelay_seconds = -5\n";
        assert!(
            help_of(delay).starts_with("a delay cannot be negative"),
            "{}",
            help_of(delay)
        );
    }

    #[test]
    fn template_errors_point_inside_the_string_and_say_how_to_fix() {
        let text = "[t.jobs.a]\nrun_args_template = \"echo {name\"\n";
        let mut diags = Vec::new();
        parse_config(text, &mut diags);
        assert_eq!(diags.len(), 1, "{diags:?}");
        let span = diags[0].span.clone().unwrap();
        assert_eq!(&text[span], "{");
        assert!(
            diags[0].help.as_deref().unwrap_or("").contains("`{{`"),
            "{diags:?}"
        );
    }
}
