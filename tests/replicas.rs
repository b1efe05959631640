//! Replicas end to end, with the built binary: two `serve` processes on one database (a real
//! PostgreSQL, or one SQLite file as in a rolling restart) against the fake Slack, each with a
//! Socket Mode connection of its own. Envelopes are spread over both connections and some are
//! redelivered to the other one: every command is answered once, every job runs once, no job
//! type ever runs twice at once, and the support search checker runs in one process. A replica
//! SIGKILLed mid-job has that job reported interrupted by the other, which drains the queue.

use bennettbot_test_support::binary::alive;
use bennettbot_test_support::fake_slack;
use bennettbot_test_support::job_groups::JobGroups;
use bennettbot_test_support::postgres;
use bennettbot_test_support::wait::{eventually, eventually_async, eventually_explained, WAIT};
// fake_socket.rs allows dead code itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bennettbot::queue::{Database, ExitKind, Finished, HistoryEntry, Queue};
use bennettbot_test_support::binary::Part;
use bennettbot_test_support::fake_slack::FakeSlack;
use bennettbot_test_support::fake_socket::FakeSocket;
use chrono::Utc;
use serde_json::{json, Value};

const BOT: &str = "U0BOT";
const JOBS: &str = "C0JOBS";
/// The log line of the process that takes the support search lease.
const SEARCHER: &str = "this process now runs the support search checker";
/// The log line of a process that leaves an event to the one that claimed it.
const SKIPPED: &str = "skipping an event another process handled";
/// Every this many commands, the envelope is redelivered to the other connection.
const REDELIVER_EVERY: usize = 5;
/// The lease timeout the replicas run with, so a dead one is noticed quickly.
const LEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// `test/hello.sh` for these tests: appends `start` and `end` lines (time, pid, label) to the
/// ledger in the shared directory, waiting between them while the hold file exists and for a
/// moment always, so that two runs of the type at once would overlap in the ledger.
const HELLO: &str = r#"#!/usr/bin/env bash
set -u
label=$1
echo "start $EPOCHREALTIME $$ $label" >> "$WRITEABLE_DIR/ledger"
while [ -e "$WRITEABLE_DIR/hold" ]; do sleep 0.05; done
sleep 0.02
echo "end $EPOCHREALTIME $$ $label" >> "$WRITEABLE_DIR/ledger"
echo "Hello $label"
"#;

/// The shared database of the replicas.
enum Store {
    Postgres(String),
    Sqlite(PathBuf),
}

impl Store {
    async fn postgres() -> Store {
        Store::Postgres(postgres::database_url().await)
    }

    /// The environment that points a part at this store.
    fn env(&self) -> (&'static str, String) {
        match self {
            Store::Postgres(url) => ("DATABASE_URL", url.clone()),
            Store::Sqlite(path) => ("DB_PATH", path.display().to_string()),
        }
    }

    async fn open(&self) -> Queue {
        let database = match self {
            Store::Postgres(url) => Database::from_settings(Some(url), "unused".into()).unwrap(),
            Store::Sqlite(path) => Database::Sqlite(path.clone()),
        };
        Queue::open_database(&database).await.expect("open")
    }
}

/// What the fake Slack workspace answers; search finds nothing.
fn slack_workspace(slack: &FakeSlack, socket: &FakeSocket) {
    slack.answer_start_up(BOT, &socket.url, Some((JOBS, "jobs")));
    slack.respond_with("search.messages", json!({ "messages": { "matches": [] } }));
}

/// Two replicas sharing a directory (the ledger) and a store, and the fake Slack.
struct Replicas {
    slack: FakeSlack,
    socket: FakeSocket,
    dir: tempfile::TempDir,
    store: Store,
    /// The replicas, in the order they connected: replica `i` holds connection `i`.
    parts: Vec<Part>,
    /// Log lines of each replica read so far.
    logs: Vec<Vec<String>>,
}

