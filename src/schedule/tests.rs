//! The scheduler driven by a [`ManualClock`]: two schedulers (two queue handles on one SQLite
//! file, as two dispatcher processes would have) queue each due time once.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::*;
use crate::config::{CatchUp, ScheduleSpec};
use crate::queue::{Queue, ScheduleRun};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn spec(
    key: &'static str,
    cron: &'static str,
    timezone: &'static str,
    catch_up: CatchUp,
) -> Timetable {
    let spec: &'static ScheduleSpec = Box::leak(Box::new(ScheduleSpec {
        key,
        namespace: "r",
        job_type: "r_ping",
        cron,
        timezone,
        args: &[("host", "example.org")],
        channel: "#reports",
        catch_up,
    }));
    Timetable::new(spec).expect("valid schedule")
}

/// Two schedulers of `timetables` on one database file, going by one clock.
struct Two {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    queue: Queue,
    a: Scheduler,
    b: Scheduler,
}

fn two(start: DateTime<Utc>, timetables: impl Fn() -> Vec<Timetable>) -> Two {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queue.db");
    let clock = ManualClock::new(start);
    let queue = Queue::open(&path).expect("open a");
    let other = Queue::open(&path).expect("open b");
    let a = Scheduler::new(queue.clone(), timetables(), Arc::new(clock.clone()));
    let b = Scheduler::new(other, timetables(), Arc::new(clock.clone()));
    Two {
        _dir: dir,
        clock,
        queue,
        a,
        b,
    }
}

impl Two {
    /// Ticks both schedulers at once every `step` until `until`; the due times queued.
    async fn run_until(&mut self, until: DateTime<Utc>, step: TimeDelta) -> Vec<DateTime<Utc>> {
        let mut queued = Vec::new();
        while self.clock.now() <= until {
            let (a, b) = tokio::join!(self.a.tick(), self.b.tick());
            for tick in [a.expect("tick a"), b.expect("tick b")] {
                for (_, due, run) in tick.runs {
                    if matches!(run, ScheduleRun::Queued(_)) {
                        queued.push(due);
                    }
                }
            }
            self.clock.advance(step);
        }
        queued.sort();
        queued
    }
}

