//! Socket Mode frames and the Events API events the bot acts on, read with slack-morphism's
//! types. An event type it does not model, or a known type whose body does not match its
//! model, is its `Unknown` and ignored here; a frame that is no Socket Mode envelope is an
//! error to log, not a crash. [`Message`] is the bot's view of a message event.

use serde::Deserialize;
use serde_json::Value;
use slack_morphism::prelude as sm;

/// A frame that is not a Socket Mode envelope bennettbot reads.
#[derive(Debug, thiserror::Error)]
#[error("malformed Socket Mode envelope: {0}")]
pub struct MalformedEnvelope(#[from] serde_json::Error);

/// A Socket Mode envelope, as far as the bot reads it. slack-morphism 2.31 does not export its
/// own envelope types (its `models` module is private), so the envelope is ours; the event
/// inside is slack-morphism's.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Envelope {
    /// The connection works.
    Hello {},
    /// Slack is about to close the connection, and why.
    Disconnect {
        #[serde(default)]
        reason: Option<String>,
    },
    /// An event.
    EventsApi { payload: Box<Callback> },
    /// Interactivity and slash commands, which the app manifest does not enable.
    #[serde(other)]
    Other,
}

/// An event callback: slack-morphism's model of it, plus the one field of an edit that the
/// model drops and the bot needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    /// The callback as slack-morphism reads it.
    pub callback: sm::SlackPushEventCallback,
    /// A `message_changed` event's `message.thread_ts`: slack-morphism 2.31's edited message
    /// has no thread, and a reply to an edited thread reply belongs in that thread.
    pub edited_thread_ts: Option<String>,
}

impl Callback {
    /// Reads a callback from its JSON.
    pub fn from_value(value: Value) -> Result<Self, serde_json::Error> {
        let edited_thread_ts = value
            .pointer("/event/message/thread_ts")
            .filter(|_| value.pointer("/event/subtype") == Some(&Value::from("message_changed")))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Callback {
            callback: serde_json::from_value(value)?,
            edited_thread_ts,
        })
    }

    /// The event, as the bot acts on it.
    pub fn into_event(self) -> Event {
        let mut event = Event::from(self.callback.event);
        if let Event::Message(Message {
            message: Some(edited),
            ..
        }) = &mut event
        {
            edited.thread_ts = self.edited_thread_ts;
        }
        event
    }
}

impl<'de> Deserialize<'de> for Callback {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Callback::from_value(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// The ack Slack expects for a frame, `{"envelope_id": ...}`: only the id is read, so that the
/// ack goes out before the frame is parsed, let alone acted on. `None` for frames that carry
/// no id (`hello`, `disconnect`, and text that is not JSON).
pub fn ack(frame: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        envelope_id: std::borrow::Cow<'a, str>,
    }
    let id: Id = serde_json::from_str(frame).ok()?;
    Some(serde_json::json!({ "envelope_id": id.envelope_id }).to_string())
}

/// Reads a Socket Mode frame.
pub fn parse(frame: &str) -> Result<Envelope, MalformedEnvelope> {
    Ok(serde_json::from_str(frame)?)
}

/// A message as the bot sees it, from a `message` or `app_mention` event (or inside an edit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub channel: Option<String>,
    pub channel_type: Option<String>,
    pub user: Option<String>,
    pub text: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub bot_id: Option<String>,
    /// The message subtype as Slack names it (`message_changed`, `bot_message`...).
    pub subtype: Option<String>,
    /// For `message_changed`: the edited message.
    pub message: Option<Box<Message>>,
    /// The names of the reactions already on it.
    pub reactions: Vec<String>,
}

impl Message {
    /// A DM with the bot.
    pub fn is_im(&self) -> bool {
        self.channel_type.as_deref() == Some("im")
    }

    /// Whether the message already carries `reaction`.
    pub fn has_reaction(&self, reaction: &str) -> bool {
        self.reactions.iter().any(|r| r == reaction)
    }
}

