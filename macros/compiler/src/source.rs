//! The config file being compiled, and diagnostics that point into it like rustc's do.

use std::fmt::Write as _;
use std::ops::Range;

/// A config file's text and the path to show in messages.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user named it (shown in `--> path:line:col`).
    pub display_path: String,
    /// The whole file.
    pub text: String,
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub col: usize,
}

impl Source {
    /// The line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        LineCol { line, col }
    }

    fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line - 1).unwrap_or("")
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The config cannot be compiled.
    Error,
    /// Legal but suspect; reported by `build.rs` as `cargo:warning`.
    Warning,
}

/// One problem found in the config, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Option<Range<usize>>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, span)
        }
    }

    /// Adds a hint on how to fix it.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders the diagnostic with `--> path:line:col`, the offending line and a caret.
    pub fn render(&self, source: &Source) -> String {
        let mut out = self.message.clone();
        if let Some(span) = &self.span {
            let start = source.line_col(span.start);
            let line_text = source.line_text(start.line);
            let gutter = start.line.to_string().len();
            let pad = " ".repeat(gutter);
            // Underline to the end of the span or of the line, whichever is first.
            let end = source.line_col(span.end.max(span.start));
            let line_len = line_text.chars().count();
            let width = if end.line == start.line {
                end.col.saturating_sub(start.col)
            } else {
                (line_len + 1).saturating_sub(start.col)
            }
            .max(1);
            let _ = write!(
                out,
                "\n{pad}--> {}:{}:{}\n{pad} |\n{} | {}\n{pad} | {}{}",
                source.display_path,
                start.line,
                start.col,
                start.line,
                line_text,
                " ".repeat(start.col - 1),
                "^".repeat(width)
            );
            if let Some(help) = &self.help {
                let _ = write!(out, "\n{pad} |\n{pad} = help: {help}");
            }
        } else {
            let _ = write!(out, "\n  --> {}", source.display_path);
            if let Some(help) = &self.help {
                let _ = write!(out, "\n   = help: {help}");
            }
        }
        out
    }
}

/// The closest of `candidates` to `word`, for "did you mean" hints.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_path_line_col_and_caret() {
        let source = Source {
            display_path: "job_configs.toml".into(),
            text: "[test]\nreport_fromat = \"x\"\n".into(),
        };
        let d = Diagnostic::error("unknown key `report_fromat`", 7..20)
            .help("did you mean `report_format`?");
        assert_eq!(
            d.render(&source),
            "unknown key `report_fromat`\n --> job_configs.toml:2:1\n  |\n2 | report_fromat = \"x\"\n  | ^^^^^^^^^^^^^\n  |\n  = help: did you mean `report_format`?"
        );
    }

    #[test]
    fn line_col_counts_characters() {
        let source = Source {
            display_path: "x".into(),
            text: "é\n  ab".into(),
        };
        assert_eq!(source.line_col(0), LineCol { line: 1, col: 1 });
        assert_eq!(source.line_col(5), LineCol { line: 2, col: 3 });
    }

    #[test]
    fn closest_suggests_near_words_only() {
        assert_eq!(
            closest("report_fromat", ["report_format", "help"]),
            Some("report_format")
        );
        assert_eq!(closest("zzz", ["report_format"]), None);
    }
}
