//! The runtime types that bennettbot's compiled job config is made of: plain data, readable and
//! testable without the macro. The code that `job_configs!()` generates names them as
//! `::bennettbot_spec::...`. They are a crate of their own so that the config compiler's UI tests
//! build against them and the macro alone, not against the whole bot, and so that the config
//! compiler reads the file's vocabulary (report formats, actions, catch-up policies, template
//! pieces) into these very types.

mod allow;
mod choices;
mod slack_text;
mod template;

pub use allow::AllowSpec;
pub use bennettbot_pattern::{match_segments, Segment};
pub use choices::{Action, CatchUp, ReportFormat};
pub use slack_text::unformat_param;
pub use template::TemplatePart;

/// A namespace: `[test]`.
#[derive(Debug, PartialEq, Eq)]
pub struct NamespaceSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// Only internal (non-guest) users may run its commands.
    pub restricted: bool,
    /// Fetched as `fabfile.py` into the workspace before each run.
    pub fabfile: Option<&'static str>,
    /// Where jobs started by webhooks report.
    pub default_channel: &'static str,
    /// Who may run its commands, beyond `restricted`: `[<namespace>.allow]`.
    pub allow: Option<AllowSpec>,
    /// The bot's environment variables its jobs see (besides bennettbot's own).
    pub env: &'static [&'static str],
    /// Variables its jobs see whose values are masked in everything posted to Slack.
    pub secret_env: &'static [&'static str],
    /// Indexes into [`Config::commands`], in file order.
    pub commands: &'static [usize],
    /// The same indexes in the order the matcher tries them (more specific first).
    pub match_order: &'static [usize],
}

/// A job: `[test.jobs.hello_name]`.
#[derive(Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// `<namespace>_<job>`, the string the queue stores.
    pub job_type: &'static str,
    pub namespace: &'static str,
    pub name: &'static str,
    /// The template as written.
    pub template_source: &'static str,
    pub template: &'static [TemplatePart],
    pub report_stdout: bool,
    pub report_success: bool,
    pub report_format: ReportFormat,
    pub call_tech_support_on_error: bool,
    pub suppress_empty: bool,
    pub timeout_seconds: Option<u64>,
    /// Who may run it, narrowing its namespace's rule: `[<namespace>.jobs.<job>.allow]`.
    pub allow: Option<AllowSpec>,
    /// Its reports may notify a whole channel or user group (`<!channel>`, `<!subteam^…>`).
    pub allow_broadcast: bool,
    /// The parameter naming another job's log folder (`<job_type>/<stamp>`) whose output this
    /// job shows: only those who may run that job may run this one on it.
    pub logs_of: Option<&'static str>,
}

/// A Slack command: `[[test.slack]]`.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandSpec {
    pub namespace: &'static str,
    /// The command after the namespace: `hello [name]`.
    pub command: &'static str,
    /// The whole command: `test hello [name]`.
    pub usage: &'static str,
    pub pattern: &'static [Segment<'static>],
    pub params: &'static [&'static str],
    pub help: &'static str,
    pub action: Action,
    pub job_type: &'static str,
    pub delay_seconds: u64,
    pub examples: &'static [&'static str],
    /// Who may run it, narrowing its namespace's and job's rules.
    pub allow: Option<AllowSpec>,
}

/// A GitHub rule: `[[example.github]]`.
#[derive(Debug, PartialEq, Eq)]
pub struct GithubRuleSpec {
    pub namespace: &'static str,
    /// The `X-GitHub-Event` header.
    pub event: &'static str,
    /// The payload's `action`, if the rule names one.
    pub action: Option<&'static str>,
    /// For `pull_request`: whether `pull_request.merged` must be true or false.
    pub merged: Option<bool>,
    /// `pull_request.base.ref`, or a push's `ref` (with or without `refs/heads/`).
    pub base_branch: Option<&'static str>,
    pub job_type: &'static str,
    pub delay_seconds: u64,
}

/// A scheduled job: `[[report.schedule]]`. The config compiler checks `cron` and `timezone`, so
/// both parse at run time.
#[derive(Debug, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// Names the schedule where due times are claimed: job type, cron, zone and args, so an
    /// edited schedule is a new one.
    pub key: &'static str,
    pub namespace: &'static str,
    /// `<namespace>_<job>`.
    pub job_type: &'static str,
    /// Five fields: minute hour day-of-month month day-of-week.
    pub cron: &'static str,
    /// An IANA time zone name.
    pub timezone: &'static str,
    /// The job's parameters, `(name, value)`, in the order written.
    pub args: &'static [(&'static str, &'static str)],
    /// Where the job reports (the namespace's default channel unless the entry names one).
    pub channel: &'static str,
    pub catch_up: CatchUp,
}

/// A support rule: `[[support]]`.
#[derive(Debug, PartialEq, Eq)]
pub struct SupportRuleSpec {
    pub name: &'static str,
    /// Lowercase keywords that call it.
    pub keywords: &'static [&'static str],
    /// The environment variable naming the support channel.
    pub channel_env: &'static str,
    pub reaction: &'static str,
    /// Relative to `WRITEABLE_DIR`: `{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}`.
    pub out_of_office_file: Option<&'static str>,
}

/// Everything compiled from `job_configs.toml`.
#[derive(Debug, PartialEq, Eq)]
pub struct Config {
    pub namespaces: &'static [NamespaceSpec],
    pub jobs: &'static [JobSpec],
    pub commands: &'static [CommandSpec],
    pub github: &'static [GithubRuleSpec],
    pub schedules: &'static [ScheduleSpec],
    pub support: &'static [SupportRuleSpec],
}

impl Config {
    /// The namespace called `name`.
    pub fn namespace(&self, name: &str) -> Option<&'static NamespaceSpec> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    /// The job stored as `job_type`.
    pub fn job(&self, job_type: &str) -> Option<&'static JobSpec> {
        self.jobs.iter().find(|j| j.job_type == job_type)
    }

    /// A namespace's commands, sorted by their text (as help lists them).
    pub fn sorted_commands(&self, ns: &NamespaceSpec) -> Vec<&'static CommandSpec> {
        let all: &'static [CommandSpec] = self.commands;
        let mut cmds: Vec<&'static CommandSpec> = ns.commands.iter().map(|&i| &all[i]).collect();
        cmds.sort_by_key(|c| c.usage);
        cmds
    }

    /// The first command with `action` on `job_type`, e.g. to tell users how to deploy.
    pub fn command_for(&self, job_type: &str, action: Action) -> Option<&'static CommandSpec> {
        let all: &'static [CommandSpec] = self.commands;
        all.iter()
            .find(|c| c.job_type == job_type && c.action == action)
    }
}

/// A job type string the compiled config does not know (e.g. a database row written under another
/// config).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job type `{0}`")]
pub struct UnknownJobType(pub String);
