//! Searching for support calls the bot did not hear (e.g. posted while it was down or in a
//! channel it had not joined), with the user token: each hit is re-checked with the same
//! matcher, then claimed, reacted to and reposted like a call heard live.

use chrono::{Days, NaiveDate};

use super::bot::Bot;
use super::bot_api::{SearchMatch, SlackBotApi};
use super::channels::SupportTarget;
use super::rate::Pacer;
use super::support::contains_keyword;
use super::SlackApi;

/// The `search.messages` query for one keyword: the last two days, without the rule's
/// reaction, outside its support channel.
pub fn query(target: &SupportTarget, keyword: &str, today: NaiveDate) -> String {
    let since = today
        .checked_sub_days(Days::new(2))
        .unwrap_or(today)
        .format("%Y-%m-%d");
    format!(
        "\"{keyword}\" -has::{}: -in:#{} after:{since}",
        target.rule.reaction, target.channel_name
    )
}

impl<S: SlackApi, W: SlackBotApi> Bot<S, W> {
    /// Whether a hit is a support call for `target` that the bot should act on.
    fn wants(&self, target: &SupportTarget, hit: &SearchMatch) -> bool {
        !hit.channel.is_im
            && !hit.channel.is_mpim
            && hit.channel.id != target.channel_id
            && hit.user.as_deref() != Some(self.bot_id.as_str())
            && target
                .rule
                .keywords
                .iter()
                .any(|k| contains_keyword(&hit.text, k))
    }

    /// How many `search.messages` calls one round makes.
    pub(crate) fn searches_per_round(&self) -> usize {
        self.targets.iter().map(|t| t.rule.keywords.len()).sum()
    }

    /// One search round over every rule's keywords, its calls spaced by `pacer`.
    pub(crate) async fn check_search(&self, today: NaiveDate, pacer: &mut Pacer) {
        for target in &self.targets {
            for keyword in target.rule.keywords {
                pacer.ready().await;
                let hits = match self.web.search(&query(target, keyword, today)).await {
                    Ok(hits) => hits,
                    Err(e) => {
                        if let Some(wait) = e.retry_after() {
                            pacer.hold_off(wait);
                        }
                        tracing::warn!(error = %e, rule = target.rule.name, "support search failed");
                        continue;
                    }
                };
                for hit in hits {
                    if !self.wants(target, &hit) {
                        continue;
                    }
                    // Shared with the live handler: search results lag behind reactions, and a
                    // call heard live may be found again.
                    if self.claim_call(target, &hit.channel.id, &hit.ts).await {
                        tracing::info!(rule = target.rule.name, channel = %hit.channel.id, "found a missed support call");
                        self.repost_claimed(
                            target,
                            &hit.channel.id,
                            &hit.ts,
                            hit.permalink.clone(),
                        )
                        .await;
                    }
                }
            }
        }
    }
}
