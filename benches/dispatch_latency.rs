//! Dispatch latency: how long from `schedule_job` until the job's script is running.
//!
//! One process holds a queue (a SQLite file in a temp dir, or PostgreSQL) and a [`Dispatcher`] reporting to a
//! recording [`SlackApi`]. `test_hello_name` jobs are scheduled one at a time, each once the
//! previous one has left the queue, so every job meets an idle dispatcher. Three instants are
//! compared, all on the wall clock (the script can only read that one):
//!
//! - **schedule**: just before `schedule_job` is called;
//! - **announce**: the dispatcher posts ``Command `x` about to start`` in the same poll that
//!   spawns bash (`tokio::join!` polls the post first), so it stands for the spawn;
//! - **script**: the first line of `test/hello.sh`, which appends `$EPOCHREALTIME` (a bash
//!   builtin, so no extra process skews it) to `$WRITEABLE_DIR/marks` (or, run by hand, the
//!   file named by `$MARK`).
//!
//! Scenarios, on SQLite then on PostgreSQL (a private server, see `tests/support/postgres.rs`):
//! the same handle schedules and dispatches (as in `serve`, where the bot's schedule wakes the
//! dispatcher directly), then another handle schedules (as with separate `bot`/`webserver` and
//! `dispatcher` processes, heard through SQLite's `data_version` watcher or PostgreSQL's
//! `LISTEN/NOTIFY`). Bash's own start-up is measured alone for context.
//!
//! `cargo bench --bench dispatch_latency`; `DISPATCH_N` (default 300) and `DISPATCH_POLL_N`
//! (default 30) set the sizes. Figures are printed, never asserted.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bennettbot::config::Args;
use bennettbot::dispatcher::environment::BotEnvironment;
use bennettbot::dispatcher::{Dispatcher, DispatcherSettings};
use bennettbot::queue::{Database, Queue};
use bennettbot::slack::{FileUpload, OutgoingMessage, PostedMessage, SlackApi, SlackError};
use tokio::sync::{watch, Notify};

use bennettbot_test_support::postgres;
#[path = "support/stats.rs"]
mod stats;
use stats::summarise;

const JOB_TYPE: &str = "test_hello_name";
const LOGS: &str = "#logs";
const CHANNEL: &str = "C0BENCH";
/// Only a broken dispatcher takes this long for one job.
const JOB_WAIT: Duration = Duration::from_secs(30);

/// Records when each message was posted; answers like Slack would.
#[derive(Default)]
struct RecordingSlack {
    posts: Mutex<Vec<(u64, String, String)>>,
    changed: Notify,
}

impl RecordingSlack {
    /// Wall-clock times (µs) of the ``about to start`` announcements, in order.
    fn announcements(&self) -> Vec<u64> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, channel, text)| channel == LOGS && text.contains("about to start"))
            .map(|(at, ..)| *at)
            .collect()
    }

    fn reports_to(&self, channel: &str) -> usize {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, c, _)| c == channel)
            .count()
    }
}

impl SlackApi for RecordingSlack {
    async fn post_message(&self, message: OutgoingMessage) -> Result<PostedMessage, SlackError> {
        // Taken before any await: the dispatcher's first poll of this future is the instant
        // it also starts spawning the job.
        let at = now_micros();
        self.posts
            .lock()
            .unwrap()
            .push((at, message.channel.clone(), message.text));
        self.changed.notify_waiters();
        Ok(PostedMessage {
            channel: message.channel,
            ts: format!("{at}.000000"),
        })
    }
    async fn add_reaction(&self, _: &str, _: &str, _: &str) -> Result<(), SlackError> {
        Ok(())
    }
    async fn upload_file(&self, _: FileUpload) -> Result<(), SlackError> {
        Ok(())
    }
    async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        Ok(format!("https://fake.slack.com/{channel}/{ts}"))
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_micros() as u64
}

/// `$EPOCHREALTIME` ("1700000000.123456", with the locale's decimal mark) in µs.
fn parse_epoch_realtime(text: &str) -> u64 {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.parse().expect("EPOCHREALTIME is digits and a mark")
}

fn print_header() {
    println!(
        "{:<48} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "interval (ms)", "n", "p50", "p90", "p99", "max", "mean"
    );
}

fn print_row(name: &str, micros: Vec<i64>) {
    let s = summarise(micros);
    println!(
        "{name:<48} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
        s.n, s.p50, s.p90, s.p99, s.max, s.mean
    );
}

/// A temp tree: database, folders, and a workspace whose `test/hello.sh` marks its start.
struct Bench {
    root: tempfile::TempDir,
    mark: PathBuf,
}

