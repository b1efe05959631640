//! Rendering a `run_args_template` into a bash command line, every parameter shell-quoted.

use std::collections::BTreeMap;

use super::spec::TemplatePart;

/// A job's parameters by name; sorted, as the queue stores them.
pub type Args = BTreeMap<String, String>;

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The job needs a parameter that the stored arguments lack.
    #[error("missing argument `{0}`")]
    Missing(String),
    /// A value bash cannot receive (it contains a NUL byte).
    #[error("argument `{0}` cannot be passed to a shell: it contains a NUL byte")]
    Unquotable(String),
}

/// Renders `template` with `args`; each value becomes exactly one shell word.
pub fn render(template: &[TemplatePart], args: &Args) -> Result<String, RenderError> {
    let mut out = String::new();
    for part in template {
        match part {
            TemplatePart::Literal(text) => out.push_str(text),
            TemplatePart::Placeholder(name) => {
                let value = args
                    .get(*name)
                    .ok_or_else(|| RenderError::Missing(name.to_string()))?;
                let quoted = shlex::try_quote(value)
                    .map_err(|_| RenderError::Unquotable(name.to_string()))?;
                out.push_str(&quoted);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Args {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const TEMPLATE: &[TemplatePart] = &[
        TemplatePart::Literal("echo Hello "),
        TemplatePart::Placeholder("name"),
    ];

    #[test]
    fn plain_values_stay_readable() {
        assert_eq!(
            render(TEMPLATE, &args(&[("name", "Bob")])).unwrap(),
            "echo Hello Bob"
        );
    }

    #[test]
    fn hostile_values_are_one_quoted_word() {
        let hostile = "$(touch /tmp/pwned); ' \" ` \nx";
        let line = render(TEMPLATE, &args(&[("name", hostile)])).unwrap();
        assert_eq!(shlex::split(&line).unwrap(), vec!["echo", "Hello", hostile]);
    }

    #[test]
    fn missing_and_nul_are_errors() {
        assert_eq!(
            render(TEMPLATE, &Args::new()),
            Err(RenderError::Missing("name".into()))
        );
        assert_eq!(
            render(TEMPLATE, &args(&[("name", "a\0b")])),
            Err(RenderError::Unquotable("name".into()))
        );
    }
}
