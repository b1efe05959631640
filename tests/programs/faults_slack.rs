//! Fault suite: Slack failing while the dispatcher reports. Slack answers HTTP 500 for 10 s,
//! then 429 with `Retry-After: 2` once; every report still arrives, afterwards, in order per
//! channel, once each, and no call comes before Slack's retry time.

use bennettbot_test_support::dispatcher_harness::dispatcher_settings;
use bennettbot_test_support::wait::{eventually_async, WAIT};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bennettbot::config::{Args, CONFIG};
use bennettbot::dispatcher::Dispatcher;
use bennettbot::queue::{ExitKind, Queue};
use bennettbot::slack::api::SlackClient;
use bennettbot_test_support::fake_slack::{Call, Failure, FakeSlack, TOKEN};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const ONE: &str = "C0ONE";
const TWO: &str = "C0TWO";
const LOGS: &str = "C0LOGS";
/// How long Slack answers 500 (the number).
const OUTAGE: Duration = Duration::from_secs(10);
/// The `Retry-After` of the 429 that ends the outage.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// Jobs scheduled while Slack fails, alternating between the two channels.
const JOBS: usize = 6;

/// The ts of job `i`'s triggering message.
fn message_ts(i: usize) -> String {
    format!("1700000000.{i:06}")
}

/// A successful call to `channel`, as `post <text>` or `react <ts>`.
fn seen(call: &Call) -> String {
    match call.method.as_str() {
        "chat.postMessage" => format!("post {}", call.str("text").unwrap()),
        "reactions.add" => format!("react {}", call.str("timestamp").unwrap()),
        other => panic!("unexpected call {other}"),
    }
}

/// A dispatcher reporting to `fake`, and the switch that stops it.
fn start(fake: &FakeSlack, queue: &Queue, root: &Path) -> (watch::Sender<bool>, JoinHandle<()>) {
    let slack = SlackClient::new(TOKEN)
        .with_base_url(fake.url())
        .with_retry_delay(Duration::from_millis(10));
    let dispatcher = Dispatcher::new(
        &CONFIG,
        queue.clone(),
        Arc::new(slack),
        dispatcher_settings(root),
    );
    let (stop, stopped) = watch::channel(false);
    (stop, tokio::spawn(dispatcher.run(stopped)))
}

/// Schedules job `i` (`test_hello_name`, named `i`) from a message in `channel`, and waits
/// until it has finished.
async fn run_job(queue: &Queue, i: usize, channel: &str) {
    let args: Args = [("name".to_string(), i.to_string())].into_iter().collect();
    let ts = message_ts(i);
    let id = queue
        .schedule_job(
            "test_hello_name",
            &args,
            channel,
            Some(&ts),
            Duration::ZERO,
            false,
            Some(&ts),
        )
        .await
        .unwrap()
        .id;
    let entry = eventually_async(&format!("job {i} to finish"), WAIT, || async {
        let history = queue.history(100).await.unwrap();
        history.into_iter().find(|e| e.job_id == id)
    })
    .await;
    assert_eq!(entry.exit, ExitKind::Code(0));
}

#[tokio::test]
async fn reports_made_during_an_outage_arrive_afterwards_in_order_and_honour_retry_after() {
    let fake = FakeSlack::start().await;
    let root = tempfile::tempdir().unwrap();
    let queue = Queue::open(&root.path().join("queue.db")).unwrap();
    let outage_ends = Instant::now() + OUTAGE;
    fake.fail_all_for(OUTAGE, Failure::Status(500));
    fake.fail_all_next(1, Failure::RateLimited(RETRY_AFTER.as_secs()));
    let (stop, dispatcher) = start(&fake, &queue, root.path());

    // One at a time, so the order the jobs finish in is the order they were scheduled in.
    let mut finished = Vec::new();
    for i in 0..JOBS {
        let channel = [ONE, TWO][i % 2];
        run_job(&queue, i, channel).await;
        finished.push((channel, i.to_string(), message_ts(i)));
    }

    // Every report arrives: each job's announcement, output and reaction.
    fake.wait_for("chat.postMessage", 2 * JOBS, WAIT).await;
    fake.wait_for("reactions.add", JOBS, WAIT).await;
    // Shutdown drains the outbox, so anything still to come (a duplicate) would be in by now.
    stop.send(true).unwrap();
    tokio::time::timeout(WAIT, dispatcher)
        .await
        .expect("the dispatcher stops")
        .unwrap();

    let calls = fake.all_calls();
    let delivered: Vec<&Call> = calls.iter().filter(|c| c.ok).collect();
    assert_eq!(
        delivered.len(),
        3 * JOBS,
        "each report once: {delivered:#?}"
    );
    for call in &delivered {
        assert!(
            call.arrived >= outage_ends,
            "nothing got through the outage: {call:#?}"
        );
    }
    // In order per channel: each job's output then its reaction, in the order jobs finished.
    for channel in [ONE, TWO] {
        let expected: Vec<String> = finished
            .iter()
            .filter(|(c, _, _)| *c == channel)
            .flat_map(|(_, name, ts)| [format!("post Hello {name}\n"), format!("react {ts}")])
            .collect();
        let got: Vec<String> = delivered
            .iter()
            .filter(|c| c.str("channel") == Some(channel))
            .map(|c| seen(c))
            .collect();
        assert_eq!(got, expected, "{channel}");
    }
    assert_eq!(
        fake.texts_in(LOGS),
        vec!["Command `test_hello_name` about to start"; JOBS]
    );

    // The 429 was answered once; its channel's next call waited for Retry-After.
    let limited: Vec<&Call> = calls
        .iter()
        .filter(|c| c.failure == Some(Failure::RateLimited(RETRY_AFTER.as_secs())))
        .collect();
    assert_eq!(limited.len(), 1, "{limited:#?}");
    let limited = limited[0];
    let channel = limited.str("channel").expect("a call to a channel");
    let after: Vec<&Call> = calls
        .iter()
        .filter(|c| c.str("channel") == Some(channel) && c.arrived > limited.answered)
        .collect();
    assert!(!after.is_empty(), "{channel} was called again");
    for call in after {
        assert!(
            call.arrived >= limited.answered + RETRY_AFTER,
            "a call {:?} after the 429: {call:#?}",
            call.arrived - limited.answered
        );
    }
    assert!(
        fake.texts_in(LOGS)
            .iter()
            .all(|t| !t.contains("Could not notify")),
        "nothing was given up"
    );
}

#[tokio::test]
async fn shutdown_delivers_reports_still_queued_when_slack_comes_back_in_time() {
    let fake = FakeSlack::start().await;
    let root = tempfile::tempdir().unwrap();
    let queue = Queue::open(&root.path().join("queue.db")).unwrap();
    let (stop, dispatcher) = start(&fake, &queue, root.path());
    fake.set_outage(true);
    run_job(&queue, 0, ONE).await;
    assert!(fake.calls("chat.postMessage").is_empty());

    stop.send(true).unwrap();
    fake.set_outage(false);
    tokio::time::timeout(WAIT, dispatcher)
        .await
        .expect("the dispatcher stops")
        .unwrap();
    // The dispatcher stopped only once its queued reports were out.
    assert_eq!(fake.texts_in(ONE), vec!["Hello 0\n"]);
    assert_eq!(fake.calls("reactions.add").len(), 1);
}
