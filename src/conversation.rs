//! Acting on a message, the same for Slack and the local shell: permissions, the queue, and the
//! replies users know, word for word.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};

use crate::config::{help, suggest, Action, Command, Config};
use crate::intent::{understand, Intent};
use crate::permissions::{authorize, Asker, Decision, Deed, Facts, Refusal};
use crate::queue::{NewJob, Queue, QueueError, Removal, Status, Suppression};
use crate::schedule::Timetable;

/// Where a message came from and how to answer it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The command text, normalised (see [`crate::intent::normalise`]).
    pub text: String,
    pub channel: String,
    /// The thread the message was in, if any; replies go there.
    pub thread_ts: Option<String>,
    /// The message's own ts, for reactions and job reports.
    pub message_ts: Option<String>,
    /// A direct message with the bot.
    pub is_im: bool,
    /// Who sent it (a Slack user id; the shell's user on the terminal), named when a running
    /// job they remove is stopped.
    pub user: String,
    /// Replying to a mention: help then says `@<bot>` before commands.
    pub mentioned: bool,
}

/// Something to do in reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// React to the message.
    React(String),
    /// Reply in the message's thread (or channel).
    Reply(String),
}

/// Fixed context for answering messages.
#[derive(Debug, Clone)]
pub struct Context {
    /// The commands, namespaces and schedules messages are answered from.
    pub config: &'static Config,
    /// The config's schedules, read once, for `status`.
    pub schedules: Arc<[Timetable]>,
    /// Where commands queue, cancel and suppress jobs.
    pub queue: Queue,
    /// The bot's name, for `@name` in help texts.
    pub bot_name: String,
    /// What internal users are called (`SLACK_ORG_NAME`).
    pub org: String,
    /// Reaction to accepted commands (`SLACK_ACK_REACTION`).
    pub ack_reaction: String,
}

impl Context {
    /// A context answering from `config` and `queue`, with `config`'s schedules read here.
    pub fn new(
        config: &'static Config,
        queue: Queue,
        bot_name: String,
        org: String,
        ack_reaction: String,
    ) -> Context {
        Context {
            config,
            schedules: crate::schedule::listing::for_status(config).into(),
            queue,
            bot_name,
            org,
            ack_reaction,
        }
    }

    fn mention(&self, incoming: &Incoming) -> String {
        if incoming.mentioned {
            format!("@{} ", self.bot_name)
        } else {
            String::new()
        }
    }

