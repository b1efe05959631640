//! The Socket Mode connection: open a URL with the app token, ack every envelope at once, hand
//! events to the bot, and reconnect (with backoff) whenever Slack or the network drops us.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use slack_morphism::prelude as sm;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message as Frame;

use super::bot_api::SlackBotApi;
use super::events::{self, Envelope};
use crate::metrics::record::{self, Reconnect};

/// The connection's timings.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The first wait before reconnecting after a failure; it doubles on each failure.
    pub min_backoff: Duration,
    /// The longest wait before reconnecting.
    pub max_backoff: Duration,
    /// How often to ping Slack; a connection that answers none of [`UNANSWERED_PINGS`] pings
    /// in a row is dead.
    pub ping_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            ping_interval: Duration::from_secs(30),
        }
    }
}

/// Pings in a row that may go unanswered (no frame at all since) before the connection counts
/// as dead. Counted in pings rather than time: a listener kept off the runtime's threads for a
/// while (busy handlers) has heard nothing meanwhile only because it did not listen, and must
/// not drop a connection that may hold envelopes waiting to be read.
pub const UNANSWERED_PINGS: u32 = 3;

/// What the connection hands to the bot.
#[derive(Debug, Clone)]
pub enum SocketEvent {
    /// A connection was established (and the health-check file may be touched).
    Connected,
    /// The `payload` of an `events_api` envelope, already acked.
    Events(Box<sm::SlackPushEventCallback>),
}

/// Why one connection ended.
enum Ended {
    /// Slack asked us to reconnect (`disconnect`): at once, unless it keeps asking.
    Disconnect,
    /// The socket failed or closed: reconnect after a backoff.
    Dropped(String),
    /// Shutting down.
    Shutdown,
}

/// Keeps a Socket Mode connection open until `shutdown` turns true or the bot stops listening.
pub async fn listen<W: SlackBotApi>(
    web: Arc<W>,
    timing: Timing,
    events: mpsc::UnboundedSender<SocketEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wait = timing.min_backoff;
    loop {
        if *shutdown.borrow() || events.is_closed() {
            return;
        }
        let started = tokio::time::Instant::now();
        let ended = match connect_once(&*web, &events, &mut shutdown, &mut wait, timing).await {
            Ok(ended) => ended,
            Err(detail) => Ended::Dropped(detail),
        };
        match ended {
            Ended::Shutdown => return,
            // Routine refreshes come hours apart: reconnect at once. A connection told to go
            // again almost as soon as it opened is a storm, and gets the backoff too.
            Ended::Disconnect if started.elapsed() >= timing.max_backoff => {
                tracing::info!("Slack asked to reconnect; reconnecting");
                record::socket_reconnect(Reconnect::Requested);
            }
            Ended::Disconnect => {
                record::socket_reconnect(Reconnect::Requested);
                tracing::warn!(
                    wait_ms = wait.as_millis() as u64,
                    "Slack asked to reconnect again soon after connecting; backing off"
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                wait = (wait * 2).min(timing.max_backoff);
            }
            Ended::Dropped(detail) => {
                record::socket_reconnect(Reconnect::Dropped);
                tracing::warn!(%detail, wait_ms = wait.as_millis() as u64, "Socket Mode connection lost; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                wait = (wait * 2).min(timing.max_backoff);
            }
        }
    }
}

async fn connect_once(
    web: &impl SlackBotApi,
    events: &mpsc::UnboundedSender<SocketEvent>,
    shutdown: &mut watch::Receiver<bool>,
    wait: &mut Duration,
    timing: Timing,
) -> Result<Ended, String> {
    let connecting = async {
        let url = web
            .open_connection()
            .await
            .map_err(|e| format!("opening a connection: {e}"))?;
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| format!("connecting: {e}"))
    };
    // Shutting down must not wait for a slow Slack to answer.
    let (socket, _) = tokio::select! {
        connected = connecting => connected?,
        _ = shutdown.changed() => return Ok(Ended::Shutdown),
    };
    tracing::info!("Socket Mode connected");
    let _ = events.send(SocketEvent::Connected);
    let (mut sink, mut stream) = socket.split();
    let mut pings = tokio::time::interval(timing.ping_interval);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A half-open TCP connection never errors: silence (not even a pong) is how it shows.
    let mut unanswered = 0u32;
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = pings.tick() => {
                if unanswered >= UNANSWERED_PINGS {
                    return Err(format!("no frames from Slack, not even pongs to {unanswered} pings"));
                }
                sink.send(Frame::Ping(Default::default()))
                    .await
                    .map_err(|e| format!("pinging: {e}"))?;
                unanswered += 1;
                continue;
            }
            _ = shutdown.changed() => {
                let _ = sink.send(Frame::Close(None)).await;
                return Ok(Ended::Shutdown);
            }
        };
        unanswered = 0;
        let received = std::time::Instant::now();
        let text = match frame {
            None => return Err("socket closed".into()),
            Some(Err(e)) => return Err(format!("reading: {e}")),
            Some(Ok(Frame::Text(text))) => text,
            Some(Ok(Frame::Close(close))) => return Err(format!("closed by Slack: {close:?}")),
            // Pings are answered by tungstenite; binary frames are not part of Socket Mode.
            Some(Ok(_)) => continue,
        };
        // Ack before any work, even before reading the frame: Slack redelivers envelopes not
        // acked within 3 seconds.
        if let Some(ack) = events::ack(text.as_str()) {
            sink.send(Frame::text(ack))
                .await
                .map_err(|e| format!("acking: {e}"))?;
            record::envelope_acked(received.elapsed());
        }
        let envelope = match events::parse(text.as_str()) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(error = %e, "skipping a frame");
                continue;
            }
        };
        match envelope {
            Envelope::Hello {} => {
                // A working connection: the next failure starts the backoff afresh.
                *wait = timing.min_backoff;
            }
            Envelope::Disconnect { reason } => {
                tracing::info!(?reason, "disconnect requested");
                let _ = sink.send(Frame::Close(None)).await;
                return Ok(Ended::Disconnect);
            }
            Envelope::EventsApi { payload } => {
                if events.send(SocketEvent::Events(payload)).is_err() {
                    return Ok(Ended::Shutdown);
                }
            }
            Envelope::Other => tracing::debug!("ignoring an envelope"),
        }
    }
}
