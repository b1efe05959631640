//! `POST /github/<project>/`: what one GitHub delivery does.
//!
//! Before any of the body is read, what the path and headers alone condemn: a project without
//! GitHub rules (400), no signature or a malformed one (403), a content type GitHub does not
//! send (415); a declared length over the limit is the middleware's (413). Then the body is
//! read within the budget all requests share (see [`super::body`]; 503 when none is to be
//! had). Then, in order: the signature (403), `ping` (200), the JSON body (400), the rules (200,
//! nothing done when none match), then, once per delivery id, the jobs.
//!
//! The delivery id is recorded only for deliveries that match a rule: the others do nothing
//! whether seen before or not, so recording them would only cost a database write per event
//! (GitHub sends many events that no rule wants). A redelivery therefore answers 200 and does
//! nothing again, exactly as if every id were recorded.
//!
//! When a matched job type is suppressed the job is **still queued**, then the notice posted:
//! the dispatcher holds suppressed types, so the deploy runs when the suppression ends instead
//! of being silently lost, and a later merge pushes it back as usual. The notice tells the
//! channel why nothing deployed yet.

use std::sync::Arc;
use std::time::Duration;

use super::body::{BodyBudget, BodyError, BUDGET_RETRY_AFTER_SECONDS, MAX_BODY_BYTES};
use super::notice::suppression_notice;
use super::payload::{InvalidJson, Payload};
use super::rules::{trigger_phrase, Project, UnknownProject};
use super::signature::{verify_headers, ClaimedSignature, SignatureError};
use crate::config::{Args, Config, GithubRuleSpec};
use crate::metrics::record::{self, Delivery};
use crate::queue::{start_after, NewJob, Queue, QueueError};
use crate::settings::Secret;
use crate::slack::broadcast::neutralise;
use crate::slack::{OutgoingMessage, SlackApi};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

/// The header naming the event (`pull_request`, `push`, `ping`, ...).
pub const EVENT_HEADER: &str = "x-github-event";
/// The header carrying the delivery's unique id (the same for a redelivery).
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// What the handler needs, shared by every request.
pub struct AppState<S> {
    /// The secret GitHub signs deliveries with.
    pub secret: Secret,
    /// Where matched jobs are queued and delivery ids recorded.
    pub queue: Queue,
    /// Where suppression notices are posted.
    pub slack: Arc<S>,
    /// The rules and namespaces deliveries are matched against.
    pub config: &'static Config,
    /// The memory budget the bodies being read share.
    pub bodies: BodyBudget,
}

/// A delivery that was accepted (200), and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// `X-GitHub-Event: ping`.
    Pong,
    /// No rule of the project wants this delivery.
    NoMatch,
    /// This delivery id was handled before.
    Duplicate,
    /// Jobs queued, with whether each type was suppressed (and so announced in Slack).
    Queued(Vec<QueuedJob>),
}

/// One job queued for a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    /// `<namespace>_<job>`.
    pub job_type: &'static str,
    /// The queued (or pushed back) job's id.
    pub id: i64,
    /// The end of the active suppression of its type, if any.
    pub suppressed_until: Option<DateTime<Utc>>,
}

