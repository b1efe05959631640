//! The queue's rules, one suite run against both stores: SQLite (a file, so two handles are
//! two connections, as two processes would be) and a real PostgreSQL started by the tests.
//! Each rule is written once, against [`Queue`], the interface every part uses.

use bennettbot_test_support::args::args;
use bennettbot_test_support::postgres;
use bennettbot_test_support::queue_watch::until_watching;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bennettbot::config::Args;
use bennettbot::queue::{
    Database, ExitKind, Finished, NewEntry, NewJob, Queue, QueueError, Removal, ScheduleClaim,
    ScheduleRun, HISTORY_RETENTION, MAX_ENTRY_CONTENT_BYTES,
};
use chrono::{DateTime, TimeDelta, Utc};

/// A database both stores can open more than once.
struct Fixture {
    database: Database,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        Fixture {
            database: Database::Sqlite(dir.path().join("queue.db")),
            _dir: Some(dir),
        }
    }

    async fn postgres() -> Fixture {
        let url = postgres::database_url().await;
        Fixture {
            database: Database::from_settings(Some(&url), "unused".into()).expect("url"),
            _dir: None,
        }
    }

    /// A new handle, as another process would open.
    async fn open(&self) -> Queue {
        Queue::open_database(&self.database).await.expect("open")
    }
}

