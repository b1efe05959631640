//! Every setting, declared once: its variable, default, who needs it and what it is for. The
//! command line (`--help` of each command lists what it reads, each option also read from its
//! variable), `check`'s explanations and the README's settings table are all made from this.

use clap::{Arg, Command};

use super::Part;
use crate::config::Config;

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Declared {
    /// The environment variable (also the option: `--slack-bot-token` for `SLACK_BOT_TOKEN`).
    pub name: &'static str,
    /// Another variable read in its place, if any (shown as `NAME` / `ALSO`).
    pub also: Option<&'static str>,
    /// The default, as people read it; `—` when there is none and a part needs it.
    pub default: &'static str,
    /// Which parts cannot start without it (prose, e.g. "webserver (unless `WEBSERVER_BIND`)").
    pub needed_by: &'static str,
    /// What it is for (Markdown).
    pub purpose: &'static str,
    /// A secret: its value is never shown (not even in `--help`).
    pub secret: bool,
    /// The parts that read it (empty: every part); `--help` of their commands lists it.
    pub read_by: &'static [Part],
    /// Only an environment variable (read by a library), not an option.
    pub env_only: bool,
}

const ALL: &[Part] = &[];
const BOT: &[Part] = &[Part::Bot];
const WEB: &[Part] = &[Part::Webserver];
const DISPATCHER: &[Part] = &[Part::Dispatcher];

const fn setting(
    name: &'static str,
    default: &'static str,
    needed_by: &'static str,
    read_by: &'static [Part],
    purpose: &'static str,
) -> Declared {
    Declared {
        name,
        also: None,
        default,
        needed_by,
        purpose,
        secret: false,
        read_by,
        env_only: false,
    }
}

const fn secret(
    name: &'static str,
    needed_by: &'static str,
    read_by: &'static [Part],
    purpose: &'static str,
) -> Declared {
    Declared {
        secret: true,
        ..setting(name, "—", needed_by, read_by, purpose)
    }
}

