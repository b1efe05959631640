//! What the rules may need to know of a user beyond their id and channel: whether they are a
//! guest, and whether they are in a user group. Slack answers at run time (cached); `explain`
//! and the shell answer from what they are told.

use std::future::Future;

/// An answer about a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    Yes,
    No,
    /// Not known here (e.g. user-group membership in `explain`).
    Unknown,
}

impl From<bool> for Fact {
    fn from(b: bool) -> Fact {
        if b {
            Fact::Yes
        } else {
            Fact::No
        }
    }
}

/// Where the permission function learns what only Slack knows.
pub trait Facts: Sync {
    /// The shell's local operator, who has every right.
    fn is_operator(&self) -> bool {
        false
    }

    /// Whether `user` is a guest (or otherwise not a member: a bot, a deleted account).
    fn is_guest(&self, user: &str) -> impl Future<Output = Fact> + Send;

    /// Whether `user` is a member of user group `group`.
    fn in_usergroup(&self, user: &str, group: &str) -> impl Future<Output = Fact> + Send;
}

/// The shell's local operator: every right, as the shell always had.
#[derive(Debug, Clone, Copy, Default)]
pub struct Operator;

impl Facts for Operator {
    fn is_operator(&self) -> bool {
        true
    }

    async fn is_guest(&self, _user: &str) -> Fact {
        Fact::No
    }

    async fn in_usergroup(&self, _user: &str, _group: &str) -> Fact {
        Fact::Yes
    }
}

/// A user as `explain --as` and `shell --as` describe them: a guest or not; user-group
/// membership is a run-time fact they cannot know.
#[derive(Debug, Clone, Copy, Default)]
pub struct Assumed {
    pub guest: bool,
}

impl Facts for Assumed {
    async fn is_guest(&self, _user: &str) -> Fact {
        self.guest.into()
    }

    async fn in_usergroup(&self, _user: &str, _group: &str) -> Fact {
        Fact::Unknown
    }
}