impl Bench {
    fn new() -> Bench {
        let root = tempfile::tempdir().expect("tempdir");
        for dir in [
            "logs",
            "writeable",
            "writeable-workspace",
            "app",
            "workspace/test",
        ] {
            std::fs::create_dir_all(root.path().join(dir)).expect("mkdir");
        }
        // The mark comes first so nothing the script does later counts; `>>` of one short line
        // is a single write, and jobs of one type never overlap anyway.
        std::fs::write(
            root.path().join("workspace/test/hello.sh"),
            "printf '%s %s\\n' \"$1\" \"$EPOCHREALTIME\" >> \"${MARK:-$WRITEABLE_DIR/marks}\"\nprintf 'Hello %s\\n' \"$1\"\n",
        )
        .expect("write hello.sh");
        // Jobs see only the variables bennettbot gives them: `WRITEABLE_DIR` is one.
        let mark = root.path().join("writeable/marks");
        Bench { root, mark }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn settings(&self) -> DispatcherSettings {
        DispatcherSettings {
            workspace_dir: self.path("workspace"),
            writeable_workspace_dir: self.path("writeable-workspace"),
            logs_dir: self.path("logs"),
            host_logs_dir: self.path("logs"),
            writeable_dir: self.path("writeable"),
            app_root: self.path("app"),
            absolute_bin: None,
            logs_channel: LOGS.into(),
            tech_support_channel: "#tech-support".into(),
            app_username: "bennettbot".into(),
            lease_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            kill_grace: Duration::from_secs(1),
            environment: BotEnvironment::from_process(),
        }
    }

    /// Script start times by the name they were given.
    fn marks(&self) -> HashMap<String, u64> {
        let text = std::fs::read_to_string(&self.mark).unwrap_or_default();
        text.lines()
            .map(|line| {
                let (name, at) = line.rsplit_once(' ').expect("name and time");
                (name.to_string(), parse_epoch_realtime(at))
            })
            .collect()
    }
}

/// Per job: schedule instant, how long `schedule_job` took, and the name it was given.
struct Sent {
    name: String,
    scheduled_at: u64,
    schedule_call: Duration,
}

/// Schedules `n` jobs through `scheduler`, each `gap(i)` after the last has left the queue,
/// while a dispatcher on `dispatch_queue` runs them. Returns what was sent and the Slack record.
async fn run_scenario(
    bench: &Bench,
    dispatch_queue: Queue,
    scheduler: Queue,
    n: usize,
    prefix: &str,
    gap: impl Fn(usize) -> Duration,
) -> (Vec<Sent>, Arc<RecordingSlack>) {
    let slack = Arc::new(RecordingSlack::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let dispatcher = Dispatcher::new(
        &bennettbot::config::CONFIG,
        dispatch_queue,
        slack.clone(),
        bench.settings(),
    );
    let running = tokio::spawn(dispatcher.run(stop_rx));
    // Let the dispatcher reach its wait, as a long-running one would be.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep(gap(i)).await;
        let name = format!("{prefix}{i}");
        let args: Args = [("name".to_string(), name.clone())].into();
        let reports_before = slack.reports_to(CHANNEL);
        let scheduled_at = now_micros();
        let call = Instant::now();
        let scheduled = scheduler
            .schedule_job(JOB_TYPE, &args, CHANNEL, None, Duration::ZERO, false, None)
            .await
            .expect("schedule");
        let schedule_call = call.elapsed();
        sent.push(Sent {
            name,
            scheduled_at,
            schedule_call,
        });
        // The report, then the row leaving the queue: only then is the dispatcher idle again.
        let deadline = Instant::now() + JOB_WAIT;
        loop {
            let notified = slack.changed.notified();
            if slack.reports_to(CHANNEL) > reports_before {
                break;
            }
            assert!(Instant::now() < deadline, "job {i} was never reported");
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
        loop {
            let last = scheduler.history(1).await.expect("history");
            if last.first().is_some_and(|h| h.job_id == scheduled.id) {
                break;
            }
            assert!(Instant::now() < deadline, "job {i} never finished");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    let _ = stop_tx.send(true);
    running.await.expect("the dispatcher ends");
    (sent, slack)
}

fn report_scenario(title: &str, bench: &Bench, sent: &[Sent], slack: &RecordingSlack) {
    let marks = bench.marks();
    let announced = slack.announcements();
    assert_eq!(announced.len(), sent.len(), "one announcement per job");
    let mut to_announce = Vec::new();
    let mut to_script = Vec::new();
    let mut announce_to_script = Vec::new();
    let mut calls = Vec::new();
    for (job, &announce) in sent.iter().zip(&announced) {
        let script = *marks
            .get(&job.name)
            .unwrap_or_else(|| panic!("{} never started", job.name));
        to_announce.push(announce as i64 - job.scheduled_at as i64);
        to_script.push(script as i64 - job.scheduled_at as i64);
        announce_to_script.push(script as i64 - announce as i64);
        calls.push(job.schedule_call.as_micros() as i64);
    }
    println!("\n## {title}");
    print_header();
    print_row("schedule_job call", calls);
    print_row("schedule -> spawn (\"about to start\" post)", to_announce);
    print_row("spawn -> script's first line", announce_to_script);
    print_row("schedule -> script's first line", to_script);
}

/// Spawns `bash -c <line>` as the runner does (own process group, output to a file) and waits.
fn spawn_bash(line: &str, cwd: &Path, mark: &Path, out: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new("bash")
        .arg("-c")
        .arg(line)
        .current_dir(cwd)
        .env("MARK", mark)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).expect("stdout file"))
        .stderr(Stdio::null())
        .process_group(0)
        .status()
        .expect("bash runs");
    assert!(status.success(), "{line}: {status}");
    started.elapsed()
}

/// Bash alone: a full `bash -c true`, and spawn -> first line for `bash -c` and for the
/// `bash hello.sh` line the job template produces (bash execs a lone simple command, so that
/// is two bash start-ups in one process).
fn bash_context(bench: &Bench, n: usize) {
    let cwd = bench.path("workspace/test");
    let out = bench.path("bash-out");
    let mark = bench.path("bash-marks");
    let mut round_trip = Vec::new();
    let mut inline_start = Vec::new();
    let mut script_start = Vec::new();
    for i in 0..n {
        round_trip.push(spawn_bash("true", &cwd, &mark, &out).as_micros() as i64);

        let before = now_micros();
        spawn_bash("printf '%s' \"$EPOCHREALTIME\"", &cwd, &mark, &out);
        let mut text = String::new();
        std::fs::File::open(&out)
            .and_then(|mut f| f.read_to_string(&mut text))
            .expect("read");
        inline_start.push(parse_epoch_realtime(&text) as i64 - before as i64);

        let name = format!("bash{i}");
        let before = now_micros();
        spawn_bash(&format!("bash hello.sh {name}"), &cwd, &mark, &out);
        let text = std::fs::read_to_string(&mark).expect("marks");
        let line = text
            .lines()
            .rfind(|l| l.starts_with(&format!("{name} ")))
            .expect("marked");
        let at = parse_epoch_realtime(line.rsplit_once(' ').unwrap().1);
        script_start.push(at as i64 - before as i64);
    }
    println!("\n## bash alone (std::process, same flags as the runner)");
    print_header();
    print_row("`bash -c true` spawn to exit", round_trip);
    print_row("`bash -c '<builtin>'` spawn -> first line", inline_start);
    print_row(
        "`bash -c 'bash hello.sh x'` spawn -> first line",
        script_start,
    );
}

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) a few jobs check
    // that the bench still works, without its minute of measuring.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = size("DISPATCH_N", if quick { 3 } else { 300 });
    let poll_n = size("DISPATCH_POLL_N", if quick { 1 } else { 30 });
    let bench = Bench::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "dispatch latency: {n} `{JOB_TYPE}` jobs one at a time, files in {}",
        bench.root.path().display()
    );

    bash_context(&bench, n);

    let db = Database::Sqlite(bench.path("queue.db"));
    store_scenarios(&runtime, &bench, &db, "SQLite", n, poll_n);
    let url = runtime.block_on(postgres::database_url());
    let pg = Database::from_settings(Some(&url), "unused".into()).expect("url");
    store_scenarios(&runtime, &bench, &pg, "PostgreSQL", n, poll_n);
}

