//! The queue on both stores side by side, through [`Queue`] (the handle every part uses):
//! SQLite (a file in a temp dir, WAL) and PostgreSQL (a private server from Debian's binaries
//! on loopback, started by `tests/support/postgres.rs`, or `BENNETTBOT_TEST_DATABASE_URL`), and
//! PostgreSQL over TLS (`verify-full`, the tests' TLS server from Debian's binaries). Each
//! scenario gets a fresh database.
//!
//! - **schedules/s**: `schedule` calls one after another, each a new row;
//! - **reserve + finish/s**: one job reserved then finished at a time, with at least 2,000 queued;
//! - **schedule → reserved**: a waiter loops on `notified()` then `reserve`; the time from just
//!   before `schedule` until `reserve` hands it the job. "One handle": the waiter shares the
//!   scheduler's handle (as in `serve`). "Two handles": the waiter has a handle of its own, so it
//!   hears of the job only as another process would (SQLite: its watcher of `data_version`,
//!   every 10 ms; PostgreSQL: `LISTEN/NOTIFY`). "Two processes": a child process (this bench
//!   re-run with `QUEUE_STORES_SCHEDULER` set) schedules, timed on the wall clock;
//! - **jobs/s with D dispatchers**: 1,000 jobs of 100 types queued, then D loops, each on a
//!   handle of its own, reserve and finish until all are done (one running per type holds
//!   across them). The job body is empty ("queue only") or spawns `echo` and waits for it.
//!   The real dispatcher also posts to Slack and makes a log folder per job: not counted here.
//!
//! `cargo bench --bench queue_stores` prints a Markdown table. Without `--bench`
//! (`cargo test --benches`) small sizes check that it still works. Figures are printed, never
//! asserted. The test server runs with `fsync=off` and `synchronous_commit=off`; SQLite with
//! `synchronous=NORMAL` (no fsync per commit in WAL mode either).

use bennettbot_test_support::postgres;
#[path = "support/stats.rs"]
mod stats;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bennettbot::config::Args;
use bennettbot::queue::{Database, ExitKind, Finished, NewJob, Queue};
use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

/// Types the throughput scenarios spread their jobs over.
const TYPES: usize = 20;
/// Jobs left queued while reserve + finish is timed.
const QUEUED: usize = 2_000;
/// Only a broken store takes this long for any scenario.
const SCENARIO_LIMIT: Duration = Duration::from_secs(300);
/// The dispatcher's longest wait between looks at the queue (`src/dispatcher/mod.rs`): a
/// wake-up missed (e.g. a commit before the SQLite watcher's first reading) costs this.
const POLL: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sqlite,
    Postgres,
    /// PostgreSQL over TLS (`verify-full`), on the test server with a certificate of its own.
    PostgresTls,
}

/// A fresh database, opened as often as a scenario needs handles.
struct Fresh {
    database: Database,
    /// The database as `DATABASE_URL` names it, for a child process.
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Fresh {
    async fn new(kind: Kind) -> Fresh {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("queue.db");
                Fresh {
                    url: format!("sqlite://{}", path.display()),
                    database: Database::Sqlite(path),
                    _dir: Some(dir),
                }
            }
            Kind::Postgres | Kind::PostgresTls => {
                let url = if kind == Kind::Postgres {
                    postgres::database_url().await
                } else {
                    let ca = postgres::tls_server().ca.display().to_string();
                    postgres::tls_database_url(
                        "localhost",
                        &format!("?sslmode=verify-full&sslrootcert={ca}"),
                    )
                    .await
                };
                Fresh {
                    database: Database::from_settings(Some(&url), "unused".into()).expect("url"),
                    url,
                    _dir: None,
                }
            }
        }
    }

    /// A new handle, as another process would open.
    async fn open(&self) -> Queue {
        Queue::open_database(&self.database).await.expect("open")
    }
}

fn job_args(n: usize) -> Args {
    Args::from([
        ("n".to_owned(), n.to_string()),
        ("repo".to_owned(), "opensafely/job-server".to_owned()),
    ])
}

/// Queues job `n` of type `type{n % types}`, due now.
async fn add(queue: &Queue, n: usize, types: usize) {
    queue
        .schedule(&NewJob {
            job_type: &format!("type{}", n % types),
            args: &job_args(n),
            channel: "C1",
            thread_ts: None,
            message_ts: None,
            is_im: false,
            start_after: Utc::now(),
            requester: None,
        })
        .await
        .expect("schedule");
}

