//! Two connections (as two processes would have) draining one database file at once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use super::test_util::*;
use super::SqliteStore;
use crate::queue::history::{ExitKind, Finished};

const JOBS: usize = 1_000;
const TYPES: usize = 20;

#[test]
fn two_connections_reserve_each_job_once_and_one_per_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queue.db");
    let setup = SqliteStore::open(&path).expect("open");
    for i in 0..JOBS {
        let n = i.to_string();
        // Runs of one type in start order: a reserve that ignored running types would take
        // the next row, of the type the other connection holds.
        let job_type = format!("type{}", i * TYPES / JOBS);
        add(&setup, &job_type, &args(&[("n", &n)]), 0);
    }
    drop(setup);

    let held = Arc::new(Mutex::new(HashSet::<String>::new()));
    let seen = Arc::new(Mutex::new(HashSet::<i64>::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|owner| {
            let (path, held, seen, done, start) = (
                path.clone(),
                Arc::clone(&held),
                Arc::clone(&seen),
                Arc::clone(&done),
                Arc::clone(&start),
            );
            std::thread::spawn(move || {
                let queue = SqliteStore::open(&path).expect("open in thread");
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut mine = 0usize;
                start.wait();
                while done.load(Ordering::SeqCst) < JOBS {
                    assert!(Instant::now() < deadline, "drain took too long");
                    let Some(job) = queue.reserve(owner, at(100)).expect("reserve") else {
                        std::thread::yield_now();
                        continue;
                    };
                    assert!(
                        held.lock().expect("held").insert(job.job_type.clone()),
                        "two jobs of {} at once",
                        job.job_type
                    );
                    assert!(
                        seen.lock().expect("seen").insert(job.id),
                        "job {} reserved twice",
                        job.id
                    );
                    // Hold it briefly so the other connection gets a chance to collide.
                    std::thread::yield_now();
                    // Released from the set before the row goes, so the set never lags the DB.
                    assert!(held.lock().expect("held").remove(&job.job_type));
                    let record = Finished {
                        started_at: at(100),
                        ended_at: at(101),
                        exit: ExitKind::Code(0),
                        log_dir: None,
                    };
                    queue
                        .finish(job.run.expect("run"), &record)
                        .expect("finish");
                    done.fetch_add(1, Ordering::SeqCst);
                    mine += 1;
                }
                mine
            })
        })
        .collect();
    let per_worker: Vec<usize> = workers
        .into_iter()
        .map(|w| w.join().expect("worker"))
        .collect();
    assert_eq!(per_worker.iter().sum::<usize>(), JOBS, "{per_worker:?}");
    // How the work splits depends on scheduling (one thread may drain everything on a busy
    // machine), so it is shown, not asserted; exactly-once and one-per-type are what matter.
    println!("reserved per connection: {per_worker:?}");
    assert_eq!(seen.lock().expect("seen").len(), JOBS);
    let check = SqliteStore::open(&path).expect("reopen");
    assert_eq!(count(&check, "job"), 0);
    assert_eq!(count(&check, "job_run"), 0);
    assert_eq!(
        count(&check, "job_history"),
        i64::try_from(JOBS).expect("small")
    );
}