/// Both scenarios on one store: `n` jobs scheduled on the dispatcher's own handle, then
/// `poll_n` scheduled on another handle (the dispatcher hears of those as another process's).
fn store_scenarios(
    runtime: &tokio::runtime::Runtime,
    bench: &Bench,
    database: &Database,
    store: &str,
    n: usize,
    poll_n: usize,
) {
    let open = || {
        runtime
            .block_on(Queue::open_database(database))
            .expect("open")
    };
    let queue = open();
    // A short gap lets the dispatcher settle into its wait after each job, so a schedule never
    // lands while it is still busy with the last one (which would flatter or hurt by chance).
    let settle = |_| Duration::from_millis(5);
    let prefix = store.to_lowercase();
    let (sent, slack) = runtime.block_on(run_scenario(
        bench,
        queue.clone(),
        queue,
        n,
        &format!("{prefix}-same"),
        settle,
    ));
    report_scenario(
        &format!("{store}: the same handle schedules and dispatches (serve)"),
        bench,
        &sent,
        &slack,
    );

    if poll_n > 0 {
        let dispatch = open();
        let other = open();
        // Gaps spread over a second, so schedules land at every phase of the SQLite watcher's
        // 10 ms and the dispatcher's 1 s poll, as they would from a bot or webhook in another
        // process.
        let spread = |i: usize| Duration::from_millis(20 + (i as u64 * 337) % 1000);
        let (sent, slack) = runtime.block_on(run_scenario(
            bench,
            dispatch,
            other,
            poll_n,
            &format!("{prefix}-other"),
            spread,
        ));
        report_scenario(
            &format!("{store}: another handle schedules (bot/webserver + dispatcher processes)"),
            bench,
            &sent,
            &slack,
        );
    }
}
