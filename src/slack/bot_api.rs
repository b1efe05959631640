//! The Web API calls only the bot makes (Socket Mode, users, channels, search): a second trait
//! beside [`super::SlackApi`], so the dispatcher's needs stay small and bot tests can use an
//! in-process fake as well as [`super::api::SlackClient`].

use std::future::Future;

use serde::Deserialize;

use super::socket::SocketModeClient;
use super::SlackError;

/// A Slack user, as `users.list` and `users.info` describe them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct User {
    /// The user id (`U...`).
    pub id: String,
    #[serde(default)]
    pub is_bot: bool,
    /// Guests (single- and multi-channel).
    #[serde(default)]
    pub is_restricted: bool,
    #[serde(default)]
    pub is_ultra_restricted: bool,
    #[serde(default)]
    pub deleted: bool,
}

impl User {
    /// A member of the organisation: not a bot, not a guest, not deactivated.
    pub fn is_internal(&self) -> bool {
        !(self.is_bot || self.is_restricted || self.is_ultra_restricted || self.deleted)
    }
}

/// A channel, as `conversations.list` describes it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Channel {
    /// The channel id (`C...`).
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_member: bool,
    #[serde(default)]
    pub is_archived: bool,
}

/// Where a search hit was posted.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SearchChannel {
    /// The channel id.
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_im: bool,
    #[serde(default)]
    pub is_mpim: bool,
}

/// One `search.messages` hit (slack-morphism has no type for it).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SearchMatch {
    /// Where it was posted.
    pub channel: SearchChannel,
    /// The message's timestamp (its id).
    pub ts: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub permalink: Option<String>,
}

/// The bot's own Web API calls.
pub trait SlackBotApi: Send + Sync + 'static {
    /// What the bot's Socket Mode listener opens its connections with.
    fn socket_mode(&self) -> Result<SocketModeClient, SlackError>;

    /// `auth.test`: the bot's own user id.
    fn bot_user_id(&self) -> impl Future<Output = Result<String, SlackError>> + Send;

    /// `users.list`, every page.
    fn users(&self) -> impl Future<Output = Result<Vec<User>, SlackError>> + Send;

    /// `users.info`
    fn user(&self, id: &str) -> impl Future<Output = Result<User, SlackError>> + Send;

    /// `usergroups.users.list`: the ids of a user group's members.
    fn usergroup_members(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<String>, SlackError>> + Send;

    /// `conversations.list`: public, unarchived channels, every page.
    fn public_channels(&self) -> impl Future<Output = Result<Vec<Channel>, SlackError>> + Send;

    /// `conversations.join`
    fn join(&self, channel: &str) -> impl Future<Output = Result<(), SlackError>> + Send;

    /// `reactions.add`, telling apart a reaction that was already there (`Ok(false)`): for
    /// support calls that answer means "already handled". [`super::SlackApi::add_reaction`]
    /// treats it as success instead.
    fn add_reaction_once(
        &self,
        channel: &str,
        ts: &str,
        name: &str,
    ) -> impl Future<Output = Result<bool, SlackError>> + Send;

    /// Whether searching for support calls is possible (`SLACK_BOT_USER_TOKEN` is set).
    fn can_search(&self) -> bool;

    /// `search.messages` (user token): the first page of hits, newest first.
    fn search(
        &self,
        query: &str,
    ) -> impl Future<Output = Result<Vec<SearchMatch>, SlackError>> + Send;
}
