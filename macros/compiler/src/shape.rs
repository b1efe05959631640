//! The keys of every table in `job_configs.toml`: type, default, limits and meaning.
//!
//! The one description of the file's shape. The parser takes each table's allowed and required
//! keys, defaults, limits and choices from here, and [`crate::schema`] turns the same tables into
//! the JSON Schema that editors use, so the two cannot drift apart. A new key is one more [`Key`]
//! here, plus the parser line that reads it into the model.

use bennettbot_spec::{Action, CatchUp, ReportFormat};

/// A TOML table: its fixed keys, and maybe entries under names of the user's choosing.
#[derive(Debug)]
pub struct Table {
    /// What the table is, as editors show it.
    pub doc: &'static str,
    /// Its keys, in the order messages list them.
    pub keys: &'static [Key],
    /// Other keys are entries of this kind (e.g. the jobs of `[ns.jobs]`); `None`: other keys
    /// are unknown keys.
    pub entries: Option<Entries>,
}

impl Table {
    /// The key called `name`, if the table has one.
    pub fn key(&self, name: &str) -> Option<&'static Key> {
        self.keys.iter().find(|k| k.name == name)
    }
}

/// Entries of a table under names of the user's choosing.
#[derive(Debug)]
pub struct Entries {
    /// The names entries may have.
    pub names: Names,
    /// What each entry is.
    pub table: &'static Table,
}

/// Names the user chooses: lowercase letters, digits and one separator, except reserved words.
#[derive(Debug)]
pub struct Names {
    /// `-` for namespaces, `_` for jobs.
    pub separator: char,
    /// Words taken by the bot itself.
    pub reserved: &'static [&'static str],
}

impl Names {
    /// Whether `name` has only the allowed characters (reserved words are checked apart, to
    /// say why they are refused).
    pub fn allows(&self, name: &str) -> bool {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == self.separator)
    }

    /// [`Names::allows`] as a regular expression.
    pub fn pattern(&self) -> String {
        format!("^[a-z0-9{}]+$", self.separator)
    }
}

/// One key of a table.
#[derive(Debug)]
pub struct Key {
    /// As written in the file.
    pub name: &'static str,
    /// What it does, as editors show it.
    pub doc: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Whether it must be written.
    pub need: Need,
}

/// Whether a key must be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// It must; the text tells what to write when it is missing.
    Required(&'static str),
    /// It may be left out (then its kind's default, if any, applies).
    Optional,
}

/// What a key holds, and the value it has when left out.
#[derive(Debug)]
pub enum Kind {
    /// A string.
    String {
        default: Option<&'static str>,
        format: Option<Format>,
    },
    /// `true` or `false`.
    Bool { default: Option<bool> },
    /// A whole number of seconds, at least `min`.
    Seconds { min: u64, default: Option<u64> },
    /// One of a few strings.
    Choice {
        names: &'static [&'static str],
        default: Option<&'static str>,
    },
    /// An array of strings, at least `min_items` long, each of `format` if given.
    Strings {
        min_items: usize,
        format: Option<Format>,
    },
    /// An inline table of strings: `{ name = "value" }`.
    StringTable,
    /// A table: `[parent.key]`.
    Table(&'static Table),
    /// An array of tables: `[[parent.key]]`.
    Tables(&'static Table),
}

/// A constraint on a string's characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An environment variable name: uppercase letters, digits and `_`.
    EnvVar,
    /// A Slack user id: `U` or `W`, then uppercase letters and digits.
    UserId,
    /// A Slack user group id: `S`, then uppercase letters and digits.
    UsergroupId,
    /// A Slack channel id: `C`, `G` or `D`, then uppercase letters and digits.
    ChannelId,
}

/// A Slack id: one of `first` letters, then at least two uppercase letters or digits.
fn slack_id(text: &str, first: &[char]) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| first.contains(&c))
        && text.len() >= 3
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

impl Format {
    /// Whether `text` has this format.
    pub fn allows(self, text: &str) -> bool {
        match self {
            Format::EnvVar => {
                !text.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            }
            Format::UserId => slack_id(text, &['U', 'W']),
            Format::UsergroupId => slack_id(text, &['S']),
            Format::ChannelId => slack_id(text, &['C', 'G', 'D']),
        }
    }

    /// [`Format::allows`] as a regular expression.
    pub fn pattern(self) -> &'static str {
        match self {
            Format::EnvVar => "^[A-Z0-9_]+$",
            Format::UserId => "^[UW][A-Z0-9]{2,}$",
            Format::UsergroupId => "^S[A-Z0-9]{2,}$",
            Format::ChannelId => "^[CGD][A-Z0-9]{2,}$",
        }
    }
}

