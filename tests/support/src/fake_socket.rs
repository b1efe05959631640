//! A fake of Slack's Socket Mode websocket for tests: the fake Web API's
//! `apps.connections.open` hands out [`FakeSocket::url`]; tests push envelopes through it and
//! read back the acks the bot sent. Every live connection is kept (Slack lets an app hold up to
//! ten, one per replica): the plain methods use the latest, the `_to` ones a chosen one. Like
//! Slack, it delivers an envelope again when its connection closes before the bot acked it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::wait::WAIT;

enum Command {
    Send(String),
    Drop,
    /// Stop reading (so pings go unanswered) while keeping the connection open.
    Mute,
    /// Send a websocket ping, as Slack does now and then.
    Ping,
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
    /// Every connection by its number (0 for the first accepted), `None` once closed.
    live: Vec<Option<mpsc::UnboundedSender<Command>>>,
    /// The number of the latest connection, while it is live.
    current: Option<usize>,
    /// The connection each envelope was sent on.
    sent_on: HashMap<String, usize>,
    /// Envelope ids acked, with the connection each ack came on.
    acked_on: Vec<(String, usize)>,
    /// Envelopes not acked yet, with the connection they were sent on.
    unacked: HashMap<String, (usize, Value)>,
    /// Envelopes whose connection closed before they were acked: Slack delivers them again,
    /// with `retry_attempt` counted up, on the next connection.
    redeliver: Vec<Value>,
    /// Envelope ids delivered again.
    redelivered: Vec<String>,
    next_id: u64,
}