/// The text and reaction names of a message's content.
fn text_and_reactions(content: Option<sm::SlackMessageContent>) -> (String, Vec<String>) {
    let Some(content) = content else {
        return (String::new(), Vec::new());
    };
    let reactions = content
        .reactions
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.name.0)
        .collect();
    (content.text.unwrap_or_default(), reactions)
}

/// A subtype as Slack spells it.
fn subtype_name(subtype: &sm::SlackMessageEventType) -> Option<String> {
    match serde_json::to_value(subtype) {
        Ok(Value::String(name)) => Some(name),
        _ => None,
    }
}

impl From<sm::SlackMessageEvent> for Message {
    fn from(event: sm::SlackMessageEvent) -> Self {
        let (text, reactions) = text_and_reactions(event.content);
        Message {
            channel: event.origin.channel.map(|c| c.0),
            channel_type: event.origin.channel_type.map(|t| t.0),
            user: event.sender.user.map(|u| u.0),
            text,
            ts: event.origin.ts.0,
            thread_ts: event.origin.thread_ts.map(|t| t.0),
            bot_id: event.sender.bot_id.map(|b| b.0),
            subtype: event.subtype.as_ref().and_then(subtype_name),
            message: event.message.map(|edited| Box::new(edited.into())),
            reactions,
        }
    }
}

impl From<sm::SlackMessageEventEdited> for Message {
    /// The message as edited; slack-morphism keeps no channel or thread for it (the bot takes
    /// the channel from the event around it, [`Callback`] the thread).
    fn from(edited: sm::SlackMessageEventEdited) -> Self {
        let (text, reactions) = text_and_reactions(edited.content);
        Message {
            user: edited.sender.user.map(|u| u.0),
            text,
            ts: edited.ts.0,
            bot_id: edited.sender.bot_id.map(|b| b.0),
            reactions,
            ..Message::default()
        }
    }
}

impl From<sm::SlackAppMentionEvent> for Message {
    fn from(event: sm::SlackAppMentionEvent) -> Self {
        let (text, reactions) = text_and_reactions(Some(event.content));
        Message {
            channel: Some(event.channel.0),
            channel_type: event.origin.channel_type.map(|t| t.0),
            user: Some(event.user.0),
            text,
            ts: event.origin.ts.0,
            thread_ts: event.origin.thread_ts.map(|t| t.0),
            reactions,
            ..Message::default()
        }
    }
}

/// The events the bot acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `app_mention`
    Mention(Message),
    /// `message` (any channel type, any subtype).
    Message(Message),
    /// `channel_created`: the new channel's id.
    ChannelCreated(String),
    /// Anything else (its type, when known): ignored.
    Other(String),
}

impl Event {
    /// Whether the bot could act on this event, judged from the event alone, before anything
    /// is written: a mention, a channel created, and a message (or an edit of one) that is a
    /// DM, mentions the bot, or calls support (`calls_support` tells from its text). Messages
    /// from bots, other subtypes (joins, topic changes...) and channel chatter cannot concern
    /// it. It must let through everything the bot's handler acts on; it may let through more.
    pub fn may_concern(&self, bot_id: &str, calls_support: impl Fn(&str) -> bool) -> bool {
        let event = match self {
            Event::Mention(_) | Event::ChannelCreated(_) => return true,
            Event::Other(_) => return false,
            Event::Message(event) => event,
        };
        let message = match event.subtype.as_deref() {
            None => event,
            Some("message_changed") => match &event.message {
                Some(edited) => edited,
                None => return false,
            },
            Some(_) => return false,
        };
        let from_a_bot = message.bot_id.is_some() || message.user.as_deref() == Some(bot_id);
        !from_a_bot
            && (event.is_im()
                || super::mention::mentions(&message.text, bot_id)
                || calls_support(&message.text))
    }
}

