//! Things that compile but are probably mistakes, reported by `build.rs` as `cargo:warning`.

use std::path::Path;

use crate::model::*;
use crate::source::Diagnostic;

/// Interpreters whose first argument is the script they run.
const INTERPRETERS: [&str; 8] = [
    "python", "python3", "bash", "sh", "node", "ruby", "perl", "uv",
];

/// Suspect parts of a valid config. `workspace_dir` is the repo's `workspace/`.
pub fn warnings(config: &Config, workspace_dir: &Path) -> Vec<Diagnostic> {
    let mut out = Vec::new();
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
    fn finds_the_script() {
        assert_eq!(script_of("python3 jobs.py --name={name}"), Some("jobs.py"));
        assert_eq!(script_of("./deploy.sh now"), Some("deploy.sh"));
        assert_eq!(script_of("bash scripts/run.sh"), Some("scripts/run.sh"));
        assert_eq!(script_of("echo hello"), None);
        assert_eq!(script_of("python3 -m x"), None);
        assert_eq!(script_of("/usr/bin/env true"), None);
    }
}