/// Each rule runs once per store.
macro_rules! on_both_stores {
    ($($rule:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    super::$rule(super::Fixture::sqlite().await).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    super::$rule(super::Fixture::postgres().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    same_type_and_args_are_merged,
    one_job_of_a_type_runs_at_a_time,
    delayed_jobs_wait_for_their_time,
    suppressed_types_wait_until_the_suppression_ends,
    cancel_removes_pending_jobs_only,
    status_lists_running_waiting_and_suppressions,
    remove_deletes_pending_jobs_and_stops_running_ones,
    dead_dispatchers_jobs_are_reaped_once_as_interrupted,
    a_stale_run_never_finishes_a_job_that_reused_its_place,
    history_is_kept_for_thirty_days,
    webhook_deliveries_queue_their_jobs_once,
    slack_events_and_leases_are_claimed_once_across_handles,
    two_dispatchers_run_each_job_once_and_never_two_of_a_type,
    a_change_from_another_handle_wakes_the_dispatcher,
    the_schema_is_migrated_once_by_handles_opening_together,
    a_schedules_due_time_is_queued_once_across_handles,
    support_calls_are_claimed_once_across_handles_and_can_be_given_back,
    a_jobs_reports_are_kept_with_its_end_and_delivered_in_order_from_any_handle,
);

fn ago(secs: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::seconds(secs)
}

fn later(secs: i64) -> DateTime<Utc> {
    Utc::now() + TimeDelta::seconds(secs)
}

async fn add(queue: &Queue, job_type: &str, a: &Args, start_after: DateTime<Utc>) -> i64 {
    queue
        .schedule(&NewJob {
            job_type,
            args: a,
            channel: "C1",
            thread_ts: None,
            message_ts: None,
            is_im: false,
            start_after,
            requester: None,
        })
        .await
        .expect("schedule")
        .id
}

fn finished(exit: ExitKind) -> Finished {
    Finished {
        started_at: ago(1),
        ended_at: Utc::now(),
        exit,
        log_dir: None,
    }
}

async fn same_type_and_args_are_merged(f: Fixture) {
    let q = f.open().await;
    let a = args(&[("n", "1")]);
    let first = add(&q, "ns_job", &a, ago(1)).await;
    assert_eq!(add(&q, "ns_job", &a, ago(1)).await, first);
    let again = q
        .schedule(&NewJob {
            job_type: "ns_job",
            args: &a,
            channel: "C2",
            thread_ts: Some("1.2"),
            message_ts: None,
            is_im: false,
            start_after: ago(1),
            requester: None,
        })
        .await
        .expect("schedule");
    assert_eq!((again.id, again.added), (first, false));
    let job = q.reserve("d").await.expect("reserve").expect("job");
    assert_eq!(
        (job.channel.as_str(), job.thread_ts.as_deref()),
        ("C2", Some("1.2"))
    );
    q.release(job.run.expect("run")).await.expect("release");
    let first = add(&q, "ns_job", &a, ago(1)).await;
    let other = add(&q, "ns_job", &args(&[("n", "2")]), ago(1)).await;
    assert_ne!(other, first);
    assert_eq!(
        q.status(Utc::now()).await.expect("status").scheduled.len(),
        2
    );
}

async fn one_job_of_a_type_runs_at_a_time(f: Fixture) {
    let q = f.open().await;
    add(&q, "a", &args(&[("n", "1")]), ago(3)).await;
    add(&q, "a", &args(&[("n", "2")]), ago(2)).await;
    add(&q, "b", &Args::new(), ago(1)).await;
    let first = q.reserve("d1").await.expect("reserve").expect("a job");
    assert_eq!(
        (
            first.job_type.as_str(),
            first.args.get("n").map(String::as_str)
        ),
        ("a", Some("1"))
    );
    let second = q.reserve("d1").await.expect("reserve").expect("b, not a");
    assert_eq!(second.job_type, "b");
    assert_eq!(q.reserve("d2").await.expect("reserve"), None);
    // A job of a running type says it will wait.
    let scheduled = q
        .schedule(&NewJob {
            job_type: "a",
            args: &args(&[("n", "3")]),
            channel: "C1",
            thread_ts: None,
            message_ts: None,
            is_im: false,
            start_after: ago(1),
            requester: None,
        })
        .await
        .expect("schedule");
    assert!(scheduled.already_running);
    assert!(q
        .finish(first.run.expect("run"), &finished(ExitKind::Code(0)))
        .await
        .expect("finish"));
    let next = q.reserve("d2").await.expect("reserve").expect("the next a");
    assert_eq!(next.args.get("n").map(String::as_str), Some("2"));
}

async fn delayed_jobs_wait_for_their_time(f: Fixture) {
    let q = f.open().await;
    let at = later(3600);
    add(&q, "later", &Args::new(), at).await;
    assert_eq!(q.reserve("d").await.expect("reserve"), None);
    let next = q.next_start_after().await.expect("next").expect("a time");
    assert!((next - at).num_milliseconds().abs() < 1, "{next} vs {at}");
    add(&q, "now", &Args::new(), ago(1)).await;
    assert_eq!(
        q.reserve("d").await.expect("reserve").map(|j| j.job_type),
        Some("now".into())
    );
}

async fn suppressed_types_wait_until_the_suppression_ends(f: Fixture) {
    let q = f.open().await;
    let end = later(600);
    q.schedule_suppression("quiet", ago(60), end)
        .await
        .expect("suppress");
    assert!(matches!(
        q.schedule_suppression("quiet", end, ago(1)).await,
        Err(QueueError::EmptySuppression { .. })
    ));
    add(&q, "quiet", &Args::new(), ago(1)).await;
    assert_eq!(q.reserve("d").await.expect("reserve"), None);
    let next = q.next_start_after().await.expect("next").expect("a time");
    assert!(
        (next - end).num_milliseconds().abs() < 1,
        "pushed to the end: {next}"
    );
    let active = q
        .active_suppression("quiet", Utc::now())
        .await
        .expect("active")
        .expect("suppressed");
    assert_eq!(active.job_type, "quiet");
    assert_eq!(q.cancel_suppressions("quiet").await.expect("cancel"), 1);
    assert_eq!(
        q.reserve("d").await.expect("reserve").map(|j| j.job_type),
        Some("quiet".into())
    );
}

async fn cancel_removes_pending_jobs_only(f: Fixture) {
    let q = f.open().await;
    add(&q, "t", &args(&[("n", "1")]), ago(2)).await;
    let running = q.reserve("d").await.expect("reserve").expect("job");
    add(&q, "t", &args(&[("n", "2")]), ago(1)).await;
    add(&q, "t", &args(&[("n", "3")]), ago(1)).await;
    assert_eq!(q.cancel_job("t").await.expect("cancel"), 2);
    let status = q.status(Utc::now()).await.expect("status");
    assert_eq!(status.running.len(), 1);
    assert_eq!(status.running[0].id, running.id);
    assert!(status.scheduled.is_empty());
}

async fn status_lists_running_waiting_and_suppressions(f: Fixture) {
    let q = f.open().await;
    add(&q, "run", &Args::new(), ago(5)).await;
    let running = q.reserve("d").await.expect("reserve").expect("job");
    let waiting = add(&q, "wait", &args(&[("x", "y")]), later(60)).await;
    q.schedule_suppression("s1", ago(10), later(10))
        .await
        .expect("s1");
    q.schedule_suppression("s2", later(100), later(200))
        .await
        .expect("s2");
    q.schedule_suppression("gone", ago(100), ago(50))
        .await
        .expect("gone");
    let status = q.status(Utc::now()).await.expect("status");
    assert_eq!(
        status.running.iter().map(|j| j.id).collect::<Vec<_>>(),
        [running.id]
    );
    assert_eq!(status.running[0].run, running.run);
    assert_eq!(
        status.scheduled.iter().map(|j| j.id).collect::<Vec<_>>(),
        [waiting]
    );
    assert_eq!(status.scheduled[0].args, args(&[("x", "y")]));
    let names = |list: &[bennettbot::queue::Suppression]| {
        list.iter().map(|s| s.job_type.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&status.active_suppressions), ["s1"]);
    assert_eq!(names(&status.scheduled_suppressions), ["s2"]);
    assert!(status.unreadable.is_empty());
}

async fn remove_deletes_pending_jobs_and_stops_running_ones(f: Fixture) {
    let q = f.open().await;
    let pending = add(&q, "p", &Args::new(), later(60)).await;
    assert_eq!(
        q.remove_job(pending, "U1", Utc::now())
            .await
            .expect("remove"),
        Removal::Removed
    );
    assert_eq!(
        q.remove_job(pending, "U1", Utc::now())
            .await
            .expect("remove"),
        Removal::NotFound
    );
    add(&q, "r", &Args::new(), ago(1)).await;
    let job = q.reserve("d").await.expect("reserve").expect("job");
    let run = job.run.expect("run");
    assert_eq!(
        q.remove_job(job.id, "U2", Utc::now())
            .await
            .expect("remove"),
        Removal::Stopping
    );
    // A second request keeps the first remover.
    assert_eq!(
        q.remove_job(job.id, "U3", Utc::now())
            .await
            .expect("remove"),
        Removal::Stopping
    );
    assert_eq!(
        q.run_states("d").await.expect("states"),
        vec![(run, Some("U2".to_owned()))]
    );
    // The type stays blocked until the dispatcher finishes the run as removed.
    add(&q, "r", &args(&[("again", "1")]), ago(1)).await;
    assert_eq!(q.reserve("d").await.expect("reserve"), None);
    assert!(q
        .finish(run, &finished(ExitKind::Removed))
        .await
        .expect("finish"));
    assert_eq!(
        q.history(1).await.expect("history")[0].exit,
        ExitKind::Removed
    );
    assert!(q.reserve("d").await.expect("reserve").is_some());
}

async fn dead_dispatchers_jobs_are_reaped_once_as_interrupted(f: Fixture) {
    let (a, b) = (f.open().await, f.open().await);
    add(&a, "x", &Args::new(), ago(2)).await;
    add(&a, "y", &Args::new(), ago(1)).await;
    let dead = a.reserve("dead").await.expect("reserve").expect("x");
    let alive = a.reserve("alive").await.expect("reserve").expect("y");
    assert!(a
        .set_process_group(dead.run.expect("run"), 4242)
        .await
        .expect("pg"));
    let timeout = Duration::from_secs(60);
    // Within the timeout nothing is reaped.
    assert!(b
        .reap_dead_leases(Utc::now(), timeout, "alive")
        .await
        .expect("reap")
        .is_empty());
    let future = later(120);
    a.heartbeat("alive", future).await.expect("beat");
    let reaped = b
        .reap_dead_leases(future, timeout, "reaper")
        .await
        .expect("reap");
    assert_eq!(reaped.len(), 1, "{reaped:?}");
    assert_eq!(reaped[0].job.id, dead.id);
    assert_eq!(reaped[0].process_group, Some(4242));
    // Never twice, and never the reaper's own runs.
    assert!(a
        .reap_dead_leases(future, timeout, "reaper")
        .await
        .expect("reap")
        .is_empty());
    let own = a
        .reap_dead_leases(later(600), timeout, "alive")
        .await
        .expect("reap");
    assert!(own.is_empty(), "its own run was reaped: {own:?}");
    let history = a.history(10).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].exit, ExitKind::Interrupted);
    assert_eq!(history[0].run, dead.run);
    // The dead run's late finish writes nothing.
    assert!(!a
        .finish(dead.run.expect("run"), &finished(ExitKind::Code(0)))
        .await
        .expect("finish"));
    assert!(a
        .finish(alive.run.expect("run"), &finished(ExitKind::Code(0)))
        .await
        .expect("finish"));
}

async fn a_stale_run_never_finishes_a_job_that_reused_its_place(f: Fixture) {
    let q = f.open().await;
    add(&q, "t", &Args::new(), ago(1)).await;
    let old = q.reserve("d").await.expect("reserve").expect("job");
    let reaped = q
        .reap_dead_leases(later(120), Duration::from_secs(60), "other")
        .await
        .expect("reap");
    assert_eq!(reaped.len(), 1);
    add(&q, "t", &Args::new(), ago(1)).await;
    let new = q.reserve("d").await.expect("reserve").expect("job");
    assert_ne!(new.run, old.run);
    assert!(!q
        .finish(old.run.expect("run"), &finished(ExitKind::Code(0)))
        .await
        .expect("finish"));
    assert!(!q.release(old.run.expect("run")).await.expect("release"));
    assert_eq!(q.status(Utc::now()).await.expect("status").running.len(), 1);
    assert!(q.release(new.run.expect("run")).await.expect("release"));
    assert!(q
        .status(Utc::now())
        .await
        .expect("status")
        .running
        .is_empty());
}

async fn history_is_kept_for_thirty_days(f: Fixture) {
    let q = f.open().await;
    for (n, age_days) in [(1, 40), (2, 29)] {
        add(&q, "h", &args(&[("n", &n.to_string())]), ago(1)).await;
        let job = q.reserve("d").await.expect("reserve").expect("job");
        let ended = Utc::now() - TimeDelta::days(age_days);
        let record = Finished {
            started_at: ended - TimeDelta::seconds(5),
            ended_at: ended,
            exit: ExitKind::Code(n),
            log_dir: Some(format!("/logs/{n}")),
        };
        assert!(q
            .finish(job.run.expect("run"), &record)
            .await
            .expect("finish"));
    }
    assert_eq!(q.history(10).await.expect("history").len(), 2);
    assert_eq!(q.prune_history(Utc::now()).await.expect("prune"), 1);
    let left = q.history(10).await.expect("history");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].exit, ExitKind::Code(2));
    assert_eq!(left[0].log_dir.as_deref(), Some("/logs/2"));
    assert!(Utc::now() - left[0].ended_at < HISTORY_RETENTION);
}

