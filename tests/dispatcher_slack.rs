//! The HTTP Slack client the dispatcher reports through, against the fake Slack.

use std::time::Duration;

use bennettbot::slack::api::SlackClient;
use bennettbot::slack::{FileUpload, OutgoingMessage, SlackApi, SlackError};
use bennettbot_test_support::fake_slack::{Failure, FakeSlack, TOKEN, UPLOAD};
use serde_json::json;

fn client(fake: &FakeSlack) -> SlackClient {
    SlackClient::new(TOKEN)
        .with_base_url(fake.url())
        .with_retry_delay(Duration::from_millis(10))
}

fn message(channel: &str, text: &str) -> OutgoingMessage {
    OutgoingMessage {
        channel: channel.into(),
        thread_ts: Some("123.456".into()),
        text: text.into(),
        blocks: None,
    }
}

#[tokio::test]
async fn post_message_sends_json_with_bearer_token() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake);
    let blocks = json!([{"type": "divider"}]);
    let posted = slack
        .post_message(OutgoingMessage {
            blocks: Some(blocks.clone()),
            ..message("C1", "hi")
        })
        .await
        .unwrap();
    let other = slack.post_message(message("C1", "again")).await.unwrap();
    assert_eq!(posted.channel, "C1");
    assert_ne!(posted.ts, other.ts, "every message gets its own ts");
    let calls = fake.calls("chat.postMessage");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].params["text"], "hi");
    assert_eq!(calls[0].params["thread_ts"], "123.456");
    assert_eq!(calls[0].params["blocks"], blocks);
}

#[tokio::test]
async fn a_wrong_token_is_an_api_error() {
    let fake = FakeSlack::start().await;
    let slack = SlackClient::new("xoxb-wrong").with_base_url(fake.url());
    let error = slack.post_message(message("C1", "hi")).await.unwrap_err();
    assert_eq!(
        error,
        SlackError::Api {
            method: "chat.postMessage".into(),
            error: "invalid_auth".into()
        }
    );
    assert!(!error.to_string().contains("xoxb-wrong"));
    assert_eq!(
        fake.attempts("chat.postMessage").len(),
        1,
        "API errors are not retried"
    );
}

#[tokio::test]
async fn server_errors_are_retried_up_to_max_retries() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake);
    fake.fail_next("chat.postMessage", 2, Failure::Status(500));
    slack
        .post_message(message("C1", "after two 500s"))
        .await
        .unwrap();
    assert_eq!(fake.attempts("chat.postMessage").len(), 3);
    assert_eq!(fake.texts_in("C1"), vec!["after two 500s"]);

    fake.fail_next("chat.postMessage", 3, Failure::Status(502));
    let error = slack.post_message(message("C1", "lost")).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert!(error.to_string().contains("502"), "{error}");
    assert_eq!(fake.attempts("chat.postMessage").len(), 6);

    let no_retries = client(&fake).with_max_retries(0);
    fake.fail_next("chat.postMessage", 1, Failure::Status(500));
    assert!(no_retries.post_message(message("C1", "x")).await.is_err());
    assert_eq!(fake.attempts("chat.postMessage").len(), 7);
}

#[tokio::test]
async fn rate_limits_honour_retry_after() {
    let fake = FakeSlack::start().await;
    // A retry delay far longer than the test waits proves Retry-After (1 s) was used instead.
    let slack = client(&fake).with_retry_delay(Duration::from_secs(600));
    fake.fail_next("chat.postMessage", 1, Failure::RateLimited(1));
    let started = std::time::Instant::now();
    tokio::time::timeout(
        Duration::from_secs(30),
        slack.post_message(message("C1", "hi")),
    )
    .await
    .expect("Retry-After was honoured")
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert_eq!(fake.attempts("chat.postMessage").len(), 2);

    fake.fail_next("reactions.add", 1, Failure::Api("ratelimited".into()));
    let fast = client(&fake);
    fast.add_reaction("C1", "1.2", "x").await.unwrap();
    assert_eq!(
        fake.attempts("reactions.add").len(),
        2,
        "ok:false ratelimited is retried"
    );
}

