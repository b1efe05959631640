//! Channels: the bot joins every public channel so it hears support calls, and checks at
//! start-up that each support rule's channel exists.

use super::bot_api::{Channel, SlackBotApi};
use super::SlackError;
use crate::config::SupportRuleSpec;
use crate::settings::Settings;

/// Lists public, unarchived channels and joins each one the bot is not in yet. A channel that
/// cannot be joined is logged and skipped.
pub async fn join_public_channels(web: &impl SlackBotApi) -> Result<Vec<Channel>, SlackError> {
    let channels = web.public_channels().await?;
    for channel in channels.iter().filter(|c| !c.is_member && !c.is_archived) {
        match web.join(&channel.id).await {
            Ok(()) => tracing::info!(channel = %channel.name, "joined channel"),
            Err(e) => tracing::warn!(channel = %channel.name, error = %e, "could not join channel"),
        }
    }
    Ok(channels)
}

/// A support rule with its channel resolved.
#[derive(Debug, Clone)]
pub struct SupportTarget {
    /// The rule from `job_configs.toml`.
    pub rule: &'static SupportRuleSpec,
    /// The support channel's id.
    pub channel_id: String,
    /// The support channel's name (for search queries).
    pub channel_name: String,
}

/// A support rule whose channel is not set or does not exist.
#[derive(Debug, thiserror::Error)]
pub enum SupportChannelError {
    #[error("{env} is not set: it names the channel for {rule} support calls")]
    NotSet {
        rule: &'static str,
        env: &'static str,
    },
    #[error("{env}={value:?} names no public channel (by name or id): it must be the channel for {rule} support calls")]
    Missing {
        rule: &'static str,
        env: &'static str,
        value: String,
    },
}

/// Resolves each rule's channel (a name, `#name` or id in settings) among `channels`.
pub fn support_targets(
    settings: &Settings,
    rules: &'static [SupportRuleSpec],
    channels: &[Channel],
) -> Result<Vec<SupportTarget>, SupportChannelError> {
    rules
        .iter()
        .map(|rule| {
            let env = rule.channel_env;
            let value = settings
                .support_channel(env)
                .ok_or(SupportChannelError::NotSet {
                    rule: rule.name,
                    env,
                })?;
            let wanted = value.trim().trim_start_matches('#');
            let channel = channels
                .iter()
                .find(|c| c.id == wanted || c.name == wanted)
                .ok_or_else(|| SupportChannelError::Missing {
                    rule: rule.name,
                    env,
                    value: value.to_string(),
                })?;
            Ok(SupportTarget {
                rule,
                channel_id: channel.id.clone(),
                channel_name: channel.name.clone(),
            })
        })
        .collect()
}
