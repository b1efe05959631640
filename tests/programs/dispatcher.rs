//! The dispatcher running real jobs from the compiled config against the fake Slack, through
//! the support crate's dispatcher harness (`Harness`, `FakeSlack`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bennettbot::config::Args;
use bennettbot::queue::{ExitKind, Queue, Removal};
use bennettbot_test_support::args::args;
use bennettbot_test_support::dispatcher_harness::{
    log_name, workspace_with, Harness, Ticket, HOST_LOGS, JOBS, LOGS, TECH, THREAD,
};
use bennettbot_test_support::fake_slack::Failure;
use bennettbot_test_support::repo::shipped_workspace;
use bennettbot_test_support::wait::{eventually, WAIT};
use chrono::Utc;

#[tokio::test]
async fn text_report_announces_posts_in_thread_and_reacts() {
    let mut h = Harness::start().await;
    let id = h
        .schedule("test_hello_name", &args(&[("name", "Bob")]))
        .await;
    let entry = h.finished(id).await;
    assert_eq!(entry.exit, ExitKind::Code(0));
    assert_eq!(
        h.fake.texts_in(LOGS),
        vec!["Command `test_hello_name` about to start"]
    );
    let posts = h.fake.calls("chat.postMessage");
    let report = posts
        .iter()
        .find(|c| c.str("channel") == Some(JOBS))
        .unwrap();
    assert_eq!(report.str("text"), Some("Hello Bob\n"));
    assert_eq!(report.str("thread_ts"), Some(THREAD));
    assert_eq!(
        h.reactions(),
        vec![(JOBS.into(), THREAD.into(), "white_check_mark".into())]
    );
    let dir = h.log_dir(&entry);
    assert!(log_name(&dir).starts_with("test_hello_name/"));
    assert_eq!(
        std::fs::read_to_string(dir.join("stdout")).unwrap(),
        "Hello Bob\n"
    );
    assert_eq!(std::fs::read_to_string(dir.join("stderr")).unwrap(), "");
    h.stop().await;
}

#[tokio::test]
async fn hostile_argument_arrives_verbatim() {
    let mut h = Harness::start().await;
    let pwned = h.root.path().join("pwned");
    let hostile = format!("$(touch {}); ' \" ` \nnewline", pwned.display());
    let id = h
        .schedule("test_hello_name", &args(&[("name", &hostile)]))
        .await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    assert_eq!(h.job_texts(), vec![format!("Hello {hostile}\n")]);
    assert!(!pwned.exists(), "the argument was run as shell code");
    h.stop().await;
}

#[tokio::test]
async fn code_report_is_wrapped_in_backticks() {
    let mut h = Harness::start().await;
    let id = h.schedule("test_read_poem", &Args::new()).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    let poem = std::fs::read_to_string(shipped_workspace().join("test/poem.txt")).unwrap();
    assert_eq!(
        h.job_texts(),
        vec![format!("```\n{}\n```", poem.trim_end_matches('\n'))]
    );
    h.stop().await;
}

#[tokio::test]
async fn long_code_output_is_uploaded_as_a_file() {
    let poem = "All work and no play makes Jack a dull boy.\n".repeat(100);
    assert!(poem.len() > 3_990);
    let mut h = Harness::with_scripts(&[("poem.txt", &poem)]).await;
    let id = h.schedule("test_read_poem", &Args::new()).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    assert!(h.job_texts().is_empty(), "{:?}", h.job_texts());
    let files = h.fake.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].content, poem.as_bytes());
    assert_eq!(files[0].channel_id.as_deref(), Some(JOBS));
    assert_eq!(files[0].thread_ts.as_deref(), Some(THREAD));
    assert_eq!(files[0].initial_comment, None, "nothing was truncated");
    h.stop().await;
}

#[tokio::test]
async fn huge_output_is_cut_at_five_megabytes_with_a_pointer_to_the_log() {
    let poem = "a".repeat(6_000_000);
    let mut h = Harness::with_scripts(&[("poem.txt", &poem)]).await;
    let id = h.schedule("test_read_poem", &Args::new()).await;
    let entry = h.finished(id).await;
    assert_eq!(entry.exit, ExitKind::Code(0));
    let files = h.fake.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].content.len(), 5 * 1024 * 1024);
    let name = log_name(&h.log_dir(&entry));
    assert_eq!(
        files[0].initial_comment.as_deref(),
        Some(format!(
            "Output truncated to the first 5 MB; the whole output is in {HOST_LOGS}/{name}/stdout."
        ))
        .as_deref()
    );
    h.stop().await;
}

