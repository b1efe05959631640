//! A fake of Slack's Socket Mode websocket for tests: the fake Web API's
//! `apps.connections.open` hands out [`FakeSocket::url`]; tests push envelopes through it and
//! read back the acks the bot sent.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message as Frame;

enum Command {
    Send(String),
    Drop,
    /// Stop reading (so pings go unanswered) while keeping the connection open.
    Mute,
}

#[derive(Default)]
struct State {
    /// Connections accepted so far.
    connections: usize,
    /// Envelope ids acked by the bot, in order.
    acks: Vec<String>,
    /// When each envelope was sent, and how long its ack took.
    sent_at: HashMap<String, Instant>,
    ack_latency: HashMap<String, Duration>,
    /// Every text frame the bot sent.
    received: Vec<String>,
    /// The live connection, if any.
    current: Option<mpsc::UnboundedSender<Command>>,
    next_id: u64,
}

/// A Socket Mode server on 127.0.0.1.
#[derive(Clone)]
pub struct FakeSocket {
    /// `ws://127.0.0.1:<port>/socket`, what `apps.connections.open` returns.
    pub url: String,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

const WAIT: Duration = Duration::from_secs(10);

impl FakeSocket {
    /// Starts listening; every connection is greeted with `hello`.
    pub async fn start() -> FakeSocket {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/socket", listener.local_addr().unwrap());
        let fake = FakeSocket {
            url,
            state: Arc::default(),
            changed: Arc::default(),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    continue;
                };
                let (tx, rx) = mpsc::unbounded_channel();
                {
                    let mut state = server.state.lock().unwrap();
                    state.connections += 1;
                    state.current = Some(tx);
                }
                server.changed.notify_waiters();
                tokio::spawn(server.clone().serve(ws, rx));
            }
        });
        fake
    }

    async fn serve(
        self,
        ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
        mut rx: mpsc::UnboundedReceiver<Command>,
    ) {
        let (mut sink, mut stream) = ws.split();
        let hello = json!({"type": "hello", "num_connections": 1}).to_string();
        if sink.send(Frame::text(hello)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                command = rx.recv() => match command {
                    Some(Command::Send(text)) => {
                        if sink.send(Frame::text(text)).await.is_err() {
                            return;
                        }
                    }
                    // Dropping both halves closes the TCP connection without a close frame.
                    Some(Command::Drop) | None => return,
                    Some(Command::Mute) => {
                        // Hold both halves, unread, until the test ends.
                        let _held = (&mut sink, &mut stream);
                        std::future::pending::<()>().await;
                    }
                },
                frame = stream.next() => match frame {
                    Some(Ok(Frame::Text(text))) => {
                        let text = text.to_string();
                        let ack = serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| v.get("envelope_id").and_then(Value::as_str).map(str::to_string));
                        let mut state = self.state.lock().unwrap();
                        state.received.push(text);
                        if let Some(id) = ack {
                            if let Some(sent) = state.sent_at.get(&id).copied() {
                                state.ack_latency.insert(id.clone(), sent.elapsed());
                            }
                            state.acks.push(id);
                        }
                        drop(state);
                        self.changed.notify_waiters();
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                },
            }
        }
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&State) -> bool) {
        let waited = tokio::time::timeout(WAIT, async {
            loop {
                let notified = self.changed.notified();
                if done(&self.state.lock().unwrap()) {
                    return;
                }
                // Polling as well: a notification may land between the check and the wait.
                let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    }

    /// Waits until `n` connections have been made in all.
    pub async fn wait_connections(&self, n: usize) {
        self.wait_for(&format!("{n} connections"), |s| s.connections >= n)
            .await;
    }

    /// Connections made so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Sends a raw text frame on the live connection.
    pub fn send_raw(&self, text: impl Into<String>) {
        let state = self.state.lock().unwrap();
        let tx = state.current.as_ref().expect("the bot is not connected");
        tx.send(Command::Send(text.into()))
            .expect("connection closed");
    }

    /// Sends `event` in an `events_api` envelope with a fresh event id; returns the envelope id.
    pub fn send_event(&self, event: Value) -> String {
        let event_id = {
            let mut state = self.state.lock().unwrap();
            state.next_id += 1;
            format!("Ev{}", state.next_id)
        };
        self.send_event_with_id(event, &event_id)
    }

    /// Sends `event` in an `events_api` envelope with the given `event_id` (redeliveries reuse
    /// it); returns the envelope id.
    pub fn send_event_with_id(&self, event: Value, event_id: &str) -> String {
        let envelope_id = {
            let mut state = self.state.lock().unwrap();
            state.next_id += 1;
            format!("env-{}", state.next_id)
        };
        let envelope = json!({
            "envelope_id": envelope_id,
            "type": "events_api",
            "accepts_response_payload": false,
            "retry_attempt": 0,
            "payload": {
                "type": "event_callback",
                "team_id": "T0FAKE",
                "api_app_id": "A0FAKE",
                "event_id": event_id,
                "event_time": 1700000000,
                "event": event,
            },
        });
        self.state
            .lock()
            .unwrap()
            .sent_at
            .insert(envelope_id.clone(), Instant::now());
        self.send_raw(envelope.to_string());
        envelope_id
    }

    /// Asks the bot to reconnect, as Slack does before rotating connections.
    pub fn disconnect(&self) {
        self.send_raw(json!({"type": "disconnect", "reason": "refresh_requested"}).to_string());
    }

    /// Drops the live connection abruptly.
    pub fn drop_connection(&self) {
        let mut state = self.state.lock().unwrap();
        if let Some(tx) = state.current.take() {
            let _ = tx.send(Command::Drop);
        }
    }

    /// Keeps the live connection open but silent, like a half-open TCP connection.
    pub fn go_silent(&self) {
        let mut state = self.state.lock().unwrap();
        if let Some(tx) = state.current.take() {
            let _ = tx.send(Command::Mute);
        }
    }

    /// Waits until the bot has acked `envelope_id`.
    pub async fn wait_ack(&self, envelope_id: &str) {
        let id = envelope_id.to_string();
        self.wait_for(&format!("ack of {envelope_id}"), move |s| {
            s.acks.contains(&id)
        })
        .await;
    }

    /// How long the bot took to ack `envelope_id`, from when the fake sent it.
    pub fn ack_latency(&self, envelope_id: &str) -> Option<Duration> {
        self.state
            .lock()
            .unwrap()
            .ack_latency
            .get(envelope_id)
            .copied()
    }

    /// Envelope ids acked so far.
    pub fn acks(&self) -> Vec<String> {
        self.state.lock().unwrap().acks.clone()
    }
}
