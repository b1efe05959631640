//! Wake-ups across processes: a connection of its own `LISTEN`s on the queue's channel and
//! wakes the dispatcher on every `NOTIFY`; when that connection drops it reconnects (waking the
//! dispatcher once, as a change may have been missed meanwhile).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::poll_fn;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::CHANNEL;

/// How long to wait before reconnecting a listener that failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The dispatcher's wake-up: local changes and notifications from every process.
#[derive(Debug, Default)]
pub(super) struct Wake {
    notify: Notify,
    version: AtomicI64,
    listening: AtomicBool,
}

impl Wake {
    /// A change made in this process.
    pub(super) fn local(&self) {
        // `notify_one` keeps a permit when nobody waits yet, so no change is lost.
        self.notify.notify_one();
    }

    /// A change announced by the server (from any process, this one included).
    fn heard(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
        self.notify.notify_one();
    }

    pub(super) async fn notified(&self) {
        self.notify.notified().await;
    }

    pub(super) fn version(&self) -> i64 {
        self.version.load(Ordering::Relaxed)
    }
}

/// Starts the listener task once per store (from within the runtime).
pub(super) fn ensure_listening(
    wake: &Arc<Wake>,
    config: &Arc<tokio_postgres::Config>,
    tls: &MakeRustlsConnect,
) {
    if wake.listening.swap(true, Ordering::AcqRel) {
        return;
    }
    let wake = Arc::downgrade(wake);
    let config = Arc::clone(config);
    let tls = tls.clone();
    tokio::spawn(async move {
        loop {
            match listen_once(&wake, &config, tls.clone()).await {
                // The store is gone: nobody to wake.
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "queue notifications connection lost; reconnecting");
                }
            }
            tokio::time::sleep(RECONNECT_AFTER).await;
            match wake.upgrade() {
                Some(wake) => wake.heard(),
                None => return,
            }
        }
    });
}

/// Listens until the connection fails (`Err`) or the store is dropped (`Ok`).
async fn listen_once(
    wake: &std::sync::Weak<Wake>,
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> anyhow::Result<()> {
    let (client, mut connection) = config.connect(tls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The connection must be polled for the LISTEN to complete and for notifications to arrive.
    let driver = tokio::spawn(async move {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    if tx.send(Ok(())).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    let _ = tx.send(Err(e));
                    return;
                }
                None => return,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    let outcome = loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(Ok(())) => match wake.upgrade() {
                    Some(wake) => wake.heard(),
                    None => break Ok(()),
                },
                Some(Err(e)) => break Err(e.into()),
                None => break Err(anyhow::anyhow!("the server closed the connection")),
            },
            // Checked now and then so a dropped store does not keep the connection open.
            () = tokio::time::sleep(Duration::from_secs(5)) => {
                if wake.strong_count() == 0 {
                    break Ok(());
                }
            }
        }
    };
    driver.abort();
    outcome
}
