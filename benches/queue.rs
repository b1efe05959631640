//! Queue throughput on a file database (WAL) in a temp dir: scheduling, reserve-plus-finish
//! with 2,000 jobs queued, and an idle reserve (the dispatcher's poll) over 2,000 jobs not due.

use std::time::Duration;

use bennettbot::config::Args;
use bennettbot::queue::{ExitKind, Finished, NewJob, SqliteStore as Queue};
use chrono::{TimeDelta, Utc};
use divan::counter::ItemsCount;
use divan::Bencher;

const QUEUED: usize = 2_000;
const TYPES: usize = 20;

fn main() {
    divan::main();
}

fn open() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::open(&dir.path().join("queue.db")).expect("open");
    (dir, queue)
}

fn job_args(n: usize) -> Args {
    Args::from([
        ("n".to_owned(), n.to_string()),
        ("repo".to_owned(), "opensafely/job-server".to_owned()),
    ])
}

/// One `schedule_job` call inserting a new row (distinct args each time).
#[divan::bench(sample_count = 1000)]
fn schedule(bencher: Bencher) {
    let (_dir, queue) = open();
    let mut n = 0usize;
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        n += 1;
        queue
            .schedule_job(
                &format!("type{}", n % TYPES),
                &job_args(n),
                "C1",
                None,
                Duration::ZERO,
                false,
                None,
            )
            .expect("schedule")
    });
}

/// One `schedule_job` call that dedupes onto an existing pending row.
#[divan::bench]
fn schedule_dedupe(bencher: Bencher) {
    let (_dir, queue) = open();
    for n in 0..QUEUED {
        queue
            .schedule_job(
                &format!("type{}", n % TYPES),
                &job_args(n),
                "C1",
                None,
                Duration::ZERO,
                false,
                None,
            )
            .expect("schedule");
    }
    let mut n = 0usize;
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        n = (n + 1) % QUEUED;
        queue
            .schedule_job(
                &format!("type{}", n % TYPES),
                &job_args(n),
                "C2",
                None,
                Duration::ZERO,
                false,
                None,
            )
            .expect("schedule")
    });
}

/// `reserve` then `finish` of one job with 2,000 queued; the job that replaces it (keeping
/// the queue at 2,000) is scheduled outside the timed part.
// More samples than the default 100: the mean must include the periodic WAL checkpoints.
#[divan::bench(sample_count = 2000)]
fn reserve_finish(bencher: Bencher) {
    let (_dir, queue) = open();
    let start = Utc::now();
    let add = |n: usize| {
        queue
            .schedule(&NewJob {
                job_type: &format!("type{}", n % TYPES),
                args: &job_args(n),
                channel: "C1",
                thread_ts: None,
                message_ts: None,
                is_im: false,
                start_after: start,
                requester: None,
            })
            .expect("schedule");
    };
    for n in 0..QUEUED {
        add(n);
    }
    let now = start + TimeDelta::seconds(1);
    let mut n = QUEUED;
    bencher
        .counter(ItemsCount::new(1usize))
        .with_inputs(|| {
            n += 1;
            add(n);
        })
        .bench_local_values(|()| {
            let job = queue
                .reserve("bench", now)
                .expect("reserve")
                .expect("a job is due");
            let record = Finished {
                started_at: now,
                ended_at: now,
                exit: ExitKind::Code(0),
                log_dir: None,
            };
            queue
                .finish(job.run.expect("run"), &record)
                .expect("finish");
        });
}

/// `reserve` finding nothing due among 2,000 pending jobs: the dispatcher's idle poll.
#[divan::bench]
fn reserve_idle(bencher: Bencher) {
    let (_dir, queue) = open();
    for n in 0..QUEUED {
        queue
            .schedule_job(
                &format!("type{}", n % TYPES),
                &job_args(n),
                "C1",
                None,
                Duration::from_secs(3600),
                false,
                None,
            )
            .expect("schedule");
    }
    let now = Utc::now();
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        assert!(queue.reserve("bench", now).expect("reserve").is_none());
    });
}
