//! The `bennettbot` binary: command-line wiring only.

use clap::{Parser, Subcommand};

use bennettbot::config::CONFIG;

/// A chatops bot: Slack commands and GitHub webhooks run jobs compiled from job_configs.toml.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
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
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Commands { json } => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&bennettbot::manifest::json(&CONFIG))?
                );
            } else {
                print!("{}", bennettbot::manifest::table(&CONFIG));
            }
        }
        Cmd::Explain { message } => print!("{}", bennettbot::explain::explain(&CONFIG, &message)),
    }
    Ok(())
}