#[tokio::test]
async fn transport_errors_are_retried_then_reported() {
    // Nothing listens on this port once the listener is dropped.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let slack = SlackClient::new(TOKEN)
        .with_base_url(format!("http://{addr}/api"))
        .with_retry_delay(Duration::from_millis(1));
    let error = slack.post_message(message("C1", "hi")).await.unwrap_err();
    assert!(matches!(error, SlackError::Unavailable { .. }), "{error:?}");
}

#[tokio::test]
async fn a_retry_after_too_long_to_wait_in_the_call_is_handed_to_the_caller() {
    let fake = FakeSlack::start().await;
    fake.fail_next("chat.postMessage", 1, Failure::RateLimited(120));
    let error = client(&fake)
        .post_message(message("C1", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));
    assert!(error.is_transient());
    assert_eq!(
        fake.attempts("chat.postMessage").len(),
        1,
        "not retried before Retry-After"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let fake = FakeSlack::start().await;
    fake.fail_next("chat.postMessage", 1, Failure::Status(404));
    let error = client(&fake)
        .post_message(message("C1", "hi"))
        .await
        .unwrap_err();
    assert!(!error.is_transient(), "{error:?}");
    assert_eq!(fake.attempts("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn reactions_already_there_are_fine() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake);
    slack
        .add_reaction("C1", "1.2", "white_check_mark")
        .await
        .unwrap();
    slack
        .add_reaction("C1", "1.2", "white_check_mark")
        .await
        .unwrap();
    let attempts = fake.attempts("reactions.add");
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts[0].ok && !attempts[1].ok,
        "the fake answered already_reacted"
    );
    assert_eq!(attempts[0].params["timestamp"], "1.2");
    assert_eq!(attempts[0].params["name"], "white_check_mark");
}

#[tokio::test]
async fn permalinks_use_form_fields() {
    let fake = FakeSlack::start().await;
    let link = client(&fake)
        .permalink("C9", "1700000000.000001")
        .await
        .unwrap();
    assert_eq!(link, "https://fake.slack.com/archives/C9/p1700000000000001");
    assert_eq!(
        fake.calls("chat.getPermalink")[0].params["message_ts"],
        "1700000000.000001"
    );
}

#[tokio::test]
async fn uploads_go_through_all_three_steps() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake);
    fake.fail_next(UPLOAD, 1, Failure::Status(500));
    slack
        .upload_file(FileUpload {
            channel: "C1".into(),
            thread_ts: Some("5.6".into()),
            filename: "out.txt".into(),
            title: "output".into(),
            content: b"line 1\nline 2\n".to_vec(),
            initial_comment: Some("here it is".into()),
        })
        .await
        .unwrap();
    let asked = fake.calls("files.getUploadURLExternal");
    assert_eq!(asked[0].params["filename"], "out.txt");
    assert_eq!(asked[0].params["length"], "14");
    assert_eq!(
        fake.attempts(UPLOAD).len(),
        2,
        "the byte upload is retried too"
    );
    let files = fake.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].content, b"line 1\nline 2\n");
    assert_eq!(files[0].filename, "out.txt");
    assert_eq!(files[0].title.as_deref(), Some("output"));
    assert_eq!(files[0].channel_id.as_deref(), Some("C1"));
    assert_eq!(files[0].thread_ts.as_deref(), Some("5.6"));
    assert_eq!(files[0].initial_comment.as_deref(), Some("here it is"));
}

#[tokio::test]
async fn auth_test_names_the_bot() {
    let fake = FakeSlack::start().await;
    let info = client(&fake).auth_test().await.unwrap();
    assert_eq!(info.user_id, "U0BOT");
    assert_eq!(info.user, "bennettbot");
    assert_eq!(fake.calls("auth.test").len(), 1);
}

#[tokio::test]
async fn wait_for_sees_calls_made_later() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake);
    let waiter = fake.wait_for("chat.postMessage", 1, Duration::from_secs(10));
    let (calls, posted) = tokio::join!(waiter, slack.post_message(message("C2", "late")));
    posted.unwrap();
    assert_eq!(calls[0].params["channel"], "C2");
}