#[tokio::test]
async fn very_long_text_is_uploaded_as_a_file() {
    let script = "printf 'word %.0s' $(seq 1 10001)\n";
    let mut h = Harness::with_scripts(&[("hello.sh", script)]).await;
    let id = h.schedule("test_hello_name", &args(&[("name", "x")])).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    assert!(h.job_texts().is_empty(), "{:?}", h.job_texts());
    let files = h.fake.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].content.len(), 50_005);
    h.stop().await;
}

#[tokio::test]
async fn file_report_uploads_another_jobs_log() {
    let mut h = Harness::start().await;
    let first = h
        .schedule("test_hello_name", &args(&[("name", "Ada")]))
        .await;
    let dir = h.log_dir(&h.finished(first).await);
    let id = h
        .schedule(
            "showlogs_all_output",
            &args(&[("log_dir", &log_name(&dir))]),
        )
        .await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    let files = h.fake.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].content, b"Hello Ada\n");
    assert_eq!(
        files[0].title.as_deref(),
        Some("showlogs_all_output output")
    );
    h.stop().await;
}

#[tokio::test]
async fn shipped_blocks_are_posted_as_blocks() {
    let mut h = Harness::start().await;
    let id = h.schedule("test_blocks", &Args::new()).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    let posts: Vec<_> = h
        .fake
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.str("channel") == Some(JOBS))
        .collect();
    assert_eq!(posts.len(), 1);
    let blocks = posts[0].params["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 4);
    assert_eq!(blocks[0]["text"]["text"], "Test report");
    assert_eq!(
        posts[0].str("text"),
        Some("Output of command `test_blocks`")
    );
    h.stop().await;
}

#[tokio::test]
async fn sixty_blocks_are_split_over_two_messages() {
    let script = r#"
        printf '['
        for i in $(seq 1 60); do
          [ "$i" -gt 1 ] && printf ','
          printf '{"type":"section","text":{"type":"mrkdwn","text":"block %s"}}' "$i"
        done
        printf ']\n'
    "#;
    let mut h = Harness::with_scripts(&[("blocks.sh", script)]).await;
    let id = h.schedule("test_blocks", &Args::new()).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    let posts: Vec<_> = h
        .fake
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.str("channel") == Some(JOBS))
        .collect();
    let sizes: Vec<usize> = posts
        .iter()
        .map(|c| c.params["blocks"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![50, 10]);
    assert_eq!(posts[0].params["blocks"][0]["text"]["text"], "block 1");
    assert_eq!(posts[1].params["blocks"][9]["text"]["text"], "block 60");
    assert_eq!(
        posts[1].str("text"),
        Some("Output of command `test_blocks` (part 2 of 2)")
    );
    h.stop().await;
}

#[tokio::test]
async fn invalid_blocks_fail_with_the_raw_output_attached() {
    let mut h = Harness::with_scripts(&[("blocks.sh", "echo '[{\"type\": oops'\n")]).await;
    let id = h.schedule("test_blocks", &Args::new()).await;
    let entry = h.finished(id).await;
    assert!(
        matches!(&entry.exit, ExitKind::Error(e) if e.contains("not a JSON array of blocks")),
        "{:?}",
        entry.exit
    );
    let texts = h.job_texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with(
            "Command `test_blocks` failed.\nIts output is not a JSON array of Slack blocks ("
        ),
        "{}",
        texts[0]
    );
    assert!(texts[0].ends_with("Calling tech-support."), "{}", texts[0]);
    let files = h.fake.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].content, b"[{\"type\": oops\n");
    assert_eq!(h.reactions()[0].2, "x");
    assert_eq!(h.fake.texts_in(TECH).len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_bad_block_is_named_in_the_failure_report_and_never_sent_to_slack() {
    let script = r#"echo '[{"type": "divider"}, {"type": "sectoin", "text": {"type": "mrkdwn", "text": "x"}}]'
"#;
    let mut h = Harness::with_scripts(&[("blocks.sh", script)]).await;
    let id = h.schedule("test_blocks", &Args::new()).await;
    let entry = h.finished(id).await;
    assert!(
        matches!(&entry.exit, ExitKind::Error(e) if e.contains("block 1 is not a Slack block")),
        "{:?}",
        entry.exit
    );
    let texts = h.job_texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with(
            "Command `test_blocks` failed.\nIts output is not a JSON array of Slack blocks (block 1 is not a Slack block: unknown block type `sectoin`); the raw output is attached."
        ),
        "{}",
        texts[0]
    );
    let files = h.fake.files();
    assert_eq!(files.len(), 1);
    assert!(files[0].content.starts_with(b"[{\"type\": \"divider\"}"));
    assert!(
        h.fake
            .attempts("chat.postMessage")
            .iter()
            .all(|c| c.params.get("blocks").is_none()),
        "no blocks reached Slack"
    );
    h.stop().await;
}

