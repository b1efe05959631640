//! Answering a support call: a message naming a support keyword is reacted to and reposted
//! to that rule's support channel, once however it reaches the bot (live, edited or found by
//! search), with a reply when support is out of office.

use chrono::Utc;

use super::bot::Bot;
use super::bot_api::SlackBotApi;
use super::channels::SupportTarget;
use super::support;
use super::{OutgoingMessage, SlackApi};

impl<S: SlackApi, W: SlackBotApi> Bot<S, W> {
    /// Claims a support call (reacting to it), says when support is out of office, and reposts
    /// the message's permalink to the support channel.
    pub(crate) async fn call_support(
        &self,
        target: &SupportTarget,
        channel: &str,
        ts: &str,
        thread_ts: Option<String>,
        permalink: Option<String>,
    ) {
        if !self.claim_call(target, channel, ts).await {
            return;
        }
        let today = Utc::now().date_naive();
        // A file read: off the async threads, which must stay free to ack envelopes.
        let (rule, dir) = (target.rule, self.writeable_dir.clone());
        let ooo =
            tokio::task::spawn_blocking(move || support::out_of_office_until(rule, &dir, today))
                .await
                .ok()
                .flatten();
        if let Some(end) = ooo {
            let thread = thread_ts.or(Some(ts.to_string()));
            self.post(
                channel,
                thread,
                support::out_of_office_text(target.rule, end),
            )
            .await;
        }
        self.repost_claimed(target, channel, ts, permalink).await;
    }

    /// Claims a support call before anything is posted, so that concurrent live, edit and
    /// search handling cannot both repost it: first in memory, then by reacting, where
    /// `already_reacted` means an earlier run (or another process) handled it. `false`: leave
    /// the message alone.
    pub(crate) async fn claim_call(&self, target: &SupportTarget, channel: &str, ts: &str) -> bool {
        let rule = target.rule.name;
        if !self.handled.claim(rule, channel, ts) {
            tracing::debug!(rule, channel, ts, "support call already handled here");
            return false;
        }
        match self
            .web
            .add_reaction_once(channel, ts, target.rule.reaction)
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::info!(
                    rule,
                    channel,
                    ts,
                    "support call already reacted to: not reposting"
                );
                false
            }
            // A missing reaction must not lose the call: repost anyway.
            Err(e) => {
                tracing::error!(error = %e, rule, channel, "could not react to a support call");
                true
            }
        }
    }

    /// Reposts a claimed support call's permalink to the rule's channel; on failure the claim
    /// is given back so that search (or an edit) can retry.
    pub(crate) async fn repost_claimed(
        &self,
        target: &SupportTarget,
        channel: &str,
        ts: &str,
        permalink: Option<String>,
    ) {
        let rule = target.rule.name;
        let permalink = match permalink {
            Some(link) => Ok(link),
            None => self.slack.permalink(channel, ts).await,
        };
        let posted = match permalink {
            Ok(link) => {
                let message = OutgoingMessage {
                    channel: target.channel_id.clone(),
                    text: link,
                    ..OutgoingMessage::default()
                };
                self.slack.post_message(message).await.map(drop)
            }
            Err(e) => Err(e),
        };
        if let Err(e) = posted {
            tracing::error!(error = %e, rule, channel, "could not repost a support call");
            self.handled.release(rule, channel, ts);
        }
    }
}
