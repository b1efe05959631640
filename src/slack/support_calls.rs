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
        let ooo = self.out_of_office(target).await;
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

    /// When the rule's support is out of office until, if it is today: as the database last
    /// recorded its file (written by a job on whichever replica ran it), else as this
    /// replica's own file says (kept before the database knew it, as the Python service did).
    async fn out_of_office(&self, target: &SupportTarget) -> Option<chrono::NaiveDate> {
        let rule = target.rule;
        let name = rule.out_of_office_file?;
        let today = Utc::now().date_naive();
        match self.context.queue.shared_file(name).await {
            Ok(Some(contents)) => {
                let whence = format!("{name} (as last recorded in the database)");
                return support::out_of_office_in(contents.as_deref()?, &whence, today);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, file = name, "could not read the out-of-office state; using this replica's file")
            }
        }
        // A file read: off the async threads, which must stay free to ack envelopes.
        let dir = self.writeable_dir.clone();
        tokio::task::spawn_blocking(move || support::out_of_office_until(rule, &dir, today))
            .await
            .ok()
            .flatten()
    }

    /// Claims a support call before anything is posted, so that concurrent live, edit and
    /// search handling, in this process or any other on the database, cannot both repost it:
    /// first in the database, then by reacting, where `already_reacted` means it was handled
    /// before the database knew (an older build, or the Python service). `false`: leave the
    /// message alone.
    pub(crate) async fn claim_call(&self, target: &SupportTarget, channel: &str, ts: &str) -> bool {
        let rule = target.rule.name;
        match self
            .context
            .queue
            .claim_support_call(rule, channel, ts)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(rule, channel, ts, "support call already handled");
                return false;
            }
            // The reaction below still keeps a call from being reposted twice.
            Err(e) => {
                tracing::error!(error = %e, rule, channel, "could not claim a support call in the database")
            }
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
            if let Err(e) = self
                .context
                .queue
                .release_support_call(rule, channel, ts)
                .await
            {
                tracing::error!(error = %e, rule, channel, "could not give a support call's claim back");
            }
        }
    }
}
