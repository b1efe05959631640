//! Load test of the webhook server over loopback: requests per second and latency percentiles
//! for `GET /check/`, for signed deliveries that match no rule, and for signed merged-PR
//! deliveries that record the delivery and queue a deploy in an on-disk SQLite queue.
//!
//! `cargo bench --bench webhook_load` (`LOAD_REQUESTS`, `LOAD_CONCURRENCY` override the sizes).
//! Client and server share the machine, so the figures are a floor, not the server's ceiling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use bennettbot::queue::Queue;
use bennettbot::settings::Secret;
use bennettbot::slack::{FileUpload, OutgoingMessage, PostedMessage, SlackApi, SlackError};
use bennettbot::webhook::signature::{sign, Algorithm};
use bennettbot::webhook::{WebhookServer, WebhookSettings};

const SECRET: &str = "load-test secret";
const FIXTURE: &str = include_str!("../tests/fixtures/pull_request_closed.json");

/// Slack is never called in these scenarios (no suppression); answering keeps it honest.
struct NoSlack;

impl SlackApi for NoSlack {
    async fn post_message(&self, message: OutgoingMessage) -> Result<PostedMessage, SlackError> {
        Ok(PostedMessage {
            channel: message.channel,
            ts: "0.0".into(),
        })
    }
    async fn add_reaction(&self, _: &str, _: &str, _: &str) -> Result<(), SlackError> {
        Ok(())
    }
    async fn upload_file(&self, _: FileUpload) -> Result<(), SlackError> {
        Ok(())
    }
    async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        Ok(format!("{channel}/{ts}"))
    }
}

/// One kind of request to send.
#[derive(Clone)]
struct Scenario {
    name: &'static str,
    path: &'static str,
    /// `(event, body, signature)` for a delivery; `None` for a GET.
    delivery: Option<(&'static str, Bytes, String)>,
    /// The body the server must answer with, checked on every response.
    expect_prefix: &'static str,
}

struct Figures {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let requests = env_number("LOAD_REQUESTS", 20_000);
    let concurrency = env_number("LOAD_CONCURRENCY", 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(requests, concurrency));
}

async fn run(requests: usize, concurrency: usize) {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&dir.path().join("load.db")).unwrap();
    let settings = WebhookSettings {
        bind: "127.0.0.1:0".parse().unwrap(),
        secret: Secret::new(SECRET),
    };
    let server = WebhookServer::bind(
        &bennettbot::config::CONFIG,
        settings,
        queue.clone(),
        Arc::new(NoSlack),
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let merged = Bytes::from_static(FIXTURE.as_bytes());
    let opened = Bytes::from(FIXTURE.replace("\"merged\": true", "\"merged\": false"));
    let signed = |body: &Bytes| sign(Algorithm::Sha256, SECRET.as_bytes(), body);
    let scenarios = [
        Scenario {
            name: "GET /check/",
            path: "/check/",
            delivery: None,
            expect_prefix: "ok",
        },
        Scenario {
            name: "signed, no rule matches",
            path: "/github/example/",
            delivery: Some(("pull_request", opened.clone(), signed(&opened))),
            expect_prefix: "No rule matches",
        },
        Scenario {
            name: "signed merged PR (queues)",
            path: "/github/example/",
            delivery: Some(("pull_request", merged.clone(), signed(&merged))),
            expect_prefix: "Scheduled example_deploy",
        },
    ];

    println!(
        "webhook load test: {requests} requests per scenario, {concurrency} connections, \
         {} byte payload, loopback",
        FIXTURE.len()
    );
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "scenario", "req/s", "p50 ms", "p99 ms", "max ms", "total s"
    );
    for scenario in &scenarios {
        // Warm up connections and caches; not measured.
        load(
            &base,
            scenario,
            concurrency.min(requests),
            concurrency,
            "warmup",
        )
        .await;
        let figures = load(&base, scenario, requests, concurrency, "run").await;
        report(scenario.name, &figures);
    }

    let status = queue.status(chrono::Utc::now()).await.unwrap();
    assert_eq!(
        status.scheduled.len(),
        1,
        "every merged delivery pushed back the same deploy"
    );
    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
}

/// Sends `requests` requests over `concurrency` connections (one client each, so one
/// keep-alive connection each), returning wall time and every request's latency.
async fn load(
    base: &str,
    scenario: &Scenario,
    requests: usize,
    concurrency: usize,
    run: &str,
) -> Figures {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let next = next.clone();
        let scenario = scenario.clone();
        let url = format!("{base}{}", scenario.path);
        let run = run.to_string();
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let n = latencies.len();
                let request = match &scenario.delivery {
                    None => client.get(&url),
                    Some((event, body, signature)) => client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-github-event", *event)
                        .header("x-github-delivery", format!("{run}-{worker}-{n}"))
                        .header("x-hub-signature-256", signature)
                        .body(body.clone()),
                };
                let sent = Instant::now();
                let response = request.send().await.expect("request failed");
                let status = response.status();
                let text = response.text().await.expect("response body");
                latencies.push(sent.elapsed());
                assert!(
                    status.is_success() && text.starts_with(scenario.expect_prefix),
                    "{}: {status} {text}",
                    scenario.name
                );
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(latencies.len(), requests);
    latencies.sort_unstable();
    Figures { elapsed, latencies }
}

fn report(name: &str, figures: &Figures) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let percentile = |p: f64| {
        let i = ((figures.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        figures.latencies[i.min(figures.latencies.len() - 1)]
    };
    println!(
        "{:<28} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        name,
        figures.latencies.len() as f64 / figures.elapsed.as_secs_f64(),
        ms(percentile(0.50)),
        ms(percentile(0.99)),
        ms(*figures.latencies.last().unwrap()),
        figures.elapsed.as_secs_f64()
    );
}
