//! Who may do what. [`authorize`] is the one function that decides "may this user do this
//! here": running a command (mention or DM), removing a job, reading a job's logs (a command
//! whose job has `logs_of`); clicks and the Home tab go through it too. The rules are the
//! compiled config's (`restricted`, and `allow` on namespaces, jobs and commands: every rule
//! that applies must allow); what only Slack knows (guest or not, user-group membership) is
//! asked of [`Facts`], and only when a rule needs it.

mod decision;
mod facts;
mod rules;

use crate::config::{CommandSpec, Config, JobSpec};

pub use decision::{Decision, Grant, Need, Refusal, Scope};
pub use facts::{Assumed, Fact, Facts, Operator};
pub use rules::{check_all as check_rules, command_rules, Applied};

/// Who asks, and from where (a channel id; a DM's `D…` id).
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub user: &'a str,
    pub channel: &'a str,
}

/// What they ask to do.
#[derive(Debug, Clone, Copy)]
pub enum Deed<'a> {
    /// Run a Slack command, with its parameters' values.
    Run {
        command: &'static CommandSpec,
        params: &'a [(&'static str, &'a str)],
    },
    /// Remove a queued or running job of `job_type` (`remove job id N`), which `requesters`
    /// asked for.
    Remove {
        job_type: &'a str,
        requesters: &'a [String],
    },
}

impl Deed<'_> {
    /// The `action` label refusals are counted under.
    pub fn label(&self, config: &Config) -> &'static str {
        match self {
            Deed::Run { command, .. } => {
                let logs = config
                    .job(command.job_type)
                    .is_some_and(|j| j.logs_of.is_some());
                if logs {
                    "logs"
                } else {
                    "run"
                }
            }
            Deed::Remove { .. } => "remove",
        }
    }

    /// The namespace refusals are counted under.
    pub fn namespace(&self) -> &str {
        match self {
            Deed::Run { command, .. } => command.namespace,
            Deed::Remove { job_type, .. } => job_type.split('_').next().unwrap_or_default(),
        }
    }
}

/// Decides whether `asker` may do `deed`, asking `facts` what the rules need to know.
pub async fn authorize<F: Facts>(
    config: &'static Config,
    asker: Asker<'_>,
    deed: Deed<'_>,
    facts: &F,
) -> Decision {
    if facts.is_operator() {
        return Decision::Allowed(Grant::Operator);
    }
    match deed {
        Deed::Run { command, params } => {
            let decision = rules::check_all(&command_rules(config, command), asker, facts).await;
            let Decision::Allowed(_) = decision else {
                return decision;
            };
            match config.job(command.job_type).and_then(|j| j.logs_of) {
                Some(param) => {
                    let folder = params.iter().find(|(n, _)| *n == param).map_or("", |p| p.1);
                    may_read_logs(config, folder, asker, facts)
                        .await
                        .and(decision)
                }
                None => decision,
            }
        }
        Deed::Remove {
            job_type,
            requesters,
        } => {
            if requesters.iter().any(|r| r == asker.user) {
                return Decision::Allowed(Grant::Requester);
            }
            match config.job(job_type) {
                Some(spec) => may_run_job(config, spec, asker, facts).await,
                // A row of a job this build does not know: only its requesters may.
                None => Decision::Refused(Refusal {
                    scope: Scope::Requesters(job_type.to_string()),
                    need: Need::Requester,
                }),
            }
        }
    }
}

/// Whether `asker` may run `job`: through any `schedule_job` command on it that they may run
/// here, or, for a job no command starts, by its namespace's and its own rules.
pub async fn may_run_job<F: Facts>(
    config: &'static Config,
    job: &'static JobSpec,
    asker: Asker<'_>,
    facts: &F,
) -> Decision {
    let mut first_refusal = None;
    let mut depends = None;
    for set in rules::job_rule_sets(config, job) {
        match rules::check_all(&set, asker, facts).await {
            allowed @ Decision::Allowed(_) => return allowed,
            d @ Decision::Depends(_) => {
                depends.get_or_insert(d);
            }
            d @ Decision::Refused(_) => {
                first_refusal.get_or_insert(d);
            }
        }
    }
    depends
        .or(first_refusal)
        .unwrap_or(Decision::Allowed(Grant::Rules(Vec::new())))
}

/// Whether `asker` may read the logs in `folder` (`<job_type>/<stamp>`): those of a job they
/// may run.
async fn may_read_logs<F: Facts>(
    config: &'static Config,
    folder: &str,
    asker: Asker<'_>,
    facts: &F,
) -> Decision {
    let job_type = folder.split('/').next().unwrap_or_default();
    let refused = |job_type: Option<&'static str>| {
        Decision::Refused(Refusal {
            scope: Scope::Logs(folder.to_string()),
            need: Need::Logs { job_type },
        })
    };
    let Some(job) = config.job(job_type) else {
        return refused(None);
    };
    match may_run_job(config, job, asker, facts).await {
        Decision::Refused(_) => refused(Some(job.job_type)),
        other => other,
    }
}

#[cfg(test)]
mod tests;