impl Replicas {
    /// Starts two `serve` replicas on `store`, one after the other, so that the first holds
    /// connection 0 (and the search lease) and the second connection 1.
    async fn start(store: impl FnOnce(&Path) -> Store) -> Replicas {
        let slack = FakeSlack::start().await;
        let socket = FakeSocket::start().await;
        slack_workspace(&slack, &socket);
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("workspace/test/hello.sh");
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::write(&script, HELLO).unwrap();
        let store = store(dir.path());
        let mut replicas = Replicas {
            slack,
            socket,
            dir,
            store,
            parts: Vec::new(),
            logs: Vec::new(),
        };
        for n in 0..2 {
            replicas.start_replica();
            replicas.socket.wait_live(n + 1).await;
            if n == 0 {
                // The first replica takes the search lease before the second starts.
                replicas.wait_logged(0, SEARCHER, 1).await;
            }
        }
        assert_eq!(replicas.socket.live(), vec![0, 1]);
        replicas
    }

    fn start_replica(&mut self) {
        let ws = self.dir.path().join("workspace");
        let (db_var, db) = self.store.env();
        let lease = LEASE_TIMEOUT.as_secs().to_string();
        let env = [
            ("WORKSPACE_DIR", ws.to_str().unwrap()),
            ("LEASE_TIMEOUT_SECONDS", lease.as_str()),
            (db_var, db.as_str()),
            // The fake takes one token: the user token that enables search is the same.
            ("SLACK_BOT_USER_TOKEN", fake_slack::TOKEN),
        ];
        self.parts
            .push(Part::start("serve", &self.slack, self.dir.path(), &env));
        self.logs.push(Vec::new());
    }

    /// Reads what each replica logged since the last call.
    fn read_logs(&mut self) {
        for (part, logs) in self.parts.iter().zip(&mut self.logs) {
            logs.extend(part.logged_so_far());
        }
    }

    /// How many lines replica `i` logged that contain `needle`.
    fn logged(&mut self, i: usize, needle: &str) -> usize {
        self.read_logs();
        self.logs[i].iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until replica `i` logged `n` lines containing `needle`.
    async fn wait_logged(&mut self, i: usize, needle: &str, n: usize) {
        eventually_explained(
            self,
            WAIT,
            |h| (h.logged(i, needle) >= n).then_some(()),
            |h| {
                format!(
                    "replica {i} logged {needle:?} fewer than {n} times:\n{}",
                    h.logs[i].join("\n")
                )
            },
        )
        .await
    }

    /// Waits until the replicas together logged `n` lines containing `needle`.
    async fn wait_logged_by_both(&mut self, needle: &str, n: usize) {
        eventually_explained(
            self,
            WAIT,
            |h| (h.logged(0, needle) + h.logged(1, needle) >= n).then_some(()),
            |h| {
                format!(
                    "fewer than {n} lines with {needle:?}:\n{}\n---\n{}",
                    h.logs[0].join("\n"),
                    h.logs[1].join("\n")
                )
            },
        )
        .await
    }

    fn ledger(&self) -> Vec<Entry> {
        ledger(self.dir.path())
    }

    /// Waits until `label`'s job has started; returns its script's pid.
    async fn started(&self, label: &str) -> i32 {
        eventually(&format!("{label} to start"), WAIT, || {
            self.ledger()
                .into_iter()
                .find(|e| e.kind == "start" && e.label == label)
                .map(|e| e.pid)
        })
        .await
    }

    /// Waits until every label has reported `Hello <label>` in its command's thread, and its
    /// command has the success reaction (delivered after the report).
    async fn wait_reports(&self, commands: &[Command]) {
        eventually("every command's report and reaction", WAIT * 2, || {
            let texts = self.slack.texts_in(JOBS);
            commands
                .iter()
                .all(|c| {
                    texts.iter().any(|t| t.trim_end() == c.hello())
                        && reactions_on(&self.slack, &c.ts)
                            .iter()
                            .any(|r| r == "white_check_mark")
                })
                .then_some(())
        })
        .await;
    }
}

/// One mention of the bot: `test hello <label>`, in a thread of its own.
struct Command {
    label: String,
    ts: String,
    thread: String,
    event_id: String,
}

impl Command {
    fn new(prefix: &str, n: usize) -> Command {
        // Timestamps unique in the test process, so threads never mix.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        Command {
            label: format!("{prefix}-{n:02}"),
            ts: format!("1800000002.{unique:06}"),
            thread: format!("1800000001.{unique:06}"),
            event_id: format!("Ev{prefix}{n}"),
        }
    }