#[tokio::test]
async fn empty_output_says_so() {
    // No shipped job has suppress_empty = true; `report::plan_output` covers the decision.
    let mut h = Harness::with_scripts(&[("hello.sh", "printf '\\n'\n")]).await;
    let id = h.schedule("test_hello_name", &args(&[("name", "x")])).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    assert_eq!(
        h.job_texts(),
        vec!["No output found for command `test_hello_name`"]
    );
    h.stop().await;
}

#[tokio::test]
async fn success_without_stdout_report_says_succeeded() {
    let mut h = Harness::start().await;
    let id = h.schedule("example_deploy", &Args::new()).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    assert_eq!(h.job_texts(), vec!["Command `example_deploy` succeeded"]);
    h.stop().await;
}

#[tokio::test]
async fn failure_without_tech_support_points_at_the_logs() {
    let mut h = Harness::start().await;
    let id = h.schedule("test_fail", &Args::new()).await;
    let entry = h.finished(id).await;
    assert_eq!(entry.exit, ExitKind::Code(1));
    let dir = h.log_dir(&entry);
    let name = log_name(&dir);
    assert_eq!(
        h.job_texts(),
        vec![format!(
            "Command `test_fail` failed.\nFind logs in {HOST_LOGS}/{name}.\n\
             Read them with `@bennettbot showlogs tail error {name}` (or `showlogs tail output`, `showlogs all error`)."
        )]
    );
    assert!(std::fs::read_to_string(dir.join("stderr"))
        .unwrap()
        .contains("Something went wrong"));
    assert_eq!(
        h.reactions(),
        vec![(JOBS.into(), THREAD.into(), "x".into())]
    );
    assert!(h.fake.texts_in(TECH).is_empty());
    assert!(h.fake.calls("chat.getPermalink").is_empty());
    h.stop().await;
}

#[tokio::test]
async fn failure_with_tech_support_links_the_report() {
    // An empty `test/` folder: `cat poem.txt` fails, and test_read_poem calls tech-support.
    let mut h = Harness::with_scripts(&[]).await;
    let id = h.schedule("test_read_poem", &Args::new()).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(1));
    let posts = h.fake.calls("chat.postMessage");
    let report = posts
        .iter()
        .find(|c| c.str("channel") == Some(JOBS))
        .unwrap();
    let text = report.str("text").unwrap();
    assert!(
        text.starts_with(
            "Command `test_read_poem` failed.\nFind logs in /host/logs/test_read_poem/"
        ),
        "{text}"
    );
    assert!(text.ends_with("\nCalling tech-support."), "{text}");
    let permalinks = h.fake.calls("chat.getPermalink");
    assert_eq!(permalinks.len(), 1);
    assert_eq!(permalinks[0].str("channel"), Some(JOBS));
    let tech = h.fake.texts_in(TECH);
    assert_eq!(tech.len(), 1);
    let ts = permalinks[0].str("message_ts").unwrap().replace('.', "");
    assert_eq!(
        tech[0],
        format!("https://fake.slack.com/archives/{JOBS}/p{ts}")
    );
    h.stop().await;
}

#[tokio::test]
async fn dm_failures_do_not_call_tech_support() {
    let mut h = Harness::with_scripts(&[("hello.sh", "no-such-command-anywhere\n")]).await;
    let id = h
        .schedule_in("test_hello_name", &args(&[("name", "x")]), "D0DM", true)
        .await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(127));
    let texts = h.fake.texts_in("D0DM");
    assert_eq!(texts.len(), 1);
    assert!(texts[0].starts_with("Command `test_hello_name` failed."));
    assert!(!texts[0].contains("tech-support"), "{}", texts[0]);
    assert!(h.fake.texts_in(TECH).is_empty());
    assert_eq!(
        h.reactions(),
        vec![("D0DM".into(), THREAD.into(), "x".into())]
    );
    h.stop().await;
}