    /// Answers one message; `facts` tells the permission rules what they need to know of the
    /// sender (asked only when a rule needs it).
    pub async fn handle<F: Facts>(
        &self,
        incoming: &Incoming,
        now: DateTime<Utc>,
        facts: &F,
    ) -> Result<Vec<Effect>, QueueError> {
        let mention = self.mention(incoming);
        let asker = Asker {
            user: &incoming.user,
            channel: &incoming.channel,
        };
        Ok(match understand(self.config, &incoming.text) {
            Intent::Status => vec![Effect::Reply(status_text(
                &self.queue.status(now).await?,
                now,
                &self.schedules,
            ))],
            Intent::RemoveJob(id) => {
                if let Some(job) = self.queue.requested(id).await? {
                    let deed = Deed::Remove {
                        job_type: &job.job_type,
                        requesters: &job.requesters,
                    };
                    let what = format!("remove job id [{id}] (`{}`)", job.job_type);
                    if let Some(refused) = self.refusal(asker, deed, facts, &what).await {
                        return Ok(refused);
                    }
                }
                // A running job is stopped by its dispatcher, which then says so in its thread.
                let text = match self.queue.remove_job(id, &incoming.user, now).await? {
                    Removal::Removed | Removal::Stopping => format!("Job id [{id}] removed"),
                    Removal::NotFound => {
                        format!("Job id [{id}] not found in running or scheduled jobs")
                    }
                };
                vec![Effect::React("crossed_fingers".into()), Effect::Reply(text)]
            }
            Intent::NamespaceHelp(ns) => {
                let mut closed = Vec::new();
                for command in self.config.sorted_commands(ns) {
                    let deed = Deed::Run {
                        command,
                        params: &[],
                    };
                    let logs = self.config.job(command.job_type).and_then(|j| j.logs_of);
                    // A logs command is judged on its folder when run; help judges the rest.
                    let decision = if logs.is_some() {
                        let rules = crate::permissions::command_rules(self.config, command);
                        crate::permissions::check_rules(&rules, asker, facts).await
                    } else {
                        authorize(self.config, asker, deed, facts).await
                    };
                    if !decision.is_allowed() {
                        closed.push(command.usage);
                    }
                }
                vec![Effect::Reply(help::namespace_help(
                    self.config,
                    ns,
                    &self.org,
                    &closed,
                ))]
            }
            Intent::Help { understood } => {
                let mut text = String::new();
                if !understood {
                    text.push_str("I'm sorry, I didn't understand you\n\n");
                }
                text.push_str(&help::general_help(self.config, &mention));
                if !understood {
                    let near = suggest::nearest(self.config, &incoming.text, 3);
                    if !near.is_empty() {
                        let names: Vec<String> = near
                            .iter()
                            .map(|c| format!("`{mention}{}`", c.usage))
                            .collect();
                        text.push_str(&format!("\n\nDid you mean {}?", join_or(&names)));
                    }
                }
                vec![Effect::Reply(text)]
            }
            Intent::Command(cmd) => {
                let spec = cmd.spec();
                let params = cmd.params();
                let deed = Deed::Run {
                    command: spec,
                    params: &params,
                };
                let what = format!("run `{}`", spec.usage);
                if let Some(refused) = self.refusal(asker, deed, facts, &what).await {
                    return Ok(refused);
                }
                let mut effects = vec![Effect::React(self.ack_reaction.clone())];
                effects.extend(self.act(&cmd, incoming, now, &mention).await?);
                effects
            }
        })
    }

    /// The reply refusing `deed`, counted, if the rules refuse it (`what` names it to the
    /// user); `None` if it may go ahead.
    async fn refusal<F: Facts>(
        &self,
        asker: Asker<'_>,
        deed: Deed<'_>,
        facts: &F,
        what: &str,
    ) -> Option<Vec<Effect>> {
        let refusal: Refusal = match authorize(self.config, asker, deed, facts).await {
            Decision::Allowed(_) => return None,
            Decision::Refused(refusal) => refusal,
            // Only `shell --as` cannot know a user group's members: it refuses, and says which.
            Decision::Depends(mut needs) => needs.remove(0),
        };
        crate::metrics::record::permission_refused(deed.label(self.config), deed.namespace());
        tracing::info!(user = asker.user, channel = asker.channel, what, scope = %refusal.scope, "refused by the permission rules");
        Some(vec![Effect::Reply(refusal.reply(what, &self.org))])
    }

