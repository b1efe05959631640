//! What a job's process sees of the world: a clean environment made of bennettbot's own
//! variables and exactly those its namespace names (`env`, `secret_env`), read from the bot's
//! environment as it was at start. Nothing else of the bot's reaches a job: not its Slack
//! tokens, signing secret, GitHub secret or database URL, unless a namespace names them.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::sync::Arc;

use super::orphans::{JOB_ID_ENV, RUN_ID_ENV};
use super::DispatcherSettings;
use crate::config::{Config, NamespaceSpec};
use crate::queue::RunId;

/// The `PATH` jobs get when the bot itself has none: what a login shell would start with.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The bot's variables that jobs get as they are, when the bot has them.
const PASSED_THROUGH: [&str; 2] = ["HOME", "LANG"];

/// The bot's environment variables, read once when it starts: where the variables a
/// namespace names come from, and the values of those to be masked. `Debug` shows the names
/// only, never a value.
#[derive(Clone, Default)]
pub struct BotEnvironment {
    vars: Arc<BTreeMap<OsString, OsString>>,
}

impl BotEnvironment {
    /// The process's environment now (`.env` included, once loaded).
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars_os())
    }

    /// An environment of the given variables (tests, and callers that read their own).
    pub fn from_vars<K: Into<OsString>, V: Into<OsString>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        BotEnvironment {
            vars: Arc::new(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// This environment with `vars` added (replacing variables of the same names).
    pub fn with<K: Into<OsString>, V: Into<OsString>>(
        &self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut all = (*self.vars).clone();
        all.extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        BotEnvironment {
            vars: Arc::new(all),
        }
    }

    /// The value of variable `name`, if set.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// The values of every namespace's `secret_env` variables that are set and not empty,
    /// whichever namespace names them: any job may print any of them (`showlogs` prints
    /// other jobs' output), so every post is masked with all of them.
    pub fn secret_values(&self, config: &Config) -> Vec<OsString> {
        let mut values: Vec<OsString> = config
            .namespaces
            .iter()
            .flat_map(|ns| ns.secret_env.iter())
            .filter_map(|name| self.get(name))
            .filter(|value| !value.is_empty())
            .map(OsStr::to_os_string)
            .collect();
        values.sort();
        values.dedup();
        values
    }
}

impl fmt::Debug for BotEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotEnvironment")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The whole environment of a job of `namespace`: the variables the namespace names that the
/// bot has, then bennettbot's own (which win over a namespace's of the same name, so that
/// the ids that find a job's orphans and the documented folders are always right).
pub fn job_env(
    settings: &DispatcherSettings,
    namespace: &NamespaceSpec,
    job_id: i64,
    run: Option<RunId>,
) -> Vec<(String, OsString)> {
    let bot = &settings.environment;
    let mut env: BTreeMap<String, OsString> = namespace
        .env
        .iter()
        .chain(namespace.secret_env)
        .chain(&PASSED_THROUGH)
        .filter_map(|name| Some((name.to_string(), bot.get(name)?.to_os_string())))
        .collect();
    let own = [
        (JOB_ID_ENV, job_id.to_string().into()),
        (RUN_ID_ENV, run.map_or(0, |r| r.0).to_string().into()),
        ("PYTHONPATH", settings.app_root.clone().into()),
        ("LOGS_DIR", settings.logs_dir.clone().into()),
        ("HOST_LOGS_DIR", settings.host_logs_dir.clone().into()),
        ("WRITEABLE_DIR", settings.writeable_dir.clone().into()),
        ("PATH", job_path(settings)),
    ];
    env.extend(own.into_iter().map(|(k, v)| (k.to_string(), v)));
    env.into_iter().collect()
}

/// `ABSOLUTE_BIN` (if set), then the bot's own `PATH` (or [`DEFAULT_PATH`]).
fn job_path(settings: &DispatcherSettings) -> OsString {
    let inherited = settings
        .environment
        .get("PATH")
        .map_or_else(|| OsString::from(DEFAULT_PATH), OsStr::to_os_string);
    match &settings.absolute_bin {
        Some(bin) => {
            let mut path = bin.clone().into_os_string();
            path.push(":");
            path.push(inherited);
            path
        }
        None => inherited,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn settings(environment: BotEnvironment, absolute_bin: Option<&str>) -> DispatcherSettings {
        DispatcherSettings {
            workspace_dir: "/ws".into(),
            writeable_workspace_dir: "/wws".into(),
            logs_dir: "/logs".into(),
            host_logs_dir: "/host/logs".into(),
            writeable_dir: "/data".into(),
            app_root: "/app".into(),
            absolute_bin: absolute_bin.map(PathBuf::from),
            logs_channel: "L".into(),
            tech_support_channel: "T".into(),
            app_username: "bot".into(),
            lease_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(1),
            kill_grace: Duration::from_secs(1),
            environment,
        }
    }

    fn namespace(
        env: &'static [&'static str],
        secret_env: &'static [&'static str],
    ) -> NamespaceSpec {
        NamespaceSpec {
            name: "demo",
            description: "",
            restricted: false,
            fabfile: None,
            default_channel: "#tech",
            allow: None,
            env,
            secret_env,
            commands: &[],
            match_order: &[],
        }
    }

    fn bot() -> BotEnvironment {
        BotEnvironment::from_vars([
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/home/bot"),
            ("SLACK_BOT_TOKEN", "xoxb-secret"),
            ("DATABASE_URL", "postgres://bot:pw@db/bot"),
            ("DEPLOY_HOST", "deploy.example.org"),
            ("DEPLOY_TOKEN", "tok"),
            ("PYTHONPATH", "/elsewhere"),
        ])
    }

    fn as_map(env: Vec<(String, OsString)>) -> BTreeMap<String, String> {
        env.into_iter()
            .map(|(k, v)| (k, v.into_string().unwrap()))
            .collect()
    }

    #[test]
    fn a_job_sees_bennettbots_variables_and_its_namespaces_only() {
        let ns = namespace(
            &["DEPLOY_HOST", "UNSET_ONE", "PYTHONPATH"],
            &["DEPLOY_TOKEN"],
        );
        let env = as_map(job_env(&settings(bot(), None), &ns, 7, Some(RunId(9))));
        let expected: BTreeMap<String, String> = [
            ("BENNETTBOT_JOB_ID", "7"),
            ("BENNETTBOT_RUN_ID", "9"),
            ("DEPLOY_HOST", "deploy.example.org"),
            ("DEPLOY_TOKEN", "tok"),
            ("HOME", "/home/bot"),
            ("HOST_LOGS_DIR", "/host/logs"),
            ("LOGS_DIR", "/logs"),
            ("PATH", "/usr/bin:/bin"),
            // bennettbot's own wins over the bot's variable of the same name.
            ("PYTHONPATH", "/app"),
            ("WRITEABLE_DIR", "/data"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env, expected);
    }

    #[test]
    fn path_puts_absolute_bin_first_and_has_a_default() {
        let ns = namespace(&[], &[]);
        let env = as_map(job_env(&settings(bot(), Some("/opt/bin")), &ns, 1, None));
        assert_eq!(env["PATH"], "/opt/bin:/usr/bin:/bin");
        assert_eq!(env["BENNETTBOT_RUN_ID"], "0");
        let bare = BotEnvironment::default();
        let env = as_map(job_env(&settings(bare, None), &ns, 1, None));
        assert_eq!(env["PATH"], DEFAULT_PATH);
        assert!(!env.contains_key("HOME"));
    }

    #[test]
    fn every_namespaces_secrets_that_are_set_are_masked() {
        let namespaces = vec![
            namespace(&["DEPLOY_HOST"], &["DEPLOY_TOKEN", "UNSET_ONE"]),
            namespace(&[], &["EMPTY_ONE", "DEPLOY_TOKEN", "OTHER_TOKEN"]),
        ];
        let config = Config {
            namespaces: Box::leak(namespaces.into_boxed_slice()),
            jobs: &[],
            commands: &[],
            github: &[],
            schedules: &[],
            support: &[],
        };
        let bot = bot().with([("EMPTY_ONE", ""), ("OTHER_TOKEN", "other")]);
        assert_eq!(bot.secret_values(&config), ["other", "tok"]);
    }

    #[test]
    fn debug_names_variables_but_shows_no_value() {
        let shown = format!("{:?}", bot());
        assert!(shown.contains("SLACK_BOT_TOKEN"), "{shown}");
        assert!(!shown.contains("xoxb-secret"), "{shown}");
    }
}