impl State {
    /// Marks `envelope` as Slack's next attempt at it, sent on connection `number`; returns
    /// its text.
    fn retry(&mut self, mut envelope: Value, number: usize) -> String {
        let id = envelope["envelope_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        envelope["retry_attempt"] = json!(envelope["retry_attempt"].as_u64().unwrap_or(0) + 1);
        envelope["retry_reason"] = json!("timeout");
        self.unacked.insert(id.clone(), (number, envelope.clone()));
        self.sent_on.insert(id.clone(), number);
        self.redelivered.push(id);
        envelope.to_string()
    }
}

/// A Socket Mode server on 127.0.0.1.
#[derive(Clone)]
pub struct FakeSocket {
    /// `ws://127.0.0.1:<port>/socket`, what `apps.connections.open` returns.
    pub url: String,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

impl FakeSocket {
    /// Starts listening on a runtime of its own (one thread), as a remote Slack would be: for
    /// timing the bot's acks without the fake competing with the bot for the test's threads.
    pub fn start_apart() -> FakeSocket {
        let (started, fake) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                started.send(FakeSocket::start().await).unwrap();
                // Serves until the test process ends.
                std::future::pending::<()>().await
            });
        });
        fake.recv().unwrap()
    }

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
                let number = {
                    let mut state = server.state.lock().unwrap();
                    state.connections += 1;
                    state.live.push(Some(tx));
                    let number = state.live.len() - 1;
                    state.current = Some(number);
                    number
                };
                server.changed.notify_waiters();
                let served = server.clone();
                tokio::spawn(async move {
                    served.clone().serve(ws, rx, number).await;
                    served.closed(number);
                });
            }
        });
        fake
    }

    async fn serve(
        self,
        ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
        mut rx: mpsc::UnboundedReceiver<Command>,
        number: usize,
    ) {
        let (mut sink, mut stream) = ws.split();
        let hello = json!({"type": "hello", "num_connections": 1}).to_string();
        if sink.send(Frame::text(hello)).await.is_err() {
            return;
        }
        let again: Vec<String> = {
            let mut state = self.state.lock().unwrap();
            let waiting = std::mem::take(&mut state.redeliver);
            waiting
                .into_iter()
                .map(|envelope| state.retry(envelope, number))
                .collect()
        };
        for text in again {
            if sink.send(Frame::text(text)).await.is_err() {
                return;
            }
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
                    Some(Command::Ping) => {
                        if sink.send(Frame::Ping(Vec::new().into())).await.is_err() {
                            return;
                        }
                    }
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
                            state.acked_on.push((id.clone(), number));
                            state.unacked.remove(&id);
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

    /// Forgets connection `number` once it has closed.
    fn closed(&self, number: usize) {
        let mut state = self.state.lock().unwrap();
        state.live[number] = None;
        if state.current == Some(number) {
            state.current = None;
        }
        let lost: Vec<String> = state
            .unacked
            .iter()
            .filter(|(_, (on, _))| *on == number)
            .map(|(id, _)| id.clone())
            .collect();
        for id in lost {
            let Some((_, envelope)) = state.unacked.remove(&id) else {
                continue;
            };
            // On the live connection if there is one, else on the next.
            let live = state
                .current
                .and_then(|n| state.live[n].clone().map(|tx| (n, tx)));
            match live {
                Some((n, tx)) => {
                    let text = state.retry(envelope, n);
                    let _ = tx.send(Command::Send(text));
                }
                None => state.redeliver.push(envelope),
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Waits until `done` holds for the fake's state; panics naming `what` after [`WAIT`].
    async fn wait_for(&self, what: &str, done: impl Fn(&State) -> bool) {
        let waited = tokio::time::timeout(WAIT, async {
            loop {
                // Made before the check: a change notified in between still wakes it.
                let notified = self.changed.notified();
                if done(&self.state.lock().unwrap()) {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(waited.is_ok(), "waited {WAIT:?} for {what}");
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

    /// Waits until `n` connections are live at once.
    pub async fn wait_live(&self, n: usize) {
        self.wait_for(&format!("{n} live connections"), |s| {
            s.live.iter().flatten().count() >= n
        })
        .await;
    }

    /// Waits until every connection has closed. Each live connection is pinged first, as Slack
    /// pings: slack-morphism's client, once shut down, closes a connection only when its reader
    /// next wakes, and its writer may have stopped without a close frame (when the shutdown
    /// came while it was busy writing acks). The connection closes once both have ended, so
    /// every ack the bot wrote has been read by then.
    pub async fn wait_all_closed(&self) {
        {
            let state = self.state.lock().unwrap();
            for tx in state.live.iter().flatten() {
                let _ = tx.send(Command::Ping);
            }
        }
        self.wait_for("every connection closed", |s| {
            s.live.iter().flatten().count() == 0
        })
        .await;
    }

    /// Numbers of the connections live now (0 for the first ever accepted), oldest first.
    pub fn live(&self) -> Vec<usize> {
        let state = self.state.lock().unwrap();
        (0..state.live.len())
            .filter(|&n| state.live[n].is_some())
            .collect()
    }

    /// Sends a raw text frame on the latest live connection.
    pub fn send_raw(&self, text: impl Into<String>) {
        let current = self.state.lock().unwrap().current;
        self.send_raw_to(current.expect("the bot is not connected"), text);
    }

    /// Sends a raw text frame on connection `number`.
    pub fn send_raw_to(&self, number: usize, text: impl Into<String>) {
        let state = self.state.lock().unwrap();
        let tx = state
            .live
            .get(number)
            .and_then(Option::as_ref)
            .unwrap_or_else(|| panic!("connection {number} is not live"));
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
        let current = self.state.lock().unwrap().current;
        self.send_event_to(current.expect("the bot is not connected"), event, event_id)
    }

    /// Sends `event` in an `events_api` envelope with the given `event_id` on connection
    /// `number`, as Slack delivers (and redelivers) to any of an app's connections; returns
    /// the envelope id.
    pub fn send_event_to(&self, number: usize, event: Value, event_id: &str) -> String {
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
        {
            let mut state = self.state.lock().unwrap();
            state.sent_at.insert(envelope_id.clone(), Instant::now());
            state.sent_on.insert(envelope_id.clone(), number);
            state
                .unacked
                .insert(envelope_id.clone(), (number, envelope.clone()));
        }
        self.send_raw_to(number, envelope.to_string());
        envelope_id
    }

    /// Asks the bot to reconnect, as Slack does before rotating connections.
    pub fn disconnect(&self) {
        self.send_raw(json!({"type": "disconnect", "reason": "refresh_requested"}).to_string());
    }

    /// Drops the latest live connection abruptly.
    pub fn drop_connection(&self) {
        self.stop_current(Command::Drop);
    }

    /// Keeps the latest live connection open but silent, like a half-open TCP connection.
    pub fn go_silent(&self) {
        self.stop_current(Command::Mute);
    }

    /// Sends `command` to the latest connection and stops addressing it.
    fn stop_current(&self, command: Command) {
        let mut state = self.state.lock().unwrap();
        if let Some(number) = state.current.take() {
            if let Some(tx) = state.live[number].take() {
                let _ = tx.send(command);
            }
        }
        drop(state);
        self.changed.notify_waiters();
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

    /// Envelope ids acked so far on connection `number`.
    pub fn acks_on(&self, number: usize) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .acked_on
            .iter()
            .filter(|(_, on)| *on == number)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Envelope ids delivered again because their connection closed before the bot acked them.
    pub fn redelivered(&self) -> Vec<String> {
        self.state.lock().unwrap().redelivered.clone()
    }

    /// The connection envelope `envelope_id` was sent on.
    pub fn sent_on(&self, envelope_id: &str) -> Option<usize> {
        self.state.lock().unwrap().sent_on.get(envelope_id).copied()
    }
}
