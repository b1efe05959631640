//! Which rules apply to what, and how one rule judges an asker. Pure but for the [`Facts`]
//! it asks, so the config's rules are testable with made-up facts.

use crate::config::{Action, AllowSpec, CommandSpec, Config, JobSpec, NamespaceSpec};

use super::decision::{Decision, Grant, Need, Refusal, Scope};
use super::facts::{Fact, Facts};
use super::Asker;

/// `restricted = true`: members, not guests.
const MEMBERS_ONLY: AllowSpec = AllowSpec {
    users: &[],
    usergroups: &[],
    channels: &[],
    guests: Some(false),
};

/// A rule in force, and what it is on.
#[derive(Debug, Clone)]
pub struct Applied {
    pub scope: Scope,
    pub rule: AllowSpec,
}

fn namespace_rules(ns: &'static NamespaceSpec, out: &mut Vec<Applied>) {
    if ns.restricted {
        out.push(Applied {
            scope: Scope::Restricted(ns.name),
            rule: MEMBERS_ONLY,
        });
    }
    if let Some(rule) = ns.allow {
        out.push(Applied {
            scope: Scope::Namespace(ns.name),
            rule,
        });
    }
}

fn job_rules(config: &'static Config, job_type: &str, out: &mut Vec<Applied>) {
    let Some(job) = config.job(job_type) else {
        return;
    };
    if let Some(ns) = config.namespace(job.namespace) {
        namespace_rules(ns, out);
    }
    if let Some(rule) = job.allow {
        out.push(Applied {
            scope: Scope::Job(job.job_type),
            rule,
        });
    }
}

/// The rules a command must pass: its namespace's, its job's and its own, outermost first.
pub fn command_rules(config: &'static Config, command: &'static CommandSpec) -> Vec<Applied> {
    let mut out = Vec::new();
    job_rules(config, command.job_type, &mut out);
    if out.is_empty() && config.job(command.job_type).is_none() {
        // Not reached with a compiled config (every command's job exists); kept total.
        if let Some(ns) = config.namespace(command.namespace) {
            namespace_rules(ns, &mut out);
        }
    }
    if let Some(rule) = command.allow {
        out.push(Applied {
            scope: Scope::Command(command.usage),
            rule,
        });
    }
    out
}

/// One rule set per way of running `job`: each `schedule_job` command on it, or its
/// namespace's and own rules when no command starts it.
pub(super) fn job_rule_sets(config: &'static Config, job: &'static JobSpec) -> Vec<Vec<Applied>> {
    let all: &'static [CommandSpec] = config.commands;
    let sets: Vec<Vec<Applied>> = all
        .iter()
        .filter(|c| c.job_type == job.job_type && c.action == Action::ScheduleJob)
        .map(|c| command_rules(config, c))
        .collect();
    if !sets.is_empty() {
        return sets;
    }
    let mut own = Vec::new();
    job_rules(config, job.job_type, &mut own);
    vec![own]
}

/// How one rule judges an asker.
enum Verdict {
    Pass,
    Fail(Need),
    Unknown(Need),
}

/// Judges `asker` by one rule, cheapest questions first: the channel, the user list, then
/// what must be asked (guest or not, user groups).
async fn check<F: Facts>(rule: &AllowSpec, asker: Asker<'_>, facts: &F) -> Verdict {
    if !rule.channels.is_empty() && !rule.channels.contains(&asker.channel) {
        return Verdict::Fail(Need::Channel(rule.channels));
    }
    if rule.guests == Some(false) {
        match facts.is_guest(asker.user).await {
            Fact::Yes => return Verdict::Fail(Need::Member),
            Fact::Unknown => return Verdict::Unknown(Need::Member),
            Fact::No => {}
        }
    }
    if !rule.names_who() || rule.users.contains(&asker.user) {
        return Verdict::Pass;
    }
    let mut unknown = false;
    for group in rule.usergroups {
        match facts.in_usergroup(asker.user, group).await {
            Fact::Yes => return Verdict::Pass,
            Fact::Unknown => unknown = true,
            Fact::No => {}
        }
    }
    let need = Need::Who {
        users: rule.users,
        usergroups: rule.usergroups,
    };
    if unknown {
        Verdict::Unknown(need)
    } else {
        Verdict::Fail(need)
    }
}

/// Every rule must allow: the first that refuses decides; rules that depend on what is not
/// known here make the decision depend on them.
pub async fn check_all<F: Facts>(rules: &[Applied], asker: Asker<'_>, facts: &F) -> Decision {
    let mut depends = Vec::new();
    for applied in rules {
        match check(&applied.rule, asker, facts).await {
            Verdict::Pass => {}
            Verdict::Fail(need) => {
                return Decision::Refused(Refusal {
                    scope: applied.scope.clone(),
                    need,
                })
            }
            Verdict::Unknown(need) => depends.push(Refusal {
                scope: applied.scope.clone(),
                need,
            }),
        }
    }
    if depends.is_empty() {
        Decision::Allowed(Grant::Rules(
            rules.iter().map(|a| a.scope.clone()).collect(),
        ))
    } else {
        Decision::Depends(depends)
    }
}
