//! Socket Mode envelopes and the Events API events the bot acts on, parsed leniently: fields the
//! bot does not use are ignored, and a malformed envelope is an error to log, not a crash.

use serde::Deserialize;
use serde_json::Value;

/// One Socket Mode frame: `{"envelope_id", "type", "payload", ...}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    /// Present on frames that must be acknowledged.
    #[serde(default)]
    pub envelope_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub payload: Value,
    /// For `disconnect`: why Slack is closing the connection.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A frame that is not a Socket Mode envelope.
#[derive(Debug, thiserror::Error)]
#[error("malformed Socket Mode envelope: {0}")]
pub struct MalformedEnvelope(#[from] serde_json::Error);

impl Envelope {
    /// Parses a text frame.
    pub fn parse(text: &str) -> Result<Self, MalformedEnvelope> {
        Ok(serde_json::from_str(text)?)
    }

    /// The ack Slack expects, sent before any work is done.
    pub fn ack(&self) -> Option<String> {
        self.envelope_id
            .as_ref()
            .map(|id| serde_json::json!({ "envelope_id": id }).to_string())
    }
}

/// The `payload` of an `events_api` envelope.
#[derive(Debug, Clone, Deserialize)]
pub struct EventCallback {
    /// Unique per event; the same on redeliveries.
    #[serde(default)]
    pub event_id: Option<String>,
    /// The event itself, parsed by [`Event::parse`].
    pub event: Value,
}

/// A message as Slack sends it in `message` and `app_mention` events (and inside edits);
/// fields are named as in Slack's API.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Message {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub channel_type: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub ts: String,
    #[serde(default)]
    pub thread_ts: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub subtype: Option<String>,
    /// For `message_changed`: the edited message.
    #[serde(default)]
    pub message: Option<Box<Message>>,
    #[serde(default)]
    pub reactions: Vec<Reaction>,
}

/// A reaction already on a message.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Reaction {
    /// The emoji name, without colons.
    pub name: String,
}

impl Message {
    /// A DM with the bot.
    pub fn is_im(&self) -> bool {
        self.channel_type.as_deref() == Some("im")
    }

    /// Whether the message already carries `reaction`.
    pub fn has_reaction(&self, reaction: &str) -> bool {
        self.reactions.iter().any(|r| r.name == reaction)
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
    /// Anything else: ignored.
    Other(String),
}

impl Event {
    /// Reads an event object.
    pub fn parse(event: &Value) -> Result<Self, serde_json::Error> {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        Ok(match kind {
            "app_mention" => Event::Mention(Message::deserialize(event)?),
            "message" => Event::Message(Message::deserialize(event)?),
            "channel_created" => {
                let id = event
                    .pointer("/channel/id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| serde::de::Error::missing_field("channel.id"))?;
                Event::ChannelCreated(id.to_string())
            }
            other => Event::Other(other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_are_acked_by_id() {
        let env =
            Envelope::parse(r#"{"envelope_id":"e1","type":"events_api","payload":{"event":{}}}"#)
                .unwrap();
        assert_eq!(env.kind, "events_api");
        assert_eq!(env.ack().unwrap(), r#"{"envelope_id":"e1"}"#);
        let hello = Envelope::parse(r#"{"type":"hello"}"#).unwrap();
        assert!(hello.ack().is_none());
        assert!(Envelope::parse("not json").is_err());
        assert!(Envelope::parse(r#"{"envelope_id":"e1"}"#).is_err());
    }

    #[test]
    fn edits_carry_the_new_message() {
        let event = json!({
            "type": "message", "subtype": "message_changed", "channel": "C1",
            "channel_type": "channel", "ts": "2.0",
            "message": {"text": "now tech-support", "user": "U1", "ts": "1.0",
                         "reactions": [{"name": "sos", "count": 1}]}
        });
        let Event::Message(m) = Event::parse(&event).unwrap() else {
            panic!("not a message")
        };
        let edited = m.message.unwrap();
        assert_eq!(edited.text, "now tech-support");
        assert!(edited.has_reaction("sos"));
        assert!(!edited.has_reaction("flamingo"));
    }

    #[test]
    fn channel_created_needs_an_id() {
        let ok = json!({"type": "channel_created", "channel": {"id": "C9", "name": "new"}});
        assert_eq!(
            Event::parse(&ok).unwrap(),
            Event::ChannelCreated("C9".into())
        );
        assert!(Event::parse(&json!({"type": "channel_created"})).is_err());
        assert_eq!(
            Event::parse(&json!({"type": "reaction_added"})).unwrap(),
            Event::Other("reaction_added".into())
        );
    }
}