/// Namespace names: `[test]`. `_` separates namespace and job in job types, so never in here.
pub const NAMESPACE_NAMES: Names = Names {
    separator: '-',
    reserved: &["help", "status", "remove", "support"],
};

/// Job names: `[test.jobs.hello_name]`.
pub const JOB_NAMES: Names = Names {
    separator: '_',
    reserved: &[],
};

/// The whole file.
pub static FILE: Table = Table {
    doc: "bennettbot's jobs and commands, compiled into the binary at build time. Each top-level \
          table is a namespace: `[<namespace>]` with its `jobs`, `slack` commands and `github` \
          rules; `[[support]]` entries are the support rules.",
    keys: &[Key {
        name: "support",
        doc: "Support rules: a message containing one of a rule's keywords calls its support \
              channel.",
        kind: Kind::Tables(&SUPPORT),
        need: Need::Optional,
    }],
    entries: Some(Entries {
        names: NAMESPACE_NAMES,
        table: &NAMESPACE,
    }),
};

/// A namespace: `[test]`.
pub static NAMESPACE: Table = Table {
    doc: "A namespace: its jobs, the Slack commands that start them (`<namespace> <command>`) and \
          the GitHub rules. Named with lowercase letters, digits and `-` (never `_`); `help`, \
          `status`, `remove` and `support` are reserved.",
    keys: &[
        Key {
            name: "description",
            doc: "One line for the bot's help.",
            kind: Kind::String {
                default: Some(""),
                format: None,
            },
            need: Need::Optional,
        },
        Key {
            name: "restricted",
            doc: "Only internal (non-guest) users may run its commands.",
            kind: Kind::Bool {
                default: Some(false),
            },
            need: Need::Optional,
        },
        Key {
            name: "fabfile",
            doc: "A URL fetched as `fabfile.py` into the namespace's workspace before each run.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Optional,
        },
        Key {
            name: "default_channel",
            doc: "Where jobs started by GitHub webhooks report.",
            kind: Kind::String {
                default: Some("#tech"),
                format: None,
            },
            need: Need::Optional,
        },
        ALLOW_KEY,
        Key {
            name: "env",
            doc: "The bot's environment variables this namespace's jobs see, besides \
                  bennettbot's own (`PATH`, `HOME`, `LANG`, `PYTHONPATH`, the job's ids and \
                  folders); jobs see no other variable of the bot's.",
            kind: Kind::Strings {
                min_items: 1,
                format: Some(Format::EnvVar),
            },
            need: Need::Optional,
        },
        Key {
            name: "secret_env",
            doc: "Variables this namespace's jobs see, like `env`, whose values are masked \
                  (`***`) in everything bennettbot posts from job output, whichever job \
                  printed them.",
            kind: Kind::Strings {
                min_items: 1,
                format: Some(Format::EnvVar),
            },
            need: Need::Optional,
        },
        Key {
            name: "jobs",
            doc: "The namespace's jobs: `[<namespace>.jobs.<job>]`, named with lowercase \
                  letters, digits and `_`. The job type stored in the queue is \
                  `<namespace>_<job>`.",
            kind: Kind::Table(&JOBS),
            need: Need::Optional,
        },
        Key {
            name: "slack",
            doc: "Slack commands: `[[<namespace>.slack]]`.",
            kind: Kind::Tables(&SLACK),
            need: Need::Optional,
        },
        Key {
            name: "github",
            doc: "GitHub webhook rules: `[[<namespace>.github]]`.",
            kind: Kind::Tables(&GITHUB),
            need: Need::Optional,
        },
        Key {
            name: "schedule",
            doc: "Scheduled jobs: `[[<namespace>.schedule]]`, queued by the dispatcher at each \
                  due time of a cron expression.",
            kind: Kind::Tables(&SCHEDULE),
            need: Need::Optional,
        },
    ],
    entries: None,
};

/// `[test.jobs]`: jobs by name.
pub static JOBS: Table = Table {
    doc: "Jobs by name.",
    keys: &[],
    entries: Some(Entries {
        names: JOB_NAMES,
        table: &JOB,
    }),
};

