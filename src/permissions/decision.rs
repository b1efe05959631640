//! What the permission function decides, and how a refusal is told to the user: what would
//! be needed, never a mention that would notify anyone.

use std::fmt::Write as _;

/// The outcome of [`super::authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, and why.
    Allowed(Grant),
    /// Refused by a rule, and what it needs.
    Refused(Refusal),
    /// Allowed only if these hold, which cannot be known here (user-group membership in
    /// `explain` or the shell). The bot itself never decides this: Slack tells it.
    Depends(Vec<Refusal>),
}

impl Decision {
    /// Whether the deed may go ahead.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }

    /// `other` if this allows, else this.
    pub fn and(self, other: Decision) -> Decision {
        match self {
            Decision::Allowed(_) => other,
            refused => refused,
        }
    }
}

/// Why something is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The shell's local operator.
    Operator,
    /// They asked for the job they remove.
    Requester,
    /// Every rule that applies allows (none: anyone may).
    Rules(Vec<Scope>),
}

/// How much of a user's text a refusal repeats.
const SHOWN_CHARS: usize = 60;

/// A rule's place in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `restricted = true` on a namespace.
    Restricted(&'static str),
    /// `[<namespace>.allow]`.
    Namespace(&'static str),
    /// `[<namespace>.jobs.<job>.allow]`, by job type.
    Job(&'static str),
    /// A Slack command's `allow`, by its usage.
    Command(&'static str),
    /// A job this build does not know, which only its requesters may remove.
    Requesters(String),
    /// The logs in a folder.
    Logs(String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Restricted(ns) => write!(f, "`restricted = true` of namespace `{ns}`"),
            Scope::Namespace(ns) => write!(f, "the rule of namespace `{ns}`"),
            Scope::Job(job) => write!(f, "the rule of job `{job}`"),
            Scope::Command(usage) => write!(f, "the rule of command `{usage}`"),
            Scope::Requesters(job) => write!(f, "job type `{job}`, unknown to this build"),
            Scope::Logs(folder) => {
                // The folder is the user's text: shown short, so a reply stays a reply.
                let shown: String = folder.chars().take(SHOWN_CHARS).collect();
                let more = if folder.chars().count() > SHOWN_CHARS {
                    "…"
                } else {
                    ""
                };
                write!(f, "the log folder `{}{more}`", shown.replace('`', "'"))
            }
        }
    }
}

/// What a rule needs that the asker lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// To be a member, not a guest.
    Member,
    /// To ask from one of these channels.
    Channel(&'static [&'static str]),
    /// To be one of these users, or in one of these user groups.
    Who {
        users: &'static [&'static str],
        usergroups: &'static [&'static str],
    },
    /// To have requested the job.
    Requester,
    /// To be allowed to run the job whose logs they are (`None`: no job of this build).
    Logs { job_type: Option<&'static str> },
}

/// A refusal: the rule that refused, and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub scope: Scope,
    pub need: Need,
}

impl Refusal {
    /// What the need asks for, in words: ids as code and channels as links, never mentions
    /// that would notify the people or groups named.
    pub fn needs(&self) -> String {
        match self.need {
            Need::Member => "a member of the workspace, not a guest".to_string(),
            Need::Channel(channels) => {
                let links: Vec<String> = channels.iter().map(|c| format!("<#{c}>")).collect();
                format!("run from {}", join(&links, "or"))
            }
            Need::Who { users, usergroups } => {
                let mut parts = Vec::new();
                if !users.is_empty() {
                    parts.push(format!("one of the users {}", codes(users)));
                }
                if !usergroups.is_empty() {
                    parts.push(format!("a member of the user group {}", codes(usergroups)));
                }
                parts.join(" or ")
            }
            Need::Requester => "the user who requested it".to_string(),
            Need::Logs {
                job_type: Some(job),
            } => {
                format!("someone who may run `{job}`")
            }
            Need::Logs { job_type: None } => {
                "a log folder of a job, `<job_type>/<time>` (see `status` or the job's report)"
                    .to_string()
            }
        }
    }

    /// The reply to a user refused `what` (e.g. "run `example deploy`"). `org` names the
    /// members (`SLACK_ORG_NAME`); a namespace's `restricted = true` keeps the words users know.
    pub fn reply(&self, what: &str, org: &str) -> String {
        if let (Scope::Restricted(ns), Need::Member) = (&self.scope, self.need) {
            return format!(
                ":no_entry: Sorry, only {org} users are allowed to run `{ns}` commands."
            );
        }
        let mut out = format!(":no_entry: Sorry, you may not {what}: ");
        let _ = write!(out, "it needs {} ({}).", self.needs(), self.scope);
        out
    }
}

/// `` `a`, `b` `` as code.
fn codes(ids: &[&str]) -> String {
    let quoted: Vec<String> = ids.iter().map(|i| format!("`{i}`")).collect();
    join(&quoted, "or")
}

/// `a`, `a or b`, `a, b or c`.
fn join(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {word} {last}", rest.join(", ")),
    }
}