/// Every minute from `first` to `last`, inclusive.
fn minutes(first: DateTime<Utc>, last: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = vec![first];
    while *out.last().unwrap() < last {
        out.push(*out.last().unwrap() + TimeDelta::minutes(1));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_minute_runs_once_a_minute_with_two_schedulers() {
    let start = utc(2030, 6, 1, 12, 0, 5);
    let mut two = two(start, || {
        vec![spec("every", "* * * * *", "UTC", CatchUp::Skip)]
    });
    let queued = two
        .run_until(utc(2030, 6, 1, 12, 9, 59), TimeDelta::seconds(10))
        .await;
    // 12:00 is on time at 12:00:05; then each minute to 12:09, once each between the two.
    assert_eq!(
        queued,
        minutes(utc(2030, 6, 1, 12, 0, 0), utc(2030, 6, 1, 12, 9, 0))
    );
    // The job went to the queue (merged while pending, by the queue's dedupe).
    let status = two.queue.status(two.clock.now()).await.expect("status");
    assert_eq!(status.scheduled.len(), 1);
    assert_eq!(status.scheduled[0].job_type, "r_ping");
    assert_eq!(status.scheduled[0].channel, "#reports");
    assert_eq!(
        status.scheduled[0].args.get("host").map(String::as_str),
        Some("example.org")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_minute_across_both_london_clock_changes() {
    for (from, label) in [
        // Spring forward: 01:00 UTC, clocks go from 01:00 GMT to 02:00 BST.
        (utc(2026, 3, 29, 0, 55, 5), "March"),
        // Fall back: 01:00 UTC, clocks go from 02:00 BST to 01:00 GMT.
        (utc(2026, 10, 25, 0, 55, 5), "October"),
    ] {
        let mut two = two(from, || {
            vec![spec("london", "* * * * *", "Europe/London", CatchUp::Skip)]
        });
        let until = from + TimeDelta::minutes(10);
        let queued = two.run_until(until, TimeDelta::seconds(10)).await;
        let first = from - TimeDelta::seconds(5);
        assert_eq!(
            queued,
            minutes(first, first + TimeDelta::minutes(10)),
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_time_runs_once_across_both_london_clock_changes() {
    // 01:30 London does not exist on 29 March (due at 02:00 BST = 01:00 UTC instead) and
    // happens twice on 25 October (due the first time, 01:30 BST = 00:30 UTC).
    for (from, until, expected) in [
        (
            utc(2026, 3, 29, 0, 20, 0),
            utc(2026, 3, 29, 2, 0, 0),
            utc(2026, 3, 29, 1, 0, 0),
        ),
        (
            utc(2026, 10, 25, 0, 20, 0),
            utc(2026, 10, 25, 2, 0, 0),
            utc(2026, 10, 25, 0, 30, 0),
        ),
    ] {
        let mut two = two(from, || {
            vec![spec("daily", "30 1 * * *", "Europe/London", CatchUp::Skip)]
        });
        let queued = two.run_until(until, TimeDelta::seconds(30)).await;
        assert_eq!(queued, vec![expected]);
    }
}

#[tokio::test]
async fn a_suppressed_job_type_is_not_queued_by_anyone() {
    let start = utc(2030, 6, 1, 9, 0, 5);
    let mut two = two(start, || {
        vec![spec("nine", "0 9 * * *", "UTC", CatchUp::Skip)]
    });
    two.queue
        .schedule_suppression(
            "r_ping",
            utc(2030, 6, 1, 8, 0, 0),
            utc(2030, 6, 1, 10, 0, 0),
        )
        .await
        .expect("suppress");
    let a = two.a.tick().await.expect("tick");
    assert_eq!(
        a.runs,
        vec![(
            "nine",
            utc(2030, 6, 1, 9, 0, 0),
            ScheduleRun::Suppressed {
                until: utc(2030, 6, 1, 10, 0, 0)
            }
        )]
    );
    let b = two.b.tick().await.expect("tick");
    assert_eq!(b.runs[0].2, ScheduleRun::AlreadyClaimed);
    let status = two.queue.status(start).await.expect("status");
    assert!(status.scheduled.is_empty(), "{status:?}");
}

#[tokio::test]
async fn after_downtime_latest_queues_the_latest_missed_time_and_skip_does_not() {
    let timetables = || {
        vec![
            spec("latest", "0 9 * * *", "UTC", CatchUp::Latest),
            spec("skip", "0 9 * * *", "UTC", CatchUp::Skip),
        ]
    };
    let day1 = utc(2030, 6, 1, 9, 0, 5);
    let mut two = two(day1, timetables);
    let first = two.a.tick().await.expect("tick");
    let queued = |tick: &Tick| -> Vec<(&'static str, DateTime<Utc>)> {
        tick.runs
            .iter()
            .filter(|(_, _, run)| matches!(run, ScheduleRun::Queued(_)))
            .map(|(key, due, _)| (*key, *due))
            .collect()
    };
    assert_eq!(
        queued(&first),
        vec![
            ("latest", utc(2030, 6, 1, 9, 0, 0)),
            ("skip", utc(2030, 6, 1, 9, 0, 0))
        ],
        "both on time"
    );

    // Down from day 1 to day 3 at noon: 2 June and 3 June 09:00 were missed. A scheduler
    // starting now (scheduler b's first tick) queues only the latest, for `latest` only.
    two.clock.set(utc(2030, 6, 3, 12, 0, 0));
    let restart = two.b.tick().await.expect("tick");
    assert_eq!(queued(&restart), vec![("latest", utc(2030, 6, 3, 9, 0, 0))]);
    // Once: neither another tick nor the other scheduler queues it again.
    two.clock.advance(TimeDelta::seconds(10));
    assert!(queued(&two.b.tick().await.expect("tick")).is_empty());
    // Scheduler a's last tick was two days ago: it catches up too, but finds it claimed.
    let a = two.a.tick().await.expect("tick");
    assert!(queued(&a).is_empty(), "{a:?}");
    assert!(
        a.runs
            .iter()
            .any(|(key, _, run)| *key == "latest" && *run == ScheduleRun::AlreadyClaimed),
        "{a:?}"
    );
}

#[tokio::test]
async fn a_new_latest_schedule_has_missed_nothing() {
    let mut two = two(utc(2030, 6, 3, 12, 0, 0), || {
        vec![spec("latest", "0 9 * * *", "UTC", CatchUp::Latest)]
    });
    let tick = two.a.tick().await.expect("tick");
    assert_eq!(
        tick.runs,
        vec![("latest", utc(2030, 6, 3, 9, 0, 0), ScheduleRun::NeverRan)]
    );
}

#[tokio::test]
async fn run_queues_due_jobs_and_ends_on_shutdown() {
    let two = two(utc(2030, 6, 1, 9, 0, 5), || {
        vec![spec("nine", "0 9 * * *", "UTC", CatchUp::Skip)]
    });
    let (stop, shutdown) = tokio::sync::watch::channel(crate::shutdown::Stop::Running);
    let task = tokio::spawn(two.a.run(shutdown));
    // Its first tick queues 09:00 (polled for: the tick runs on the task).
    loop {
        let status = two.queue.status(two.clock.now()).await.expect("status");
        if !status.scheduled.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    crate::shutdown::raise(&stop, crate::shutdown::Stop::Graceful);
    // It was sleeping towards its next tick; the stop ends that sleep (the timeout only
    // guards against a hang).
    tokio::time::timeout(std::time::Duration::from_secs(60), task)
        .await
        .expect("the scheduler stops")
        .expect("the task ends cleanly");
}