/// A job: `[test.jobs.hello_name]`.
pub static JOB: Table = Table {
    doc: "A job: a bash command run in `workspace/<namespace>/`, and how its result is reported.",
    keys: &[
        Key {
            name: "run_args_template",
            doc: "The bash command. `{param}` placeholders take the Slack command's `[param]`s, \
                  each shell-quoted; `{{` and `}}` are literal braces.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required(
                "the bash command to run, e.g. `run_args_template = \"./run.sh\"`",
            ),
        },
        Key {
            name: "report_stdout",
            doc: "Post the job's stdout to Slack.",
            kind: Kind::Bool {
                default: Some(false),
            },
            need: Need::Optional,
        },
        Key {
            name: "report_success",
            doc: "Say that the job succeeded when its stdout is not reported.",
            kind: Kind::Bool {
                default: Some(true),
            },
            need: Need::Optional,
        },
        Key {
            name: "report_format",
            doc: "How stdout is posted: `text` as is, `code` in a code block, `file` as an \
                  uploaded file, `blocks` as a JSON array of Slack Block Kit blocks.",
            kind: Kind::Choice {
                names: &ReportFormat::NAMES,
                default: Some("text"),
            },
            need: Need::Optional,
        },
        Key {
            name: "call_tech_support_on_error",
            doc: "Call tech support in the channel when the job fails.",
            kind: Kind::Bool {
                default: Some(true),
            },
            need: Need::Optional,
        },
        Key {
            name: "suppress_empty",
            doc: "When stdout is reported but empty, post nothing (instead of saying so).",
            kind: Kind::Bool {
                default: Some(false),
            },
            need: Need::Optional,
        },
        Key {
            name: "timeout_seconds",
            doc: "Kill the job (and its children) after this many seconds; no limit when left out.",
            kind: Kind::Seconds {
                min: 1,
                default: None,
            },
            need: Need::Optional,
        },
        ALLOW_KEY,
        Key {
            name: "allow_broadcast",
            doc: "Let the job's reports notify a whole channel or user group (`<!channel>`, \
                  `<!here>`, `<!everyone>`, `<!subteam^…>`); otherwise they show as text.",
            kind: Kind::Bool {
                default: Some(false),
            },
            need: Need::Optional,
        },
        Key {
            name: "logs_of",
            doc: "The parameter that names another job's log folder (`<job_type>/<stamp>`) \
                  whose output this job shows: it then runs only for those who may run that \
                  job.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Optional,
        },
    ],
    entries: None,
};

/// A Slack command: `[[test.slack]]`.
pub static SLACK: Table = Table {
    doc: "A Slack command: what users type after the bot's name and the namespace.",
    keys: &[
        Key {
            name: "command",
            doc: "Literal words and `[param]`s, e.g. `hello [name]`; a `[param]` matches one or \
                  more characters, spaces included.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required(
                "the words users type after the namespace, e.g. `command = \"hello [name]\"`",
            ),
        },
        Key {
            name: "help",
            doc: "One line for the namespace's help.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required("one line for the namespace help, e.g. `help = \"say hello\"`"),
        },
        Key {
            name: "action",
            doc: "What the command does to its job: queue it (`schedule_job`), remove it from \
                  the queue (`cancel_job`), stop it from running between `[start_at]` and \
                  `[end_at]` (`schedule_suppression`), or lift that (`cancel_suppression`).",
            kind: Kind::Choice {
                names: &Action::NAMES,
                default: None,
            },
            need: Need::Required("what the command does"),
        },
        Key {
            name: "job_type",
            doc: "The job of this namespace that the command acts on (its name without the \
                  namespace).",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required(
                "the job (of this namespace) the command acts on, e.g. `job_type = \"hello\"`",
            ),
        },
        Key {
            name: "delay_seconds",
            doc: "Start the job this many seconds after the command.",
            kind: Kind::Seconds {
                min: 0,
                default: Some(0),
            },
            need: Need::Optional,
        },
        Key {
            name: "examples",
            doc: "Whole messages (namespace included) that must parse as this very command.",
            kind: Kind::Strings {
                min_items: 0,
                format: None,
            },
            need: Need::Optional,
        },
        ALLOW_KEY,
    ],
    entries: None,
};

/// The `allow` key of namespaces, jobs and Slack commands.
const ALLOW_KEY: Key = Key {
    name: "allow",
    doc: "Who may run it: `users`, `usergroups`, `channels` and `guests`. On a job or a Slack \
          command it narrows the namespace's rule: every rule that applies must allow.",
    kind: Kind::Table(&ALLOW),
    need: Need::Optional,
};