    fn event(&self) -> Value {
        json!({
            "type": "app_mention", "user": "U0ALICE",
            "text": format!("<@{BOT}> test hello {}", self.label),
            "ts": self.ts, "thread_ts": self.thread, "channel": JOBS, "event_ts": self.ts,
        })
    }

    fn hello(&self) -> String {
        format!("Hello {}", self.label)
    }

    /// Delivers this command on connection `on`; returns the envelope id.
    fn send(&self, socket: &FakeSocket, on: usize) -> String {
        socket.send_event_to(on, self.event(), &self.event_id)
    }
}

/// Sends `n` commands spread over connections 0 and 1, redelivering every
/// [`REDELIVER_EVERY`]th to the other connection at once; returns the commands and envelope
/// ids.
fn send_spread(socket: &FakeSocket, prefix: &str, n: usize) -> (Vec<Command>, Vec<String>) {
    let mut envelopes = Vec::new();
    let commands: Vec<Command> = (0..n).map(|i| Command::new(prefix, i)).collect();
    for (i, command) in commands.iter().enumerate() {
        envelopes.push(command.send(socket, i % 2));
        if i % REDELIVER_EVERY == 0 {
            envelopes.push(command.send(socket, (i + 1) % 2));
        }
    }
    (commands, envelopes)
}

/// How many commands of `n` [`send_spread`] redelivers.
fn redelivered(n: usize) -> usize {
    n.div_ceil(REDELIVER_EVERY)
}

/// One line of the ledger.
#[derive(Debug, Clone)]
struct Entry {
    kind: String,
    /// Seconds since the epoch.
    at: f64,
    pid: i32,
    label: String,
}

fn ledger(dir: &Path) -> Vec<Entry> {
    std::fs::read_to_string(dir.join("ledger"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, ' ');
            Some(Entry {
                kind: fields.next()?.to_string(),
                at: fields.next()?.parse().ok()?,
                pid: fields.next()?.parse().ok()?,
                label: fields.next()?.to_string(),
            })
        })
        .collect()
}

/// The `(start, end)` of each finished run in the ledger, by pid.
fn runs(entries: &[Entry]) -> Vec<(f64, f64)> {
    let starts: HashMap<i32, &Entry> = entries
        .iter()
        .filter(|e| e.kind == "start")
        .map(|e| (e.pid, e))
        .collect();
    entries
        .iter()
        .filter(|e| e.kind == "end")
        .map(|end| (starts[&end.pid].at, end.at))
        .collect()
}

