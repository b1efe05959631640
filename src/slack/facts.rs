//! What the permission rules learn from Slack: whether a user is a guest (`users.info`, see
//! [`InternalUsers`]) and whether they are in a user group (see [`Usergroups`]).

use crate::permissions::{Fact, Facts};

use super::bot_api::SlackBotApi;
use super::usergroups::Usergroups;
use super::users::InternalUsers;

/// [`Facts`] answered by Slack through the bot's caches.
pub struct SlackFacts<'a, W> {
    pub users: &'a InternalUsers,
    pub groups: &'a Usergroups,
    pub web: &'a W,
}

impl<W: SlackBotApi> Facts for SlackFacts<'_, W> {
    async fn is_guest(&self, user: &str) -> Fact {
        (!self.users.is_internal(self.web, user).await).into()
    }

    async fn in_usergroup(&self, user: &str, group: &str) -> Fact {
        self.groups.contains(self.web, group, user).await.into()
    }
}
