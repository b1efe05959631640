//! Settings from environment variables (and a `.env` file), with the names the Python service
//! used, defaults, and one clear message listing everything a part lacks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::queue::Database;

pub mod declared;

/// A secret value: usable, but never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A part of bennettbot that can run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The Slack bot (Socket Mode).
    Bot,
    /// The GitHub webhook server.
    Webserver,
    /// The job dispatcher.
    Dispatcher,
}

/// How the bot receives Slack's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackMode {
    /// A websocket the bot opens (`SLACK_APP_TOKEN`).
    SocketMode,
    /// Signed HTTP requests to `/slack/events` (`SLACK_SIGNING_SECRET`, no app token).
    Http,
}

impl std::fmt::Display for SlackMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlackMode::SocketMode => "Socket Mode (SLACK_APP_TOKEN)",
            SlackMode::Http => {
                "the Events API over HTTP at WEBHOOK_ORIGIN/slack/events (SLACK_SIGNING_SECRET)"
            }
        })
    }
}

/// Every setting, read once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub slack_bot_token: Option<Secret>,
    pub slack_app_token: Option<Secret>,
    pub slack_bot_user_token: Option<Secret>,
    pub slack_app_username: Option<String>,
    pub slack_signing_secret: Option<Secret>,
    pub slack_logs_channel: Option<String>,
    /// Support channels by env var name (`SLACK_TECH_SUPPORT_CHANNEL`, ...), per `[[support]]`.
    pub support_channels: Vec<(&'static str, Option<String>)>,
    pub webhook_origin: Option<String>,
    pub github_webhook_secret: Option<Secret>,
    pub writeable_dir: PathBuf,
    pub db_path: PathBuf,
    /// The queue's store: `DATABASE_URL`, else the SQLite file at `db_path`.
    pub database: Database,
    pub workspace_dir: PathBuf,
    pub writeable_workspace_dir: PathBuf,
    pub logs_dir: PathBuf,
    pub host_logs_dir: PathBuf,
    pub bot_check_file: Option<PathBuf>,
    pub max_slack_notify_retries: u32,
    pub absolute_bin: Option<PathBuf>,
    pub slack_api_url: String,
    pub webserver_bind: Option<String>,
    /// Where every command serves `/metrics`; unset, none does (never on the webhook address).
    pub metrics_bind: Option<std::net::SocketAddr>,
    pub slack_org_name: String,
    pub slack_ack_reaction: String,
    pub shutdown_grace: Duration,
    /// A dispatcher silent this long is dead; its running jobs are reported as interrupted.
    pub lease_timeout: Duration,
    /// How long the bot trusts what it knows of a user being internal (or not) before asking
    /// Slack again.
    pub internal_users_ttl: Duration,
    pub log_json: bool,
    /// The log filter (`LOG_LEVEL`), if set.
    pub log_level: Option<String>,
    /// Problems with values that are set but wrong (e.g. not a number).
    pub invalid: Vec<String>,
    /// Problems with the `.env` file, such as a line that is not `NAME=value` (listed first:
    /// a bad line can be why a variable looks missing).
    pub env_file: Vec<String>,
}

/// What a variable is for: its declaration, or else the channel a `[[support]]` rule names
/// (those come from the job config, not the table).
fn purpose(name: &str) -> &'static str {
    declared::find(name).map_or(declared::support_purpose(), |s| s.purpose)
}

