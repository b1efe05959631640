//! One job, end to end: workspace, logs, the process, the report, and `finish`.

use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use futures_util::FutureExt;
use tokio::sync::watch;

use super::entries::{decode, encode, Report};
use super::environment::job_env;
use super::logs::{create_log_dir, read_head, Head, LogDir};
use super::report::{self, FailureCause, LogsHint, Output, MAX_UPLOAD_BYTES};
use super::reporter::{reaction, Broadcast};
use super::runner::{self, Outcome, RunRequest};
use super::workspace::{refresh_fabfile, workspace_for};
use super::Shared;
use crate::config::{JobSpec, JobType};
use crate::metrics::record::{self, JobOutcome};
use crate::queue::{BadRow, ExitKind, Finished, Job, NewEntry, Reaped, RunId};
use crate::slack::{FileUpload, OutgoingMessage, SlackApi};

/// The reaction for a job that succeeded.
const SUCCESS_REACTION: &str = "white_check_mark";
/// The reaction for a job that failed or did not run.
const FAILURE_REACTION: &str = "x";

/// How a run ended, for the history and the reaction.
struct Ran {
    exit: ExitKind,
    log_dir: Option<String>,
    success: bool,
}

/// Why a running job is stopped before it ends, other than its timeout or shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A user removed it (`remove job id N`).
    Removed {
        /// Their Slack user id.
        by: String,
    },
    /// Its run is gone from the queue: another dispatcher reaped it (and reported it) while
    /// this one was too slow to heartbeat. Its process must not run on beside the next job.
    Lost,
}

/// Runs `job`, reports it, and removes it from the queue into history, whatever happens
/// (a panic included: a job left in the queue would block its type for good). `kill` is the
/// dispatcher's shutdown switch; `stop` is this run's own.
pub(crate) async fn run_job<S: SlackApi>(
    context: Arc<Shared<S>>,
    job: Job,
    kill: watch::Receiver<bool>,
    stop: watch::Receiver<Option<StopReason>>,
) {
    let started_at = job.started_at.unwrap_or_else(Utc::now);
    record::job_started(&job.job_type);
    // The job's reports are kept with its end, in one transaction (see `finish`).
    let mut reports = Vec::new();
    let ran = match AssertUnwindSafe(execute(&context, &job, kill, stop, &mut reports))
        .catch_unwind()
        .await
    {
        Ok(ran) => ran,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(job_id = job.id, job_type = %job.job_type, panic = %what, "job task panicked");
            Ran {
                exit: ExitKind::Error(format!("the dispatcher failed: {what}")),
                log_dir: None,
                success: false,
            }
        }
    };
    // An out-of-office file the job wrote takes effect on every replica before its report
    // says so.
    context.shared_files.record_changes(&context.queue).await;
    if let Some(ts) = &job.message_ts {
        let name = if ran.success {
            SUCCESS_REACTION
        } else {
            FAILURE_REACTION
        };
        reports.push(reaction(&job.channel, ts, name));
    }
    let finished = Finished {
        started_at,
        ended_at: Utc::now(),
        exit: ran.exit,
        log_dir: ran.log_dir,
    };
    tracing::info!(job_id = job.id, job_type = %job.job_type, exit = ?finished.exit, "job finished");
    let took = (finished.ended_at - started_at)
        .to_std()
        .unwrap_or_default();
    record::job_finished(&job.job_type, outcome(&finished.exit), took);
    match job.run {
        Some(run) => finish(&context, run, job.id, &job.job_type, finished, reports).await,
        None => send_all(&context, reports).await,
    }
}

/// Sends `reports` one by one, each kept in the outbox on its own.
async fn send_all<S: SlackApi>(context: &Shared<S>, reports: Vec<Report>) {
    for report in reports {
        context.reporter.send(report).await;
    }
}

