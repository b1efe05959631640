//! Reads the TOML document into the model, collecting every problem instead of stopping at the
//! first (serde's `deny_unknown_fields` would stop at one). Each table's keys, defaults and
//! limits come from [`crate::shape`], which the JSON Schema is generated from too.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use bennettbot_spec::{Action, CatchUp, ReportFormat};

use crate::model::*;
use crate::shape::{self, Format, Kind, Need, Table, JOB_NAMES, NAMESPACE_NAMES};
use crate::source::{closest, Diagnostic};
use crate::template::parse_template;

/// Names that cannot be namespaces: the bot's built-in words and the `[[support]]` rules.
pub const RESERVED_NAMESPACES: &[&str] = NAMESPACE_NAMES.reserved;

/// Parses `text` into a model; problems are pushed to `diags`. Parts with errors are left out.
pub fn parse_config(text: &str, diags: &mut Vec<Diagnostic>) -> ConfigModel {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            diags.push(
                Diagnostic::error(format!("TOML syntax error: {}", e.message().trim()), span)
                    .help("fix the TOML syntax; see https://toml.io"),
            );
        }
        return ConfigModel::default();
    }
    let mut config = ConfigModel::default();
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
        } else if !NAMESPACE_NAMES.allows(name) {
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

fn read_namespace(name: Sp<String>, table: &DeTable<'_>, diags: &mut Vec<Diagnostic>) -> Namespace {
    let ctx = format!("namespace `[{}]`", name.value);
    let mut r = Reader::new(table, name.span.clone(), ctx, &shape::NAMESPACE, diags);
    let description = r.string_or_default("description");
    let restricted = r.bool_or_default("restricted");
    let fabfile = r.string("fabfile").map(|s| s.value);
    let default_channel = r.string_or_default("default_channel");
    let allow = r.take("allow");
    let env = r.strings("env").unwrap_or_default();
    let secret_env = r.strings("secret_env").unwrap_or_default();
    let jobs_value = r.take("jobs");
    let slack_value = r.take("slack");
    let github_value = r.take("github");
    let schedule_value = r.take("schedule");
    r.finish();
    let allow = allow
        .and_then(|(k, v)| read_allow(&k, &v, &format!("namespace `[{}]`", name.value), diags));

    let mut ns = Namespace {
        name,
        description,
        restricted,
        fabfile,
        default_channel,
        allow,
        env,
        secret_env,
        jobs: Vec::new(),
        broken_jobs: Vec::new(),
        slack: Vec::new(),
        github: Vec::new(),
        schedules: Vec::new(),
    };
    let n = ns.name.value.clone();
    if let Some((key, value)) = jobs_value {
        match value.get_ref() {
            DeValue::Table(jobs) => {
                for (job_key, job_value) in jobs {
                    let job_name = job_key.get_ref().as_ref();
                    if !JOB_NAMES.allows(job_name) {
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
                    if is_rule_alone(job_table) {
                        diags.push(rule_for_missing_job(&n, job_name, jobs, job_key.span()));
                        ns.broken_jobs.push(job_name.to_string());
                        continue;
                    }
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
        let rule_alone = matches!(value.get_ref(), DeValue::Table(t) if t.contains_key("allow"));
        if rule_alone {
            diags.push(
                Diagnostic::error(format!("`[{n}.slack.allow]` is a rule for a Slack command, but no `[[{n}.slack]]` entry comes before it"), key.span())
                    .help(format!("write the rule right after the `[[{n}.slack]]` entry it narrows, or as `allow = {{ ... }}` inside that entry")),
            );
        } else if let Some(items) = array_of_tables(&key, &value, &format!("{n}.slack"), diags) {
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
    if let Some((key, value)) = schedule_value {
        if let Some(items) = array_of_tables(&key, &value, &format!("{n}.schedule"), diags) {
            for (table, span) in items {
                if let Some(schedule) = read_schedule(&n, table, span, diags) {
                    ns.schedules.push(schedule);
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
    let mut r = Reader::new(table, name.span.clone(), ctx, &shape::JOB, diags);
    let template = r.string("run_args_template");
    let report_stdout = r.bool_or_default("report_stdout");
    let report_success = r.bool_or_default("report_success");
    let report_format = ReportFormat::from_name(&r.choice_or_default("report_format"))
        .expect("the shape's choices are the spec's names");
    let call_tech_support_on_error = r.bool_or_default("call_tech_support_on_error");
    let suppress_empty = r.bool_or_default("suppress_empty");
    let timeout = r.seconds("timeout_seconds");
    let allow = r.take("allow");
    let allow_broadcast = r.bool_or_default("allow_broadcast");
    let logs_of = r.string("logs_of");
    r.finish();
    let allow = allow
        .and_then(|(k, v)| read_allow(&k, &v, &format!("job `[{ns}.jobs.{}]`", name.value), diags));
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
        report_format,
        call_tech_support_on_error,
        suppress_empty,
        timeout_seconds: timeout,
        allow,
        allow_broadcast,
        logs_of,
    })
}

fn read_slack(
    ns: &str,
    table: &DeTable<'_>,
    span: Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<SlackCommand> {
    let ctx = format!("slack command in `[[{ns}.slack]]`");
    let mut r = Reader::new(table, span, ctx, &shape::SLACK, diags);
    let command = r.string("command");
    let help = r.string("help");
    let action = r.choice("action");
    let job_type = r.string("job_type");
    let delay = r.seconds_or_default("delay_seconds");
    let examples = r.strings("examples");
    let allow = r.take("allow");
    r.finish();
    let allow = allow.and_then(|(k, v)| {
        read_allow(&k, &v, &format!("slack command in `[[{ns}.slack]]`"), diags)
    });
    let command = command?;
    let action =
        Action::from_name(&action?.value).expect("the shape's choices are the spec's names");
    let normalised = bennettbot_pattern::collapse_whitespace(&command.value);
    Some(SlackCommand {
        command: Sp::new(normalised, command.span),
        help: help?.value,
        action,
        job_type: job_type?,
        delay_seconds: delay,
        examples: examples.unwrap_or_default(),
        allow,
    })
}

fn read_github(
    ns: &str,
    table: &DeTable<'_>,
    span: Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<GithubRule> {
    let ctx = format!("GitHub rule in `[[{ns}.github]]`");
    let mut r = Reader::new(table, span, ctx, &shape::GITHUB, diags);
    let event = r.string("event");
    let action = r.string("action").map(|s| s.value);
    let merged = r.bool("merged");
    let base_branch = r.string("base_branch").map(|s| s.value);
    let job_type = r.string("job_type");
    let delay = r.seconds_or_default("delay_seconds");
    r.finish();
    let rule = GithubRule {
        event: event?,
        action,
        merged,
        base_branch,
        job_type: job_type?,
        delay_seconds: delay,
    };
    Some(rule)
}

fn read_schedule(
    ns: &str,
    table: &DeTable<'_>,
    span: Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Schedule> {
    let ctx = format!("schedule in `[[{ns}.schedule]]`");
    let mut r = Reader::new(table, span.clone(), ctx, &shape::SCHEDULE, diags);
    let cron = r.string("cron");
    let timezone = r.string_or_default_at("timezone");
    let job_type = r.string("job_type");
    let args = r.string_table("args");
    let channel = r.string("channel").map(|s| s.value);
    let catch_up = CatchUp::from_name(&r.choice_or_default("catch_up"))
        .expect("the shape's choices are the spec's names");
    let bad_args = args.is_none() && table.get("args").is_some();
    r.finish();
    if bad_args {
        // Reported above; checking the job's parameters against nothing would add a second,
        // wrong, "missing args" error.
        return None;
    }
    Some(Schedule {
        span,
        cron: cron?,
        timezone: timezone?,
        job_type: job_type?,
        args,
        channel,
        catch_up,
    })
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
        &shape::SUPPORT,
        diags,
    );
    let name = r.string("name");
    let keywords = r.strings("keywords");
    let channel_env = r.string("channel_env");
    let reaction = r.string("reaction");
    let ooo = r.string("out_of_office_file").map(|s| s.value);
    r.finish();
    Some(SupportRule {
        name: name?,
        keywords: keywords?,
        channel_env: channel_env?,
        reaction: reaction?.value,
        out_of_office_file: ooo,
    })
}

/// Reads a permission rule: `allow` of `owner`. A rule that names nothing is refused, since it
/// would look like a restriction and restrict nothing.
fn read_allow(
    key: &Spanned<toml::de::DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
    owner: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Allow> {
    let DeValue::Table(table) = value.get_ref() else {
        diags.push(
            Diagnostic::error(format!("`allow` in {owner} must be a table"), value.span()).help(
                "write e.g. `allow = { users = [\"U012AB3CD\"] }`, or a `[<...>.allow]` table",
            ),
        );
        return None;
    };
    let ctx = format!("the `allow` rule of {owner}");
    let mut r = Reader::new(table, key.span(), ctx.clone(), &shape::ALLOW, diags);
    let users = r.strings("users");
    let usergroups = r.strings("usergroups");
    let channels = r.strings("channels");
    let guests = r.bool("guests");
    r.finish();
    let bad = |k: &str, read: bool| !read && table.contains_key(k);
    if bad("users", users.is_some())
        || bad("usergroups", usergroups.is_some())
        || bad("channels", channels.is_some())
        || bad("guests", guests.is_some())
    {
        return None;
    }
    let rule = Allow {
        span: key.span(),
        users: users.unwrap_or_default(),
        usergroups: usergroups.unwrap_or_default(),
        channels: channels.unwrap_or_default(),
        guests,
    };
    // A table with only unknown keys has had them reported; "allows everyone" would be noise.
    if table.is_empty() {
        diags.push(
            Diagnostic::error(format!("{ctx} allows everyone: it names no users, user groups, channels or guests"), key.span())
                .help("list who may, e.g. `usergroups = [\"S0614TZR7\"]` or `users = [\"U012AB3CD\"]`, or remove the rule"),
        );
        return None;
    }
    Some(rule)
}

/// A job table that holds nothing but an `allow` rule: a rule for a job not declared (e.g. a
/// misspelt `[deploy.jobs.deplyo.allow]`).
fn is_rule_alone(table: &DeTable<'_>) -> bool {
    table.contains_key("allow") && !table.contains_key("run_args_template")
}

fn rule_for_missing_job(
    n: &str,
    job_name: &str,
    jobs: &DeTable<'_>,
    span: Range<usize>,
) -> Diagnostic {
    let others = jobs
        .iter()
        .map(|(k, _)| k.get_ref().as_ref())
        .filter(|k| *k != job_name);
    let help = match closest(job_name, others) {
        Some(c) => format!("did you mean `[{n}.jobs.{c}.allow]`?"),
        None => format!("declare the job `[{n}.jobs.{job_name}]` with its `run_args_template`, or put the rule on a job that exists"),
    };
    Diagnostic::error(
        format!("`allow` rule for job `{n}.{job_name}`, which is not declared"),
        span,
    )
    .help(help)
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

/// Reads the keys of one table as its [`shape::Table`] describes them (kinds, defaults, limits,
/// choices), and reports wrong types, bad values, missing and unknown keys.
///
/// Asking for a key the shape lacks or as another kind, or not reading a key the shape has, is a
/// bug in the parser: it panics, which any test that reads such a table catches.
struct Reader<'a, 'i> {
    table: &'a DeTable<'i>,
    span: Range<usize>,
    ctx: String,
    shape: &'static Table,
    /// The keys the parser asked for, to check that it reads them all.
    read: Vec<&'static str>,
    diags: &'a mut Vec<Diagnostic>,
}

impl<'a, 'i> Reader<'a, 'i> {
    fn new(
        table: &'a DeTable<'i>,
        span: Range<usize>,
        ctx: String,
        shape: &'static Table,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Reader {
            table,
            span,
            ctx,
            shape,
            read: Vec::new(),
            diags,
        }
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn kind(&mut self, key: &str) -> &'static Kind {
        match self.shape.key(key) {
            Some(k) => {
                self.read.push(k.name);
                &k.kind
            }
            None => panic!("`{key}` is not a key of {} in shape.rs", self.ctx),
        }
    }

    fn wrong_kind(&self, key: &str) -> ! {
        panic!("`{key}` of {} is another kind of key in shape.rs", self.ctx)
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

    /// A table or an array of tables, for the caller to read.
    fn take(
        &mut self,
        key: &str,
    ) -> Option<(Spanned<toml::de::DeString<'i>>, Spanned<DeValue<'i>>)> {
        if !matches!(self.kind(key), Kind::Table(_) | Kind::Tables(_)) {
            self.wrong_kind(key);
        }
        self.get(key).map(|(k, v)| (k.clone(), v.clone()))
    }

    fn type_error(&mut self, key: &str, expected: &str, span: Range<usize>) {
        let d = Diagnostic::error(format!("`{key}` in {} must be {expected}", self.ctx), span)
            .help(format!("write e.g. `{key} = {}`", example_of(expected)));
        self.push(d);
    }

    /// The string, if written and valid.
    fn string(&mut self, key: &str) -> Option<Sp<String>> {
        let Kind::String { format, .. } = *self.kind(key) else {
            self.wrong_kind(key);
        };
        let (_, v) = self.get(key)?;
        let DeValue::String(s) = v.get_ref() else {
            self.type_error(key, "a string", v.span());
            return None;
        };
        if let Some(format) = format.filter(|f| !f.allows(s)) {
            let d = Diagnostic::error(
                format!("`{key} = \"{s}\"` is not {}", format_name(format)),
                v.span(),
            )
            .help(format_help(format));
            self.push(d);
            return None;
        }
        Some(Sp::new(s.to_string(), v.span()))
    }

    /// The string, or the shape's default.
    fn string_or_default(&mut self, key: &str) -> String {
        let Kind::String {
            default: Some(default),
            ..
        } = *self.kind(key)
        else {
            self.wrong_kind(key);
        };
        self.string(key)
            .map_or_else(|| default.to_string(), |s| s.value)
    }

    /// The string, or the shape's default located at the whole table; `None` if written but
    /// invalid.
    fn string_or_default_at(&mut self, key: &str) -> Option<Sp<String>> {
        let Kind::String {
            default: Some(default),
            ..
        } = *self.kind(key)
        else {
            self.wrong_kind(key);
        };
        if self.get(key).is_none() {
            return Some(Sp::new(default.to_string(), self.span.clone()));
        }
        self.string(key)
    }

    /// An inline table of strings, each name with its span, if written and valid.
    fn string_table(&mut self, key: &str) -> Option<Sp<StringTable>> {
        let Kind::StringTable = self.kind(key) else {
            self.wrong_kind(key);
        };
        let (_, v) = self.get(key)?;
        let DeValue::Table(items) = v.get_ref() else {
            self.type_error(key, "a table of strings", v.span());
            return None;
        };
        let mut out = Vec::new();
        for (name, value) in items {
            match value.get_ref() {
                DeValue::String(s) => out.push((
                    Sp::new(name.get_ref().to_string(), name.span()),
                    s.to_string(),
                )),
                _ => {
                    self.type_error(key, "a table of strings", value.span());
                    return None;
                }
            }
        }
        Some(Sp::new(out, v.span()))
    }

    /// One of the shape's choices, if written and valid.
    fn choice(&mut self, key: &str) -> Option<Sp<String>> {
        let Kind::Choice { names, .. } = *self.kind(key) else {
            self.wrong_kind(key);
        };
        let (_, v) = self.get(key)?;
        let DeValue::String(s) = v.get_ref() else {
            self.type_error(key, "a string", v.span());
            return None;
        };
        if names.contains(&s.as_ref()) {
            return Some(Sp::new(s.to_string(), v.span()));
        }
        let mut help = format!("use one of {}", code_list(names));
        if let Some(c) = closest(s, names.iter().copied()) {
            help = format!("did you mean `{c}`? {help}");
        }
        let d = Diagnostic::error(
            format!("`{key} = \"{s}\"` in {} is not valid", self.ctx),
            v.span(),
        )
        .help(help);
        self.push(d);
        None
    }

    /// The choice, or the shape's default.
    fn choice_or_default(&mut self, key: &str) -> String {
        let Kind::Choice {
            default: Some(default),
            ..
        } = *self.kind(key)
        else {
            self.wrong_kind(key);
        };
        self.choice(key)
            .map_or_else(|| default.to_string(), |s| s.value)
    }

    /// The boolean, if written and valid.
    fn bool(&mut self, key: &str) -> Option<Sp<bool>> {
        let Kind::Bool { .. } = self.kind(key) else {
            self.wrong_kind(key);
        };
        let (_, v) = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Sp::new(*b, v.span())),
            _ => {
                self.type_error(key, "`true` or `false`", v.span());
                None
            }
        }
    }

    /// The boolean, or the shape's default.
    fn bool_or_default(&mut self, key: &str) -> bool {
        let Kind::Bool {
            default: Some(default),
        } = *self.kind(key)
        else {
            self.wrong_kind(key);
        };
        self.bool(key).map_or(default, |b| b.value)
    }

    /// The seconds, or the shape's default.
    fn seconds_or_default(&mut self, key: &str) -> u64 {
        let Kind::Seconds {
            default: Some(default),
            ..
        } = *self.kind(key)
        else {
            self.wrong_kind(key);
        };
        self.seconds(key).unwrap_or(default)
    }

    /// A whole number of seconds, at least the shape's minimum, if written and valid.
    fn seconds(&mut self, key: &str) -> Option<u64> {
        let Kind::Seconds { min, .. } = *self.kind(key) else {
            self.wrong_kind(key);
        };
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

    /// The array of strings, if written and valid (at least the shape's number of items).
    fn strings(&mut self, key: &str) -> Option<Vec<Sp<String>>> {
        let Kind::Strings { min_items, format } = *self.kind(key) else {
            self.wrong_kind(key);
        };
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
        if let Some(format) = format {
            // Every malformed item at once, each where it is.
            let bad: Vec<Diagnostic> = (out.iter().filter(|s| !format.allows(&s.value)))
                .map(|s| {
                    Diagnostic::error(
                        format!(
                            "`{}` in `{key}` of {} is not {}",
                            s.value,
                            self.ctx,
                            format_name(format)
                        ),
                        s.span.clone(),
                    )
                    .help(format_help(format))
                })
                .collect();
            if !bad.is_empty() {
                self.diags.extend(bad);
                return None;
            }
        }
        if out.len() < min_items {
            let help = match self.shape.key(key).map(|k| k.need) {
                Some(Need::Required(what)) => format!("list at least {min_items}: {what}"),
                _ => format!("write e.g. `{key} = [\"...\"]`"),
            };
            let d = Diagnostic::error(
                format!(
                    "`{key}` in {} needs at least {min_items} item{}",
                    self.ctx,
                    if min_items == 1 { "" } else { "s" }
                ),
                v.span(),
            )
            .help(help);
            self.push(d);
            return None;
        }
        Some(out)
    }

    /// Reports missing required keys, then unknown keys.
    fn finish(self) {
        let unread: Vec<&str> = (self.shape.keys.iter())
            .map(|k| k.name)
            .filter(|k| !self.read.contains(k))
            .collect();
        assert!(
            unread.is_empty(),
            "the parser does not read {unread:?} of {} (shape.rs)",
            self.ctx
        );
        for key in self.shape.keys {
            let Need::Required(what) = key.need else {
                continue;
            };
            if self.table.get(key.name).is_some() {
                continue;
            }
            let name = key.name;
            let help = match key.kind {
                Kind::Choice { names, .. } => {
                    format!("add `{name}`: {what}, one of {}", code_list(names))
                }
                _ => format!("add `{name}`: {what}"),
            };
            self.diags.push(
                Diagnostic::error(
                    format!("missing key `{name}` in {}", self.ctx),
                    self.span.clone(),
                )
                .help(help),
            );
        }
        let allowed: Vec<&str> = self.shape.keys.iter().map(|k| k.name).collect();
        for (key, _) in self.table {
            let name = key.get_ref().as_ref();
            if allowed.contains(&name) {
                continue;
            }
            let list = code_list(&allowed);
            let help = match closest(name, allowed.iter().copied()) {
                Some(c) => format!("did you mean `{c}`? Allowed keys: {list}"),
                None => format!("remove it; allowed keys: {list}"),
            };
            self.diags.push(
                Diagnostic::error(format!("unknown key `{name}` in {}", self.ctx), key.span())
                    .help(help),
            );
        }
    }
}

/// `a`, `b`, `c`
fn code_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::EnvVar => "an environment variable name",
        Format::UserId => "a Slack user id",
        Format::UsergroupId => "a Slack user group id",
        Format::ChannelId => "a Slack channel id",
    }
}

fn format_help(format: Format) -> &'static str {
    match format {
        Format::EnvVar => {
            "use uppercase letters, digits and `_`, e.g. `SLACK_TECH_SUPPORT_CHANNEL`"
        }
        Format::UserId => {
            "use the member id, e.g. `U012AB3CD` (in Slack: the person's profile, ⋮, \"Copy member ID\"); names and @handles change, ids do not"
        }
        Format::UsergroupId => {
            "use the user group's id, e.g. `S0614TZR7` (in Slack: the group's page, ⋮, \"Copy group ID\"); a @handle is not an id"
        }
        Format::ChannelId => {
            "use the channel's id, e.g. `C0123ABCD` (in Slack: the channel's details, at the bottom); `#names` change, ids do not"
        }
    }
}

fn example_of(expected: &str) -> &'static str {
    match expected {
        "a string" => "\"...\"",
        "`true` or `false`" => "true",
        "a table of strings" => "{ name = \"...\" }",
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
    fn support_keywords_must_be_given_and_not_empty() {
        let rule = |keywords: &str| {
            format!(
                "[[support]]\nname = \"s\"\n{keywords}channel_env = \"S\"\nreaction = \"sos\"\n"
            )
        };
        assert_eq!(
            located(&rule("")),
            vec![(
                1,
                "missing key `keywords` in support rule in `[[support]]`".to_string()
            )]
        );
        assert_eq!(
            located(&rule("keywords = []\n")),
            vec![(
                3,
                "`keywords` in support rule in `[[support]]` needs at least 1 item".to_string()
            )]
        );
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
