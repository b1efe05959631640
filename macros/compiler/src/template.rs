//! `run_args_template` syntax: `{name}` placeholders, `{{` and `}}` for literal braces.

use bennettbot_spec::TemplatePart;

/// Why a template could not be read, with the byte offset in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// Splits a template into literal text and placeholders.
pub fn parse_template(template: &str) -> Result<Vec<TemplatePart<String>>, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if matches!(chars.peek(), Some((_, '{'))) => {
                chars.next();
                literal.push('{');
            }
            '}' if matches!(chars.peek(), Some((_, '}'))) => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let rest = &template[i + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(TemplateError {
                        offset: i,
                        message: "`{` is not closed".into(),
                        help: "close the placeholder, e.g. `{name}` for the command's `[name]`; write `{{` for a literal brace".into(),
                    });
                };
                let name = &rest[..end];
                if !bennettbot_pattern::is_param_name(name) {
                    return Err(TemplateError {
                        offset: i,
                        message: format!("`{{{name}}}` is not a placeholder name"),
                        help: "a placeholder is a lowercase name like `{job_id}` (a-z, 0-9, `_`, starting with a letter); write `{{` and `}}` for literal braces".into(),
                    });
                }
                if !literal.is_empty() {
                    parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
                }
                parts.push(TemplatePart::Placeholder(name.to_string()));
                for _ in 0..=end {
                    chars.next();
                }
            }
            '}' => {
                return Err(TemplateError {
                    offset: i,
                    message: "`}` has no matching `{`".into(),
                    help: "write `}}` for a literal brace".into(),
                })
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        parts.push(TemplatePart::Literal(literal));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TemplatePart::*;

    #[test]
    fn placeholders_and_literal_braces() {
        assert_eq!(
            parse_template("echo {{x}} --name={name}!").unwrap(),
            vec![
                Literal("echo {x} --name=".into()),
                Placeholder("name".into()),
                Literal("!".into())
            ]
        );
        assert_eq!(parse_template("").unwrap(), vec![]);
    }

    #[test]
    fn rejects_unbalanced_and_bad_names() {
        assert_eq!(parse_template("echo {name").unwrap_err().offset, 5);
        assert_eq!(parse_template("echo }").unwrap_err().offset, 5);
        assert!(parse_template("echo {Name}").is_err());
        assert!(parse_template("awk '{print $1}'").is_err());
    }
}