impl Settings {
    /// Reads settings through `get` (the process environment in production, a map in tests).
    pub fn from_lookup(config: &Config, cwd: &Path, get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut invalid = Vec::new();
        let path = |name: &str, default: PathBuf| get(name).map(PathBuf::from).unwrap_or(default);
        let writeable_dir = path("WRITEABLE_DIR", cwd.to_path_buf());
        let logs_dir = path("LOGS_DIR", writeable_dir.join("logs"));
        let mut number = |name: &str, default: u64| match get(name) {
            None => default,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                invalid.push(format!(
                    "{name}={v:?} is not a whole number ({})",
                    purpose(name)
                ));
                default
            }),
        };
        let retries = number("MAX_SLACK_NOTIFY_RETRIES", 2);
        let grace = number("SHUTDOWN_GRACE_SECONDS", 30);
        let lease = number("LEASE_TIMEOUT_SECONDS", 60).max(1);
        let users_ttl = number("INTERNAL_USERS_TTL_SECONDS", 600);
        let db_path = path("DB_PATH", writeable_dir.join("bennettbot.db"));
        let database = Database::from_settings(get("DATABASE_URL").as_deref(), db_path.clone())
            .unwrap_or_else(|e| {
                invalid.push(e.to_string());
                Database::Sqlite(db_path.clone())
            });
        let metrics_bind = get("METRICS_BIND").and_then(|v| {
            v.trim()
                .parse()
                .map_err(|_| {
                    invalid.push(format!(
                    "METRICS_BIND={v:?} is not an IP address and port such as 127.0.0.1:9100 ({})",
                    purpose("METRICS_BIND")
                ));
                })
                .ok()
        });
        let support_channels = config
            .support
            .iter()
            .map(|rule| (rule.channel_env, get(rule.channel_env)))
            .collect();
        Settings {
            slack_bot_token: get("SLACK_BOT_TOKEN").map(Secret),
            slack_app_token: get("SLACK_APP_TOKEN").map(Secret),
            slack_bot_user_token: get("SLACK_BOT_USER_TOKEN").map(Secret),
            slack_app_username: get("SLACK_APP_USERNAME"),
            slack_signing_secret: get("SLACK_SIGNING_SECRET").map(Secret),
            slack_logs_channel: get("SLACK_LOGS_CHANNEL"),
            support_channels,
            webhook_origin: get("WEBHOOK_ORIGIN"),
            github_webhook_secret: get("GITHUB_WEBHOOK_SECRET").map(Secret),
            db_path,
            database,
            workspace_dir: path("WORKSPACE_DIR", cwd.join("workspace")),
            writeable_workspace_dir: path(
                "WRITEABLE_WORKSPACE_DIR",
                writeable_dir.join("workspace"),
            ),
            host_logs_dir: path("HOST_LOGS_DIR", logs_dir.clone()),
            logs_dir,
            bot_check_file: get("BOT_CHECK_FILE").map(PathBuf::from),
            max_slack_notify_retries: retries.min(u32::MAX as u64) as u32,
            absolute_bin: get("ABSOLUTE_BIN").map(PathBuf::from),
            slack_api_url: get("SLACK_API_URL")
                .unwrap_or_else(|| "https://slack.com/api".to_string()),
            webserver_bind: get("WEBSERVER_BIND"),
            metrics_bind,
            slack_org_name: get("SLACK_ORG_NAME").unwrap_or_else(|| "internal".to_string()),
            slack_ack_reaction: get("SLACK_ACK_REACTION").unwrap_or_else(|| "eyes".to_string()),
            shutdown_grace: Duration::from_secs(grace),
            lease_timeout: Duration::from_secs(lease),
            internal_users_ttl: Duration::from_secs(users_ttl),
            log_json: get("LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")),
            log_level: get("LOG_LEVEL"),
            writeable_dir,
            invalid,
            env_file: Vec::new(),
        }
    }

    /// Reads the process environment, after loading `.env` (see [`load_env_file`]).
    pub fn from_env(config: &Config) -> Self {
        let problems = load_env_file();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Settings {
            env_file: problems,
            ..Self::from_lookup(config, &cwd, |name| std::env::var(name).ok())
        }
    }

    /// Reads the settings a command was given: each option, or its variable (which clap read,
    /// `.env` included once [`load_env_file`] ran). `env_file` is what loading `.env` found.
    pub fn from_matches(
        config: &Config,
        matches: &clap::ArgMatches,
        env_file: Vec<String>,
    ) -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let get = |name: &str| match matches.try_get_one::<String>(name) {
            Ok(value) => value.cloned(),
            // Not an option of this command: the variable itself (e.g. for `check`'s view of
            // another part's settings, which it declares too).
            Err(_) => std::env::var(name).ok(),
        };
        Settings {
            env_file,
            ..Self::from_lookup(config, &cwd, get)
        }
    }

    /// The channel a support rule names through its `channel_env`.
    pub fn support_channel(&self, channel_env: &str) -> Option<&str> {
        self.support_channels
            .iter()
            .find(|(name, _)| *name == channel_env)
            .and_then(|(_, v)| v.as_deref())
    }

    /// How the bot hears from Slack: Socket Mode with `SLACK_APP_TOKEN` (also when neither
    /// it nor `SLACK_SIGNING_SECRET` is set, so the app token is what is asked for), else the
    /// Events API over HTTP.
    pub fn slack_mode(&self) -> SlackMode {
        match (&self.slack_app_token, &self.slack_signing_secret) {
            (None, Some(_)) => SlackMode::Http,
            _ => SlackMode::SocketMode,
        }
    }

    /// Every required variable the given parts lack, with what it is for.
    pub fn missing(&self, parts: &[Part]) -> Vec<(&'static str, &'static str)> {
        let mut missing: Vec<&'static str> = Vec::new();
        let mut need = |name: &'static str, present: bool| {
            if !present && !missing.contains(&name) {
                missing.push(name);
            }
        };
        for part in parts {
            match part {
                Part::Bot => {
                    need("SLACK_BOT_TOKEN", self.slack_bot_token.is_some());
                    match self.slack_mode() {
                        SlackMode::SocketMode => {
                            need("SLACK_APP_TOKEN", self.slack_app_token.is_some())
                        }
                        SlackMode::Http => need(
                            "WEBHOOK_ORIGIN",
                            self.webhook_origin.is_some() || self.webserver_bind.is_some(),
                        ),
                    }
                    need("SLACK_APP_USERNAME", self.slack_app_username.is_some());
                    for (name, value) in &self.support_channels {
                        need(name, value.is_some());
                    }
                }
                Part::Dispatcher => {
                    need("SLACK_BOT_TOKEN", self.slack_bot_token.is_some());
                    need("SLACK_APP_USERNAME", self.slack_app_username.is_some());
                    need("SLACK_LOGS_CHANNEL", self.slack_logs_channel.is_some());
                    need(
                        "SLACK_TECH_SUPPORT_CHANNEL",
                        self.support_channel("SLACK_TECH_SUPPORT_CHANNEL").is_some(),
                    );
                }
                Part::Webserver => {
                    need("SLACK_BOT_TOKEN", self.slack_bot_token.is_some());
                    need(
                        "GITHUB_WEBHOOK_SECRET",
                        self.github_webhook_secret.is_some(),
                    );
                    need(
                        "WEBHOOK_ORIGIN",
                        self.webhook_origin.is_some() || self.webserver_bind.is_some(),
                    );
                }
            }
        }
        missing.into_iter().map(|n| (n, purpose(n))).collect()
    }

    /// One message listing every missing or invalid setting, or `Ok` if there are none.
    pub fn require(&self, parts: &[Part]) -> Result<(), SettingsError> {
        let missing = self.missing(parts);
        if missing.is_empty() && self.invalid.is_empty() && self.env_file.is_empty() {
            return Ok(());
        }
        let mut lines: Vec<String> = self.env_file.iter().map(|p| format!("  {p}")).collect();
        lines.extend(
            missing
                .into_iter()
                .map(|(name, what)| format!("  {name}: {what}")),
        );
        lines.extend(self.invalid.iter().map(|p| format!("  {p}")));
        Err(SettingsError(lines.join("\n")))
    }
}

