//! The `bennettbot` binary: command-line wiring only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use bennettbot::config::CONFIG;
use bennettbot::settings::{declared, load_env_file, Part, Settings};
use bennettbot::{app, check, explain, logging, manifest, shell};

/// A chatops bot: Slack commands and GitHub webhooks run jobs compiled from job_configs.toml.
///
/// Settings are options or environment variables (also read from a .env file): `--help` of
/// each command lists those it reads; see the README.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the bot, the webhook server and the dispatcher in one process (recommended).
    Serve,
    /// Talk to the bot on the terminal: no Slack needed, jobs run for real.
    Shell {
        /// Database file to use instead of WRITEABLE_DIR/bennettbot-shell.db.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Without --as the shell is a local operator with every right.
        #[command(flatten)]
        acting: Acting,
    },
    /// Run the Slack bot alone (Socket Mode, or the Events API over HTTP), beside `dispatcher` and `webserver`.
    Bot,
    /// Run the GitHub webhook server alone, beside `bot` and `dispatcher`.
    Webserver,
    /// Run the job dispatcher alone, beside `bot` and `webserver`.
    Dispatcher,
    /// List the reports the database holds for Slack: waiting for it, or refused by it for
    /// good (kept for inspection).
    Outbox,
    /// Check settings and environment without starting anything.
    Check {
        /// Also call Slack's auth.test with each token.
        #[arg(long)]
        online: bool,
    },
    /// Print the compiled command table.
    Commands {
        /// Print a machine-readable JSON manifest instead.
        #[arg(long)]
        json: bool,
    },
    /// Show what a message would do, executing nothing.
    Explain {
        /// The message, as typed after the bot's name, e.g. "test hello Bob".
        message: String,
        /// With --as, also say whether that user would be allowed, and by which rule.
        #[command(flatten)]
        acting: Acting,
    },
    /// Print the JSON Schema of job_configs.toml, for editors (job_configs.schema.json).
    Schema,
    /// Print the next due times of every scheduled job, in UTC and the schedule's time zone
    /// (from the config alone: no database, nothing run).
    Schedules {
        /// How many due times of each schedule.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
        next: u16,
    },
}

fn main() -> ExitCode {
    // Before parsing, so that options read their variables from `.env` too.
    let env_file = load_env_file();
    let matches = declared::with_settings(&CONFIG, Cli::command()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let given = Given {
        matches: matches
            .subcommand()
            .map(|(_, m)| m.clone())
            .unwrap_or_default(),
        env_file,
    };
    match run(cli.command, given) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What the command line and `.env` gave the command.
struct Given {
    matches: ArgMatches,
    env_file: Vec<String>,
}

impl Given {
    fn settings(self) -> Settings {
        Settings::from_matches(&CONFIG, &self.matches, self.env_file)
    }
}

/// `--as USER_ID [--guest] [--channel C]`: a Slack user to act as, under the permission rules.
#[derive(clap::Args)]
struct Acting {
    /// Act as this Slack user id, under the config's permission rules.
    #[arg(long = "as", value_name = "USER_ID")]
    as_user: Option<String>,
    /// With --as: the user is a guest.
    #[arg(long, requires = "as_user")]
    guest: bool,
    /// With --as: the channel id messages are sent in.
    #[arg(long, requires = "as_user", value_name = "CHANNEL_ID")]
    channel: Option<String>,
}

impl Acting {
    /// The user acted as, if `--as` was given.
    fn user(self) -> Option<explain::AsUser> {
        let Acting {
            as_user,
            guest,
            channel,
        } = self;
        as_user.map(|user| explain::AsUser {
            user,
            guest,
            channel,
        })
    }
}

fn run(command: Cmd, given: Given) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Commands { json } => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&manifest::json(&CONFIG))?
                );
            } else {
                print!("{}", manifest::table(&CONFIG));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Explain { message, acting } => {
            let who = acting.user();
            let text = runtime()?.block_on(explain::explain(&CONFIG, &message, who.as_ref()));
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Schedules { next } => {
            let timetables = bennettbot::schedule::Timetable::all(&CONFIG)?;
            print!(
                "{}",
                bennettbot::schedule::listing::upcoming_text(
                    &timetables,
                    chrono::Utc::now(),
                    usize::from(next)
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Schema => {
            print!("{}", bennettbot_compiler::schema::json_schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Shell { db, acting } => {
            let settings = given.settings();
            logging::init(settings.log_json, settings.log_level.as_deref(), "warn");
            let options = shell::ShellOptions {
                db,
                acting: acting.user(),
            };
            runtime()?.block_on(shell::run(&CONFIG, settings, options))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check { online } => {
            let settings = given.settings();
            let mut findings = check::check_local(
                &CONFIG,
                &settings,
                &[Part::Bot, Part::Webserver, Part::Dispatcher],
            );
            if online {
                findings.extend(runtime()?.block_on(check::check_online(&settings)));
            }
            let mut problems = 0;
            for f in &findings {
                if f.problem {
                    problems += 1;
                    println!("✗ {}", f.text);
                } else {
                    println!("✓ {}", f.text);
                }
            }
            if problems > 0 {
                println!(
                    "{problems} problem{} found",
                    if problems == 1 { "" } else { "s" }
                );
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Serve => {
            let settings = part_settings(given, &[Part::Bot, Part::Webserver, Part::Dispatcher])?;
            runtime()?.block_on(app::serve(&CONFIG, settings))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Outbox => {
            let settings = given.settings();
            logging::init(settings.log_json, settings.log_level.as_deref(), "warn");
            let entries = runtime()?.block_on(async {
                let queue = app::open_queue(&settings).await?;
                anyhow::Ok(queue.undelivered().await?)
            })?;
            print!("{}", bennettbot::dispatcher::undelivered::listing(&entries));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bot => run_alone(given, Part::Bot),
        Cmd::Webserver => run_alone(given, Part::Webserver),
        Cmd::Dispatcher => run_alone(given, Part::Dispatcher),
    }
}

/// Loads settings, starts logging, and refuses to go on without what `parts` need.
fn part_settings(given: Given, parts: &[Part]) -> anyhow::Result<Settings> {
    let settings = given.settings();
    logging::init(settings.log_json, settings.log_level.as_deref(), "info");
    settings.require(parts)?;
    Ok(settings)
}

/// Runs one part as its own process.
fn run_alone(given: Given, part: Part) -> anyhow::Result<ExitCode> {
    let settings = part_settings(given, &[part])?;
    runtime()?.block_on(app::run_alone(&CONFIG, part, settings))?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