async fn webhook_deliveries_queue_their_jobs_once(f: Fixture) {
    let (a, b) = (f.open().await, f.open().await);
    let none = Args::new();
    let jobs = [NewJob {
        job_type: "deploy",
        args: &none,
        channel: "C1",
        thread_ts: None,
        message_ts: None,
        is_im: false,
        start_after: ago(1),
        requester: None,
    }];
    let first = a
        .schedule_delivery(Some("d-1"), &jobs, Utc::now())
        .await
        .expect("delivery")
        .expect("new");
    assert_eq!(first.len(), 1);
    assert_eq!(
        b.schedule_delivery(Some("d-1"), &jobs, Utc::now())
            .await
            .expect("delivery"),
        None
    );
    assert!(b.record_delivery("d-2", Utc::now()).await.expect("record"));
    assert!(!a.record_delivery("d-2", Utc::now()).await.expect("record"));
    assert_eq!(
        a.status(Utc::now()).await.expect("status").scheduled.len(),
        1
    );
}

async fn slack_events_and_leases_are_claimed_once_across_handles(f: Fixture) {
    let (a, b) = (f.open().await, f.open().await);
    assert!(a.claim_event("Ev1", Utc::now()).await.expect("claim"));
    assert!(!b.claim_event("Ev1", Utc::now()).await.expect("claim"));
    assert!(b.claim_event("Ev2", Utc::now()).await.expect("claim"));
    let ttl = Duration::from_secs(30);
    let now = Utc::now();
    assert!(a.hold_lease("search", "A", now, ttl).await.expect("lease"));
    assert!(!b.hold_lease("search", "B", now, ttl).await.expect("lease"));
    assert!(a
        .hold_lease("search", "A", now + TimeDelta::seconds(20), ttl)
        .await
        .expect("renew"));
    assert!(!b
        .hold_lease("search", "B", now + TimeDelta::seconds(45), ttl)
        .await
        .expect("lease"));
    assert!(b
        .hold_lease("search", "B", now + TimeDelta::seconds(51), ttl)
        .await
        .expect("expired"));
}

