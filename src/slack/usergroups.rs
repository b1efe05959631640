//! User-group members, read from Slack (`usergroups.users.list`) when a permission rule names
//! a group, and trusted for the same bounded time as what the bot knows of users
//! (`INTERNAL_USERS_TTL_SECONDS`): someone removed from a group loses its rights within it.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::Duration;

use tokio::time::Instant;

use super::bot_api::SlackBotApi;

/// The members of each group asked about, and when they were read.
#[derive(Debug)]
pub struct Usergroups {
    known: RwLock<HashMap<String, (HashSet<String>, Instant)>>,
    ttl: Duration,
}

impl Usergroups {
    /// No group read yet; members are trusted for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Usergroups {
            known: RwLock::new(HashMap::new()),
            ttl,
        }
    }

    /// Whether `user` is in `group`. A group not read within the lifetime is read again; a
    /// failed read refuses (and is not kept), so an outage never widens rights.
    pub async fn contains(&self, web: &impl SlackBotApi, group: &str, user: &str) -> bool {
        if let Some(member) = self.fresh(group, user) {
            return member;
        }
        match web.usergroup_members(group).await {
            Ok(members) => {
                let members: HashSet<String> = members.into_iter().collect();
                let member = members.contains(user);
                self.known
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(group.to_string(), (members, Instant::now()));
                member
            }
            Err(e) => {
                tracing::warn!(group, error = %e, "could not read a user group's members; treating the user as outside it");
                false
            }
        }
    }

    /// Whether `user` is in `group`, if the group was read within the lifetime.
    fn fresh(&self, group: &str, user: &str) -> Option<bool> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let (members, at) = known.get(group)?;
        (at.elapsed() < self.ttl).then(|| members.contains(user))
    }
}
