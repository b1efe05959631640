//! The webhook server GitHub calls: `POST /github/<project>/` runs the project's GitHub rules,
//! `GET /check/` says it is up. `/metrics` is not served here: this address faces the
//! internet, so metrics have an address of their own (`METRICS_BIND`, see [`crate::metrics`]).

mod address;
pub mod body;
mod handler;
mod middleware;
mod notice;
pub mod payload;
pub mod rules;
pub mod signature;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

pub use address::{listen_address, AddressError};
pub use body::{BodyBudget, BodyError, MAX_BODY_BYTES};
pub use handler::{
    admit, handle, AppState, DeliveryOutcome, QueuedJob, Rejection, DELIVERY_HEADER, EVENT_HEADER,
};
pub use middleware::{layers, layers_with_timeout, REQUEST_ID_HEADER};
pub use notice::suppression_notice;

use crate::config::Config;
use crate::connections::{self, ConnectionLimits, ServeError};
use crate::queue::Queue;
use crate::settings::{Secret, Settings};
use crate::slack::SlackApi;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The secret GitHub signs deliveries with.
    pub secret: Secret,
}

/// Why the webhook server cannot be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSettingsError {
    /// Without a secret every delivery would be refused (or, worse, forgeable).
    #[error("GITHUB_WEBHOOK_SECRET is not set")]
    NoSecret,
    /// No listening address.
    #[error(transparent)]
    Address(#[from] AddressError),
}

impl WebhookSettings {
    /// From `GITHUB_WEBHOOK_SECRET`, `WEBSERVER_BIND` and `WEBHOOK_ORIGIN`.
    pub fn from_settings(settings: &Settings) -> Result<Self, WebhookSettingsError> {
        let secret = settings
            .github_webhook_secret
            .clone()
            .ok_or(WebhookSettingsError::NoSecret)?;
        let bind = listen_address(
            settings.webserver_bind.as_deref(),
            settings.webhook_origin.as_deref(),
        )?;
        Ok(WebhookSettings { bind, secret })
    }
}

/// The routes, without middleware.
pub fn routes<S: SlackApi>(state: AppState<S>) -> Router {
    let github = post(handler::github::<S>);
    Router::new()
        .route("/check/", get(|| async { "ok" }))
        // GitHub is given whatever URL was typed into the hook's settings; accept it with or
        // without the trailing slash rather than answer a redirect GitHub will not follow.
        .route("/github/{project}/", github.clone())
        .route("/github/{project}", github)
        .with_state(Arc::new(state))
}

/// The whole application: routes and middleware over `config`.
pub fn app<S: SlackApi>(
    config: &'static Config,
    secret: Secret,
    queue: Queue,
    slack: Arc<S>,
) -> Router {
    layers(
        config,
        routes(AppState {
            secret,
            queue,
            slack,
            config,
            bodies: BodyBudget::default(),
        }),
    )
}

/// A server that is listening but not yet serving: its real address is known.
pub struct WebhookServer {
    listener: TcpListener,
    addr: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
}

impl WebhookServer {
    /// Listens on `settings.bind` and logs the real address (which port 0 leaves to the OS),
    /// to serve [`app`] over `config`.
    pub async fn bind<S: SlackApi>(
        config: &'static Config,
        settings: WebhookSettings,
        queue: Queue,
        slack: Arc<S>,
    ) -> Result<Self, ServeError> {
        let app = app(config, settings.secret, queue, slack);
        Self::bind_app(settings.bind, app).await
    }

    /// Listens on `bind` for any router (the middleware is the caller's to add).
    pub async fn bind_app(bind: SocketAddr, app: Router) -> Result<Self, ServeError> {
        let (listener, addr) = connections::listen(bind).await?;
        tracing::info!(%addr, "webhook server listening");
        Ok(WebhookServer {
            listener,
            addr,
            app,
            limits: ConnectionLimits::default(),
        })
    }

    /// Other connection limits than the defaults (tests use short time limits).
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then lets the requests in flight finish (for at most
    /// the drain time) and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        connections::serve(self.listener, self.app, self.limits, shutdown).await;
        tracing::info!(addr = %self.addr, "webhook server stopped");
        Ok(())
    }
}

/// Binds and serves [`app`] over `config` until `shutdown` resolves (the binary passes
/// SIGTERM / Ctrl-C).
pub async fn serve<S: SlackApi>(
    config: &'static Config,
    settings: WebhookSettings,
    queue: Queue,
    slack: Arc<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    WebhookServer::bind(config, settings, queue, slack)
        .await?
        .run(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;
    use std::path::Path;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_lookup(&CONFIG, Path::new("/srv/bot"), |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn settings_come_from_the_services_variables() {
        let s = settings(&[
            ("GITHUB_WEBHOOK_SECRET", "hunter2"),
            ("WEBHOOK_ORIGIN", "https://bot.example.org:9999"),
        ]);
        let webhook = WebhookSettings::from_settings(&s).unwrap();
        assert_eq!(webhook.bind, "0.0.0.0:9999".parse::<SocketAddr>().unwrap());
        assert_eq!(webhook.secret.expose(), "hunter2");
        let debug = format!("{webhook:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("0.0.0.0:9999"),
            "{debug}"
        );

        let bound = settings(&[
            ("GITHUB_WEBHOOK_SECRET", "hunter2"),
            ("WEBSERVER_BIND", "127.0.0.1:8000"),
        ]);
        assert_eq!(
            WebhookSettings::from_settings(&bound).unwrap().bind,
            "127.0.0.1:8000".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn a_secret_and_an_address_are_required() {
        let no_secret = settings(&[("WEBHOOK_ORIGIN", "https://bot.example.org")]);
        assert!(matches!(
            WebhookSettings::from_settings(&no_secret),
            Err(WebhookSettingsError::NoSecret)
        ));
        let no_address = settings(&[("GITHUB_WEBHOOK_SECRET", "hunter2")]);
        assert!(matches!(
            WebhookSettings::from_settings(&no_address),
            Err(WebhookSettingsError::Address(AddressError::Unset))
        ));
    }
}