/// A permission rule: `[deploy.allow]`, or `allow = { ... }` on a Slack command.
pub static ALLOW: Table = Table {
    doc: "Who may run a namespace's, job's or command's commands. Lists that are given must each \
          admit the user (`users` and `usergroups` together: either admits); leave a list out \
          to not restrict by it.",
    keys: &[
        Key {
            name: "users",
            doc: "Slack user ids (`U…`) who may.",
            kind: Kind::Strings {
                min_items: 1,
                format: Some(Format::UserId),
            },
            need: Need::Optional,
        },
        Key {
            name: "usergroups",
            doc: "Slack user group ids (`S…`) whose members may; membership is read from Slack \
                  when a command is run.",
            kind: Kind::Strings {
                min_items: 1,
                format: Some(Format::UsergroupId),
            },
            need: Need::Optional,
        },
        Key {
            name: "channels",
            doc: "Channel ids (`C…`, `G…`, or a DM's `D…`) it may be run from.",
            kind: Kind::Strings {
                min_items: 1,
                format: Some(Format::ChannelId),
            },
            need: Need::Optional,
        },
        Key {
            name: "guests",
            doc: "Whether guests (restricted accounts) may; `false` is what `restricted = true` \
                  says for a whole namespace.",
            kind: Kind::Bool { default: None },
            need: Need::Optional,
        },
    ],
    entries: None,
};

/// A GitHub rule: `[[example.github]]`.
pub static GITHUB: Table = Table {
    doc: "A GitHub webhook rule: a matching event schedules the job.",
    keys: &[
        Key {
            name: "event",
            doc: "The `X-GitHub-Event` header, e.g. `pull_request` or `push`.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required("the `X-GitHub-Event` to act on, e.g. `event = \"pull_request\"`"),
        },
        Key {
            name: "action",
            doc: "The payload's `action`, e.g. `closed`; any when left out.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Optional,
        },
        Key {
            name: "merged",
            doc: "`pull_request` events only: whether `pull_request.merged` must be true or \
                  false; either when left out.",
            kind: Kind::Bool { default: None },
            need: Need::Optional,
        },
        Key {
            name: "base_branch",
            doc: "The pull request's base branch (`pull_request.base.ref`), or a push's branch; \
                  any when left out.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Optional,
        },
        Key {
            name: "job_type",
            doc: "The job of this namespace to schedule (its name without the namespace); it \
                  cannot have parameters.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required(
                "the job (of this namespace) to schedule, e.g. `job_type = \"deploy\"`",
            ),
        },
        Key {
            name: "delay_seconds",
            doc: "Start the job this many seconds after the event.",
            kind: Kind::Seconds {
                min: 0,
                default: Some(0),
            },
            need: Need::Optional,
        },
    ],
    entries: None,
};

/// A scheduled job: `[[report.schedule]]`.
pub static SCHEDULE: Table = Table {
    doc: "A scheduled job: queued once at each due time of `cron` in `timezone`, by whichever \
          process runs the dispatcher.",
    keys: &[
        Key {
            name: "cron",
            doc: "When it is due: five fields, `minute hour day-of-month month day-of-week`, \
                  e.g. `0 9 * * MON-FRI`.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required(
                "five cron fields (minute hour day-of-month month day-of-week), e.g. `cron = \"0 9 * * MON-FRI\"`",
            ),
        },
        Key {
            name: "timezone",
            doc: "The IANA time zone `cron` is read in, e.g. `Europe/London`.",
            kind: Kind::String {
                default: Some("UTC"),
                format: None,
            },
            need: Need::Optional,
        },
        Key {
            name: "job_type",
            doc: "The job of this namespace to queue (its name without the namespace).",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required(
                "the job (of this namespace) to queue, e.g. `job_type = \"weekly_summary\"`",
            ),
        },
        Key {
            name: "args",
            doc: "The job's parameters, e.g. `{ week = \"current\" }`: required exactly when \
                  its `run_args_template` has `{placeholders}`, with the same names.",
            kind: Kind::StringTable,
            need: Need::Optional,
        },
        Key {
            name: "channel",
            doc: "Where the job reports; the namespace's `default_channel` when left out.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Optional,
        },
        Key {
            name: "catch_up",
            doc: "After downtime: `skip` the due times missed, or queue the `latest` of them \
                  once.",
            kind: Kind::Choice {
                names: &CatchUp::NAMES,
                default: Some("skip"),
            },
            need: Need::Optional,
        },
    ],
    entries: None,
};

