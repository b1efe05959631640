//! The config as the compiler understands it, after reading and before code generation. The
//! file's vocabulary (report formats, actions, catch-up policies, template pieces) is the
//! runtime's, from `bennettbot_spec`; this model adds what only the compiler needs, such as the
//! spans ([`Sp`]) that diagnostics point at.

use std::ops::Range;

use bennettbot_spec::{Action, CatchUp, ReportFormat, TemplatePart};

/// A value and where it came from in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sp<T> {
    pub value: T,
    pub span: Range<usize>,
}

impl<T> Sp<T> {
    /// `value`, found at `span` (byte offsets in the file).
    pub fn new(value: T, span: Range<usize>) -> Self {
        Sp { value, span }
    }
}

/// The whole `job_configs.toml`.
#[derive(Debug, Clone, Default)]
pub struct ConfigModel {
    pub namespaces: Vec<Namespace>,
    pub support: Vec<SupportRule>,
}

/// A namespace: `[test]`.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub name: Sp<String>,
    pub description: String,
    pub restricted: bool,
    pub fabfile: Option<String>,
    pub default_channel: String,
    pub allow: Option<Allow>,
    /// Variables its jobs see: `env = [...]`.
    pub env: Vec<Sp<String>>,
    /// Variables its jobs see, masked in posts: `secret_env = [...]`.
    pub secret_env: Vec<Sp<String>>,
    pub jobs: Vec<Job>,
    /// Jobs declared but left out for errors already reported: references to them are not
    /// reported again as unknown jobs.
    pub broken_jobs: Vec<String>,
    pub slack: Vec<SlackCommand>,
    pub github: Vec<GithubRule>,
    pub schedules: Vec<Schedule>,
}

impl Namespace {
    /// The job called `name`, if any.
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name.value == name)
    }
}

/// A job: `[test.jobs.hello_name]`.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: Sp<String>,
    pub template: Sp<String>,
    pub parts: Vec<TemplatePart<String>>,
    pub report_stdout: bool,
    pub report_success: bool,
    pub report_format: ReportFormat,
    pub call_tech_support_on_error: bool,
    pub suppress_empty: bool,
    pub timeout_seconds: Option<u64>,
    pub allow: Option<Allow>,
    pub allow_broadcast: bool,
    /// The parameter naming the log folder of the job whose output this job shows.
    pub logs_of: Option<Sp<String>>,
}

impl Job {
    /// The `{placeholders}` of the template, in order, without repeats.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for part in &self.parts {
            if let TemplatePart::Placeholder(name) = part {
                if !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
        }
        out
    }
}

/// A Slack command: one `[[test.slack]]` entry.
#[derive(Debug, Clone)]
pub struct SlackCommand {
    /// The command after the namespace, whitespace collapsed: `hello [name]`.
    pub command: Sp<String>,
    pub help: String,
    pub action: Action,
    pub job_type: Sp<String>,
    pub delay_seconds: u64,
    pub examples: Vec<Sp<String>>,
    pub allow: Option<Allow>,
}

/// A permission rule: `[deploy.allow]`, or `allow = { ... }` in a Slack command.
#[derive(Debug, Clone)]
pub struct Allow {
    /// The rule as a whole (its key, or its table header).
    pub span: Range<usize>,
    pub users: Vec<Sp<String>>,
    pub usergroups: Vec<Sp<String>>,
    pub channels: Vec<Sp<String>>,
    pub guests: Option<Sp<bool>>,
}

/// A GitHub rule: one `[[example.github]]` entry.
#[derive(Debug, Clone)]
pub struct GithubRule {
    pub event: Sp<String>,
    pub action: Option<String>,
    pub merged: Option<Sp<bool>>,
    pub base_branch: Option<String>,
    pub job_type: Sp<String>,
    pub delay_seconds: u64,
}

/// An inline table of strings: each name with its span, and its value.
pub type StringTable = Vec<(Sp<String>, String)>;

/// A scheduled job: one `[[report.schedule]]` entry.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The entry, for errors about it as a whole.
    pub span: Range<usize>,
    pub cron: Sp<String>,
    /// `UTC` (spanning the entry) when left out.
    pub timezone: Sp<String>,
    pub job_type: Sp<String>,
    /// `args = { name = "value" }`, if written.
    pub args: Option<Sp<StringTable>>,
    pub channel: Option<String>,
    pub catch_up: CatchUp,
}

impl Schedule {
    /// `args` as `(name, value)` pairs, in the order written.
    pub fn arg_pairs(&self) -> Vec<(&str, &str)> {
        self.args.as_ref().map_or_else(Vec::new, |a| {
            a.value
                .iter()
                .map(|(k, v)| (k.value.as_str(), v.as_str()))
                .collect()
        })
    }

    /// What makes the schedule itself, in namespace `ns`, e.g.
    /// `report_summary 0 9 * * MON-FRI Europe/London week=current`: the job type, the cron
    /// with whitespace collapsed, the zone and the args sorted, so that reformatting the entry
    /// keeps its key (due times are claimed under it).
    pub fn key(&self, ns: &str) -> String {
        let mut args = self.arg_pairs();
        args.sort();
        let mut key = format!(
            "{ns}_{} {} {}",
            self.job_type.value,
            self.cron
                .value
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            self.timezone.value
        );
        for (name, value) in args {
            key.push(' ');
            key.push_str(name);
            key.push('=');
            key.push_str(value);
        }
        key
    }
}

/// A support rule: one top-level `[[support]]` entry.
#[derive(Debug, Clone)]
pub struct SupportRule {
    pub name: Sp<String>,
    pub keywords: Vec<Sp<String>>,
    pub channel_env: Sp<String>,
    pub reaction: String,
    pub out_of_office_file: Option<String>,
}
