//! Socket Mode on slack-morphism's client: it opens the connection (`apps.connections.open`),
//! pings, and reconnects; this module acks every envelope at once, hands events to the bot
//! and counts reconnects.
//!
//! slack-morphism 2.31 opens the websocket without `TCP_NODELAY` and offers no way to set it:
//! within a burst of envelopes, acks after the first can wait for Slack's delayed TCP ACK
//! (tens of milliseconds; Slack redelivers only after 3 s). A lone envelope's ack is not
//! delayed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use slack_morphism::listener::SlackClientEventsListenerEnvironment;
use slack_morphism::prelude as sm;
use slack_morphism::socket_mode::clients_manager::{
    SlackSocketModeClientsManager, SlackSocketModeClientsManagerFactory,
};
use slack_morphism::{SlackSocketModeClientListener, SlackSocketModeWssClientId};
use tokio::sync::{mpsc, watch};

use super::events::{self, Callback, Envelope};
use crate::metrics::record::{self, Reconnect};

/// slack-morphism over hyper, HTTPS or (for a local fake Slack) plain HTTP.
pub type Connector = sm::SlackClientHyperHttpsConnector;

/// What opens Socket Mode connections: slack-morphism's client for the Web API and the
/// app-level token.
#[derive(Clone)]
pub struct SocketModeClient {
    /// The Web API client (`apps.connections.open` goes through it).
    pub client: Arc<sm::SlackClient<Connector>>,
    /// The app-level token.
    pub app_token: sm::SlackApiToken,
}

/// The connection's timings. slack-morphism counts them in whole seconds: each is rounded up,
/// to at least one second.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The wait before trying again after a failed attempt to connect. A connection that
    /// drops, or that Slack asks to refresh, is replaced at once.
    pub reconnect_wait: Duration,
    /// How often to ping Slack.
    pub ping_interval: Duration,
    /// Ping intervals without a pong after which the connection counts as dead.
    pub unanswered_pings: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            reconnect_wait: Duration::from_secs(5),
            ping_interval: Duration::from_secs(30),
            unanswered_pings: 3,
        }
    }
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs_f64().ceil().max(1.0) as u64
}

impl Timing {
    /// slack-morphism's configuration: one connection (Slack delivers each envelope to one of
    /// an app's connections, so a second would only double the reconnects to watch).
    fn config(&self) -> sm::SlackClientSocketModeConfig {
        sm::SlackClientSocketModeConfig::new()
            .with_max_connections_count(1)
            .with_debug_connections(false)
            .with_initial_backoff_in_seconds(0)
            .with_reconnect_timeout_in_seconds(whole_seconds(self.reconnect_wait))
            .with_ping_interval_in_seconds(whole_seconds(self.ping_interval))
            .with_ping_failure_threshold_times(u64::from(self.unanswered_pings.max(1)))
    }
}

/// What the connection hands to the bot.
#[derive(Debug, Clone)]
pub enum SocketEvent {
    /// A connection was established (and the health-check file may be touched).
    Connected,
    /// The `payload` of an `events_api` envelope, already acked.
    Events(Box<Callback>),
}

/// Keeps a Socket Mode connection open until `shutdown` turns true or the bot stops listening.
pub async fn listen(
    socket_mode: SocketModeClient,
    timing: Timing,
    events: mpsc::UnboundedSender<SocketEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let environment = Arc::new(SlackClientEventsListenerEnvironment::new(
        socket_mode.client.clone(),
    ));
    let manager = socket_mode
        .client
        .http_api
        .connector
        .new_clients_manager(environment);
    let forwarder = Arc::new(Forwarder {
        events: events.clone(),
        manager: OnceLock::new(),
        replaced: Mutex::default(),
        stopping: AtomicBool::new(false),
    });
    let _ = forwarder.manager.set(Arc::downgrade(&manager));
    if let Err(error) = manager
        .register_new_token(&timing.config(), socket_mode.app_token, forwarder.clone())
        .await
    {
        tracing::error!(%error, "Socket Mode could not start");
        return;
    }
    manager.start().await;
    tokio::select! {
        _ = shutdown.wait_for(|stop| *stop) => {}
        _ = events.closed() => {}
    }
    // From here nothing is acked, and no connection replaced: a replacement racing the
    // shutdown could otherwise outlive it, acking what nobody will read.
    forwarder.stopping.store(true, Ordering::SeqCst);
    manager.shutdown().await;
}

/// How many replaced connections are remembered (far fewer than the 65 ids slack-morphism
/// cycles through).
const RECENTLY_REPLACED: usize = 8;

/// slack-morphism's listener for raw envelopes: acks each one as soon as it is read.
struct Forwarder {
    events: mpsc::UnboundedSender<SocketEvent>,
    /// Set once the manager exists (it needs this listener first).
    manager: OnceLock<Weak<dyn SlackSocketModeClientsManager + Send + Sync>>,
    /// The connections replaced last: the ping task and the reader may both report one, and
    /// an old connection's reader may report it after it was replaced.
    replaced: Mutex<VecDeque<SlackSocketModeWssClientId>>,
    /// Set when the bot stops listening: Slack delivers what is not acked to another
    /// connection (another replica), or again later.
    stopping: AtomicBool,
}