/// The settings, in the order the README lists them.
pub const SETTINGS: &[Declared] = &[
    secret("SLACK_BOT_TOKEN", "bot, webserver, dispatcher", &[Part::Bot, Part::Webserver, Part::Dispatcher],
        "bot token (`xoxb-`) for Slack's Web API"),
    secret("SLACK_APP_TOKEN", "bot (Socket Mode)", BOT,
        "app-level token (`xapp-`, scope `connections:write`) for Socket Mode"),
    Declared { default: "unset", ..secret("SLACK_BOT_USER_TOKEN", "—", BOT,
        "user token (`xoxp-`); when set, the bot searches for support keywords every 10 s, each `search.messages` call at least 3 s after the last (Slack's Tier 2: 20 a minute for the whole workspace; one replica at a time searches), so a round of many keywords takes longer and the next follows it") },
    setting("SLACK_APP_USERNAME", "—", "bot, dispatcher", &[Part::Bot, Part::Dispatcher],
        "the bot's Slack name, shown in help as `@name`"),
    Declared { default: "unset", ..secret("SLACK_SIGNING_SECRET", "bot (over HTTP)", BOT,
        "with `SLACK_APP_TOKEN` unset, the bot takes events over HTTP at `WEBHOOK_ORIGIN/slack/events` (the Events API) instead of Socket Mode, verifying Slack's signatures with this secret") },
    setting("SLACK_LOGS_CHANNEL", "—", "dispatcher", DISPATCHER,
        "job start notices, Slack failures, and failures of the job queue database"),
    setting("SLACK_TECH_SUPPORT_CHANNEL", "—", "bot, dispatcher", &[Part::Bot, Part::Dispatcher],
        "tech-support's channel (name or id): support calls and failed jobs"),
    setting("SLACK_BENNETT_ADMINS_CHANNEL", "—", "bot", BOT,
        "bennett-admins' channel (support calls)"),
    setting("WEBHOOK_ORIGIN", "—", "webserver, bot over HTTP (unless `WEBSERVER_BIND`)", &[Part::Webserver, Part::Bot],
        "public URL of the webhook server; its port is the listening port"),
    secret("GITHUB_WEBHOOK_SECRET", "webserver", WEB,
        "the secret GitHub signs webhooks with"),
    setting("WRITEABLE_DIR", "current directory", "all", ALL,
        "where the database, logs and job state go"),
    Declared { secret: true, ..setting("DATABASE_URL", "unset (SQLite at `DB_PATH`)", "all", ALL,
        "the job queue: `sqlite:///path/to.db`, or `postgres://user:password@host:port/db` to share one queue between processes on several hosts; TLS with libpq's `sslmode` and `sslrootcert` (see **Several hosts: PostgreSQL**)") },
    setting("DB_PATH", "`WRITEABLE_DIR/bennettbot.db`", "all", ALL,
        "the SQLite job queue, when `DATABASE_URL` is unset"),
    setting("WORKSPACE_DIR", "`./workspace`", "dispatcher", DISPATCHER,
        "job scripts, one folder per namespace"),
    setting("WRITEABLE_WORKSPACE_DIR", "`WRITEABLE_DIR/workspace`", "dispatcher", DISPATCHER,
        "work folders of namespaces with no folder in `WORKSPACE_DIR` (e.g. fabfile namespaces)"),
    setting("LOGS_DIR", "`WRITEABLE_DIR/logs`", "dispatcher", DISPATCHER,
        "job logs: `LOGS_DIR/<job_type>/<YYYYMMDD-HHMMSS>/{stdout,stderr}`"),
    setting("HOST_LOGS_DIR", "`LOGS_DIR`", "dispatcher", DISPATCHER,
        "`LOGS_DIR` as the host sees it (e.g. outside a container), shown in failure reports"),
    setting("BOT_CHECK_FILE", "unset", "bot", BOT,
        "removed at start-up, touched once connected (a health check)"),
    setting("MAX_SLACK_NOTIFY_RETRIES", "`2`", "all", ALL,
        "immediate retries of one Slack call that failed transiently (HTTP 429 or 5xx, `ratelimited`, no connection; a `Retry-After` of up to 60 s is waited out, else a jittered backoff from 0.5–1 s doubling; other 4xx are never retried); not used for the dispatcher's reports, which its outbox keeps in the database and retries under the same rules until Slack takes them (see **What users see**)"),
    setting("ABSOLUTE_BIN", "unset", "dispatcher", DISPATCHER,
        "folder put first on jobs' `PATH`"),
    setting("SLACK_API_URL", "`https://slack.com/api`", "all", ALL,
        "Slack Web API base (GovSlack, tests)"),
    setting("WEBSERVER_BIND", "`0.0.0.0:<port of WEBHOOK_ORIGIN>`", "webserver", &[Part::Webserver, Part::Bot],
        "listening address; `127.0.0.1:0` picks a free port and logs it"),
    setting("METRICS_BIND", "unset", "—", ALL,
        "every command (`serve`, `webserver`, `bot`, `dispatcher`) serves `GET /metrics` (only that) on this IP address and port, e.g. `127.0.0.1:9100`; unset, none serves it: the webhook address never does, as it faces the internet (see **Metrics**)"),
    setting("SLACK_ORG_NAME", "`internal`", "bot", BOT,
        "what internal users are called in refusals"),
    setting("SLACK_ACK_REACTION", "`eyes`", "bot", BOT,
        "reaction to accepted commands"),
    setting("INTERNAL_USERS_TTL_SECONDS", "`600`", "bot", BOT,
        "how long the bot trusts what it knows of a user being internal (a member, not a guest) or not (`users.info`), and of a user group's members (`usergroups.users.list`), before asking Slack again; a member made a guest, or removed from a group, loses the rights within this time"),
    setting("SHUTDOWN_GRACE_SECONDS", "`30`", "dispatcher", DISPATCHER,
        "how long running jobs may finish after SIGTERM before they are stopped and reported as interrupted"),
    setting("LEASE_TIMEOUT_SECONDS", "`60`", "dispatcher", DISPATCHER,
        "a dispatcher silent this long is dead: its running jobs are reported as interrupted and removed (never silently re-run)"),
    Declared { also: Some("RUST_LOG"), ..setting("LOG_LEVEL", "`info` (`warn` for `shell`)", "all", ALL,
        "log filter, e.g. `debug` or `bennettbot=debug`") },
    setting("LOG_FORMAT", "text", "all", ALL,
        "`json` for JSON logs (to stderr); text is coloured only when stderr is a terminal"),
    Declared { env_only: true, ..setting("NO_COLOR", "unset", "all", ALL,
        "any non-empty value turns colour off on a terminal too") },
];

/// The declaration of `name`, if it is one of [`SETTINGS`].
pub fn find(name: &str) -> Option<&'static Declared> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// Whether `part`'s command reads `setting` (`None`: a command that runs every part).
fn reads(setting: &Declared, part: Option<Part>) -> bool {
    match part {
        None => true,
        Some(part) => setting.read_by.is_empty() || setting.read_by.contains(&part),
    }
}

/// Markdown to plain text for `--help`: no backticks or bold marks.
fn plain(text: &str) -> String {
    text.replace(['`', '*'], "")
}

/// The option for one variable: `--slack-bot-token`, read from `SLACK_BOT_TOKEN` when not given.
fn arg(name: &'static str, default: &str, purpose: &str, secret: bool) -> Arg {
    let default = match default {
        "—" | "unset" => String::new(),
        d => format!(" [default: {}]", plain(d)),
    };
    Arg::new(name)
        .long(name.to_ascii_lowercase().replace('_', "-"))
        .env(name)
        .value_name("VALUE")
        .hide_env_values(secret)
        .help(format!("{}{default}", plain(purpose)))
        .help_heading("Settings (options or environment variables)")
}

