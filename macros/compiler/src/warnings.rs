//! Things that compile but are probably mistakes, reported by `build.rs` as `cargo:warning`.

use std::path::Path;

use bennettbot_spec::Action;

use crate::model::*;
use crate::source::Diagnostic;

/// Interpreters whose first argument is the script they run.
const INTERPRETERS: [&str; 8] = [
    "python", "python3", "bash", "sh", "node", "ruby", "perl", "uv",
];

/// Suspect parts of a valid config. `workspace_dir` is the repo's `workspace/`.
pub fn warnings(config: &ConfigModel, workspace_dir: &Path) -> Vec<Diagnostic> {
    let mut out = crate::rules::secret_warnings(config);
    for ns in &config.namespaces {
        let n = &ns.name.value;
        for job in &ns.jobs {
            let started = ns
                .slack
                .iter()
                .any(|c| c.action == Action::ScheduleJob && c.job_type.value == job.name.value)
                || ns.github.iter().any(|r| r.job_type.value == job.name.value);
            if !started {
                out.push(
                    Diagnostic::warning(format!("job `{n}_{}` cannot be started: no `schedule_job` command or GitHub rule names it", job.name.value), job.name.span.clone())
                        .help(format!("add a `[[{n}.slack]]` command with `job_type = \"{}\"`, or remove the job", job.name.value)),
                );
            }
            if ns.fabfile.is_some() {
                continue;
            }
            if let Some(script) = script_of(&job.template.value) {
                let path = workspace_dir.join(n).join(script);
                if !path.exists() {
                    out.push(
                        Diagnostic::warning(format!("job `{n}_{}` runs `{script}`, but `workspace/{n}/{script}` does not exist", job.name.value), job.template.span.clone())
                            .help(format!("create `workspace/{n}/{script}`, or fix the `run_args_template`")),
                    );
                }
            }
        }
    }
    out
}

/// The workspace script a template runs first, if it names one: `python3 jobs.py --x` → `jobs.py`.
pub fn script_of(template: &str) -> Option<&str> {
    let mut words = template.split_whitespace();
    let mut first = words.next()?;
    if INTERPRETERS.contains(&first) {
        first = words.next()?;
    }
    let is_script = !first.starts_with('-')
        && !first.contains(['{', '}', '$', '`', '\'', '"', '=', ';', '|', '&', '<', '>'])
        && !first.starts_with('/')
        && (first.starts_with("./") || first.contains('.'));
    is_script.then(|| first.trim_start_matches("./"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_about_unstartable_jobs_and_missing_scripts() {
        let toml = r#"
[demo.jobs.hello]
run_args_template = "bash hello.sh"
[demo.jobs.orphan]
run_args_template = "echo nobody starts me"
[demo.jobs.missing]
run_args_template = "python3 missing.py"
[[demo.slack]]
command = "hello"
help = "x"
action = "schedule_job"
job_type = "hello"
[[demo.github]]
event = "push"
job_type = "missing"
"#;
        let workspace =
            std::env::temp_dir().join(format!("bennettbot-warnings-{}", std::process::id()));
        std::fs::create_dir_all(workspace.join("demo")).unwrap();
        std::fs::write(workspace.join("demo/hello.sh"), "echo hi").unwrap();
        let mut diags = Vec::new();
        let config = crate::parse::parse_config(toml, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        let messages: Vec<String> = warnings(&config, &workspace)
            .into_iter()
            .map(|d| d.message)
            .collect();
        let _ = std::fs::remove_dir_all(&workspace);
        assert_eq!(
            messages,
            vec![
                "job `demo_orphan` cannot be started: no `schedule_job` command or GitHub rule names it".to_string(),
                "job `demo_missing` runs `missing.py`, but `workspace/demo/missing.py` does not exist".to_string(),
            ]
        );
    }

    #[test]
    fn finds_the_script() {
        assert_eq!(script_of("python3 jobs.py --name={name}"), Some("jobs.py"));
        assert_eq!(script_of("./deploy.sh now"), Some("deploy.sh"));
        assert_eq!(script_of("bash scripts/run.sh"), Some("scripts/run.sh"));
        assert_eq!(script_of("echo hello"), None);
        assert_eq!(script_of("python3 -m x"), None);
        assert_eq!(script_of("/usr/bin/env true"), None);
    }
}
