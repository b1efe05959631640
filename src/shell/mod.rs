//! `bennettbot shell`: talk to the bot on the terminal, no Slack needed.
//!
//! Each line is handled as a direct message from an internal user, through the same parsing,
//! help, status, permissions and queue as Slack messages; jobs run for real through the
//! dispatcher and their reports print when they finish. Piped input is read to its end, then
//! the shell waits for the jobs it scheduled and exits 0.

mod blocks;
mod console;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::conversation::{Context, Effect, Incoming};
use crate::dispatcher::Dispatcher;
use crate::explain::AsUser;
use crate::intent::normalise;
use crate::permissions::{Assumed, Operator};
use crate::queue::{Job, Queue};
use crate::settings::Settings;

/// Who the shell's messages are from (named when a job removed from the shell is stopped).
const SHELL_USER: &str = "shell";

pub use blocks::render_blocks;
use console::NotUtf8;
pub use console::{ConsoleSlack, SHELL_CHANNEL};

/// The shell's database file name in `WRITEABLE_DIR` (never the production queue's).
pub const SHELL_DB: &str = "bennettbot-shell.db";

/// How often the interactive shell says which jobs are still running.
const RUNNING_EVERY: Duration = Duration::from_secs(5);

/// Options of the `shell` command.
#[derive(Debug, Clone, Default)]
pub struct ShellOptions {
    /// The database to use instead of `WRITEABLE_DIR/bennettbot-shell.db`.
    pub db: Option<PathBuf>,
    /// The user the shell acts as, under the permission rules (`--as`); `None`: the local
    /// operator, with every right.
    pub acting: Option<AsUser>,
}

impl ShellOptions {
    /// The channel messages are sent in, and the shell's jobs report to.
    fn channel(&self) -> String {
        (self.acting.as_ref())
            .and_then(|a| a.channel.clone())
            .unwrap_or_else(|| SHELL_CHANNEL.into())
    }
}

fn bot_name(settings: &Settings) -> String {
    settings
        .slack_app_username
        .clone()
        .unwrap_or_else(|| "bennettbot".into())
}