/// Loads `.env` from the current directory (or the nearest parent that has one), if any, into
/// the process environment, which wins over the file; returns the file's unreadable lines.
/// Call it before the command line is parsed, so options read their variables from it too.
pub fn load_env_file() -> Vec<String> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let Some(path) = find_env_file(&cwd) else {
        return Vec::new();
    };
    let file = read_env_file(&path);
    for (name, value) in file.vars {
        // The environment wins over the file, as with dotenvy's own loading.
        if std::env::var_os(&name).is_none() {
            std::env::set_var(name, value);
        }
    }
    file.problems
}

/// The `.env` file `dotenvy` would load: in `dir` or the nearest parent directory that has one.
fn find_env_file(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(".env"))
        .find(|p| p.is_file())
}

/// A `.env` file's variables, in order, and a problem for each line that could not be read.
#[derive(Debug, Default)]
struct EnvFile {
    vars: Vec<(String, String)>,
    problems: Vec<String>,
}

/// Reads a `.env` file with dotenvy, going on past bad lines so that every one is reported
/// with its line number (never its text, which may hold a secret).
fn read_env_file(path: &Path) -> EnvFile {
    let mut file = EnvFile::default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            file.problems
                .push(format!("{} cannot be read: {e}", path.display()));
            return file;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    // Bad lines come in file order, so each is looked for after the previous one.
    let mut searched_to = 0;
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok(var) => file.vars.push(var),
            Err(dotenvy::Error::LineParse(line, _)) => {
                let at = line_number(text, searched_to, &line);
                let place = match at {
                    Some(n) => {
                        searched_to = n;
                        format!("{} line {n}", path.display())
                    }
                    None => path.display().to_string(),
                };
                file.problems.push(format!(
                    "{place} is not a `NAME=value` line (a value with spaces needs quotes)"
                ));
            }
            Err(e) => file
                .problems
                .push(format!("{} cannot be read: {e}", path.display())),
        }
    }
    file
}

