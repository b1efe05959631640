//! Internal users (members, not guests or bots), who alone may run restricted namespaces.
//!
//! What the bot knows of each user, internal or not, is trusted for a bounded time (the
//! `INTERNAL_USERS_TTL_SECONDS` setting): a member made a guest loses restricted rights within
//! it, and a guest trying restricted commands again and again costs one `users.info` per period,
//! not one per command.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use tokio::time::Instant;

use super::bot_api::SlackBotApi;
use super::SlackError;

/// What is known of each user, and when it was learnt.
#[derive(Debug)]
pub struct InternalUsers {
    known: RwLock<HashMap<String, Known>>,
    ttl: Duration,
}

/// Whether a user was internal, as of `at`.
#[derive(Debug, Clone, Copy)]
struct Known {
    internal: bool,
    at: Instant,
}

impl InternalUsers {
    /// Loads every user (`users.list`, all pages), each known as internal or not for `ttl`.
    pub async fn load(web: &impl SlackBotApi, ttl: Duration) -> Result<Self, SlackError> {
        let users = web.users().await?;
        let at = Instant::now();
        let known: HashMap<String, Known> = users
            .into_iter()
            .map(|u| {
                let internal = u.is_internal();
                (u.id, Known { internal, at })
            })
            .collect();
        let internal = known.values().filter(|k| k.internal).count();
        tracing::info!(count = internal, "loaded internal users");
        Ok(InternalUsers {
            known: RwLock::new(known),
            ttl,
        })
    }

    /// Whether `user` is internal. A user not known, or known for longer than the lifetime, is
    /// looked up (`users.info`) and the answer kept, whichever it is; a failed lookup refuses
    /// and is not kept.
    pub async fn is_internal(&self, web: &impl SlackBotApi, user: &str) -> bool {
        if let Some(internal) = self.fresh(user) {
            return internal;
        }
        match web.user(user).await {
            Ok(found) => {
                let internal = found.is_internal();
                self.known
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(
                        user.to_string(),
                        Known {
                            internal,
                            at: Instant::now(),
                        },
                    );
                internal
            }
            Err(e) => {
                tracing::warn!(user, error = %e, "could not look up a user; treating them as external");
                false
            }
        }
    }

    /// What is known of `user`, if learnt within the lifetime.
    fn fresh(&self, user: &str) -> Option<bool> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        known
            .get(user)
            .filter(|k| k.at.elapsed() < self.ttl)
            .map(|k| k.internal)
    }
}
