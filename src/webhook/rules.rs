//! Matching a GitHub delivery (event header and JSON payload) against a namespace's
//! `[[<namespace>.github]]` rules.

use super::payload::Payload;
use crate::config::{Config, GithubRuleSpec, NamespaceSpec};

/// The `<project>` in `/github/<project>/` names no namespace with a GitHub rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown project: {0}")]
pub struct UnknownProject(pub String);

/// A namespace that GitHub may call, with its rules in file order.
#[derive(Debug, Clone)]
pub struct Project {
    /// The namespace (its `default_channel` is where its jobs report).
    pub namespace: &'static NamespaceSpec,
    /// Its GitHub rules, at least one.
    pub rules: Vec<&'static GithubRuleSpec>,
}

impl Project {
    /// The namespace called `name`, if it has at least one GitHub rule.
    pub fn find(config: &'static Config, name: &str) -> Result<Self, UnknownProject> {
        let unknown = || UnknownProject(name.to_string());
        let namespace = config.namespace(name).ok_or_else(unknown)?;
        let all: &'static [GithubRuleSpec] = config.github;
        let rules: Vec<_> = all.iter().filter(|r| r.namespace == name).collect();
        if rules.is_empty() {
            return Err(unknown());
        }
        Ok(Project { namespace, rules })
    }

    /// The rules that `event` with `payload` satisfies, one per job type (a delivery that
    /// satisfies two rules for the same job queues it once).
    pub fn matching(&self, event: &str, payload: &Payload) -> Vec<&'static GithubRuleSpec> {
        let mut found: Vec<&'static GithubRuleSpec> = Vec::new();
        for rule in &self.rules {
            if matches(rule, event, payload) && !found.iter().any(|f| f.job_type == rule.job_type) {
                found.push(rule);
            }
        }
        found
    }
}

/// Whether `event` with `payload` satisfies every condition `rule` sets.
pub fn matches(rule: &GithubRuleSpec, event: &str, payload: &Payload) -> bool {
    rule.event == event
        && rule
            .action
            .is_none_or(|a| payload.action.as_deref() == Some(a))
        && rule.merged.is_none_or(|m| payload.merged() == Some(m))
        && rule
            .base_branch
            .is_none_or(|b| payload.branch().map(strip_heads) == Some(strip_heads(b)))
}

/// `refs/heads/main` and `main` name the same branch; tags (`refs/tags/...`) stay distinct.
fn strip_heads(git_ref: &str) -> &str {
    git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref)
}

/// What happened, in the words of the suppression notice: `PR merged`, `Push to main`, ...
pub fn trigger_phrase(event: &str, payload: &Payload) -> String {
    match event {
        "pull_request" if payload.merged() == Some(true) => "PR merged".to_string(),
        "push" => match payload.branch() {
            Some(git_ref) => format!("Push to {}", strip_heads(git_ref)),
            None => "Push".to_string(),
        },
        _ => format!("GitHub `{event}` event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;
    use serde_json::{json, Value};

    fn read(value: Value) -> Payload {
        Payload::parse(value.to_string().as_bytes()).unwrap()
    }

    fn rule(
        event: &'static str,
        action: Option<&'static str>,
        merged: Option<bool>,
        base_branch: Option<&'static str>,
    ) -> GithubRuleSpec {
        GithubRuleSpec {
            namespace: "example",
            event,
            action,
            merged,
            base_branch,
            job_type: "example_deploy",
            delay_seconds: 60,
        }
    }

    fn pr(action: &str, merged: bool, base: &str) -> Payload {
        read(
            json!({"action": action, "number": 7, "pull_request": {"merged": merged, "base": {"ref": base}}}),
        )
    }

    #[test]
    fn the_shipped_example_rule_wants_a_merged_closed_pull_request() {
        let project = Project::find(&CONFIG, "example").unwrap();
        assert_eq!(project.namespace.default_channel, "#tech");
        let merged = project.matching("pull_request", &pr("closed", true, "main"));
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].job_type, "example_deploy");
        assert_eq!(merged[0].delay_seconds, 60);
        assert!(project
            .matching("pull_request", &pr("closed", false, "main"))
            .is_empty());
        assert!(project
            .matching("pull_request", &pr("opened", false, "main"))
            .is_empty());
        assert!(project
            .matching("issues", &read(json!({"action": "closed"})))
            .is_empty());
        assert!(project
            .matching("pull_request", &read(json!({"action": "closed"})))
            .is_empty());
    }

    #[test]
    fn projects_need_a_namespace_with_a_github_rule() {
        assert_eq!(
            Project::find(&CONFIG, "nope").unwrap_err().to_string(),
            "Unknown project: nope"
        );
        // `test` is a namespace, but GitHub has nothing to do there.
        assert_eq!(
            Project::find(&CONFIG, "test").unwrap_err(),
            UnknownProject("test".into())
        );
    }

    #[test]
    fn base_branch_matches_pull_request_base_or_push_ref() {
        let main_only = rule("pull_request", Some("closed"), Some(true), Some("main"));
        assert!(matches(
            &main_only,
            "pull_request",
            &pr("closed", true, "main")
        ));
        assert!(!matches(
            &main_only,
            "pull_request",
            &pr("closed", true, "develop")
        ));

        let push = rule("push", None, None, Some("main"));
        assert!(matches(
            &push,
            "push",
            &read(json!({"ref": "refs/heads/main"}))
        ));
        assert!(matches(&push, "push", &read(json!({"ref": "main"}))));
        assert!(!matches(
            &push,
            "push",
            &read(json!({"ref": "refs/heads/mainline"}))
        ));
        assert!(!matches(
            &push,
            "push",
            &read(json!({"ref": "refs/tags/main"}))
        ));
        assert!(!matches(&push, "push", &read(json!({}))));

        let written_in_full = rule("push", None, None, Some("refs/heads/main"));
        assert!(matches(
            &written_in_full,
            "push",
            &read(json!({"ref": "refs/heads/main"}))
        ));
    }

    #[test]
    fn conditions_need_the_right_json_types() {
        let r = rule("pull_request", Some("closed"), Some(true), None);
        let stringly = read(json!({"action": "closed", "pull_request": {"merged": "true"}}));
        assert!(!matches(&r, "pull_request", &stringly));
        assert!(!matches(&r, "pull_request", &read(json!([1, 2]))));
        assert!(!matches(&r, "pull_request", &read(Value::Null)));
        let any_push = rule("push", None, None, None);
        assert!(matches(&any_push, "push", &read(json!({}))));
    }

    #[test]
    fn trigger_phrases_name_the_event() {
        assert_eq!(
            trigger_phrase("pull_request", &pr("closed", true, "main")),
            "PR merged"
        );
        assert_eq!(
            trigger_phrase("push", &read(json!({"ref": "refs/heads/main"}))),
            "Push to main"
        );
        assert_eq!(
            trigger_phrase("release", &read(json!({}))),
            "GitHub `release` event"
        );
    }
}