    async fn act(
        &self,
        cmd: &Command,
        incoming: &Incoming,
        now: DateTime<Utc>,
        mention: &str,
    ) -> Result<Vec<Effect>, QueueError> {
        let spec = cmd.spec();
        let job_type = cmd.job_type().as_str();
        Ok(match spec.action {
            Action::ScheduleJob => {
                // The report goes where the command was: its thread if it was in one, else the
                // channel itself (the reactions mark the command).
                let args = cmd.args();
                let start_after =
                    crate::queue::start_after(now, Duration::from_secs(spec.delay_seconds))?;
                let scheduled = self
                    .queue
                    .schedule(&NewJob {
                        job_type,
                        args: &args,
                        channel: &incoming.channel,
                        thread_ts: incoming.thread_ts.as_deref(),
                        message_ts: incoming.message_ts.as_deref(),
                        is_im: incoming.is_im,
                        start_after,
                        // Who asked may remove it, whatever the rules (the Python service let anyone).
                        requester: Some(&incoming.user),
                    })
                    .await?;
                if scheduled.already_running {
                    vec![Effect::Reply(format!(
                        "A `{job_type}` job has already started; request queued. Type `{mention}status` to see running jobs, and `{mention}remove job id [id]` to remove a blocking job."
                    ))]
                } else {
                    Vec::new()
                }
            }
            // The acknowledging reaction is the whole answer, as users know it.
            Action::CancelJob => {
                self.queue.cancel_job(job_type).await?;
                Vec::new()
            }
            Action::ScheduleSuppression => {
                let params = cmd.params();
                let value = |name: &str| {
                    params
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| *v)
                        .unwrap_or("")
                };
                match suppression_window(value("start_at"), value("end_at"), now) {
                    Some((start, end)) => {
                        self.queue
                            .schedule_suppression(job_type, start, end)
                            .await?;
                        vec![Effect::Reply(format!(
                            "{job_type} suppressed from {} to {}",
                            show_time(start),
                            show_time(end)
                        ))]
                    }
                    None => vec![Effect::Reply(
                        "Wrong time format - `[start_at]` and `[end_at]` must be HH:MM with `[start_at]` < `[end_at]`".into(),
                    )],
                }
            }
            Action::CancelSuppression => {
                self.queue.cancel_suppressions(job_type).await?;
                vec![Effect::Reply(format!("{job_type} suppressions cancelled"))]
            }
        })
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Parses `HH:MM` or `HHMM` (exactly two digits each) as a time today (UTC).
pub fn parse_hhmm(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // Slicing by bytes below needs one byte per character (`😀` is four bytes, no time).
    if !text.is_ascii() {
        return None;
    }
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    let shaped = match text.len() {
        4 => digits(&text[..2]) && digits(&text[2..]),
        5 => {
            text.is_char_boundary(2)
                && text.is_char_boundary(3)
                && digits(&text[..2])
                && &text[2..3] == ":"
                && digits(&text[3..])
        }
        _ => false,
    };
    if !shaped {
        return None;
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H%M"))
        .ok()?;
    if !(text.len() == 5 || text.len() == 4) {
        return None;
    }
    Some(now.date_naive().and_time(time).and_utc())
}

/// A suppression window today from `[start_at]` and `[end_at]`, if valid and in order.
pub fn suppression_window(
    start: &str,
    end: &str,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = parse_hhmm(start, now)?;
    let end = parse_hhmm(end, now)?;
    (start < end).then_some((start, end))
}

/// Times as users have always seen them: the stored form, e.g. `2026-11-27 09:00:00.000000+00:00`.
fn show_time(t: DateTime<Utc>) -> String {
    crate::queue::format_time(t)
}

fn suppression_line(s: &Suppression) -> String {
    format!(
        "* [{}] {} (from {} to {})",
        s.id,
        s.job_type,
        show_time(s.start_at),
        show_time(s.end_at)
    )
}

/// The `status` reply, listing `schedules` with the next run of each.
pub fn status_text(status: &Status, now: DateTime<Utc>, schedules: &[Timetable]) -> String {
    let mut out = format!("The time is {}\n\n", show_time(now));
    let mut any = false;
    let mut section = |noun: &str, lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        any = true;
        let head = if lines.len() == 1 {
            format!("There is 1 {noun}:")
        } else {
            format!("There are {} {noun}s:", lines.len())
        };
        out.push_str(&head);
        out.push_str("\n\n");
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    };
    section(
        "running job",
        status
            .running
            .iter()
            .map(|j| {
                format!(
                    "* [{}] {} (started at {})",
                    j.id,
                    j.job_type,
                    j.started_at.map(show_time).unwrap_or_default()
                )
            })
            .collect(),
    );
    section(
        "scheduled job",
        status
            .scheduled
            .iter()
            .map(|j| {
                format!(
                    "* [{}] {} (starting after {})",
                    j.id,
                    j.job_type,
                    show_time(j.start_after)
                )
            })
            .collect(),
    );
    section(
        "unreadable job",
        status
            .unreadable
            .iter()
            .map(|b| {
                format!(
                    "* [{}] {} ({}; `remove job id {}` removes it)",
                    b.id, b.job_type, b.reason, b.id
                )
            })
            .collect(),
    );
    section(
        "active suppression",
        status
            .active_suppressions
            .iter()
            .map(suppression_line)
            .collect(),
    );
    section(
        "scheduled suppression",
        status
            .scheduled_suppressions
            .iter()
            .map(suppression_line)
            .collect(),
    );
    if !any {
        out.push_str("Nothing is happening\n\n");
    }
    // Schedules are configuration, not activity: listed after "Nothing is happening".
    let schedules = crate::schedule::listing::status_lines(schedules, now);
    if !schedules.is_empty() {
        let head = if schedules.len() == 1 {
            "There is 1 schedule:".to_string()
        } else {
            format!("There are {} schedules:", schedules.len())
        };
        out.push_str(&head);
        out.push_str("\n\n");
        out.push_str(&schedules.join("\n"));
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_hh_mm_or_hhmm_today() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap();
        assert_eq!(
            parse_hhmm("09:30", now),
            Some(Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap())
        );
        assert_eq!(
            parse_hhmm("0930", now),
            Some(Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap())
        );
        assert_eq!(parse_hhmm("9:30pm", now), None);
        assert_eq!(parse_hhmm("9:30", now), None);
        assert_eq!(parse_hhmm("09:3", now), None);
        assert_eq!(parse_hhmm("0930 ", now), None);
        assert_eq!(parse_hhmm("09é0", now), None);
        assert_eq!(parse_hhmm("25:00", now), None);
        assert!(suppression_window("10:00", "09:00", now).is_none());
        assert!(suppression_window("09:00", "09:00", now).is_none());
        assert!(suppression_window("09:00", "1000", now).is_some());
    }

    #[test]
    fn status_lists_unreadable_rows_with_how_to_remove_them() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap();
        let status = Status {
            unreadable: vec![crate::queue::BadRow {
                id: 7,
                job_type: "test_hello_name".into(),
                channel: None,
                thread_ts: None,
                run: None,
                reason: "args are NULL".into(),
            }],
            ..Status::default()
        };
        let text = status_text(&status, now, &[]);
        assert!(
            text.ends_with(
                "There is 1 unreadable job:\n\n* [7] test_hello_name (args are NULL; `remove job id 7` removes it)"
            ),
            "{text}"
        );
    }