#[tokio::test]
async fn timeout_kills_the_group_including_grandchildren() {
    // test_slow times out after 60 s; the grandchild ignores SIGTERM and would touch a marker
    // after 70 s, so only the group's SIGKILL (1 s after SIGTERM here) stops it.
    let script = r#"
        ( trap '' TERM; sleep 70; touch "$WRITEABLE_DIR/grandchild-ran" ) &
        echo $! > "$WRITEABLE_DIR/grandchild.pid"
        trap '' TERM
        sleep 120
    "#;
    let mut h = Harness::with_scripts(&[("slow.sh", script)]).await;
    let id = h.schedule("test_slow", &Args::new()).await;
    let entry = h.finished_within(id, Duration::from_secs(120)).await;
    assert_eq!(entry.exit, ExitKind::Timeout);
    let texts = h.job_texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with("Command `test_slow` failed.\nIt timed out after 60 s.\nFind logs in"),
        "{}",
        texts[0]
    );
    let writeable = h.root.path().join("writeable");
    let pid = std::fs::read_to_string(writeable.join("grandchild.pid")).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
    let dead = match stat {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap()
            .trim_start()
            .starts_with('Z'),
    };
    assert!(dead, "grandchild {} is alive", pid.trim());
    assert!(!writeable.join("grandchild-ran").exists());
    // Heartbeats kept the 3 s lease alive for the whole minute: no interrupted report.
    assert!(!texts[0].contains("interrupted"));
    h.stop().await;
}