/// Runs the shell on `config` until the input ends (or `exit`), then waits for the jobs it
/// scheduled.
pub async fn run(
    config: &'static Config,
    settings: Settings,
    options: ShellOptions,
) -> anyhow::Result<()> {
    let (db, queue) = open_database(&settings, options.db.clone())?;
    let interactive = std::io::stdin().is_terminal();

    let (out_tx, out_rx) = mpsc::unbounded_channel::<String>();
    let console = Arc::new(ConsoleSlack::new(out_tx.clone()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let dispatcher = Dispatcher::new(
        config,
        queue.clone(),
        console.clone(),
        crate::app::dispatcher_settings_or(
            &settings,
            "#logs",
            "#tech-support",
            &bot_name(&settings),
        ),
    );
    // Scheduled jobs (`[[ns.schedule]]`) run here too while the shell is open, as in `serve`.
    let scheduler = crate::app::spawn_scheduler(config, queue.clone(), shutdown_rx.clone().into())?;
    let dispatcher = tokio::spawn(dispatcher.run(shutdown_rx));

    let context = Context::new(
        config,
        queue.clone(),
        bot_name(&settings),
        settings.slack_org_name.clone(),
        settings.slack_ack_reaction.clone(),
    );
    let (line_tx, mut line_rx) = mpsc::unbounded_channel::<Result<String, NotUtf8>>();
    let printer = if interactive {
        spawn_interactive(line_tx, out_rx)?
    } else {
        spawn_piped(line_tx, out_rx)
    };
    if interactive {
        let _ = out_tx.send(format!(
            "bennettbot shell: type `help`, or a command such as `test hello Bob`; Ctrl-D to quit.\n(database {})",
            db.display()
        ));
    }
    let channel = options.channel();
    let ticker = interactive.then(|| {
        tokio::spawn(report_running(
            queue.clone(),
            channel.clone(),
            out_tx.clone(),
        ))
    });

    while let Some(line) = line_rx.recv().await {
        let line = match line {
            Ok(line) => line,
            Err(not_utf8) => {
                let _ = out_tx.send(not_utf8.to_string());
                continue;
            }
        };
        let text = normalise(&line);
        if text.is_empty() {
            continue;
        }
        if matches!(text.as_str(), "exit" | "quit") {
            break;
        }
        let acting = options.acting.as_ref();
        let incoming = Incoming {
            text: text.clone(),
            channel: channel.clone(),
            thread_ts: None,
            message_ts: Some(console.new_ts()),
            is_im: true,
            mentioned: false,
            user: acting.map_or_else(|| SHELL_USER.into(), |a| a.user.clone()),
        };
        let answered = match acting {
            None => context.handle(&incoming, Utc::now(), &Operator).await,
            Some(a) => {
                let facts = Assumed { guest: a.guest };
                context.handle(&incoming, Utc::now(), &facts).await
            }
        };
        match answered {
            Ok(effects) => {
                for effect in effects {
                    let _ = out_tx.send(match effect {
                        Effect::React(name) => format!("(:{name}:)"),
                        Effect::Reply(text) => text,
                    });
                }
            }
            Err(e) => {
                let _ = out_tx.send(format!(
                    "(:x:)\nUnexpected error: {e}\nwhile responding to message `{text}`"
                ));
            }
        }
    }

    wait_for_jobs(&queue, &channel, &out_tx).await?;
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    let _ = shutdown_tx.send(true);
    dispatcher.await.context("the dispatcher task failed")?;
    scheduler.await.context("the scheduler task failed")?;
    drop(out_tx);
    drop(console);
    // The printer ends once every sender (console included) is gone: all output is out.
    printer.await.context("the printer task failed")?;
    Ok(())
}

/// The shell's database (`db`, else `WRITEABLE_DIR/bennettbot-shell.db`), opened.
fn open_database(settings: &Settings, db: Option<PathBuf>) -> anyhow::Result<(PathBuf, Queue)> {
    let db = db.unwrap_or_else(|| settings.writeable_dir.join(SHELL_DB));
    let queue = Queue::open(&db)
        .with_context(|| format!("opening the shell's database {}", db.display()))?;
    Ok((db, queue))
}

/// The shell's jobs (those reporting to `channel`) still queued or running.
async fn shell_jobs(queue: &Queue, channel: &str) -> anyhow::Result<(Vec<Job>, Vec<Job>)> {
    let status = queue.status(Utc::now()).await?;
    let mine = |jobs: Vec<Job>| {
        jobs.into_iter()
            .filter(|j| j.channel == channel)
            .collect::<Vec<_>>()
    };
    Ok((mine(status.running), mine(status.scheduled)))
}

/// Waits until every job the shell scheduled has run and reported.
async fn wait_for_jobs(
    queue: &Queue,
    channel: &str,
    out: &mpsc::UnboundedSender<String>,
) -> anyhow::Result<()> {
    let mut announced = false;
    loop {
        let (running, scheduled) = shell_jobs(queue, channel).await?;
        if running.is_empty() && scheduled.is_empty() {
            return Ok(());
        }
        if !announced {
            announced = true;
            let now = Utc::now();
            for job in &scheduled {
                let wait = (job.start_after - now).num_seconds();
                if wait > 0 {
                    let _ = out.send(format!(
                        "Waiting for `{}`, which starts in {wait} s",
                        job.job_type
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every few seconds, says which of the shell's jobs are running and for how long.
async fn report_running(queue: Queue, channel: String, out: mpsc::UnboundedSender<String>) {
    loop {
        tokio::time::sleep(RUNNING_EVERY).await;
        let Ok((running, _)) = shell_jobs(&queue, &channel).await else {
            continue;
        };
        let now = Utc::now();
        let parts: Vec<String> = running
            .iter()
            .map(|j| {
                let secs = j.started_at.map_or(0, |s| (now - s).num_seconds().max(0));
                format!("`{}` ({secs} s)", j.job_type)
            })
            .collect();
        if !parts.is_empty() {
            let _ = out.send(format!("… running: {}", parts.join(", ")));
        }
    }
}

/// Reads stdin lines to the end and prints output as it comes.
fn spawn_piped(
    lines: mpsc::UnboundedSender<Result<String, NotUtf8>>,
    mut out: mpsc::UnboundedReceiver<String>,
) -> tokio::task::JoinHandle<()> {
    std::thread::spawn(move || {
        console::read_lines(std::io::stdin().lock(), |line| lines.send(line).is_ok())
    });
    tokio::spawn(async move {
        while let Some(text) = out.recv().await {
            println!("{text}");
        }
    })
}

/// Reads lines with editing and history; output is printed above the prompt.
fn spawn_interactive(
    lines: mpsc::UnboundedSender<Result<String, NotUtf8>>,
    mut out: mpsc::UnboundedReceiver<String>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use rustyline::ExternalPrinter as _;
    let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
    let mut printer = editor
        .create_external_printer()
        .context("starting the line editor")?;
    std::thread::spawn(move || loop {
        match editor.readline("bennettbot> ") {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                if lines.send(Ok(line)).is_err() {
                    break;
                }
            }
            // Ctrl-C clears the line, like a shell; Ctrl-D (EOF) ends the session.
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    });
    Ok(tokio::spawn(async move {
        while let Some(text) = out.recv().await {
            if printer.print(format!("{text}\n")).is_err() {
                println!("{text}");
            }
        }
    }))
}