async fn two_dispatchers_run_each_job_once_and_never_two_of_a_type(f: Fixture) {
    const TYPES: usize = 10;
    const PER_TYPE: usize = 20;
    let setup = f.open().await;
    for t in 0..TYPES {
        for n in 0..PER_TYPE {
            add(
                &setup,
                &format!("type{t}"),
                &args(&[("n", &n.to_string())]),
                ago(1),
            )
            .await;
        }
    }
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let seen: Arc<Mutex<HashMap<i64, usize>>> = Arc::default();
    let mut dispatchers = Vec::new();
    for d in 0..2 {
        let (queue, running, seen) = (f.open().await, running.clone(), seen.clone());
        dispatchers.push(tokio::spawn(async move {
            let owner = format!("d{d}");
            let mut idle = 0;
            while idle < 20 {
                let Some(job) = queue.reserve(&owner).await.expect("reserve") else {
                    idle += 1;
                    tokio::task::yield_now().await;
                    continue;
                };
                idle = 0;
                assert!(
                    running.lock().unwrap().insert(job.job_type.clone()),
                    "{} ran twice at once",
                    job.job_type
                );
                *seen.lock().unwrap().entry(job.id).or_default() += 1;
                tokio::task::yield_now().await;
                running.lock().unwrap().remove(&job.job_type);
                assert!(queue
                    .finish(job.run.expect("run"), &finished(ExitKind::Code(0)))
                    .await
                    .expect("finish"));
            }
        }));
    }
    for d in dispatchers {
        d.await.expect("dispatcher");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), TYPES * PER_TYPE);
    assert!(seen.values().all(|&n| n == 1), "a job ran twice");
    assert_eq!(
        setup.history(1000).await.expect("history").len(),
        TYPES * PER_TYPE
    );
}