impl From<sm::SlackEventCallbackBody> for Event {
    fn from(body: sm::SlackEventCallbackBody) -> Self {
        match body {
            sm::SlackEventCallbackBody::AppMention(event) => Event::Mention(event.into()),
            sm::SlackEventCallbackBody::Message(event) => Event::Message(event.into()),
            sm::SlackEventCallbackBody::ChannelCreated(event) => {
                Event::ChannelCreated(event.channel.id.0)
            }
            sm::SlackEventCallbackBody::Unknown(raw) => Event::Other(
                raw.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ),
            // Events the app is subscribed to but the bot ignores.
            _ => Event::Other(String::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> Event {
        Event::from(serde_json::from_value::<sm::SlackEventCallbackBody>(value).unwrap())
    }

    #[test]
    fn envelopes_are_acked_by_id_before_they_are_read() {
        let frame = r#"{"envelope_id":"e1","type":"events_api","payload":{"event":{}}}"#;
        assert_eq!(ack(frame).unwrap(), r#"{"envelope_id":"e1"}"#);
        assert!(parse(frame).is_err(), "acked although it is malformed");
        assert!(ack(r#"{"type":"hello"}"#).is_none());
        assert!(ack("not json").is_none());
        assert!(parse("not json").is_err());
        assert!(matches!(
            parse(r#"{"type":"hello"}"#),
            Ok(Envelope::Hello {})
        ));
        assert!(matches!(
            parse(r#"{"type":"disconnect","reason":"refresh_requested"}"#),
            Ok(Envelope::Disconnect { reason: Some(r) }) if r == "refresh_requested"
        ));
        assert!(matches!(
            parse(r#"{"envelope_id":"e3","type":"slash_commands","payload":{}}"#),
            Ok(Envelope::Other)
        ));
    }

    #[test]
    fn an_edited_thread_reply_keeps_its_thread() {
        let callback = |subtype: &str| {
            Callback::from_value(json!({
                "type": "event_callback", "team_id": "T1", "api_app_id": "A1",
                "event_id": "Ev1", "event_time": 1700000000,
                "event": {"type": "message", "subtype": subtype, "channel": "C1", "ts": "2.0",
                          "message": {"type": "message", "user": "U1", "text": "now tech-support",
                                      "ts": "1.5", "thread_ts": "1.0"}},
            }))
            .unwrap()
            .into_event()
        };
        let Event::Message(m) = callback("message_changed") else {
            panic!("not a message");
        };
        let edited = m.message.unwrap();
        assert_eq!(
            (edited.ts.as_str(), edited.thread_ts.as_deref()),
            ("1.5", Some("1.0"))
        );
        // Only an edit's inner message is read for it.
        let Event::Message(m) = callback("message_replied") else {
            panic!("not a message");
        };
        assert_eq!(m.message.and_then(|inner| inner.thread_ts), None);
    }

    #[test]
    fn a_mention_is_read_from_its_envelope() {
        let frame = json!({
            "envelope_id": "e2", "type": "events_api", "accepts_response_payload": false,
            "payload": {
                "type": "event_callback", "team_id": "T1", "api_app_id": "A1",
                "event_id": "Ev1", "event_time": 1700000000,
                "event": {"type": "app_mention", "user": "U1", "text": "<@U0BOT> status",
                          "ts": "1.0", "channel": "C1", "thread_ts": "0.5"},
            },
        });
        let Envelope::EventsApi { payload } = parse(&frame.to_string()).unwrap() else {
            panic!("not an events_api envelope");
        };
        assert_eq!(payload.callback.event_id.0, "Ev1");
        let Event::Mention(m) = payload.into_event() else {
            panic!("not a mention");
        };
        assert_eq!(
            (m.channel.as_deref(), m.user.as_deref(), m.text.as_str()),
            (Some("C1"), Some("U1"), "<@U0BOT> status")
        );
        assert_eq!(
            (m.ts.as_str(), m.thread_ts.as_deref()),
            ("1.0", Some("0.5"))
        );
    }

    #[test]
    fn edits_carry_the_new_message() {
        let Event::Message(m) = event(json!({
            "type": "message", "subtype": "message_changed", "channel": "C1",
            "channel_type": "channel", "ts": "2.0",
            "message": {"text": "now tech-support", "user": "U1", "ts": "1.0",
                         "reactions": [{"name": "sos", "count": 1, "users": ["U2"]}]}
        })) else {
            panic!("not a message")
        };
        assert_eq!(m.subtype.as_deref(), Some("message_changed"));
        let edited = m.message.unwrap();
        assert_eq!(edited.text, "now tech-support");
        assert_eq!(edited.ts, "1.0");
        assert!(edited.has_reaction("sos"));
        assert!(!edited.has_reaction("flamingo"));
    }

    #[test]
    fn direct_messages_and_bots_are_told_apart() {
        let Event::Message(dm) = event(json!({
            "type": "message", "channel": "D1", "channel_type": "im", "user": "U1",
            "text": "status", "ts": "1.0",
        })) else {
            panic!("not a message")
        };
        assert!(dm.is_im() && dm.bot_id.is_none() && dm.subtype.is_none());
        let Event::Message(bot) = event(json!({
            "type": "message", "subtype": "bot_message", "channel": "C1", "bot_id": "B1",
            "text": "beep", "ts": "1.0",
        })) else {
            panic!("not a message")
        };
        assert_eq!(bot.bot_id.as_deref(), Some("B1"));
        assert_eq!(bot.subtype.as_deref(), Some("bot_message"));
    }

    #[test]
    fn only_events_the_bot_may_act_on_concern_it() {
        let concerns = |value: Value| {
            event(value).may_concern("UBOT", |text: &str| text.contains("tech-support"))
        };
        let message = |fields: Value| {
            let mut m = json!({"type": "message", "channel": "C1", "channel_type": "channel",
                               "user": "U1", "text": "lunch?", "ts": "1.0"});
            m.as_object_mut()
                .unwrap()
                .extend(fields.as_object().unwrap().clone());
            m
        };
        let edit = |channel_type: &str, inner: Value| {
            json!({"type": "message", "subtype": "message_changed", "channel": "C1",
                   "channel_type": channel_type, "ts": "2.0", "message": inner})
        };
        // Channel chatter, other bots, the bot itself, joins: nothing to do, nothing written.
        assert!(!concerns(message(json!({}))));
        assert!(!concerns(message(
            json!({"text": "tech-support", "bot_id": "B1"})
        )));
        assert!(!concerns(message(
            json!({"text": "tech-support", "user": "UBOT"})
        )));
        assert!(!concerns(message(
            json!({"subtype": "channel_join", "text": "<@UBOT>"})
        )));
        assert!(!concerns(edit(
            "channel",
            json!({"user": "U1", "text": "lunch at 1?", "ts": "1.0"})
        )));
        assert!(!concerns(json!({"type": "reaction_added"})));
        // DMs, mentions, support calls (also when edited in), and the events the bot acts on.
        assert!(concerns(message(
            json!({"channel": "D1", "channel_type": "im"})
        )));
        assert!(concerns(message(json!({"text": "hey <@UBOT> status"}))));
        assert!(concerns(message(json!({"text": "help tech-support"}))));
        assert!(concerns(edit(
            "channel",
            json!({"user": "U1", "text": "now tech-support", "ts": "1.0"})
        )));
        assert!(concerns(edit(
            "im",
            json!({"user": "U1", "text": "status", "ts": "1.0"})
        )));
        assert!(concerns(
            json!({"type": "app_mention", "user": "U1", "text": "<@UBOT> status",
                                "ts": "1.0", "channel": "C1"})
        ));
        assert!(concerns(json!({"type": "channel_created",
                                "channel": {"id": "C9", "name": "new", "created": 1}})));
    }

    #[test]
    fn channels_created_are_read_and_other_events_ignored() {
        let created = json!({"type": "channel_created", "channel": {"id": "C9", "name": "new", "created": 1}});
        assert_eq!(event(created), Event::ChannelCreated("C9".into()));
        assert_eq!(
            event(json!({"type": "channel_created"})),
            Event::Other("channel_created".into()),
            "malformed: ignored"
        );
        assert_eq!(
            event(json!({"type": "something_new", "x": 1})),
            Event::Other("something_new".into())
        );
    }
}