/// Reserves the next due job for `owner` and finishes it at once; `false` if none was due.
async fn reserve_finish(queue: &Queue, owner: &str, body: Body) -> bool {
    let Some(job) = queue.reserve(owner).await.expect("reserve") else {
        return false;
    };
    let started_at = Utc::now();
    body.run(&job.job_type).await;
    let record = Finished {
        started_at,
        ended_at: Utc::now(),
        exit: ExitKind::Code(0),
        log_dir: None,
    };
    assert!(
        queue
            .finish(job.run.expect("a reserved job has a run"), &record)
            .await
            .expect("finish"),
        "the run was still there"
    );
    true
}

/// What a job does between reserve and finish.
#[derive(Clone, Copy)]
enum Body {
    Nothing,
    /// Spawns `echo <type>` (output discarded) and waits for it.
    Echo,
}

impl Body {
    async fn run(self, job_type: &str) {
        if let Body::Echo = self {
            let status = tokio::process::Command::new("echo")
                .arg(job_type)
                .stdout(std::process::Stdio::null())
                .status()
                .await
                .expect("echo runs");
            assert!(status.success());
        }
    }
}

/// Schedules per second, `n` new rows one after another.
async fn schedules_per_second(kind: Kind, n: usize) -> f64 {
    let fresh = Fresh::new(kind).await;
    let queue = fresh.open().await;
    let started = Instant::now();
    for i in 0..n {
        add(&queue, i, TYPES).await;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Reserve + finish per second, `n` cycles with at least [`QUEUED`] jobs waiting.
async fn reserve_finish_per_second(kind: Kind, n: usize) -> f64 {
    let fresh = Fresh::new(kind).await;
    let queue = fresh.open().await;
    for i in 0..QUEUED + n {
        add(&queue, i, TYPES).await;
    }
    let started = Instant::now();
    for _ in 0..n {
        assert!(reserve_finish(&queue, "bench", Body::Nothing).await);
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Where the jobs of a latency run are scheduled, as seen from the waiter.
#[derive(Clone, Copy)]
enum Source {
    /// On the waiter's own handle, as in `serve`.
    SameHandle,
    /// On another handle in this process: heard only through the store.
    OtherHandle,
    /// In a child process (this bench, re-run as [`SCHEDULER_ENV`]).
    OtherProcess,
}

/// Set (to a `DATABASE_URL`) in the child that schedules for [`Source::OtherProcess`].
const SCHEDULER_ENV: &str = "QUEUE_STORES_SCHEDULER";

/// Wall-clock µs: the one clock both processes read.
fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_micros() as i64
}

/// Schedules job `i` of type `type0`; returns its id.
async fn schedule_one(queue: &Queue, i: usize) -> i64 {
    queue
        .schedule_job(
            "type0",
            &job_args(i),
            "C1",
            None,
            Duration::ZERO,
            false,
            None,
        )
        .await
        .expect("schedule")
        .id
}

/// The child of [`Source::OtherProcess`]: for each number read on stdin, schedules that job
/// and answers `<id> <µs just before scheduling>`.
fn scheduler_child(url: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let database = Database::from_settings(Some(url), "unused".into()).expect("url");
    let queue = runtime
        .block_on(Queue::open_database(&database))
        .expect("open");
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lines() {
        let i: usize = line.expect("stdin").trim().parse().expect("a job number");
        let sent = now_micros();
        let id = runtime.block_on(schedule_one(&queue, i));
        writeln!(out, "{id} {sent}").expect("stdout");
        out.flush().expect("stdout");
    }
}

/// Schedules for the latency run: here, or through the child process.
enum Scheduler {
    Here(Queue),
    Child(Box<ChildScheduler>),
}

/// The scheduler process and its pipes.
struct ChildScheduler {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    answers: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Scheduler {
    async fn new(source: Source, fresh: &Fresh, waiter: &Queue) -> Scheduler {
        match source {
            Source::SameHandle => Scheduler::Here(waiter.clone()),
            Source::OtherHandle => Scheduler::Here(fresh.open().await),
            Source::OtherProcess => {
                let mut child = tokio::process::Command::new(
                    std::env::current_exe().expect("the bench's own path"),
                )
                .env(SCHEDULER_ENV, &fresh.url)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("the scheduler process starts");
                let stdin = child.stdin.take().expect("piped");
                let stdout = child.stdout.take().expect("piped");
                Scheduler::Child(Box::new(ChildScheduler {
                    child,
                    stdin,
                    answers: tokio::io::BufReader::new(stdout).lines(),
                }))
            }
        }
    }

    /// Schedules job `i`: its id and the µs just before it was scheduled.
    async fn schedule(&mut self, i: usize) -> (i64, i64) {
        match self {
            Scheduler::Here(queue) => {
                let sent = now_micros();
                (schedule_one(queue, i).await, sent)
            }
            Scheduler::Child(process) => {
                let ChildScheduler { stdin, answers, .. } = &mut **process;
                stdin
                    .write_all(format!("{i}\n").as_bytes())
                    .await
                    .expect("to the scheduler");
                stdin.flush().await.expect("to the scheduler");
                let line = answers
                    .next_line()
                    .await
                    .expect("from the scheduler")
                    .expect("the scheduler answers");
                let (id, sent) = line.split_once(' ').expect("`id sent`");
                (id.parse().expect("id"), sent.parse().expect("µs"))
            }
        }
    }

    async fn end(self) {
        if let Scheduler::Child(process) = self {
            let ChildScheduler {
                mut child, stdin, ..
            } = *process;
            // End of input ends the child.
            drop(stdin);
            let status = tokio::time::timeout(SCENARIO_LIMIT, child.wait())
                .await
                .expect("the scheduler exits")
                .expect("wait");
            assert!(status.success(), "the scheduler process failed: {status}");
        }
    }
}

/// Schedule → reserved latencies (µs) of `n` jobs, each scheduled once the last is finished,
/// after a gap that moves across the SQLite watcher's 10 ms period. `warm_up` more go first,
/// unmeasured (connections, the listener, the watcher thread).
async fn wake_latencies(kind: Kind, source: Source, n: usize, warm_up: usize) -> Vec<i64> {
    let fresh = Fresh::new(kind).await;
    let waiter = fresh.open().await;
    let mut scheduler = Scheduler::new(source, &fresh, &waiter).await;
    // Starts the watcher thread / the listener, and gives it time to take its first reading
    // or `LISTEN` (the warm-up jobs cover the rest).
    drop(waiter.notified());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (reserved_tx, mut reserved_rx) = mpsc::unbounded_channel::<(i64, i64)>();
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let waiting = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = waiter.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                _ = stop_rx.changed() => return,
            }
            while let Some(job) = waiter.reserve("bench").await.expect("reserve") {
                let at = now_micros();
                let record = Finished {
                    started_at: Utc::now(),
                    ended_at: Utc::now(),
                    exit: ExitKind::Code(0),
                    log_dir: None,
                };
                waiter
                    .finish(job.run.expect("run"), &record)
                    .await
                    .expect("finish");
                let _ = reserved_tx.send((job.id, at));
            }
        }
    });
    let mut latencies = Vec::with_capacity(n);
    for i in 0..warm_up + n {
        // Pacing, not waiting for anything: schedules land at every phase of a poll.
        tokio::time::sleep(Duration::from_micros(2_000 + (i as u64 * 3_700) % 10_000)).await;
        let (scheduled, sent) = scheduler.schedule(i).await;
        let (id, at) = tokio::time::timeout(SCENARIO_LIMIT, reserved_rx.recv())
            .await
            .expect("the job was reserved in time")
            .expect("the waiter runs");
        assert_eq!(id, scheduled, "the job just scheduled was reserved");
        if i >= warm_up {
            latencies.push(at - sent);
        }
    }
    scheduler.end().await;
    let _ = stop_tx.send(true);
    waiting.await.expect("the waiter ends");
    latencies
}

