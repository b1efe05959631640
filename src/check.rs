//! `bennettbot check`: checks settings and environment without starting anything, listing every
//! problem at once.

use std::path::Path;

use crate::config::Config;
use crate::queue::{Database, PgStore, SqliteStore};
use crate::settings::{Part, Secret, Settings};
use crate::slack::api::SlackClient;
use crate::slack::SlackError;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether this is a problem (`check` exits non-zero if any is).
    pub problem: bool,
    pub text: String,
}

fn ok(text: impl Into<String>) -> Finding {
    Finding {
        problem: false,
        text: text.into(),
    }
}

fn problem(text: impl Into<String>) -> Finding {
    Finding {
        problem: true,
        text: text.into(),
    }
}

/// Opens (and migrates) the SQLite file and reads it. `check` runs no runtime here: the
/// store is used directly.
fn check_sqlite(path: &Path) -> Finding {
    match SqliteStore::open(path) {
        Ok(queue) => match queue.status(chrono::Utc::now()) {
            Ok(_) => ok(format!(
                "database SQLite at {} opens, is migrated and readable",
                path.display()
            )),
            Err(e) => problem(format!("database {} is not usable: {e}", path.display())),
        },
        Err(e) => problem(format!(
            "database {} cannot be opened or migrated: {e}",
            path.display()
        )),
    }
}

/// Connects to PostgreSQL (without migrating) and reports its version and migration state.
fn check_postgres(database: &Database, url: &str) -> Finding {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return problem(format!("cannot start a runtime to reach {database}: {e}")),
    };
    let inspected = runtime.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(10), PgStore::inspect(url)).await
    });
    let supported = crate::queue::POSTGRES_MIGRATIONS.len() as i64;
    match inspected {
        Err(_) => problem(format!("database {database}: no answer within 10 s")),
        Ok(Err(e)) => problem(format!("database {database} cannot be reached: {e}")),
        Ok(Ok(found)) if found.migration > supported => problem(format!(
            "database {database} ({}) is at migration {}, newer than this build's {supported}: run a newer bennettbot",
            found.describe(),
            found.migration
        )),
        Ok(Ok(found)) if found.migration < supported => ok(format!(
            "database {database} ({}) answers; at migration {} of {supported}, the rest are applied at start-up",
            found.describe(),
            found.migration
        )),
        Ok(Ok(found)) => ok(format!(
            "database {database} ({}) answers and is migrated ({} of {supported})",
            found.describe(),
            found.migration
        )),
    }
}

/// Checks settings, database, workspace and logs for the given parts.
pub fn check_local(config: &Config, settings: &Settings, parts: &[Part]) -> Vec<Finding> {
    let mut findings: Vec<Finding> = settings
        .env_file
        .iter()
        .map(|p| problem(p.clone()))
        .collect();
    let missing = settings.missing(parts);
    if missing.is_empty() {
        findings.push(ok("all required settings are present"));
    }
    for (name, what) in missing {
        findings.push(problem(format!("{name} is not set: {what}")));
    }
    findings.extend(settings.invalid.iter().map(|p| problem(p.clone())));
    if parts.contains(&Part::Bot) {
        findings.push(ok(format!(
            "the bot takes Slack's events by {}",
            settings.slack_mode()
        )));
    }
    findings.push(ok(match settings.metrics_bind {
        Some(addr) => format!("metrics: /metrics on {addr} (never on the webhook address)"),
        None => "metrics: METRICS_BIND is not set, so no /metrics is served (never on the webhook address)".to_string(),
    }));

    findings.push(match &settings.database {
        Database::Sqlite(path) => check_sqlite(path),
        Database::Postgres(url) => check_postgres(&settings.database, url.expose()),
    });

    if settings.workspace_dir.is_dir() {
        findings.push(ok(format!(
            "workspace {} exists",
            settings.workspace_dir.display()
        )));
        let absent: Vec<&str> = config
            .namespaces
            .iter()
            .filter(|ns| ns.fabfile.is_none() && !settings.workspace_dir.join(ns.name).is_dir())
            .map(|ns| ns.name)
            .collect();
        if !absent.is_empty() {
            findings.push(ok(format!(
                "namespaces without a folder in the workspace (they run in {}): {}",
                settings.writeable_workspace_dir.display(),
                absent.join(", ")
            )));
        }
    } else {
        findings.push(problem(format!(
            "WORKSPACE_DIR {} does not exist",
            settings.workspace_dir.display()
        )));
    }
    findings.push(writeable(&settings.logs_dir, "LOGS_DIR"));
    findings.push(writeable(
        &settings.writeable_workspace_dir,
        "WRITEABLE_WORKSPACE_DIR",
    ));
    findings
}

/// Whether `dir` can be created and written to.
fn writeable(dir: &Path, name: &str) -> Finding {
    let probe = dir.join(".bennettbot-check");
    let result = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&probe, b"ok"))
        .and_then(|_| std::fs::remove_file(&probe));
    match result {
        Ok(()) => ok(format!("{name} {} is writeable", dir.display())),
        Err(e) => problem(format!("{name} {} is not writeable: {e}", dir.display())),
    }
}

