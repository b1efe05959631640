//! Slack command patterns such as `deploy [env] now`: their syntax and how text matches them.
//!
//! One crate is shared by the config compiler (which checks examples and ambiguity at build
//! time) and the runtime (which matches messages), so both agree by construction.
//!
//! A pattern matches like a regex over the whole text in which each `[param]` is `(.+?)`: a
//! parameter takes one or more characters, spaces allowed, shortest first.

/// One piece of a pattern: literal text or a `[param]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment<'a> {
    /// Text that must appear exactly (spaces included).
    Literal(&'a str),
    /// A parameter: one or more characters, shortest match first.
    Param(&'a str),
}

/// Why a pattern could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern has no text at all.
    #[error("the command is empty")]
    Empty,
    /// A `[` with no matching `]`, or a `]` with no `[`.
    #[error("unbalanced `[` or `]`")]
    UnbalancedBracket { offset: usize },
    /// `[]` or a name that is not `[a-z][a-z0-9_]*`.
    #[error("parameter `[{name}]` must be a lowercase name like `[job_id]` (a-z, 0-9, `_`, starting with a letter)")]
    BadParamName { offset: usize, name: String },
    /// Two parameters with nothing between them cannot be told apart.
    #[error("two parameters must be separated by literal text")]
    AdjacentParams { offset: usize },
}

/// Whether `name` is a valid parameter name: `[a-z][a-z0-9_]*`.
pub fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// Collapses runs of whitespace to one space and trims, as the bot normalises messages.
pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads a pattern like `hello [name]`. Whitespace must already be collapsed.
pub fn parse_pattern(pattern: &str) -> Result<Vec<Segment<'_>>, PatternError> {
    if pattern.is_empty() {
        return Err(PatternError::Empty);
    }
    let mut segments = Vec::new();
    let mut literal_start = 0;
    let mut rest = pattern;
    let mut offset = 0;
    while let Some(i) = rest.find(['[', ']']) {
        let at = offset + i;
        if rest.as_bytes()[i] == b']' {
            return Err(PatternError::UnbalancedBracket { offset: at });
        }
        let close = rest[i + 1..]
            .find(['[', ']'])
            .map(|j| i + 1 + j)
            .filter(|&j| rest.as_bytes()[j] == b']')
            .ok_or(PatternError::UnbalancedBracket { offset: at })?;
        let name = &rest[i + 1..close];
        if !is_param_name(name) {
            return Err(PatternError::BadParamName {
                offset: at,
                name: name.to_string(),
            });
        }
        if at > literal_start {
            segments.push(Segment::Literal(&pattern[literal_start..at]));
        } else if matches!(segments.last(), Some(Segment::Param(_))) {
            return Err(PatternError::AdjacentParams { offset: at });
        }
        segments.push(Segment::Param(name));
        offset += close + 1;
        literal_start = offset;
        rest = &pattern[offset..];
    }
    if literal_start < pattern.len() {
        segments.push(Segment::Literal(&pattern[literal_start..]));
    }
    Ok(segments)
}

/// The parameter names of a pattern, in order.
pub fn param_names<'a>(segments: &[Segment<'a>]) -> Vec<&'a str> {
    segments
        .iter()
        .filter_map(|s| match s {
            Segment::Param(p) => Some(*p),
            Segment::Literal(_) => None,
        })
        .collect()
}

/// Matches `text` against the whole pattern; on success returns each parameter's text in order.
///
/// Parameters take the shortest text that lets the rest match, exactly like `(.+?)` in an
/// anchored regex.
pub fn match_segments<'t>(segments: &[Segment<'_>], text: &'t str) -> Option<Vec<&'t str>> {
    let mut captures = Vec::new();
    match_from(segments, text, 0, &mut captures).then_some(captures)
}