/// Jobs per second for `jobs` jobs of `types` types, queued first, drained by `dispatchers`
/// loops on handles of their own.
async fn drain_per_second(
    kind: Kind,
    dispatchers: usize,
    jobs: usize,
    types: usize,
    body: Body,
) -> f64 {
    let fresh = Fresh::new(kind).await;
    let queue = fresh.open().await;
    for i in 0..jobs {
        add(&queue, i, types).await;
    }
    let mut handles = Vec::with_capacity(dispatchers);
    for _ in 0..dispatchers {
        let handle = fresh.open().await;
        // Starts the watcher / listener before the clock does.
        drop(handle.notified());
        handles.push(handle);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let done = Arc::new(AtomicUsize::new(0));
    let (all_done_tx, all_done_rx) = watch::channel(false);
    let all_done_tx = Arc::new(all_done_tx);
    let started = Instant::now();
    let loops: Vec<_> = handles
        .into_iter()
        .enumerate()
        .map(|(d, handle)| {
            let done = Arc::clone(&done);
            let all_done_tx = Arc::clone(&all_done_tx);
            let mut all_done_rx = all_done_rx.clone();
            let owner = format!("bench-dispatcher-{d}");
            tokio::spawn(async move {
                let mut ran = 0usize;
                loop {
                    // Armed before reserving, so a change made meanwhile is not missed.
                    let changed = handle.notified();
                    if reserve_finish(&handle, &owner, body).await {
                        ran += 1;
                        if done.fetch_add(1, Ordering::AcqRel) + 1 == jobs {
                            let _ = all_done_tx.send(true);
                        }
                        continue;
                    }
                    if *all_done_rx.borrow() {
                        return ran;
                    }
                    tokio::select! {
                        () = changed => {}
                        () = tokio::time::sleep(POLL) => {}
                        _ = all_done_rx.changed() => {}
                    }
                }
            })
        })
        .collect();
    let mut ran = 0;
    for running in loops {
        ran += tokio::time::timeout(SCENARIO_LIMIT, running)
            .await
            .expect("the jobs were drained in time")
            .expect("the loop ends");
    }
    let elapsed = started.elapsed();
    assert_eq!(ran, jobs, "every job ran once");
    jobs as f64 / elapsed.as_secs_f64()
}

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn latency_cell(micros: Vec<i64>) -> String {
    let s = stats::summarise(micros);
    format!("{:.2} / {:.2} ms", s.p50, s.p99)
}

fn row(what: &str, cells: [String; 3]) {
    println!("| {what} | {} | {} | {} |", cells[0], cells[1], cells[2]);
}

fn main() {
    if let Ok(url) = std::env::var(SCHEDULER_ENV) {
        return scheduler_child(&url);
    }
    let quick = !std::env::args().any(|a| a == "--bench");
    let ops = size("QUEUE_STORES_OPS", if quick { 50 } else { 2_000 });
    let wakes = size("QUEUE_STORES_WAKES", if quick { 5 } else { 300 });
    let jobs = size("QUEUE_STORES_JOBS", if quick { 50 } else { 1_000 });
    let types = size("QUEUE_STORES_TYPES", if quick { 10 } else { 100 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let kinds = [Kind::Sqlite, Kind::Postgres, Kind::PostgresTls];
    let each = |f: &dyn Fn(Kind) -> String| kinds.map(f);
    runtime.block_on(async {
        // Started outside any timing.
        drop(Fresh::new(Kind::Postgres).await);
        drop(Fresh::new(Kind::PostgresTls).await);
    });

    println!("\n| queue, through `Queue` | SQLite | PostgreSQL | PostgreSQL, TLS verify-full |");
    println!("|---|---|---|---|");
    row(
        &format!("schedules/s ({ops} new rows, one at a time)"),
        each(&|k| format!("{:.0}", runtime.block_on(schedules_per_second(k, ops)))),
    );
    row(
        &format!("reserve + finish/s ({ops}, {QUEUED}+ queued)"),
        each(&|k| format!("{:.0}", runtime.block_on(reserve_finish_per_second(k, ops)))),
    );
    for (source, label) in [
        (Source::SameHandle, "one handle"),
        (Source::OtherHandle, "two handles in one process"),
        (Source::OtherProcess, "two processes"),
    ] {
        row(
            &format!("schedule → reserved, {label}, p50 / p99 ({wakes})"),
            each(&|k| latency_cell(runtime.block_on(wake_latencies(k, source, wakes, 3)))),
        );
    }
    for (body, label) in [(Body::Nothing, "queue only"), (Body::Echo, "`echo` each")] {
        for dispatchers in [1, 2, 4] {
            row(
                &format!(
                    "jobs/s, {jobs} jobs of {types} types, {dispatchers} dispatcher(s), {label}"
                ),
                each(&|k| {
                    let rate =
                        runtime.block_on(drain_per_second(k, dispatchers, jobs, types, body));
                    format!("{rate:.0}")
                }),
            );
        }
    }
}