async fn a_change_from_another_handle_wakes_the_dispatcher(f: Fixture) {
    let (dispatcher, bot) = (f.open().await, f.open().await);
    // The first wait starts the watcher (SQLite) or listener (PostgreSQL).
    until_watching(&dispatcher, |n| {
        let bot = &bot;
        async move {
            let a = args(&[("n", &n.to_string())]);
            add(bot, "priming", &a, later(3600)).await;
        }
    })
    .await;
    let woken = tokio::spawn(dispatcher.notified());
    add(&bot, "from_the_bot", &Args::new(), ago(1)).await;
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("woken within 5 s by another handle's change")
        .expect("task");
}

async fn the_schema_is_migrated_once_by_handles_opening_together(f: Fixture) {
    let f = Arc::new(f);
    // Eight at once on a new database: SQLite answers some of them `SQLITE_BUSY` at once
    // (switching a new file to WAL), which opening must wait out.
    let opening: Vec<_> = (0..8)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move { f.open().await })
        })
        .collect();
    let mut queues = Vec::new();
    for o in opening {
        queues.push(o.await.expect("open"));
    }
    for q in &queues {
        assert_eq!(
            q.schema_version().await.expect("version"),
            q.supported_schema_version()
        );
    }
}

#[tokio::test]
async fn an_unreachable_postgresql_is_a_clear_error_not_a_hang() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("postgres://bot:secret-pw@127.0.0.1:{port}/queue");
    let database = Database::from_settings(Some(&url), "unused".into()).expect("url");
    let opened = tokio::time::timeout(Duration::from_secs(30), Queue::open_database(&database))
        .await
        .expect("gave up within its connect timeout");
    let error = opened.expect_err("nothing listens there").to_string();
    assert!(error.contains("PostgreSQL"), "{error}");
    assert!(!error.contains("secret-pw"), "{error}");
}