impl Forwarder {
    /// Replaces connection `id` with a fresh one (at once), counting it once.
    async fn replace(&self, id: &SlackSocketModeWssClientId, reason: Reconnect) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        {
            let mut replaced = self.replaced.lock().expect("not poisoned");
            if replaced.contains(id) {
                return;
            }
            // slack-morphism numbers a connection's successors 0 to 64 and then starts again,
            // so only the latest few ids mean "already replaced".
            if replaced.len() == RECENTLY_REPLACED {
                replaced.pop_front();
            }
            replaced.push_back(id.clone());
        }
        record::socket_reconnect(reason);
        if let Some(manager) = self.manager.get().and_then(Weak::upgrade) {
            manager.restart_client(id).await;
        }
    }
}

#[async_trait::async_trait]
impl SlackSocketModeClientListener for Forwarder {
    async fn on_message(&self, id: &SlackSocketModeWssClientId, frame: String) -> Option<String> {
        if self.stopping.load(Ordering::SeqCst) {
            return None;
        }
        let received = Instant::now();
        // Only the id is read for the ack: even a frame whose payload does not parse is acked,
        // as it would not parse any better redelivered. (slack-morphism's envelope types are
        // not public: the envelope enum is ours.)
        let ack = events::ack(&frame);
        match events::parse(&frame) {
            Ok(Envelope::Hello {}) => {
                tracing::info!("Socket Mode connected");
                let _ = self.events.send(SocketEvent::Connected);
            }
            Ok(Envelope::Disconnect { reason }) => {
                tracing::info!(?reason, "Slack asked to reconnect; reconnecting");
                self.replace(id, Reconnect::Requested).await;
            }
            Ok(Envelope::EventsApi { payload }) => {
                // An event the bot can no longer take is left for Slack to deliver again.
                if self.events.send(SocketEvent::Events(payload)).is_err() {
                    return None;
                }
            }
            Ok(Envelope::Other) => tracing::debug!("ignoring an envelope"),
            Err(error) => tracing::warn!(%error, "skipping a frame"),
        }
        if ack.is_some() {
            // From reading the frame to handing the ack to slack-morphism's writer.
            record::envelope_acked(received.elapsed());
        }
        ack
    }

    async fn on_error(&self, error: Box<dyn std::error::Error + Send + Sync>) {
        tracing::warn!(%error, "Socket Mode connection error");
    }

    async fn on_disconnect(&self, id: &SlackSocketModeWssClientId) {
        tracing::warn!("Socket Mode connection lost; reconnecting");
        self.replace(id, Reconnect::Dropped).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening() -> (Forwarder, mpsc::UnboundedReceiver<SocketEvent>) {
        let (events, received) = mpsc::unbounded_channel();
        let forwarder = Forwarder {
            events,
            manager: OnceLock::new(),
            replaced: Mutex::default(),
            stopping: AtomicBool::new(false),
        };
        (forwarder, received)
    }

    fn envelope(id: &str) -> String {
        serde_json::json!({
            "envelope_id": id, "type": "events_api", "accepts_response_payload": false,
            "payload": {
                "type": "event_callback", "team_id": "T1", "api_app_id": "A1",
                "event_id": format!("Ev{id}"), "event_time": 1700000000,
                "event": {"type": "app_mention", "user": "U1", "text": "hi", "ts": "1.0",
                          "channel": "C1"},
            },
        })
        .to_string()
    }

    fn connection() -> SlackSocketModeWssClientId {
        SlackSocketModeWssClientId::new(0, 0, 0)
    }

    #[tokio::test]
    async fn an_event_is_acked_once_the_bot_has_it() {
        let (forwarder, mut received) = listening();
        let ack = forwarder.on_message(&connection(), envelope("e1")).await;
        assert_eq!(ack.as_deref(), Some(r#"{"envelope_id":"e1"}"#));
        assert!(matches!(received.try_recv(), Ok(SocketEvent::Events(_))));
        // A frame that will never parse is acked all the same: a redelivery would not help.
        let ack = forwarder
            .on_message(
                &connection(),
                r#"{"envelope_id":"e2","type":"events_api"}"#.into(),
            )
            .await;
        assert!(ack.is_some());
    }

    #[tokio::test]
    async fn nothing_is_acked_that_the_bot_will_not_act_on() {
        // The bot has stopped reading: Slack must deliver the event again, elsewhere.
        let (forwarder, received) = listening();
        drop(received);
        assert_eq!(
            forwarder.on_message(&connection(), envelope("e1")).await,
            None
        );

        // The listener is stopping: not even a frame it could read is acked.
        let (forwarder, mut received) = listening();
        forwarder.stopping.store(true, Ordering::SeqCst);
        assert_eq!(
            forwarder.on_message(&connection(), envelope("e1")).await,
            None
        );
        assert!(
            received.try_recv().is_err(),
            "handed to the bot while stopping"
        );
    }
}
