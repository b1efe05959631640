//! The queue through chat: status, removing jobs, scheduling commands, cancelling and
//! suppressing. Uses the fake Slack, the fake socket or signed HTTP events, and the bot's queue.

use std::time::Duration;

use bennettbot_test_support::bot_harness::{Harness, Mode, Setup, GENERAL};
use bennettbot_test_support::both_modes;
use chrono::Utc;

async fn status_lists_jobs_and_suppressions(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let now = Utc::now();
    h.queue
        .schedule_job(
            "test_hello_world",
            &Default::default(),
            GENERAL,
            None,
            Duration::from_secs(600),
            false,
            None,
        )
        .await
        .unwrap();
    h.queue
        .schedule_suppression(
            "example_deploy",
            now + chrono::Duration::hours(1),
            now + chrono::Duration::hours(2),
        )
        .await
        .unwrap();
    h.mention(GENERAL, "status").await;
    let reply = h.reply(GENERAL, "The time is").await;
    let text = reply.str("text").unwrap();
    assert!(
        text.contains("There is 1 scheduled job:\n\n* [1] test_hello_world (starting after "),
        "{text}"
    );
    assert!(
        text.contains("There is 1 scheduled suppression:\n\n* [1] example_deploy (from "),
        "{text}"
    );
    assert!(!text.contains("Nothing is happening"), "{text}");
}

async fn remove_job_id_removes_present_jobs_and_reports_absent_ones(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let job = h
        .queue
        .schedule_job(
            "test_hello_world",
            &Default::default(),
            GENERAL,
            None,
            Duration::from_secs(600),
            false,
            None,
        )
        .await
        .unwrap();
    let ts = h
        .mention(GENERAL, &format!("remove job id {}", job.id))
        .await;
    h.reply(GENERAL, &format!("Job id [{}] removed", job.id))
        .await;
    h.wait_reaction(GENERAL, &ts, "crossed_fingers").await;
    assert!(h
        .queue
        .status(Utc::now())
        .await
        .unwrap()
        .scheduled
        .is_empty());
    h.mention("C1", "remove job id 99").await;
    h.reply("C1", "Job id [99] not found in running or scheduled jobs")
        .await;
}

async fn commands_schedule_jobs_with_de_formatted_urls(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    let ts = h.mention(GENERAL, "test hello <http://x.org|x.org>").await;
    h.wait_reaction(GENERAL, &ts, "eyes").await;
    let status = h.queue.status(Utc::now()).await.unwrap();
    assert_eq!(status.scheduled.len(), 1);
    let job = &status.scheduled[0];
    assert_eq!(job.job_type, "test_hello_name");
    assert_eq!(job.channel, GENERAL);
    assert_eq!(job.message_ts.as_deref(), Some(ts.as_str()));
    assert_eq!(
        job.thread_ts, None,
        "a top-level command's report goes to the channel"
    );
    let args: Vec<(String, String)> = job.args.clone().into_iter().collect();
    assert_eq!(args, vec![("name".to_string(), "http://x.org".to_string())]);
    // Nothing is running, so no "already started" reply.
    h.handled_all().await;
    assert!(h
        .posts(GENERAL)
        .iter()
        .all(|c| !c.str("text").unwrap().contains("already started")));
}

async fn scheduling_behind_a_running_job_says_so(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.queue
        .schedule_job(
            "test_hello_world",
            &Default::default(),
            GENERAL,
            None,
            Duration::ZERO,
            false,
            None,
        )
        .await
        .unwrap();
    let running = h.queue.reserve("test-owner").await.unwrap();
    assert!(running.is_some());
    h.mention(GENERAL, "test hello").await;
    let reply = h.reply(GENERAL, "already started").await;
    assert_eq!(
        reply.str("text").unwrap(),
        "A `test_hello_world` job has already started; request queued. Type `@bennettbot status` to see running jobs, and `@bennettbot remove job id [id]` to remove a blocking job."
    );
}

async fn cancel_and_suppressions(mode: Mode) {
    let h = Harness::start(Setup::mode(mode)).await;
    h.queue
        .schedule_job(
            "example_deploy",
            &Default::default(),
            GENERAL,
            None,
            Duration::from_secs(600),
            false,
            None,
        )
        .await
        .unwrap();
    // The acknowledging reaction is the only answer; the cancel happened before it.
    let cancel = h.mention("C1", "example cancel deploy").await;
    h.wait_reaction("C1", &cancel, "eyes").await;
    assert!(h
        .queue
        .status(Utc::now())
        .await
        .unwrap()
        .scheduled
        .is_empty());

    h.mention("C2", "example suppress deploys from 00:00 to 23:59")
        .await;
    let reply = h.reply("C2", "example_deploy suppressed from ").await;
    let text = reply.str("text").unwrap();
    assert!(text.contains(" 00:00:00.000000+00:00 to "), "{text}");
    assert!(text.ends_with(" 23:59:00.000000+00:00"), "{text}");
    let status = h.queue.status(Utc::now()).await.unwrap();
    assert_eq!(
        status.active_suppressions.len() + status.scheduled_suppressions.len(),
        1
    );

    h.mention("C3", "example suppress deploys from 10:00 to 09:00")
        .await;
    h.reply(
        "C3",
        "Wrong time format - `[start_at]` and `[end_at]` must be HH:MM",
    )
    .await;
    h.mention("C4", "example suppress deploys from 9am to 10am")
        .await;
    h.reply("C4", "Wrong time format").await;

    h.mention("C5", "example cancel suppression").await;
    h.reply("C5", "example_deploy suppressions cancelled").await;
    let status = h.queue.status(Utc::now()).await.unwrap();
    assert!(status.active_suppressions.is_empty() && status.scheduled_suppressions.is_empty());
}

// Each test above that takes a `Mode` runs on Socket Mode and on the Events API over HTTP.
both_modes!(
    status_lists_jobs_and_suppressions,
    remove_job_id_removes_present_jobs_and_reports_absent_ones,
    commands_schedule_jobs_with_de_formatted_urls,
    scheduling_behind_a_running_job_says_so,
    cancel_and_suppressions,
);