async fn a_schedules_due_time_is_queued_once_across_handles(f: Fixture) {
    let claim = |due: DateTime<Utc>, catch_up: bool| ScheduleClaim {
        schedule_key: "report_weekly 0 9 * * MON-FRI Europe/London".into(),
        due_at: due,
        job_type: "report_weekly".into(),
        args: args(&[("week", "current")]),
        channel: "#reports".into(),
        only_after_earlier_run: catch_up,
        now: Utc::now(),
    };
    let due = ago(30);
    // A catch-up of a schedule that never ran queues nothing.
    let a = f.open().await;
    assert_eq!(
        a.claim_schedule_run(claim(due, true)).await.expect("claim"),
        ScheduleRun::NeverRan
    );
    // Four schedulers on their own handles race for one due time: one queues it.
    let mut racing = Vec::new();
    for _ in 0..4 {
        let q = f.open().await;
        let c = claim(due, false);
        racing.push(tokio::spawn(async move { q.claim_schedule_run(c).await }));
    }
    let mut queued = 0;
    for r in racing {
        match r.await.expect("task").expect("claim") {
            ScheduleRun::Queued(s) => {
                queued += 1;
                assert!(s.added);
            }
            ScheduleRun::AlreadyClaimed => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(queued, 1);
    let job = a
        .reserve("d")
        .await
        .expect("reserve")
        .expect("the scheduled job");
    assert_eq!(
        (job.job_type.as_str(), job.channel.as_str()),
        ("report_weekly", "#reports")
    );
    assert!((job.start_after - due).num_milliseconds().abs() < 1);
    // A suppressed type: the next due time is claimed, and nothing is queued.
    a.schedule_suppression("report_weekly", ago(60), later(600))
        .await
        .expect("suppress");
    let next = ago(10);
    assert!(matches!(
        a.claim_schedule_run(claim(next, false))
            .await
            .expect("claim"),
        ScheduleRun::Suppressed { .. }
    ));
    assert_eq!(
        a.claim_schedule_run(claim(next, false))
            .await
            .expect("claim"),
        ScheduleRun::AlreadyClaimed
    );
    assert!(a
        .status(Utc::now())
        .await
        .expect("status")
        .scheduled
        .is_empty());
}

async fn support_calls_are_claimed_once_across_handles_and_can_be_given_back(f: Fixture) {
    let (a, b) = (f.open().await, f.open().await);
    let claim = |q: &Queue, rule: &'static str| {
        let q = q.clone();
        async move {
            q.claim_support_call(rule, "C1", "1.2")
                .await
                .expect("claim")
        }
    };
    assert!(claim(&a, "tech").await);
    assert!(!claim(&b, "tech").await, "claimed by the other handle");
    assert!(claim(&b, "bennett-admins").await, "each rule claims apart");
    b.release_support_call("tech", "C1", "1.2")
        .await
        .expect("release");
    assert!(claim(&a, "tech").await, "given back, claimed again");
}

async fn a_jobs_reports_are_kept_with_its_end_and_delivered_in_order_from_any_handle(f: Fixture) {
    let (a, b) = (f.open().await, f.open().await);
    let entry = |channel: &str, report: &str, content: Option<Vec<u8>>| NewEntry {
        channel: channel.into(),
        report: report.into(),
        content,
    };
    let early = a
        .add_outbox(entry("C1", "notice", None))
        .await
        .expect("add");
    add(&a, "t", &Args::new(), ago(1)).await;
    let job = a.reserve("d").await.expect("reserve").expect("job");
    let bytes: Vec<u8> = (0..=255).collect();
    let reports: Arc<[NewEntry]> = vec![
        entry("C1", "report", Some(bytes.clone())),
        entry("C2", "reaction", None),
    ]
    .into();
    let (recorded, ids) = a
        .finish_reporting(
            job.run.expect("a run"),
            &finished(ExitKind::Code(0)),
            reports,
        )
        .await
        .expect("finish");
    assert!(recorded);
    assert_eq!(ids.len(), 2);
    assert_eq!(a.history(10).await.expect("history").len(), 1);

    // Another handle (a replica) sees them, in order per channel, with the file's bytes.
    assert_eq!(b.outbox_channels().await.expect("channels"), ["C1", "C2"]);
    let first = b.next_outbox("C1").await.expect("next").expect("an entry");
    assert_eq!((first.id, first.report.as_str()), (early, "notice"));
    b.settle_outbox(early, None).await.expect("settle");
    let second = b.next_outbox("C1").await.expect("next").expect("an entry");
    assert_eq!(
        (second.id, second.content.as_deref()),
        (ids[0], Some(&bytes[..]))
    );
    let note = b
        .fail_outbox(
            ids[0],
            "channel_not_found",
            Some(entry("LOGS", "note", None)),
        )
        .await
        .expect("fail")
        .expect("the note's id");
    assert_eq!(b.next_outbox("C1").await.expect("next"), None);
    let left: Vec<(i64, Option<String>)> = a
        .undelivered()
        .await
        .expect("undelivered")
        .into_iter()
        .map(|e| (e.id, e.failure))
        .collect();
    assert_eq!(
        left,
        [
            (ids[0], Some("channel_not_found".to_string())),
            (ids[1], None),
            (note, None)
        ]
    );
    let too_big = entry("C1", "huge", Some(vec![0; MAX_ENTRY_CONTENT_BYTES + 1]));
    assert!(matches!(
        a.add_outbox(too_big).await,
        Err(QueueError::EntryTooLarge(_))
    ));
}