/// The options a command reads: `part`'s settings (`None`: every part's), plus the channels
/// the config's `[[support]]` rules name.
pub fn args(config: &Config, part: Option<Part>) -> Vec<Arg> {
    let mut args: Vec<Arg> = SETTINGS
        .iter()
        .filter(|s| !s.env_only && reads(s, part))
        .map(|s| arg(s.name, s.default, s.purpose, s.secret))
        .collect();
    if matches!(part, None | Some(Part::Bot | Part::Dispatcher)) {
        for rule in config
            .support
            .iter()
            .filter(|r| find(r.channel_env).is_none())
        {
            args.push(arg(rule.channel_env, "—", support_purpose(), false));
        }
    }
    args
}

/// Adds each running command's settings to the derived command line.
pub fn with_settings(config: &Config, command: Command) -> Command {
    // `commands`, `explain`, `schema` and `schedules` read nothing but the config.
    // `outbox` reads the dispatcher's: it lists what the dispatchers deliver.
    let parts: [(&str, Option<Part>); 7] = [
        ("serve", None),
        ("outbox", Some(Part::Dispatcher)),
        ("check", None),
        ("shell", None),
        ("bot", Some(Part::Bot)),
        ("webserver", Some(Part::Webserver)),
        ("dispatcher", Some(Part::Dispatcher)),
    ];
    parts.into_iter().fold(command, |command, (name, part)| {
        command.mut_subcommand(name, |sub| {
            sub.args(args(config, part)).after_help(
                "Options can also be set in a .env file (in this directory or the nearest parent \
                 that has one); NO_COLOR turns coloured logs off.",
            )
        })
    })
}

/// What a support rule's channel variable is for, when the table does not declare it.
pub fn support_purpose() -> &'static str {
    "support channel named by a `[[support]]` rule"
}

/// The README's settings table.
pub fn markdown_table(config: &Config) -> String {
    let mut out =
        String::from("| variable | default | needed by | what it is for |\n|---|---|---|---|\n");
    for s in SETTINGS {
        let name = match s.also {
            Some(also) => format!("`{}` / `{also}`", s.name),
            None => format!("`{}`", s.name),
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            s.default, s.needed_by, s.purpose
        ));
    }
    for rule in config
        .support
        .iter()
        .filter(|r| find(r.channel_env).is_none())
    {
        out.push_str(&format!(
            "| `{}` | — | bot | {} |\n",
            rule.channel_env,
            support_purpose()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;

    #[test]
    fn the_readme_table_is_the_declared_one() {
        let readme = include_str!("../../README.md");
        let table = markdown_table(&CONFIG);
        assert!(
            readme.contains(&table),
            "README's settings table is out of date; replace it with:\n{table}"
        );
    }

    #[test]
    fn each_part_lists_what_it_reads_and_nothing_it_does_not() {
        let names = |part| -> Vec<String> {
            args(&CONFIG, part)
                .iter()
                .map(|a| a.get_id().to_string())
                .collect()
        };
        let bot = names(Some(Part::Bot));
        assert!(bot.contains(&"SLACK_APP_TOKEN".to_string()));
        assert!(bot.contains(&"DATABASE_URL".to_string()));
        assert!(!bot.contains(&"GITHUB_WEBHOOK_SECRET".to_string()));
        let web = names(Some(Part::Webserver));
        assert!(web.contains(&"GITHUB_WEBHOOK_SECRET".to_string()));
        assert!(!web.contains(&"SLACK_APP_TOKEN".to_string()));
        // Every command serves /metrics on METRICS_BIND, so every one reads it.
        for part in [Part::Bot, Part::Webserver, Part::Dispatcher] {
            assert!(
                names(Some(part)).contains(&"METRICS_BIND".to_string()),
                "{part:?}"
            );
        }
        let all = names(None);
        assert_eq!(
            all.len(),
            SETTINGS.iter().filter(|s| !s.env_only).count(),
            "serve reads every setting"
        );
        assert!(!all.contains(&"NO_COLOR".to_string()));
    }

    #[test]
    fn options_are_the_variables_in_kebab_case_and_secrets_hide_their_values() {
        let arg = args(&CONFIG, None)
            .into_iter()
            .find(|a| a.get_id() == "SLACK_BOT_TOKEN")
            .expect("declared");
        assert_eq!(arg.get_long(), Some("slack-bot-token"));
        assert_eq!(
            arg.get_env().and_then(|e| e.to_str()),
            Some("SLACK_BOT_TOKEN")
        );
        assert!(arg.is_hide_env_values_set());
    }
}
