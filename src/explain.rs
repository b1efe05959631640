//! `bennettbot explain "<message>"`: what a message would do, executing nothing.

use std::fmt::Write as _;

use crate::config::{suggest, Action, Config};
use crate::intent::{normalise, understand, Intent};

/// A human-readable account of what `message` would do.
pub fn explain(config: &'static Config, message: &str) -> String {
    let text = normalise(message);
    let mut out = format!("Message: {text:?}\n");
    match understand(config, &text) {
        Intent::Status => {
            out.push_str("Built-in: `status` lists running and scheduled jobs and suppressions.\n")
        }
        Intent::RemoveJob(id) => {
            let _ = writeln!(out, "Built-in: `remove job id [id]` removes job {id} from the queue (a running job is stopped first).");
        }
        Intent::NamespaceHelp(ns) => {
            let _ = writeln!(out, "Built-in: help for namespace `{}`.", ns.name);
        }
        Intent::Help { understood: true } => {
            out.push_str("Built-in: `help` lists the namespaces.\n")
        }
        Intent::Help { understood: false } => {
            out.push_str(
                "Nothing matched: the bot would say it did not understand, and show help.\n",
            );
            let near = suggest::nearest(config, &text, 3);
            if !near.is_empty() {
                out.push_str("Nearest commands:\n");
                for c in near {
                    let _ = writeln!(out, "  `{}`: {}", c.usage, c.help);
                }
            }
        }
        Intent::Command(cmd) => {
            let spec = cmd.spec();
            let ns = cmd.namespace(config);
            let job = cmd.job_type().spec();
            let _ = writeln!(out, "Command:    `{}` ({})", spec.usage, spec.help);
            let _ = writeln!(
                out,
                "Namespace:  {}{}",
                ns.name,
                if ns.restricted {
                    " (restricted to internal users)"
                } else {
                    ""
                }
            );
            let params = cmd.params();
            if params.is_empty() {
                out.push_str("Parameters: none\n");
            } else {
                out.push_str("Parameters:\n");
                for (name, value) in params {
                    let _ = writeln!(out, "  {name} = {value:?}");
                }
            }
            let _ = writeln!(out, "Action:     {}", spec.action.name());
            let _ = writeln!(out, "Job type:   {}", job.job_type);
            if spec.action == Action::ScheduleJob {
                match cmd.render_job() {
                    Ok(line) => {
                        let _ = writeln!(out, "Shell:      {line}");
                        out.push_str("            (run as `bash -c` with that line; each parameter is one quoted word)\n");
                    }
                    Err(e) => {
                        let _ = writeln!(out, "Shell:      cannot run: {e}");
                    }
                }
                let _ = writeln!(out, "Delay:      {} s", spec.delay_seconds);
                let report = if job.report_stdout {
                    format!("stdout as {}", job.report_format.name())
                } else if job.report_success {
                    "\"succeeded\" on success".to_string()
                } else {
                    "nothing on success".to_string()
                };
                let _ = writeln!(out, "Report:     {report}");
                if let Some(t) = job.timeout_seconds {
                    let _ = writeln!(out, "Timeout:    {t} s");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;

    #[test]
    fn explains_a_command_with_its_quoted_shell_line() {
        let out = explain(&CONFIG, "test hello $(rm -rf /)");
        assert!(out.contains("Command:    `test hello [name]`"), "{out}");
        assert!(out.contains("name = \"$(rm -rf /)\""), "{out}");
        assert!(
            out.contains("Shell:      bash hello.sh '$(rm -rf /)'\n"),
            "{out}"
        );
        assert!(out.contains("Job type:   test_hello_name"), "{out}");
    }

    #[test]
    fn explains_nothing_matched_with_suggestions() {
        let out = explain(&CONFIG, "test helo Bob");
        assert!(out.contains("Nothing matched"), "{out}");
        assert!(out.contains("`test hello [name]`"), "{out}");
    }
}