/// A support rule: `[[support]]`.
pub static SUPPORT: Table = Table {
    doc: "A support rule: a message containing one of its keywords calls the support channel.",
    keys: &[
        Key {
            name: "name",
            doc: "Who is called, e.g. `tech-support`.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required("who is called, e.g. `name = \"tech-support\"`"),
        },
        Key {
            name: "keywords",
            doc: "The words that call it, one word each; case does not matter.",
            kind: Kind::Strings {
                min_items: 1,
                format: None,
            },
            need: Need::Required(
                "the words that call it, e.g. `keywords = [\"tech-support\"]`",
            ),
        },
        Key {
            name: "channel_env",
            doc: "The environment variable that names the support channel.",
            kind: Kind::String {
                default: None,
                format: Some(Format::EnvVar),
            },
            need: Need::Required(
                "the env var naming the support channel, e.g. `channel_env = \"SLACK_TECH_SUPPORT_CHANNEL\"`",
            ),
        },
        Key {
            name: "reaction",
            doc: "The emoji the bot reacts with to a message that calls support, e.g. `sos`.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Required("the emoji to react with, e.g. `reaction = \"sos\"`"),
        },
        Key {
            name: "out_of_office_file",
            doc: "A JSON file, relative to `WRITEABLE_DIR`, with the `start` and `end` dates \
                  (`YYYY-MM-DD`) when support is out of office.",
            kind: Kind::String {
                default: None,
                format: None,
            },
            need: Need::Optional,
        },
    ],
    entries: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn all_tables() -> Vec<&'static Table> {
        vec![
            &FILE, &NAMESPACE, &JOBS, &JOB, &SLACK, &ALLOW, &GITHUB, &SCHEDULE, &SUPPORT,
        ]
    }

    #[test]
    fn every_key_is_documented_once_and_defaults_fit() {
        for table in all_tables() {
            assert!(!table.doc.is_empty());
            for (i, key) in table.keys.iter().enumerate() {
                assert!(!key.doc.is_empty(), "`{}` has no doc", key.name);
                assert!(
                    table.keys[..i].iter().all(|k| k.name != key.name),
                    "`{}` twice",
                    key.name
                );
                let has_default = match key.kind {
                    Kind::String { default, .. } => default.is_some(),
                    Kind::Bool { default } => default.is_some(),
                    Kind::Seconds { min, default } => {
                        assert!(default.is_none_or(|d| d >= min), "`{}`", key.name);
                        default.is_some()
                    }
                    Kind::Choice { names, default } => {
                        assert!(default.is_none_or(|d| names.contains(&d)), "`{}`", key.name);
                        default.is_some()
                    }
                    Kind::Strings { .. } | Kind::StringTable | Kind::Table(_) | Kind::Tables(_) => {
                        false
                    }
                };
                assert!(
                    !(has_default && matches!(key.need, Need::Required(_))),
                    "required `{}` has a default",
                    key.name
                );
            }
        }
    }

    #[test]
    fn names_and_formats_agree_with_their_patterns() {
        // The patterns are what editors check; `allows` is what the compiler checks.
        assert_eq!(NAMESPACE_NAMES.pattern(), "^[a-z0-9-]+$");
        assert_eq!(JOB_NAMES.pattern(), "^[a-z0-9_]+$");
        for (name, ok) in [
            ("deploy-2", true),
            ("", false),
            ("a_b", false),
            ("A", false),
        ] {
            assert_eq!(NAMESPACE_NAMES.allows(name), ok, "{name}");
        }
        for (name, ok) in [("hello_name", true), ("a-b", false), ("Hi", false)] {
            assert_eq!(JOB_NAMES.allows(name), ok, "{name}");
        }
        for (name, ok) in [("SLACK_X1", true), ("", false), ("slack", false)] {
            assert_eq!(Format::EnvVar.allows(name), ok, "{name}");
        }
        for (format, name, ok) in [
            (Format::UserId, "U012AB3CD", true),
            (Format::UserId, "W0A1", true),
            (Format::UserId, "u012ab3cd", false),
            (Format::UserId, "@alice", false),
            (Format::UserId, "U", false),
            (Format::UsergroupId, "S0614TZR7", true),
            (Format::UsergroupId, "U0614TZR7", false),
            (Format::ChannelId, "C0123ABCD", true),
            (Format::ChannelId, "G0123", true),
            (Format::ChannelId, "D0123", true),
            (Format::ChannelId, "#deploys", false),
        ] {
            assert_eq!(format.allows(name), ok, "{format:?} {name}");
        }
    }
}