fn match_from<'t>(
    segments: &[Segment<'_>],
    text: &'t str,
    pos: usize,
    captures: &mut Vec<&'t str>,
) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return pos == text.len();
    };
    match first {
        Segment::Literal(lit) => {
            text[pos..].starts_with(lit) && match_from(rest, text, pos + lit.len(), captures)
        }
        Segment::Param(_) => {
            let remaining = &text[pos..];
            let Some(first_char) = remaining.chars().next() else {
                return false;
            };
            let min_end = pos + first_char.len_utf8();
            match rest.first() {
                // A trailing parameter takes everything left.
                None => {
                    captures.push(remaining);
                    true
                }
                // Only ends where the next literal starts can succeed: try those, shortest first.
                Some(Segment::Literal(next)) => {
                    let mut search_from = min_end;
                    while let Some(found) = text[search_from..].find(next) {
                        let end = search_from + found;
                        captures.push(&text[pos..end]);
                        if match_from(rest, text, end, captures) {
                            return true;
                        }
                        captures.pop();
                        search_from = end + text[end..].chars().next().map_or(1, char::len_utf8);
                        if search_from > text.len() {
                            break;
                        }
                    }
                    false
                }
                // Adjacent parameters are rejected by `parse_pattern`, but stay correct anyway.
                Some(Segment::Param(_)) => {
                    let mut end = min_end;
                    loop {
                        captures.push(&text[pos..end]);
                        if match_from(rest, text, end, captures) {
                            return true;
                        }
                        captures.pop();
                        match text[end..].chars().next() {
                            Some(c) => end += c.len_utf8(),
                            None => return false,
                        }
                    }
                }
            }
        }
    }
}

/// Renders a pattern with the given parameter values, in order (the inverse of matching).
pub fn render(segments: &[Segment<'_>], values: &[&str]) -> String {
    let mut out = String::new();
    let mut values = values.iter();
    for segment in segments {
        match segment {
            Segment::Literal(lit) => out.push_str(lit),
            Segment::Param(_) => out.push_str(values.next().copied().unwrap_or_default()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'t>(pattern: &str, text: &'t str) -> Option<Vec<&'t str>> {
        match_segments(&parse_pattern(pattern).unwrap(), text)
    }

    #[test]
    fn parses_literals_and_params() {
        assert_eq!(
            parse_pattern("hello [name] now").unwrap(),
            vec![
                Segment::Literal("hello "),
                Segment::Param("name"),
                Segment::Literal(" now")
            ]
        );
        assert_eq!(parse_pattern("[a]").unwrap(), vec![Segment::Param("a")]);
    }

    #[test]
    fn rejects_bad_patterns() {
        assert_eq!(parse_pattern(""), Err(PatternError::Empty));
        assert!(matches!(
            parse_pattern("a [b"),
            Err(PatternError::UnbalancedBracket { offset: 2 })
        ));
        assert!(matches!(
            parse_pattern("a b]"),
            Err(PatternError::UnbalancedBracket { .. })
        ));
        assert!(matches!(
            parse_pattern("a [B]"),
            Err(PatternError::BadParamName { .. })
        ));
        assert!(matches!(
            parse_pattern("a []"),
            Err(PatternError::BadParamName { .. })
        ));
        assert!(matches!(
            parse_pattern("[a][b]"),
            Err(PatternError::AdjacentParams { .. })
        ));
    }

    #[test]
    fn matches_like_a_lazy_anchored_regex() {
        assert_eq!(m("hello [name]", "hello Bob"), Some(vec!["Bob"]));
        assert_eq!(
            m("hello [name]", "hello Bob Smith"),
            Some(vec!["Bob Smith"])
        );
        assert_eq!(m("hello [name]", "hello "), None);
        assert_eq!(m("hello [name]", "hello"), None);
        assert_eq!(m("hello", "hello there"), None);
        assert_eq!(m("[a] [b]", "x y z"), Some(vec!["x", "y z"]));
        assert_eq!(
            m("from [a] to [b]", "from 1 to 2 to 3"),
            Some(vec!["1", "2 to 3"])
        );
        assert_eq!(m("a [x] b", "a  b b"), Some(vec![" b"]));
        assert_eq!(m("a [x]b", "a ébb"), Some(vec!["éb"]));
    }

    #[test]
    fn agrees_with_regex_on_tricky_cases() {
        // (pattern, text, expected captures) checked by hand against `^...(.+?)...$`.
        let cases: &[(&str, &str, Option<&[&str]>)] = &[
            ("[a] x [b] x", "1 x 2 x 3 x", Some(&["1", "2 x 3"])),
            ("[a]-[b]", "--", None),
            ("[a]-[b]", "a--b", Some(&["a", "-b"])),
            ("[a]aa", "aaaa", Some(&["aa"])),
        ];
        for (pattern, text, expected) in cases {
            let got = m(pattern, text);
            assert_eq!(got.as_deref(), *expected, "{pattern} on {text}");
        }
    }

    #[test]
    fn render_inverts_match_for_simple_values() {
        let segments = parse_pattern("deploy [env] to [region]").unwrap();
        let text = render(&segments, &["prod", "eu west"]);
        assert_eq!(text, "deploy prod to eu west");
        assert_eq!(
            match_segments(&segments, &text),
            Some(vec!["prod", "eu west"])
        );
    }
}