    #[test]
    fn status_lists_each_schedule_with_its_next_run() {
        static SPEC: crate::config::ScheduleSpec = crate::config::ScheduleSpec {
            key: "test_hello_world 30 8 * * * Europe/London",
            namespace: "test",
            job_type: "test_hello_world",
            cron: "30 8 * * *",
            timezone: "Europe/London",
            args: &[],
            channel: "#tech",
            catch_up: crate::config::CatchUp::Skip,
        };
        let schedule = crate::schedule::Timetable::new(&SPEC).expect("valid");
        let now = Utc.with_ymd_and_hms(2026, 7, 3, 12, 0, 0).unwrap();
        let text = status_text(&Status::default(), now, &[schedule]);
        assert_eq!(
            text,
            "The time is 2026-07-03 12:00:00.000000+00:00\n\nNothing is happening\n\n\
             There is 1 schedule:\n\n\
             * test_hello_world (`30 8 * * *` Europe/London, to #tech, catch-up skip): next at 2026-07-04 07:30 UTC = 2026-07-04 08:30 BST"
        );
        // Without schedules the reply ends with the activity.
        assert!(status_text(&Status::default(), now, &[]).ends_with("Nothing is happening"));
    }

    #[test]
    fn join_or_reads_naturally() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(join_or(&s(&["a"])), "a");
        assert_eq!(join_or(&s(&["a", "b", "c"])), "a, b or c");
    }
}