#[tokio::test]
async fn slack_500s_and_429s_are_retried() {
    let mut h = Harness::new().await;
    h.fake
        .fail_next("chat.postMessage", 2, Failure::Status(500));
    h.fake
        .fail_next("reactions.add", 1, Failure::RateLimited(1));
    h.run();
    let id = h
        .schedule("test_hello_name", &args(&[("name", "Bob")]))
        .await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    assert_eq!(
        h.fake.attempts("chat.postMessage").len(),
        4,
        "2 failures, then 2 posts"
    );
    assert_eq!(h.job_texts(), vec!["Hello Bob\n"]);
    assert_eq!(
        h.fake.texts_in(LOGS),
        vec!["Command `test_hello_name` about to start"]
    );
    assert_eq!(h.fake.attempts("reactions.add").len(), 2);
    assert_eq!(h.reactions().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_failed_upload_is_noted_in_the_logs_channel() {
    let poem = "x".repeat(5_000);
    let mut h = Harness::new().await;
    h.settings.workspace_dir = workspace_with(h.root.path(), &[("poem.txt", &poem)]);
    // Refused (not a transient 429 or 5xx, which would be retried until Slack took it).
    h.fake
        .fail_next("files.getUploadURLExternal", 1, Failure::Status(403));
    h.run();
    let id = h.schedule("test_read_poem", &Args::new()).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    let notes: Vec<String> = h
        .fake
        .texts_in(LOGS)
        .into_iter()
        .filter(|t| t.starts_with("Could not notify slack"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", h.fake.texts_in(LOGS));
    assert!(notes[0].contains("HTTP 403"), "{}", notes[0]);
    assert!(
        notes[0].contains("test_read_poem.txt (5000 bytes)"),
        "{}",
        notes[0]
    );
    h.stop().await;
}

#[tokio::test]
async fn nothing_is_lost_while_slack_is_down() {
    let mut h = Harness::start().await;
    h.fake.set_outage(true);
    let down = h
        .schedule("test_hello_name", &args(&[("name", "in the dark")]))
        .await;
    let entry = h.recorded(down).await;
    assert_eq!(
        entry.exit,
        ExitKind::Code(0),
        "the job ran and was recorded"
    );
    let dir = h.log_dir(&entry);
    assert_eq!(
        std::fs::read_to_string(dir.join("stdout")).unwrap(),
        "Hello in the dark\n",
        "its output is kept in its log folder"
    );
    assert!(h.queue.status(Utc::now()).await.unwrap().running.is_empty());
    assert!(h.fake.calls("chat.postMessage").is_empty());
    assert!(!h.fake.attempts("chat.postMessage").is_empty());

    h.fake.set_outage(false);
    let up = h
        .schedule("test_hello_name", &args(&[("name", "again")]))
        .await;
    assert_eq!(h.finished(up).await.exit, ExitKind::Code(0));
    // The report made during the outage follows once Slack is back, before the later one.
    h.fake.wait_for_text(JOBS, "Hello again", WAIT).await;
    assert_eq!(h.job_texts(), vec!["Hello in the dark\n", "Hello again\n"]);
    let status = h.queue.status(Utc::now()).await.unwrap();
    assert!(status.running.is_empty() && status.scheduled.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn unknown_and_unrenderable_jobs_are_reported_and_removed() {
    let mut h = Harness::start().await;
    let unknown = h.schedule("retired_job", &Args::new()).await;
    let entry = h.finished(unknown).await;
    assert_eq!(
        entry.exit,
        ExitKind::Error("unknown job type `retired_job`".into())
    );
    let missing = h.schedule("test_hello_name", &Args::new()).await;
    let entry = h.finished(missing).await;
    assert_eq!(
        entry.exit,
        ExitKind::Error("missing argument `name`".into())
    );
    assert_eq!(
        h.job_texts(),
        vec![
            "Command `retired_job` cannot run: unknown job type `retired_job`. It has been removed from the queue.",
            "Command `test_hello_name` cannot run: missing argument `name`. It has been removed from the queue.",
        ]
    );
    // Both reacted x on the same message; the second answer is already_reacted.
    assert_eq!(h.fake.attempts("reactions.add").len(), 2);
    assert_eq!(h.reactions()[0].2, "x");
    assert!(
        h.fake.texts_in(LOGS).is_empty(),
        "nothing was about to start"
    );
    // The dispatcher is still alive and runs the next job.
    let next = h
        .schedule("test_hello_name", &args(&[("name", "Eve")]))
        .await;
    assert_eq!(h.finished(next).await.exit, ExitKind::Code(0));
    h.stop().await;
}

#[tokio::test]
async fn jobs_of_a_dead_dispatcher_are_reported_interrupted() {
    let mut h = Harness::new().await;
    let id = h.schedule("test_slow", &Args::new()).await;
    let job = h.queue.reserve("dead-dispatcher").await.unwrap().unwrap();
    assert_eq!(job.id, id.id);
    // Its last heartbeat was long ago.
    let long_ago = Utc::now() - chrono::TimeDelta::minutes(10);
    h.queue
        .heartbeat("dead-dispatcher", long_ago)
        .await
        .unwrap();
    h.run();
    let entry = h.finished(id).await;
    assert_eq!(entry.exit, ExitKind::Interrupted);
    let text = h.fake.wait_for_text(JOBS, "interrupted", WAIT).await;
    assert!(
        text.starts_with("Command `test_slow` was interrupted"),
        "{text}"
    );
    assert!(
        h.fake.texts_in(LOGS).is_empty(),
        "the job was not run again"
    );
    h.fake.wait_for("reactions.add", 1, WAIT).await;
    assert_eq!(h.reactions()[0].2, "x");
    h.stop().await;
}

#[tokio::test]
async fn shutdown_lets_quick_jobs_finish_and_interrupts_slow_ones() {
    let script = r#"
        if [ "$1" = quick ]; then
          touch "$WRITEABLE_DIR/quick-started"; sleep 1; echo done; exit 0
        fi
        echo started > "$WRITEABLE_DIR/slow-started"
        sleep 120
        echo "should not happen" > "$WRITEABLE_DIR/slow-finished"
    "#;
    let mut h = Harness::new().await;
    h.settings.workspace_dir = workspace_with(
        h.root.path(),
        &[("slow.sh", "bash hello.sh slow\n"), ("hello.sh", script)],
    );
    h.settings.shutdown_grace = Duration::from_secs(5);
    h.run();
    let slow = h.schedule("test_slow", &Args::new()).await;
    let quick = h
        .schedule("test_hello_name", &args(&[("name", "quick")]))
        .await;
    let writeable = h.root.path().join("writeable");
    eventually("the jobs to start", WAIT, || {
        (writeable.join("slow-started").exists() && writeable.join("quick-started").exists())
            .then_some(())
    })
    .await;
    h.stop().await;
    let quick = h.finished(quick).await;
    assert_eq!(quick.exit, ExitKind::Code(0));
    let slow = h.finished(slow).await;
    assert_eq!(slow.exit, ExitKind::Interrupted);
    let texts = h.job_texts();
    assert!(texts.contains(&"done\n".to_string()), "{texts:?}");
    let interrupted: Vec<_> = texts.iter().filter(|t| t.contains("interrupted")).collect();
    assert_eq!(interrupted.len(), 1, "{texts:?}");
    assert!(interrupted[0].starts_with("Command `test_slow` was interrupted"));
    assert!(interrupted[0].contains("Find logs in /host/logs/test_slow/"));
    assert!(!h.root.path().join("writeable/slow-finished").exists());
    // Nothing new is started after shutdown.
    let after = h
        .schedule("test_hello_name", &args(&[("name", "late")]))
        .await;
    let status = h.queue.status(Utc::now()).await.unwrap();
    assert_eq!(
        status.scheduled.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![after.id]
    );
    assert!(status.running.is_empty(), "interrupted jobs left the queue");
}

#[tokio::test]
async fn jobs_of_different_types_run_at_once() {
    // The slow job waits for a file that only the hello job writes.
    let slow = r#"
        for _ in $(seq 1 200); do
          [ -f "$WRITEABLE_DIR/go" ] && { echo "Slow job finished"; exit 0; }
          sleep 0.1
        done
        exit 1
    "#;
    let hello = "touch \"$WRITEABLE_DIR/go\"; echo hello\n";
    let mut h = Harness::with_scripts(&[("slow.sh", slow), ("hello.sh", hello)]).await;
    let slow = h.schedule("test_slow", &Args::new()).await;
    let hello = h.schedule("test_hello_name", &args(&[("name", "x")])).await;
    assert_eq!(h.finished(slow).await.exit, ExitKind::Code(0));
    assert_eq!(h.finished(hello).await.exit, ExitKind::Code(0));
    h.stop().await;
}

#[tokio::test]
async fn jobs_from_another_process_are_picked_up() {
    let mut h = Harness::start().await;
    // Another connection to the same file stands in for the Slack bot's process.
    let other = Queue::open(&h.root.path().join("queue.db")).unwrap();
    let after = h.last_history_id().await;
    let id = other
        .schedule_job(
            "test_hello_name",
            &args(&[("name", "from afar")]),
            JOBS,
            None,
            Duration::ZERO,
            false,
            None,
        )
        .await
        .unwrap()
        .id;
    let ticket = Ticket { id, after };
    assert_eq!(h.finished(ticket).await.exit, ExitKind::Code(0));
    assert_eq!(h.job_texts(), vec!["Hello from afar\n"]);
    assert!(h.reactions().is_empty(), "no message to react to");
    h.stop().await;
}

#[tokio::test]
async fn jobs_see_the_documented_environment() {
    let script = r#"
        echo "logs=$LOGS_DIR"
        echo "host=$HOST_LOGS_DIR"
        echo "writeable=$WRITEABLE_DIR"
        echo "pythonpath=$PYTHONPATH"
        echo "tool=$(whoami)"
        echo "pwd=$(pwd)"
    "#;
    let mut h = Harness::new().await;
    h.settings.workspace_dir = workspace_with(h.root.path(), &[("hello.sh", script)]);
    // `whoami` exists in /usr/bin too: finding this one proves absolute_bin comes first.
    let bin = h.root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("whoami"), "#!/bin/sh\necho from-bin\n").unwrap();
    let mut perms = std::fs::metadata(bin.join("whoami")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(bin.join("whoami"), perms).unwrap();
    h.settings.absolute_bin = Some(bin);
    h.run();
    let id = h.schedule("test_hello_name", &args(&[("name", "x")])).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(0));
    let root = h.root.path();
    let expected = format!(
        "logs={}\nhost={HOST_LOGS}\nwriteable={}\npythonpath={}\ntool=from-bin\npwd={}\n",
        root.join("logs").display(),
        root.join("writeable").display(),
        root.join("app").display(),
        root.join("custom-workspace/test").display(),
    );
    assert_eq!(h.job_texts(), vec![expected]);
    h.stop().await;
}

#[tokio::test]
async fn namespaces_without_a_shipped_workspace_get_a_writeable_one() {
    // The custom workspace has only `test/`, so `example` runs in the writeable workspace,
    // where deploy.sh does not exist: the job fails, and the folder was created.
    let mut h = Harness::with_scripts(&[]).await;
    let id = h.schedule("example_deploy", &Args::new()).await;
    assert_eq!(h.finished(id).await.exit, ExitKind::Code(127));
    assert!(h.root.path().join("writeable-workspace/example").is_dir());
    let text = &h.job_texts()[0];
    assert!(
        text.starts_with("Command `example_deploy` failed."),
        "{text}"
    );
    assert_eq!(
        h.fake.texts_in(TECH).len(),
        1,
        "example_deploy calls tech-support by default"
    );
    h.stop().await;
}

#[tokio::test]
async fn unreadable_rows_are_reported_and_removed() {
    let mut h = Harness::new().await;
    // As another process (e.g. the old Python service) might have left it.
    let conn = rusqlite::Connection::open(h.root.path().join("queue.db")).unwrap();
    conn.execute(
        "INSERT INTO job (type, args, channel, thread_ts, start_after, is_im)
         VALUES ('test_hello_name', 'not json', ?1, ?2, '2020-01-01 00:00:00', 0)",
        [JOBS, THREAD],
    )
    .unwrap();
    let id = conn.last_insert_rowid();
    drop(conn);
    h.run();
    let entry = h.finished(Ticket { id, after: 0 }).await;
    assert!(matches!(entry.exit, ExitKind::Error(_)), "{:?}", entry.exit);
    let texts = h.job_texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with("Command `test_hello_name` cannot run: "),
        "{}",
        texts[0]
    );
    assert!(texts[0].ends_with("It has been removed from the queue."));
    assert!(h.fake.texts_in(LOGS).is_empty(), "it never started");
    let status = h.queue.status(Utc::now()).await.unwrap();
    assert!(status.running.is_empty() && status.unreadable.is_empty());
    h.stop().await;
}

/// Waits until `path` exists (a job's script wrote it).
async fn file_appears(path: &Path) {
    eventually(&format!("{path:?} to appear"), WAIT, || {
        path.exists().then_some(())
    })
    .await;
}

/// Whether `pid` runs (a zombie, waiting for its reaper, does not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap()
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn removing_a_running_job_stops_its_group_before_the_type_runs_again() {
    // The first run leaves a child that ignores SIGTERM and sleeps; the second run notes
    // whether that child is still alive when it starts (two jobs of one type at once).
    let script = r#"
        if [ -f "$WRITEABLE_DIR/child.pid" ]; then
            state=$(awk '{print $3}' "/proc/$(cat "$WRITEABLE_DIR/child.pid")/stat" 2>/dev/null)
            if [ -n "$state" ] && [ "$state" != Z ]; then touch "$WRITEABLE_DIR/overlap"; fi
            exit 0
        fi
        ( trap '' TERM; sleep 120 ) &
        echo $! > "$WRITEABLE_DIR/child.pid"
        trap '' TERM
        sleep 120
    "#;
    let mut h = Harness::with_scripts(&[("slow.sh", script)]).await;
    let first = h.schedule("test_slow", &Args::new()).await;
    let writeable = h.root.path().join("writeable");
    file_appears(&writeable.join("child.pid")).await;
    let second = h.schedule("test_slow", &Args::new()).await;
    assert_ne!(first.id, second.id);
    let removal = h.queue.remove_job(first.id, "U0REMOVER", Utc::now()).await;
    assert_eq!(removal.unwrap(), Removal::Stopping);

    let entry = h.finished(first).await;
    assert_eq!(entry.exit, ExitKind::Removed);
    let text = h.fake.wait_for_text(JOBS, "was stopped", WAIT).await;
    assert_eq!(
        text,
        format!(
            "Command `test_slow` was stopped: job id [{}] removed by <@U0REMOVER>.",
            first.id
        )
    );
    assert!(h
        .reactions()
        .contains(&(JOBS.into(), THREAD.into(), "x".into())));
    let child = std::fs::read_to_string(writeable.join("child.pid")).unwrap();
    assert!(!alive(&child), "the removed job's child {child} survived");

    // The type was blocked until the group was gone: the next job ran alone, afterwards.
    assert_eq!(h.finished(second).await.exit, ExitKind::Code(0));
    assert!(
        !writeable.join("overlap").exists(),
        "the next job of the type started while the removed one still ran"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_job_whose_end_cannot_be_recorded_releases_its_type_and_says_so() {
    let mut h = Harness::start().await;
    // Every history insert fails, as on a full disk: finishing a run can never succeed.
    let db = rusqlite::Connection::open(h.root.path().join("queue.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER no_history BEFORE INSERT ON job_history
         BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END;",
    )
    .unwrap();
    let first = h
        .schedule("test_hello_name", &args(&[("name", "first")]))
        .await;
    h.schedule("test_hello_name", &args(&[("name", "second")]))
        .await;
    // The second job of the type runs although the first could not be recorded.
    h.fake.wait_for_text(JOBS, "Hello second", WAIT).await;
    let notice = h
        .fake
        .wait_for_text(LOGS, "Could not record the end of job", WAIT)
        .await;
    assert!(
        notice.starts_with(&format!(
            "Could not record the end of job id [{}] (`test_hello_name`)",
            first.id
        )),
        "{notice}"
    );
    assert!(notice.contains("disk full (test)"), "{notice}");
    assert!(notice.contains("removed from the queue"), "{notice}");
    // The second is released the same way once its own attempts run out.
    h.wait_status("an empty queue", |status| {
        status.running.is_empty() && status.scheduled.is_empty()
    })
    .await;
    h.stop().await;
}

/// Processes of group `pgid` that still run (zombies, waiting for their reaper, do not).
fn live_members(pgid: i32) -> Vec<i32> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue; // Gone meanwhile.
        };
        // After the command name: state, parent, process group, ...
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        if fields[2].parse() == Ok(pgid) && fields[0] != "Z" {
            live.push(pid);
        }
    }
    live
}

/// SIGKILLs, when dropped, a job's group that is still running: should the test fail, its
/// processes must not outlive it. A member counts only while its environment names this
/// test's folder (a group id may be reused).
struct KillGroupOnDrop {
    pgid: i32,
    marker: Vec<u8>,
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        let ours = live_members(self.pgid).into_iter().any(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ.windows(self.marker.len()).any(|w| w == self.marker)
        });
        if ours {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// The process group a `test_stubborn` run printed (`group <pgid>`), once it has.
async fn stubborn_group(stdout: &Path) -> i32 {
    eventually(&format!("a group in {stdout:?}"), WAIT, || {
        let text = std::fs::read_to_string(stdout).unwrap_or_default();
        let pgid = text.lines().find_map(|l| l.strip_prefix("group "))?;
        Some(pgid.trim().parse().unwrap())
    })
    .await
}

/// A run's log folder under `runs` (one job type's logs) other than `except`, once it exists.
async fn run_folder(runs: &Path, except: Option<&Path>) -> PathBuf {
    eventually(&format!("a new run in {runs:?}"), WAIT, || {
        std::fs::read_dir(runs)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| Some(p.as_path()) != except)
    })
    .await
}

#[tokio::test]
async fn a_timed_out_job_whose_processes_ignore_sigterm_is_killed_whole_before_the_next_runs() {
    // `test stubborn` (shipped) times out after 2 s; it and its two children outlive SIGTERM,
    // so only SIGKILL, a kill grace (1 s here) later, ends them.
    let mut h = Harness::start().await;
    let first = h.schedule("test_stubborn", &Args::new()).await;
    let runs = h.root.path().join("logs/test_stubborn");
    let first_dir = run_folder(&runs, None).await;
    let pgid = stubborn_group(&first_dir.join("stdout")).await;
    let marker = format!(
        "WRITEABLE_DIR={}\0",
        h.root.path().join("writeable").display()
    );
    let _first_group = KillGroupOnDrop {
        pgid,
        marker: marker.clone().into_bytes(),
    };
    // Queued behind the running one (a scheduled duplicate would just be the same job).
    let second = h.schedule("test_stubborn", &Args::new()).await;
    assert_ne!(first.id, second.id);

    let entry = h.finished(first).await;
    assert_eq!(entry.exit, ExitKind::Timeout);
    assert_eq!(h.log_dir(&entry), first_dir);
    let output = std::fs::read_to_string(first_dir.join("stdout")).unwrap();
    for who in ["child 1", "child 2", "parent"] {
        assert!(
            output
                .lines()
                .any(|l| l.starts_with(who) && l.ends_with("outlived SIGTERM")),
            "{who} did not outlive SIGTERM, so SIGKILL was not needed:\n{output}"
        );
    }
    assert_eq!(
        live_members(pgid),
        Vec::<i32>::new(),
        "the timed-out job's group outlived its end"
    );

    // The next job of the type started only then; the first group was gone when it did.
    let second_stdout = run_folder(&runs, Some(&first_dir)).await.join("stdout");
    let second_pgid = stubborn_group(&second_stdout).await;
    let _second_group = KillGroupOnDrop {
        pgid: second_pgid,
        marker: marker.into_bytes(),
    };
    assert_ne!(second_pgid, pgid);
    assert!(live_members(pgid).is_empty());
    let second = h.finished(second).await;
    assert_eq!(second.exit, ExitKind::Timeout);
    assert!(second.started_at.unwrap() >= entry.ended_at);
    assert!(live_members(second_pgid).is_empty());

    // Each run was announced once and reported once, as a timeout with its logs.
    assert_eq!(
        h.fake.texts_in(LOGS),
        vec!["Command `test_stubborn` about to start"; 2]
    );
    let texts = h.job_texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    for text in &texts {
        assert!(
            text.starts_with(
                "Command `test_stubborn` failed.\nIt timed out after 2 s.\nFind logs in /host/logs/test_stubborn/"
            ),
            "{text}"
        );
        assert!(!text.contains("tech-support"), "{text}");
    }
    assert!(h.fake.texts_in(TECH).is_empty());
    h.stop().await;
}
