//! Internal users (members, not guests or bots), who alone may run restricted namespaces.

use std::collections::HashSet;
use std::sync::RwLock;

use super::bot_api::SlackBotApi;
use super::SlackError;

/// The internal users loaded at start-up, plus any found later by `users.info`.
#[derive(Debug)]
pub struct InternalUsers {
    known: RwLock<HashSet<String>>,
}

impl InternalUsers {
    /// Loads every internal user (`users.list`, all pages).
    pub async fn load(web: &impl SlackBotApi) -> Result<Self, SlackError> {
        let users = web.users().await?;
        let known: HashSet<String> = users
            .into_iter()
            .filter(|u| u.is_internal())
            .map(|u| u.id)
            .collect();
        tracing::info!(count = known.len(), "loaded internal users");
        Ok(InternalUsers {
            known: RwLock::new(known),
        })
    }

    /// Whether `user` is internal. Users who joined after start-up are looked up
    /// (`users.info`) before being refused; a failed lookup refuses.
    pub async fn is_internal(&self, web: &impl SlackBotApi, user: &str) -> bool {
        if self.contains(user) {
            return true;
        }
        match web.user(user).await {
            Ok(found) if found.is_internal() => {
                self.known
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(found.id);
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(user, error = %e, "could not look up a user; treating them as external");
                false
            }
        }
    }

    fn contains(&self, user: &str) -> bool {
        self.known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(user)
    }
}