/// The 1-based number of the first line after line `after` where `logical` (a line as dotenvy
/// gives it: without a trailing comment, possibly spanning lines in quotes) begins.
fn line_number(text: &str, after: usize, logical: &str) -> Option<usize> {
    let first = logical.lines().next().unwrap_or("");
    text.lines()
        .enumerate()
        .skip(after)
        .find(|(_, l)| l.starts_with(first))
        .map(|(i, _)| i + 1)
}

/// Settings a part needs but lacks.
#[derive(Debug, thiserror::Error)]
#[error("missing or invalid settings (set them in the environment or in .env):\n{0}")]
pub struct SettingsError(String);

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::CONFIG;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(&CONFIG, Path::new("/srv/bot"), |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_writeable_dir() {
        let s = settings(&[("WRITEABLE_DIR", "/data")]);
        assert_eq!(s.db_path, PathBuf::from("/data/bennettbot.db"));
        assert_eq!(s.logs_dir, PathBuf::from("/data/logs"));
        assert_eq!(s.host_logs_dir, PathBuf::from("/data/logs"));
        assert_eq!(s.writeable_workspace_dir, PathBuf::from("/data/workspace"));
        assert_eq!(s.workspace_dir, PathBuf::from("/srv/bot/workspace"));
        assert_eq!(s.max_slack_notify_retries, 2);
        assert_eq!(s.shutdown_grace, Duration::from_secs(30));
        assert_eq!(s.slack_org_name, "internal");
        assert_eq!(s.slack_ack_reaction, "eyes");
    }

    #[test]
    fn missing_lists_every_variable_once_with_its_purpose() {
        let s = settings(&[
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("MAX_SLACK_NOTIFY_RETRIES", "lots"),
        ]);
        let err = s
            .require(&[Part::Bot, Part::Dispatcher, Part::Webserver])
            .unwrap_err()
            .to_string();
        for name in [
            "SLACK_APP_TOKEN",
            "SLACK_APP_USERNAME",
            "SLACK_LOGS_CHANNEL",
            "SLACK_TECH_SUPPORT_CHANNEL",
            "SLACK_BENNETT_ADMINS_CHANNEL",
            "GITHUB_WEBHOOK_SECRET",
            "WEBHOOK_ORIGIN",
        ] {
            assert_eq!(
                err.matches(&format!("  {name}:")).count(),
                1,
                "{name} in {err}"
            );
        }
        assert!(!err.contains("SLACK_BOT_TOKEN:"), "{err}");
        assert!(
            err.contains("MAX_SLACK_NOTIFY_RETRIES=\"lots\" is not a whole number"),
            "{err}"
        );
    }

    #[test]
    fn every_variable_read_is_in_the_table_or_a_support_channel() {
        let read = std::cell::RefCell::new(Vec::new());
        Settings::from_lookup(&CONFIG, Path::new("/srv/bot"), |name| {
            read.borrow_mut().push(name.to_string());
            None
        });
        let channels: Vec<&str> = CONFIG.support.iter().map(|r| r.channel_env).collect();
        for name in read.into_inner() {
            assert!(
                declared::find(&name).is_some_and(|s| !s.env_only)
                    || channels.contains(&name.as_str()),
                "{name} is not declared (settings/declared.rs), so no option reads it"
            );
        }
    }

    #[test]
    fn bad_env_lines_are_named_by_number_and_good_ones_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# settings\nA=1\nTHIS IS NOT VALID\nB=\"two\nlines\"\n\nSLACK_BOT_TOKEN xoxb-secret # oops\nC=3\n",
        )
        .unwrap();
        let file = read_env_file(&path);
        let vars: Vec<(&str, &str)> = file
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(vars, [("A", "1"), ("B", "two\nlines"), ("C", "3")]);
        let p = path.display();
        assert_eq!(
            file.problems,
            [
                format!("{p} line 3 is not a `NAME=value` line (a value with spaces needs quotes)"),
                format!("{p} line 7 is not a `NAME=value` line (a value with spaces needs quotes)"),
            ]
        );
    }

    #[test]
    fn the_env_file_is_found_in_the_nearest_directory() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a").join("b");
        std::fs::create_dir_all(&inner).unwrap();
        // A .env above the temporary directory is not ours to control.
        assert!(find_env_file(&inner).is_none_or(|p| !p.starts_with(dir.path())));
        std::fs::write(dir.path().join(".env"), "A=1\n").unwrap();
        assert_eq!(find_env_file(&inner), Some(dir.path().join(".env")));
        std::fs::write(inner.join(".env"), "A=2\n").unwrap();
        assert_eq!(find_env_file(&inner), Some(inner.join(".env")));
    }

    #[test]
    fn metrics_bind_is_an_address_or_a_problem() {
        assert_eq!(settings(&[]).metrics_bind, None);
        let s = settings(&[("METRICS_BIND", "127.0.0.1:9100")]);
        assert_eq!(s.metrics_bind, Some("127.0.0.1:9100".parse().unwrap()));
        assert!(s.invalid.is_empty(), "{:?}", s.invalid);
        let bad = settings(&[("METRICS_BIND", "localhost")]);
        assert_eq!(bad.metrics_bind, None);
        assert!(
            bad.invalid[0].starts_with("METRICS_BIND=\"localhost\" is not an IP address and port"),
            "{:?}",
            bad.invalid
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let s = settings(&[
            ("SLACK_BOT_TOKEN", "xoxb-very-secret"),
            ("GITHUB_WEBHOOK_SECRET", "hunter2"),
        ]);
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("xoxb-very-secret") && !debug.contains("hunter2"),
            "{debug}"
        );
        assert_eq!(s.slack_bot_token.unwrap().expose(), "xoxb-very-secret");
    }
}