/// How a run that ended with `exit` is counted.
fn outcome(exit: &ExitKind) -> JobOutcome {
    match exit {
        ExitKind::Code(0) => JobOutcome::Succeeded,
        ExitKind::Code(_) | ExitKind::Signal(_) | ExitKind::Error(_) => JobOutcome::Failed,
        ExitKind::Timeout => JobOutcome::TimedOut,
        ExitKind::Interrupted => JobOutcome::Interrupted,
        ExitKind::Removed => JobOutcome::Removed,
    }
}

/// How many times recording a job's end is tried before its run is released without history.
const FINISH_ATTEMPTS: u32 = 5;

/// The first wait between attempts; it doubles each time, up to [`FINISH_MAX_BACKOFF`].
const FINISH_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between attempts once the run could not even be released.
const FINISH_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Removes the run from the queue into history, keeping `reports` in the outbox in the same
/// transaction (so a crash leaves either a running job, reaped and reported as interrupted
/// by the next dispatcher, or an ended one whose reports are delivered: never both, never
/// neither), then delivers them. A run left in the queue blocks its type, so:
/// retry with backoff (backon, 0.1 s doubling to 30 s); after [`FINISH_ATTEMPTS`] failures release the run without its
/// history row (a failure particular to the history insert, such as a full disk, then frees
/// the type) and tell the logs channel; if even that fails, keep retrying both, backing off
/// to [`FINISH_MAX_BACKOFF`], for as long as this dispatcher lives (should it die, the lease
/// expires and another dispatcher reaps the run).
async fn finish<S: SlackApi>(
    context: &Shared<S>,
    run: RunId,
    job_id: i64,
    job_type: &str,
    finished: Finished,
    reports: Vec<Report>,
) {
    // Written once (a file's bytes moved, not copied), shared by every attempt.
    let entries: Arc<[NewEntry]> = reports.into_iter().map(encode).collect();
    let attempts = AtomicU32::new(0);
    let (reported, sent_alone) = (AtomicBool::new(false), AtomicBool::new(false));
    let attempt = || async {
        let attempt = attempts.fetch_add(1, Ordering::Relaxed) + 1;
        let error = match context
            .queue
            .finish_reporting(run, &finished, entries.clone())
            .await
        {
            Ok((_, ids)) => return Ok(Some(ids)),
            Err(e) => e,
        };
        tracing::error!(job_id, run_id = %run, attempt, error = %error, "could not record the end of a job");
        if attempt < FINISH_ATTEMPTS {
            return Err(error);
        }
        // The job's own reports go first, on their own, once.
        if !sent_alone.swap(true, Ordering::Relaxed) {
            let reports = entries
                .iter()
                .filter_map(|e| decode(&e.report, e.content.clone()).ok());
            send_all(context, reports.collect()).await;
        }
        let released = context.queue.release(run).await;
        if let Err(e) = &released {
            tracing::error!(job_id, run_id = %run, error = %e, "could not release the run either");
        }
        if !reported.load(Ordering::Relaxed) || released.is_ok() {
            let text = report::could_not_record_end(
                job_type,
                job_id,
                &error.to_string(),
                released.is_ok(),
            );
            let reporter = &context.reporter;
            reporter.post(reporter.logs_channel(), None, &text).await;
            reported.store(true, Ordering::Relaxed);
        }
        match released {
            Ok(_) => Ok(None),
            Err(_) => Err(error),
        }
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(FINISH_BACKOFF)
        .with_max_delay(FINISH_MAX_BACKOFF)
        .with_factor(2.0)
        .without_max_times();
    // Without a bound on the tries, only an end recorded (or the run released) ends this.
    if let Ok(Some(ids)) = attempt.retry(backoff).await {
        let kept: Vec<(i64, &str)> = ids
            .into_iter()
            .zip(entries.iter().map(|e| e.channel.as_str()))
            .collect();
        context.reporter.deliver_kept(&kept).await;
    }
}

/// Reports a reserved row that cannot be read, and removes it.
pub(crate) async fn drop_bad_row<S: SlackApi>(context: Arc<Shared<S>>, bad: BadRow) {
    tracing::error!(job_id = bad.id, job_type = %bad.job_type, reason = %bad.reason, "removing unreadable job");
    let text = report::unrunnable(&bad.job_type, &bad.reason);
    let channel = bad
        .channel
        .as_deref()
        .filter(|c| !c.is_empty())
        .unwrap_or(context.reporter.logs_channel());
    let reports = vec![context
        .reporter
        .message(channel, bad.thread_ts.as_deref(), &text)];
    let now = Utc::now();
    let finished = Finished {
        started_at: now,
        ended_at: now,
        exit: ExitKind::Error(bad.reason),
        log_dir: None,
    };
    record::job_started(&bad.job_type);
    record::job_ended(&bad.job_type, outcome(&finished.exit));
    match bad.run {
        Some(run) => finish(&context, run, bad.id, &bad.job_type, finished, reports).await,
        None => send_all(&context, reports).await,
    }
}

/// Stops a reaped job's orphaned processes, then tells its channel it was interrupted.
pub(crate) async fn report_reaped<S: SlackApi>(context: Arc<Shared<S>>, reaped: Reaped) {
    let job = reaped.job;
    record::job_ended(&job.job_type, JobOutcome::Interrupted);
    if let (Some(pgid), Some(run)) = (reaped.process_group, job.run) {
        super::orphans::stop_orphaned_group(pgid, run.0, context.settings.kill_grace).await;
    }
    let text = report::interrupted(&job.job_type, None);
    context
        .reporter
        .post(&job.channel, job.thread_ts.as_deref(), &text)
        .await;
    if let Some(ts) = &job.message_ts {
        context
            .reporter
            .react(&job.channel, ts, FAILURE_REACTION)
            .await;
    }
}

/// Runs `job`'s command and reports how it went: the command line, the workspace and log
/// folder, the process, then the report.
async fn execute<S: SlackApi>(
    context: &Shared<S>,
    job: &Job,
    kill: watch::Receiver<bool>,
    stop: watch::Receiver<Option<StopReason>>,
    reports: &mut Vec<Report>,
) -> Ran {
    let (job_type, command_line) = match command_line(context, job, reports) {
        Ok(prepared) => prepared,
        Err(ran) => return ran,
    };
    let spec = job_type.spec();
    let (workspace, log_dir) = match prepare(context, job_type).await {
        Ok(prepared) => prepared,
        Err(error) => {
            let cause = FailureCause::CouldNotStart(error.clone());
            reports.push(failure_report(context, job, spec, &cause, None));
            return Ran {
                exit: ExitKind::Error(error),
                log_dir: None,
                success: false,
            };
        }
    };
    let settings = &context.settings;
    let request = RunRequest {
        command_line,
        workspace,
        env: job_env(
            settings,
            job_type.namespace(context.config),
            job.id,
            job.run,
        ),
        stdout: log_dir.stdout(),
        stderr: log_dir.stderr(),
        timeout: spec.timeout_seconds.map(Duration::from_secs),
        kill_grace: settings.kill_grace,
    };
    let (outcome, stopped) = run_process(context, job, spec, &request, kill, stop).await;
    tracing::info!(
        job_id = job.id,
        job_type = spec.job_type,
        ?outcome,
        "job process ended"
    );
    conclude(context, job, spec, &log_dir, outcome, stopped, reports).await
}

/// The job's type and the bash line it runs. A job that cannot run is reported (in
/// `reports`), and comes back as how it ended.
fn command_line<S: SlackApi>(
    context: &Shared<S>,
    job: &Job,
    reports: &mut Vec<Report>,
) -> Result<(JobType, String), Ran> {
    let prepared = JobType::from_str(&job.job_type)
        .map_err(|e| e.to_string())
        .and_then(|t| {
            t.render(&job.args)
                .map(|line| (t, line))
                .map_err(|e| e.to_string())
        });
    match prepared {
        Ok(prepared) => Ok(prepared),
        Err(error) => {
            tracing::error!(job_id = job.id, job_type = %job.job_type, %error, "job cannot run");
            let text = report::unrunnable(&job.job_type, &error);
            let reporter = &context.reporter;
            reports.push(reporter.message(&job.channel, job.thread_ts.as_deref(), &text));
            Err(Ran {
                exit: ExitKind::Error(error),
                log_dir: None,
                success: false,
            })
        }
    }
}

/// Runs the job's process until it ends or is killed (by shutdown, `kill`, or this run's
/// `stop`), announcing it in the logs channel meanwhile. Returns how the process ended and
/// why the run was stopped, if it was.
async fn run_process<S: SlackApi>(
    context: &Shared<S>,
    job: &Job,
    spec: &JobSpec,
    request: &RunRequest,
    kill: watch::Receiver<bool>,
    mut stop: watch::Receiver<Option<StopReason>>,
) -> (Outcome, Option<StopReason>) {
    let reporter = &context.reporter;
    // The announcement goes out while the job runs, so a slow Slack does not delay the job;
    // the report waits for both, so it always comes after the announcement.
    let announcement = report::about_to_start(spec.job_type);
    let announce = reporter.post(reporter.logs_channel(), None, &announcement);
    // Recorded so that, should this dispatcher die, the next one can stop the orphans.
    let queue = context.queue.clone();
    let (job_id, run) = (job.id, job.run);
    let record_group = move |pgid: i32| {
        let Some(run) = run else { return };
        tokio::spawn(async move {
            if let Err(e) = queue.set_process_group(run, pgid).await {
                tracing::warn!(job_id, error = %e, "could not record the job's process group");
            }
        });
    };
    // The runner has one kill switch: thrown by shutdown or by this run's stop.
    let (run_kill_tx, run_kill) = watch::channel(false);
    let stop_reason = stop.clone();
    let mut shutdown = kill;
    let forward = tokio::spawn(async move {
        tokio::select! {
            true = async { shutdown.wait_for(|k| *k).await.is_ok() } => {}
            true = async { stop.wait_for(Option::is_some).await.is_ok() } => {}
            else => std::future::pending::<()>().await,
        }
        let _ = run_kill_tx.send(true);
    });
    let (_, outcome) = tokio::join!(announce, runner::run(request, run_kill, record_group));
    forward.abort();
    let stopped = stop_reason.borrow().clone();
    (outcome, stopped)
}

/// Reports (in `reports`) how the job's process ended (`stopped`: why this run was stopped,
/// if it was), and returns how the run ended.
async fn conclude<S: SlackApi>(
    context: &Shared<S>,
    job: &Job,
    spec: &JobSpec,
    log_dir: &LogDir,
    outcome: Outcome,
    stopped: Option<StopReason>,
    reports: &mut Vec<Report>,
) -> Ran {
    let reporter = &context.reporter;
    let thread = job.thread_ts.as_deref();
    let local_log_dir = Some(log_dir.path.display().to_string());
    let failed = |exit: ExitKind| Ran {
        exit,
        log_dir: local_log_dir.clone(),
        success: false,
    };
    let exit_report = || failure_report(context, job, spec, &FailureCause::Exit, Some(log_dir));
    match outcome {
        Outcome::Exited(0) => match report_success(context, job, spec, log_dir, reports).await {
            Ok(()) => Ran {
                exit: ExitKind::Code(0),
                log_dir: local_log_dir.clone(),
                success: true,
            },
            Err(BadOutput::InvalidBlocks { error, raw }) => {
                let cause = FailureCause::InvalidBlocks(error.clone());
                reports.push(failure_report(context, job, spec, &cause, Some(log_dir)));
                let upload = FileUpload {
                    channel: job.channel.clone(),
                    thread_ts: job.thread_ts.clone(),
                    filename: format!("{}.json", spec.job_type),
                    title: format!("{} raw output", spec.job_type),
                    content: raw.bytes,
                    initial_comment: None,
                };
                let broadcast = Broadcast::allowed_if(spec.allow_broadcast);
                reports.push(reporter.file(upload, broadcast));
                failed(ExitKind::Error(format!(
                    "output is not a JSON array of blocks: {error}"
                )))
            }
            Err(BadOutput::Unreadable(error)) => {
                let cause = FailureCause::UnreadableOutput(error.clone());
                reports.push(failure_report(context, job, spec, &cause, Some(log_dir)));
                failed(ExitKind::Error(format!(
                    "output could not be read: {error}"
                )))
            }
        },
        Outcome::Exited(code) => {
            reports.push(exit_report());
            failed(ExitKind::Code(code))
        }
        Outcome::Signalled(signal) => {
            reports.push(exit_report());
            failed(ExitKind::Signal(signal))
        }
        Outcome::TimedOut(limit) => {
            let cause = FailureCause::TimedOut(limit.as_secs());
            reports.push(failure_report(context, job, spec, &cause, Some(log_dir)));
            failed(ExitKind::Timeout)
        }
        Outcome::FailedToStart(error) => {
            let cause = FailureCause::CouldNotStart(error.clone());
            reports.push(failure_report(context, job, spec, &cause, Some(log_dir)));
            failed(ExitKind::Error(error))
        }
        Outcome::Interrupted if stopped.is_some() => match stopped {
            Some(StopReason::Removed { by }) => {
                let text = report::stopped_by_removal(spec.job_type, job.id, &by);
                reports.push(reporter.message(&job.channel, thread, &text));
                failed(ExitKind::Removed)
            }
            // Another dispatcher reaped the run and has reported it already.
            _ => {
                tracing::warn!(
                    job_id = job.id,
                    "stopped a job whose run was reaped elsewhere"
                );
                failed(ExitKind::Interrupted)
            }
        },
        Outcome::Interrupted => {
            let settings = &context.settings;
            let host_path = log_dir.host_path(&settings.host_logs_dir);
            let hint = LogsHint {
                host_path: &host_path,
                name: &log_dir.name,
                app_username: &settings.app_username,
            };
            let text = report::interrupted(spec.job_type, Some(hint));
            reports.push(reporter.message(&job.channel, thread, &text));
            failed(ExitKind::Interrupted)
        }
    }
}

/// The workspace (with a fresh fabfile if the namespace has one) and a new log folder.
async fn prepare<S: SlackApi>(
    context: &Shared<S>,
    job_type: JobType,
) -> Result<(std::path::PathBuf, LogDir), String> {
    let settings = &context.settings;
    let namespace = job_type.namespace(context.config);
    let workspace = workspace_for(
        &settings.workspace_dir,
        &settings.writeable_workspace_dir,
        namespace.name,
    )
    .map_err(|e| {
        format!(
            "could not prepare the workspace of `{}`: {e}",
            namespace.name
        )
    })?;
    if let Some(url) = namespace.fabfile {
        if let Err(e) = refresh_fabfile(&context.http, url, &workspace).await {
            tracing::warn!(url, error = %e, "could not refresh a fabfile");
            let reporter = &context.reporter;
            let text = report::could_not_refresh(url, &e.to_string());
            reporter.post(reporter.logs_channel(), None, &text).await;
        }
    }
    let log_dir = create_log_dir(&settings.logs_dir, job_type.as_str(), Utc::now())
        .map_err(|e| format!("could not create its log folder: {e}"))?;
    Ok((workspace, log_dir))
}

/// Why a successful job's output could not be reported.
enum BadOutput {
    /// It should have been blocks but is not (the parse error, and the output read).
    InvalidBlocks { error: String, raw: Head },
    /// The stdout file could not be read.
    Unreadable(String),
}

/// A successful job's report (in `reports`); `Err` when its output cannot be reported.
async fn report_success<S: SlackApi>(
    context: &Shared<S>,
    job: &Job,
    spec: &JobSpec,
    log_dir: &LogDir,
    reports: &mut Vec<Report>,
) -> Result<(), BadOutput> {
    let reporter = &context.reporter;
    let thread = job.thread_ts.as_deref();
    let broadcast = Broadcast::allowed_if(spec.allow_broadcast);
    if !spec.report_stdout {
        if spec.report_success {
            let text = report::succeeded(spec.job_type);
            reports.push(reporter.message(&job.channel, thread, &text));
        }
        return Ok(());
    }
    // Up to 5 MB from disk: off the async threads.
    let stdout = log_dir.stdout();
    let read = tokio::task::spawn_blocking(move || read_head(&stdout, MAX_UPLOAD_BYTES)).await;
    let read = read.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let head = match read {
        Ok(head) => head,
        Err(e) => {
            tracing::error!(error = %e, "could not read a job's output");
            return Err(BadOutput::Unreadable(e.to_string()));
        }
    };
    match report::plan_output(spec.report_format, &head) {
        Output::Empty => {
            if !spec.suppress_empty {
                let text = report::no_output(spec.job_type);
                reports.push(reporter.message(&job.channel, thread, &text));
            }
        }
        Output::Message(text) => {
            let message = OutgoingMessage {
                channel: job.channel.clone(),
                thread_ts: job.thread_ts.clone(),
                text,
                blocks: None,
            };
            reports.push(reporter.message_with(message, broadcast));
        }
        Output::Blocks(messages) => {
            let parts = messages.len();
            for (i, blocks) in messages.into_iter().enumerate() {
                let mut text = format!("Output of command `{}`", spec.job_type);
                if parts > 1 {
                    text.push_str(&format!(" (part {} of {parts})", i + 1));
                }
                let message = OutgoingMessage {
                    channel: job.channel.clone(),
                    thread_ts: job.thread_ts.clone(),
                    text,
                    blocks: Some(serde_json::Value::Array(blocks)),
                };
                reports.push(reporter.message_with(message, broadcast));
            }
        }
        Output::Upload { truncated } => {
            let content = head.bytes;
            let host = log_dir.host_path(&context.settings.host_logs_dir);
            let initial_comment =
                truncated.then(|| report::truncated_note("5 MB", &host.join("stdout")));
            let upload = FileUpload {
                channel: job.channel.clone(),
                thread_ts: job.thread_ts.clone(),
                filename: format!("{}.txt", spec.job_type),
                title: format!("{} output", spec.job_type),
                content,
                initial_comment,
            };
            reports.push(reporter.file(upload, broadcast));
        }
        Output::InvalidBlocks(error) => return Err(BadOutput::InvalidBlocks { error, raw: head }),
    }
    Ok(())
}

/// The failure report, linked in the tech-support channel when the job asks for that and it
/// did not run in a DM.
fn failure_report<S: SlackApi>(
    context: &Shared<S>,
    job: &Job,
    spec: &JobSpec,
    cause: &FailureCause,
    log_dir: Option<&LogDir>,
) -> Report {
    let settings = &context.settings;
    let reporter = &context.reporter;
    let call_tech_support = spec.call_tech_support_on_error && !job.is_im;
    let host_path = log_dir.map(|l| l.host_path(&settings.host_logs_dir));
    let hint = match (log_dir, &host_path) {
        (Some(log_dir), Some(host_path)) => Some(LogsHint {
            host_path,
            name: &log_dir.name,
            app_username: &settings.app_username,
        }),
        _ => None,
    };
    let text = report::failure(spec.job_type, cause, hint, call_tech_support);
    let thread = job.thread_ts.as_deref();
    if call_tech_support {
        // The link follows the report whenever Slack takes it, without holding up the job.
        let tech = &settings.tech_support_channel;
        reporter.linked(&job.channel, thread, &text, tech)
    } else {
        reporter.message(&job.channel, thread, &text)
    }
}