/// Panics if any two of the intervals overlap.
fn assert_no_overlap<T: PartialOrd + Copy + std::fmt::Debug>(what: &str, mut runs: Vec<(T, T)>) {
    runs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    for pair in runs.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "{what}: two runs of one type at once: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// Every `test_hello_name` run in history, waiting until there are `n`.
async fn history(queue: &Queue, n: usize) -> Vec<HistoryEntry> {
    // The replicas are other processes: their changes are looked for.
    eventually_async(&format!("{n} runs in history"), WAIT, || async {
        let rows = queue.history(10_000).await.unwrap();
        (rows.len() >= n).then_some(rows)
    })
    .await
}

/// `reactions.add` calls (failed ones too: a second one fails as `already_reacted`) on `ts`.
fn reactions_on(slack: &FakeSlack, ts: &str) -> Vec<String> {
    slack
        .attempts("reactions.add")
        .iter()
        .filter(|c| c.str("timestamp") == Some(ts))
        .map(|c| c.str("name").unwrap_or_default().to_string())
        .collect()
}

/// Texts posted in the thread `thread` of [`JOBS`].
fn thread_texts(slack: &FakeSlack, thread: &str) -> Vec<String> {
    slack
        .calls("chat.postMessage")
        .iter()
        .filter(|c| c.str("channel") == Some(JOBS) && c.str("thread_ts") == Some(thread))
        .map(|c| c.str("text").unwrap_or_default().to_string())
        .collect()
}

/// Checks that each command was answered once: one acknowledging reaction and one success
/// reaction on it, one report, and at most one "already started" notice in its thread.
fn assert_answered_once(slack: &FakeSlack, commands: &[Command]) {
    for command in commands {
        let mut reactions = reactions_on(slack, &command.ts);
        reactions.sort();
        assert_eq!(reactions, ["eyes", "white_check_mark"], "{}", command.label);
        let texts = thread_texts(slack, &command.thread);
        let reports = texts.iter().filter(|t| t.trim_end() == command.hello());
        assert_eq!(reports.count(), 1, "{}: {texts:#?}", command.label);
        let others: Vec<&String> = texts
            .iter()
            .filter(|t| t.trim_end() != command.hello())
            .collect();
        assert!(
            others.len() <= 1 && others.iter().all(|t| t.contains("has already started")),
            "{}: {texts:#?}",
            command.label
        );
    }
}

/// Checks the ledger under `dir`: each label started and ended once, nothing else ran, and no
/// two runs overlapped.
fn assert_ran_once_each(dir: &Path, labels: &[&str]) {
    let entries = ledger(dir);
    assert_ran_once_each_in(&entries, labels);
    assert_eq!(runs(&entries).len(), labels.len(), "{entries:#?}");
}

/// The exactly-once scenario on two replicas of `store`.
async fn two_replicas_act_on_every_command_once(store: impl FnOnce(&Path) -> Store) {
    const COMMANDS: usize = 40;
    let mut r = Replicas::start(store).await;
    let (commands, envelopes) = send_spread(&r.socket, "name", COMMANDS);
    r.wait_reports(&commands).await;
    // Every redelivery was decided: the replica that did not claim it says so.
    r.wait_logged_by_both(SKIPPED, redelivered(COMMANDS)).await;
    for envelope in &envelopes {
        r.socket.wait_ack(envelope).await;
    }
    for on in [0, 1] {
        assert!(
            envelopes
                .iter()
                .filter(|e| r.socket.sent_on(e) == Some(on))
                .all(|e| r.socket.acks_on(on).contains(e)),
            "each envelope is acked on the connection it came on"
        );
    }
    let queue = r.store.open().await;
    let rows = history(&queue, COMMANDS).await;

    assert_answered_once(&r.slack, &commands);
    let labels: Vec<&str> = commands.iter().map(|c| c.label.as_str()).collect();
    assert_ran_once_each(r.dir.path(), &labels);
    assert_eq!(rows.len(), COMMANDS, "{rows:#?}");
    assert!(
        rows.iter()
            .all(|h| h.job_type == "test_hello_name" && h.exit == ExitKind::Code(0)),
        "{rows:#?}"
    );
    assert_no_overlap(
        "history",
        rows.iter()
            .map(|h| (h.started_at.expect("started"), h.ended_at))
            .collect(),
    );
    let status = queue.status(Utc::now()).await.unwrap();
    assert!(
        status.running.is_empty() && status.scheduled.is_empty(),
        "{status:?}"
    );
    for i in [0, 1] {
        assert_eq!(r.logged(i, "could not claim an event"), 0);
    }
    // The support search checker ran in the first replica only, all along.
    assert_eq!((r.logged(0, SEARCHER), r.logged(1, SEARCHER)), (1, 0));
    assert!(!r.slack.calls("search.messages").is_empty());
    for part in &mut r.parts {
        assert!(part.terminate().success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_postgres_act_on_every_command_once() {
    let store = Store::postgres().await;
    two_replicas_act_on_every_command_once(|_| store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_serves_on_one_sqlite_file_act_on_every_command_once() {
    two_replicas_act_on_every_command_once(|dir| Store::Sqlite(dir.join("bennettbot.db"))).await;
}

/// The parent of process `pid`, from `/proc`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Which of `parts` runs the script with pid `pid` (its nearest ancestor among them).
fn runner_of(parts: &[Part], pid: i32) -> usize {
    let mut at = pid;
    while let Some(parent) = parent_of(at).filter(|&p| p > 1) {
        if let Some(i) = parts.iter().position(|p| p.child.id() as i32 == parent) {
            return i;
        }
        at = parent;
    }
    panic!("script {pid} runs under no replica");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_on_postgres_killed_mid_job_has_it_reported_interrupted_by_the_other() {
    let store = Store::postgres().await;
    a_replica_killed_mid_job_has_it_reported_interrupted_by_the_other(|_| store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_serve_on_one_sqlite_file_killed_mid_job_has_it_reported_interrupted_by_the_other() {
    a_replica_killed_mid_job_has_it_reported_interrupted_by_the_other(|dir| {
        Store::Sqlite(dir.join("bennettbot.db"))
    })
    .await;
}

/// The kill scenario on two replicas of `store`.
async fn a_replica_killed_mid_job_has_it_reported_interrupted_by_the_other(
    store: impl FnOnce(&Path) -> Store,
) {
    const QUEUED: usize = 10;
    let mut r = Replicas::start(store).await;
    let ledger_dir = r.dir.path().to_owned();
    let _groups = JobGroups::new(r.dir.path().to_owned(), move || {
        ledger(&ledger_dir).into_iter().map(|e| e.pid).collect()
    });
    let hold = r.dir.path().join("hold");
    std::fs::write(&hold, "").unwrap();
    let doomed = Command::new("doomed", 0);
    doomed.send(&r.socket, 0);
    let pid = r.started(&doomed.label).await;
    let victim = runner_of(&r.parts, pid);
    let survivor = 1 - victim;
    // Queued behind it (one job of a type at a time), spread over both replicas.
    let (queued, envelopes) = send_spread(&r.socket, "queued", QUEUED);
    for envelope in &envelopes {
        r.socket.wait_ack(envelope).await;
    }
    eventually("every queued command acknowledged", WAIT, || {
        queued
            .iter()
            .all(|c| !reactions_on(&r.slack, &c.ts).is_empty())
            .then_some(())
    })
    .await;
    let queue = r.store.open().await;
    let status = queue.status(Utc::now()).await.unwrap();
    assert_eq!(
        (status.running.len(), status.scheduled.len()),
        (1, QUEUED),
        "{status:?}"
    );

    let killed_at = std::time::Instant::now();
    let killed = r.parts[victim].sigkill();
    assert_eq!(killed.code(), None, "killed by a signal: {killed}");
    assert!(alive(pid), "the job runs on, orphaned");
    // The survivor notices once the lease lapses, stops the orphan, and says so in the
    // command's thread.
    let interrupted = "Command `test_hello_name` was interrupted";
    eventually("the interruption reported", LEASE_TIMEOUT + WAIT, || {
        thread_texts(&r.slack, &doomed.thread)
            .iter()
            .any(|t| t.contains(interrupted))
            .then_some(())
    })
    .await;
    eprintln!(
        "reported interrupted {:?} after the kill (lease timeout {LEASE_TIMEOUT:?})",
        killed_at.elapsed()
    );
    eventually("the orphan stopped", WAIT, || (!alive(pid)).then_some(())).await;
    std::fs::remove_file(&hold).unwrap();
    r.wait_reports(&queued).await;
    let rows = history(&queue, QUEUED + 1).await;

    let texts = thread_texts(&r.slack, &doomed.thread);
    assert_eq!(
        texts.iter().filter(|t| t.contains(interrupted)).count(),
        1,
        "{texts:#?}"
    );
    assert!(!texts.iter().any(|t| t.contains("Hello")), "{texts:#?}");
    assert_answered_once(&r.slack, &queued);
    let labels: Vec<&str> = queued.iter().map(|c| c.label.as_str()).collect();
    let finished = ledger(r.dir.path());
    assert!(
        !finished
            .iter()
            .any(|e| e.kind == "end" && e.label == doomed.label),
        "{finished:#?}"
    );
    // The queued jobs ran once each, none at the same time as another.
    let entries: Vec<Entry> = finished
        .into_iter()
        .filter(|e| e.label != doomed.label)
        .collect();
    assert_eq!(runs(&entries).len(), QUEUED);
    assert_ran_once_each_in(&entries, &labels);
    assert_eq!(rows.len(), QUEUED + 1, "{rows:#?}");
    let interrupted_rows: Vec<&HistoryEntry> = rows
        .iter()
        .filter(|h| h.exit == ExitKind::Interrupted)
        .collect();
    assert_eq!(interrupted_rows.len(), 1, "{rows:#?}");
    assert!(
        rows.iter()
            .filter(|h| h.exit != ExitKind::Interrupted)
            .all(|h| h.exit == ExitKind::Code(0)),
        "{rows:#?}"
    );
    let status = queue.status(Utc::now()).await.unwrap();
    assert!(
        status.running.is_empty() && status.scheduled.is_empty(),
        "{status:?}"
    );
    assert!(r.parts[survivor].terminate().success());
}

/// [`assert_ran_once_each`] on ledger entries already read.
fn assert_ran_once_each_in(entries: &[Entry], labels: &[&str]) {
    for label in labels {
        for kind in ["start", "end"] {
            let n = entries
                .iter()
                .filter(|e| e.kind == kind && e.label == *label)
                .count();
            assert_eq!(n, 1, "{kind} of {label}: {entries:#?}");
        }
    }
    assert_no_overlap("ledger", runs(entries));
}

/// A backend of this database waiting for a lock, as `pg_stat_activity` shows it.
async fn someone_waits_for_a_lock(client: &tokio_postgres::Client) -> bool {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .unwrap();
    row.get::<_, i64>(0) > 0
}

/// A dispatcher that starts reserving before another replica's run of the type ends, and
/// gets the type's next job only after it ended, records that job as started after the end:
/// history never shows two runs of a type at once (the start is stamped when the job is
/// handed out, not when the reserving transaction began).
#[tokio::test(flavor = "multi_thread")]
async fn a_job_reserved_while_the_run_before_it_ends_starts_after_that_end() {
    let url = postgres::database_url().await;
    let database = Database::from_settings(Some(&url), "unused".into()).unwrap();
    let queue = Queue::open_database(&database).await.unwrap();
    for name in ["first", "second"] {
        let args = [("name".to_string(), name.to_string())].into();
        queue
            .schedule_job(
                "test_hello_name",
                &args,
                JOBS,
                None,
                Duration::ZERO,
                false,
                None,
            )
            .await
            .unwrap();
    }
    let first = queue.reserve("replica-a").await.unwrap().expect("a job");
    let (locker, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // An expired suppression, locked: the other replica's reserve, which deletes expired
    // suppressions first, waits on it after its transaction has begun.
    locker
        .batch_execute(
            "INSERT INTO suppression (job_type, start_at, end_at)
             VALUES ('other', now() - interval '2 hours', now() - interval '1 hour')",
        )
        .await
        .unwrap();
    locker.batch_execute("BEGIN").await.unwrap();
    let locked = locker
        .query("SELECT id FROM suppression FOR UPDATE", &[])
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);
    let other = Queue::open_database(&database).await.unwrap();
    let reserving = tokio::spawn(async move { other.reserve("replica-b").await });
    eventually_async("the reserve to wait for a lock", WAIT, || async {
        someone_waits_for_a_lock(&locker).await.then_some(())
    })
    .await;
    // Meanwhile the first run ends, freeing the type.
    let ended_at = Utc::now();
    let finished = Finished {
        started_at: first.started_at.unwrap(),
        ended_at,
        exit: ExitKind::Code(0),
        log_dir: None,
    };
    assert!(queue.finish(first.run.unwrap(), &finished).await.unwrap());
    locker.batch_execute("COMMIT").await.unwrap();
    let second = reserving.await.unwrap().unwrap().expect("the next job");
    let started_at = second.started_at.unwrap();
    assert!(
        started_at >= ended_at,
        "started {started_at} before the run it waited for ended ({ended_at})"
    );
    let rows = queue.history(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let status = queue.status(Utc::now()).await.unwrap();
    let running = &status.running[0];
    assert_eq!(running.started_at, Some(started_at), "{status:?}");
}

/// A message in the jobs channel that calls tech support.
fn support_call(ts: &str) -> Value {
    json!({
        "type": "message", "user": "U0ALICE", "text": "the build is down, tech-support please",
        "ts": ts, "channel": JOBS, "event_ts": ts,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_with_folders_of_their_own_share_out_of_office_and_support_claims() {
    let store = Store::postgres().await;
    let slack = FakeSlack::start().await;
    let socket = FakeSocket::start().await;
    slack_workspace(&slack, &socket);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (db_var, db) = store.env();
    let mut parts = Vec::new();
    for (n, dir) in dirs.iter().enumerate() {
        // The shipped workspace (its `techsupport/ooo.sh`); each replica its own folder.
        let env = [
            (db_var, db.as_str()),
            ("SLACK_BOT_USER_TOKEN", fake_slack::TOKEN),
        ];
        parts.push(Part::start("serve", &slack, dir.path(), &env));
        socket.wait_live(n + 1).await;
    }

    // Replica 0 runs the job that writes the out-of-office file, on its own disk.
    let on = json!({
        "type": "app_mention", "user": "U0ALICE",
        "text": format!("<@{BOT}> techsupport out-of-office on from 2026-01-01 to 2099-12-31"),
        "ts": "1800000003.000001", "channel": JOBS, "event_ts": "1800000003.000001",
    });
    socket.send_event_to(0, on, "EvOooOn");
    slack
        .wait_for_text(
            JOBS,
            "Tech support out of office from 2026-01-01 to 2099-12-31",
            WAIT,
        )
        .await;
    let written: Vec<bool> = dirs
        .iter()
        .map(|d| d.path().join("techsupport_ooo.json").exists())
        .collect();
    assert_eq!(written.iter().filter(|w| **w).count(), 1, "{written:?}");

    // A call heard by each replica is answered as out of office by each; a call both hear
    // (live on one, as an edit's redelivery on the other) is reposted once.
    socket.send_event_to(1, support_call("1800000004.000001"), "EvCall1");
    socket.send_event_to(0, support_call("1800000004.000002"), "EvCall2");
    socket.send_event_to(1, support_call("1800000004.000003"), "EvCall3a");
    socket.send_event_to(0, support_call("1800000004.000003"), "EvCall3b");
    let ooo = "tech-support is currently out of office and will respond after 2099-12-31";
    eventually("three out-of-office answers and reposts", WAIT, || {
        let answered = slack.texts_in(JOBS).iter().filter(|t| *t == ooo).count();
        let reposted = slack.texts_in("C0TECH").len();
        (answered >= 3 && reposted >= 3).then_some(())
    })
    .await;
    // Whatever else was going to arrive has had time to.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        slack.texts_in(JOBS).iter().filter(|t| *t == ooo).count(),
        3,
        "{:?}",
        slack.texts_in(JOBS)
    );
    assert_eq!(
        slack.texts_in("C0TECH").len(),
        3,
        "each call reposted once: {:?}",
        slack.texts_in("C0TECH")
    );
    for part in &mut parts {
        assert!(part.terminate().success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_kept_by_a_replica_killed_during_a_slack_outage_is_delivered_by_the_other() {
    let store = Store::postgres().await;
    let mut r = Replicas::start(|_| store).await;
    let command = Command::new("kept", 0);
    // Slack fails every Web API call (Socket Mode stays up): the job runs and ends, and its
    // report waits in the outbox.
    r.slack.set_outage(true);
    command.send(&r.socket, 0);
    let pid = r.started(&command.label).await;
    let victim = runner_of(&r.parts, pid);
    let queue = r.store.open().await;
    eventually_async("the job's end recorded", WAIT, || async {
        (history(&queue, 1).await.len() == 1).then_some(())
    })
    .await;
    eventually_async("the report kept", WAIT, || async {
        let kept = queue.undelivered().await.unwrap();
        kept.iter()
            .any(|e| e.report.contains(&command.hello()))
            .then_some(())
    })
    .await;
    let killed = r.parts[victim].sigkill();
    assert_eq!(killed.code(), None, "killed by a signal: {killed}");

    // Slack recovers; the replica still up delivers what the dead one kept, once.
    r.slack.set_outage(false);
    eventually("the report delivered by the survivor", WAIT, || {
        thread_texts(&r.slack, &command.thread)
            .iter()
            .any(|t| t.trim_end() == command.hello())
            .then_some(())
    })
    .await;
    eventually_async("the outbox emptied", WAIT, || async {
        queue.undelivered().await.unwrap().is_empty().then_some(())
    })
    .await;
    let reports = thread_texts(&r.slack, &command.thread)
        .into_iter()
        .filter(|t| t.trim_end() == command.hello())
        .count();
    assert_eq!(reports, 1, "{:?}", thread_texts(&r.slack, &command.thread));
    assert!(r.parts[1 - victim].terminate().success());
}
