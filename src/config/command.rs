//! Runtime behaviour of the generated [`Command`] and [`JobType`], written by hand.

use super::compiled::{Command, JobType};
use super::spec::{Config, NamespaceSpec};
use super::template::{render, Args, RenderError};

impl Command {
    /// The parameters as the queue stores them.
    pub fn args(&self) -> Args {
        self.params()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The command's namespace in `config`, the config the command was parsed against.
    pub fn namespace(&self, config: &Config) -> &'static NamespaceSpec {
        config
            .namespace(self.spec().namespace)
            .expect("every compiled command has a compiled namespace")
    }

    /// The message text that parses to this command (parameters inserted verbatim).
    pub fn to_text(&self) -> String {
        let params = self.params();
        let values: Vec<&str> = params.iter().map(|(_, v)| *v).collect();
        bennettbot_pattern::render(self.spec().pattern, &values)
    }

    /// The exact bash line this command's job would run (for `schedule_job` commands).
    pub fn render_job(&self) -> Result<String, RenderError> {
        self.job_type().render(&self.args())
    }
}

impl JobType {
    /// Renders the job's template with stored arguments.
    pub fn render(self, args: &Args) -> Result<String, RenderError> {
        render(self.spec().template, args)
    }

    /// The job's namespace in `config`, the config the job type was read against.
    pub fn namespace(self, config: &Config) -> &'static NamespaceSpec {
        config
            .namespace(self.spec().namespace)
            .expect("every compiled job has a compiled namespace")
    }
}