impl DeliveryOutcome {
    fn body(&self) -> String {
        match self {
            DeliveryOutcome::Pong => "pong".into(),
            DeliveryOutcome::NoMatch => "No rule matches; nothing to do".into(),
            DeliveryOutcome::Duplicate => "Delivery already handled".into(),
            DeliveryOutcome::Queued(jobs) => jobs
                .iter()
                .map(|j| match j.suppressed_until {
                    None => format!("Scheduled {} [{}]", j.job_type, j.id),
                    Some(_) => format!("Scheduled {} [{}], suppressed", j.job_type, j.id),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Why a delivery was refused. The `Display` text is what GitHub is told; internal details
/// only go to the log.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// 403: not signed with our secret.
    #[error("Invalid signature")]
    Signature(#[source] SignatureError),
    /// 400: the body is not JSON.
    #[error("Invalid JSON: {0}")]
    InvalidJson(#[from] InvalidJson),
    /// 400: no namespace with GitHub rules of that name.
    #[error(transparent)]
    UnknownProject(#[from] UnknownProject),
    /// 415: not a content type GitHub sends.
    #[error("Unsupported content type: GitHub sends application/json or application/x-www-form-urlencoded")]
    ContentType,
    /// 413, 503 (with `Retry-After`) or 400: the body was not read.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// 500: the queue failed.
    #[error("Internal error")]
    Queue(#[source] QueueError),
}

impl Rejection {
    fn status(&self) -> StatusCode {
        match self {
            Rejection::Signature(_) => StatusCode::FORBIDDEN,
            Rejection::InvalidJson(_) | Rejection::UnknownProject(_) => StatusCode::BAD_REQUEST,
            Rejection::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::Body(BodyError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Body(BodyError::Busy) => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Body(BodyError::Unreadable(_)) => StatusCode::BAD_REQUEST,
            Rejection::Queue(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Rejection::Signature(e) => tracing::warn!(reason = %e, "refused unsigned delivery"),
            Rejection::Queue(e) => tracing::error!(error = %e, "queue failed"),
            Rejection::Body(BodyError::Busy) => {
                tracing::warn!("refused a delivery: no memory budget for its body in time");
                let retry = [(header::RETRY_AFTER, BUDGET_RETRY_AFTER_SECONDS.to_string())];
                return (status, retry, self.to_string()).into_response();
            }
            Rejection::Body(BodyError::Unreadable(e)) => {
                tracing::info!(error = %e, "refused delivery: its body could not be read");
            }
            _ => tracing::info!(reason = %self, "refused delivery"),
        }
        (status, self.to_string()).into_response()
    }
}

/// The route's handler; it is given the body unread.
pub async fn github<S: SlackApi>(
    State(state): State<Arc<AppState<S>>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let handled = receive(&state, &project, &headers, body).await;
    record_delivery(state.config, &project, &handled);
    match handled {
        Ok(outcome) => {
            tracing::info!(project, outcome = ?outcome, "delivery handled");
            (StatusCode::OK, outcome.body()).into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// Refuses what the headers condemn, then reads the body within the budget and handles it;
/// the body's budget is given back once it is handled.
async fn receive<S: SlackApi>(
    state: &AppState<S>,
    project: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<DeliveryOutcome, Rejection> {
    admit(state.config, project, headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = state.bodies.read(body, declared, MAX_BODY_BYTES).await?;
    handle(state, project, headers, body.bytes(), Utc::now()).await
}

/// Refuses, before any of the body is read, a delivery that its path and headers condemn
/// whatever the body says: reading a body costs memory and time, and anyone can send one.
/// A project without GitHub rules (400), no signature header or a malformed one (403), a
/// content type other than the two GitHub sends (415; a form-encoded body still has to be
/// JSON past `ping`, as before).
pub fn admit(config: &'static Config, project: &str, headers: &HeaderMap) -> Result<(), Rejection> {
    Project::find(config, project)?;
    ClaimedSignature::from_headers(headers).map_err(Rejection::Signature)?;
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match media_type.as_deref() {
        Some("application/json" | "application/x-www-form-urlencoded") => Ok(()),
        _ => Err(Rejection::ContentType),
    }
}

/// The project a delivery is counted under. Anyone can post to any path, so a project without
/// GitHub rules is counted as `unknown` rather than by a name that would add a series per
/// made-up path.
pub(crate) fn counted_project<'a>(config: &'static Config, project: &'a str) -> &'a str {
    match Project::find(config, project) {
        Ok(_) => project,
        Err(_) => "unknown",
    }
}

/// Counts a delivery.
fn record_delivery(
    config: &'static Config,
    project: &str,
    handled: &Result<DeliveryOutcome, Rejection>,
) {
    let project = counted_project(config, project);
    let result = match handled {
        // The limits' middleware counts every 413 it sees, this one included.
        Err(Rejection::Body(BodyError::TooLarge)) => return,
        Ok(DeliveryOutcome::Queued(_)) => Delivery::Queued,
        Ok(DeliveryOutcome::Pong | DeliveryOutcome::NoMatch) => Delivery::Ignored,
        Ok(DeliveryOutcome::Duplicate) => Delivery::Duplicate,
        Err(_) => Delivery::Refused,
    };
    record::webhook_delivery(project, result);
}

/// Handles one delivery at `now`.
pub async fn handle<S: SlackApi>(
    state: &AppState<S>,
    project: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<DeliveryOutcome, Rejection> {
    verify_headers(state.secret.expose().as_bytes(), headers, body)
        .map_err(Rejection::Signature)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let event = header(EVENT_HEADER).unwrap_or_default();
    if event == "ping" {
        return Ok(DeliveryOutcome::Pong);
    }
    let payload = Payload::parse(body)?;
    let project = Project::find(state.config, project)?;
    let matched = project.matching(event, &payload);
    if matched.is_empty() {
        return Ok(DeliveryOutcome::NoMatch);
    }

    let delivery = header(DELIVERY_HEADER);
    let channel = project.namespace.default_channel;
    let queued = queue_jobs(&state.queue, delivery, &matched, channel, now)
        .await
        .map_err(Rejection::Queue)?;
    let Some(queued) = queued else {
        return Ok(DeliveryOutcome::Duplicate);
    };

    let trigger = trigger_phrase(event, &payload);
    for job in &queued {
        if let Some(end) = job.suppressed_until {
            let text = suppression_notice(state.config, &trigger, job.job_type, end);
            let message = OutgoingMessage {
                channel: channel.to_string(),
                // A pushed branch's name is anyone's to choose, `<!channel>` included.
                text: neutralise(&text).into_owned(),
                ..Default::default()
            };
            // The job is queued either way; a failed notice must not make GitHub retry it.
            if let Err(e) = state.slack.post_message(message).await {
                tracing::error!(error = %e, job_type = job.job_type, "could not post suppression notice");
            }
        }
    }
    Ok(DeliveryOutcome::Queued(queued))
}

/// Records the delivery and queues each matched job, in one transaction (so a crash cannot
/// leave the delivery recorded without its jobs, which would make GitHub's redelivery be
/// skipped); `None` if the delivery was seen before. GitHub always sends a delivery id; a
/// request without one cannot be recognised when repeated, so it is simply handled.
async fn queue_jobs(
    queue: &Queue,
    delivery: Option<&str>,
    matched: &[&'static GithubRuleSpec],
    channel: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<QueuedJob>>, QueueError> {
    let args = Args::new();
    let jobs = matched
        .iter()
        .map(|rule| {
            let start_after = start_after(now, Duration::from_secs(rule.delay_seconds))?;
            Ok(NewJob {
                job_type: rule.job_type,
                args: &args,
                channel,
                thread_ts: None,
                message_ts: None,
                is_im: false,
                start_after,
                requester: None,
            })
        })
        .collect::<Result<Vec<_>, QueueError>>()?;
    let Some(scheduled) = queue.schedule_delivery(delivery, &jobs, now).await? else {
        return Ok(None);
    };
    Ok(Some(
        matched
            .iter()
            .zip(scheduled)
            .map(|(rule, queued)| QueuedJob {
                job_type: rule.job_type,
                id: queued.scheduled.id,
                suppressed_until: queued.suppressed_until,
            })
            .collect(),
    ))
}