/// Calls Slack's `auth.test` with each configured token, and opens a Socket Mode URL with the
/// app token (app-level tokens cannot call `auth.test`), through the bot's own client, once
/// each (no retries: `check` reports what it finds).
pub async fn check_online(settings: &Settings) -> Vec<Finding> {
    let client = |token: &Secret| {
        SlackClient::new(token.expose())
            .with_base_url(settings.slack_api_url.clone())
            .with_max_retries(0)
    };
    let mut findings = Vec::new();
    let auth = [
        ("SLACK_BOT_TOKEN", &settings.slack_bot_token),
        ("SLACK_BOT_USER_TOKEN", &settings.slack_bot_user_token),
    ];
    for (name, token) in auth {
        let Some(token) = token else { continue };
        let answer = client(token).auth_test().await.map(drop);
        findings.push(online(name, "auth.test", answer));
    }
    if let Some(token) = &settings.slack_app_token {
        let answer = client(token)
            .with_app_token(token.expose())
            .open_connection()
            .await
            .map(drop);
        findings.push(online("SLACK_APP_TOKEN", "apps.connections.open", answer));
    }
    findings
}

/// What `check` says about one token's call.
fn online(name: &str, method: &str, answer: Result<(), SlackError>) -> Finding {
    match answer {
        Ok(()) => ok(format!("{name} works ({method})")),
        Err(SlackError::Api { error, .. }) => {
            problem(format!("{name} was refused by {method}: {error}"))
        }
        Err(e) => problem(format!("{name}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;

    #[test]
    fn lists_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::from_lookup(&CONFIG, dir.path(), |name| match name {
            "WORKSPACE_DIR" => Some(dir.path().join("nope").display().to_string()),
            _ => None,
        });
        let findings = check_local(&CONFIG, &settings, &[Part::Dispatcher]);
        let problems: Vec<&str> = findings
            .iter()
            .filter(|f| f.problem)
            .map(|f| f.text.as_str())
            .collect();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("SLACK_BOT_TOKEN is not set")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("SLACK_LOGS_CHANNEL is not set")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("WORKSPACE_DIR")),
            "{problems:?}"
        );
        assert!(
            findings
                .iter()
                .any(|f| !f.problem && f.text.contains("is migrated")),
            "{findings:?}"
        );
    }

    #[test]
    fn says_where_metrics_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let findings = |bind: Option<&str>| {
            let settings = Settings::from_lookup(&CONFIG, dir.path(), |name| match name {
                "METRICS_BIND" => bind.map(str::to_string),
                _ => None,
            });
            check_local(&CONFIG, &settings, &[Part::Dispatcher])
        };
        let metrics = |findings: Vec<Finding>| {
            findings
                .into_iter()
                .filter(|f| f.text.contains("METRICS_BIND") || f.text.starts_with("metrics:"))
                .map(|f| (f.problem, f.text))
                .collect::<Vec<_>>()
        };
        let unset = metrics(findings(None));
        assert_eq!(unset.len(), 1, "{unset:?}");
        assert!(
            !unset[0].0 && unset[0].1.contains("METRICS_BIND is not set"),
            "{unset:?}"
        );
        let set = metrics(findings(Some("127.0.0.1:9100")));
        assert_eq!(set.len(), 1, "{set:?}");
        assert!(
            !set[0].0 && set[0].1.contains("on 127.0.0.1:9100 (never on the webhook"),
            "{set:?}"
        );
        let bad = metrics(findings(Some("nine")));
        assert!(
            bad.iter()
                .any(|(problem, text)| *problem && text.starts_with("METRICS_BIND=\"nine\"")),
            "{bad:?}"
        );
    }

    /// A Slack stand-in that takes `xoxb-good` (and `xapp-good` for Socket Mode) only.
    async fn slack_taking_good_tokens() -> String {
        use axum::http::HeaderMap;
        use axum::routing::any;
        use serde_json::json;
        async fn answer(headers: HeaderMap) -> axum::Json<serde_json::Value> {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            axum::Json(match auth {
                "Bearer xoxb-good" => json!({
                    "ok": true, "user_id": "U1", "user": "bot", "team_id": "T1",
                    "team": "Team", "url": "https://team.slack.com/",
                }),
                "Bearer xapp-good" => json!({ "ok": true, "url": "wss://example.com/socket" }),
                _ => json!({ "ok": false, "error": "invalid_auth" }),
            })
        }
        let app = axum::Router::new().route("/api/{method}", any(answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn online_check_calls_slack_with_each_token() {
        let url = slack_taking_good_tokens().await;
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::from_lookup(&CONFIG, dir.path(), |name| match name {
            "SLACK_API_URL" => Some(url.clone()),
            "SLACK_BOT_TOKEN" => Some("xoxb-good".into()),
            "SLACK_BOT_USER_TOKEN" => Some("xoxp-revoked".into()),
            "SLACK_APP_TOKEN" => Some("xapp-good".into()),
            _ => None,
        });
        let findings: Vec<(bool, String)> = check_online(&settings)
            .await
            .into_iter()
            .map(|f| (f.problem, f.text))
            .collect();
        assert_eq!(
            findings,
            [
                (false, "SLACK_BOT_TOKEN works (auth.test)".to_string()),
                (
                    true,
                    "SLACK_BOT_USER_TOKEN was refused by auth.test: invalid_auth".to_string()
                ),
                (
                    false,
                    "SLACK_APP_TOKEN works (apps.connections.open)".to_string()
                ),
            ]
        );
    }
}
