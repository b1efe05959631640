//! Permission rules as the config declares them: `allow = { users, usergroups, channels,
//! guests }` on a namespace, a job or a Slack command. The runtime's permission function reads
//! them; the config compiler has checked the ids' shapes and that no rule is empty.

/// Who may use what the rule is on. Every list that is given must admit the user: `users` and
/// `usergroups` together name who (either one admits), `channels` where from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowSpec {
    /// Slack user ids (`U…`, `W…`).
    pub users: &'static [&'static str],
    /// Slack user group ids (`S…`), members read from Slack at run time.
    pub usergroups: &'static [&'static str],
    /// Channel ids (`C…`, `G…`, `D…`) it may be run from.
    pub channels: &'static [&'static str],
    /// `Some(false)`: not guests; `Some(true)`: guests too; `None`: the rule does not say.
    pub guests: Option<bool>,
}

impl AllowSpec {
    /// Whether the rule names who may use it (users or user groups).
    pub fn names_who(&self) -> bool {
        !self.users.is_empty() || !self.usergroups.is_empty()
    }
}
