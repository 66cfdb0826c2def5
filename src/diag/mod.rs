//! Problems found while loading a bundle or checking rules, as diagnostics a
//! person can act on: file, line and column, the source line with a caret, and
//! a hint.
//!
//! Every loader collects *all* problems before giving up, so one `talktrack
//! check` run shows everything that needs fixing.

mod code;

pub use code::Code;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, NamedSource, SourceSpan};

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The bundle may still load; worth a look (e.g. a rule that can never match).
    Warning,
    /// The bundle is rejected.
    Error,
}

/// One problem, tied to a file and, where known, a span in it.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `rules::unknown-attribute`.
    pub code: Code,
    /// What is wrong: lowercase, no final period, user input in backticks.
    pub message: String,
    /// The file the problem is in.
    pub file: PathBuf,
    /// The file's text, when the problem points into it.
    pub source_text: Option<Arc<NamedSource<String>>>,
    /// Byte span in `source`.
    pub span: Option<SourceSpan>,
    /// Label at the caret.
    pub label: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Problem {
    /// An error about a whole file (no span).
    pub fn error(code: Code, file: &Path, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: file.to_owned(),
            source_text: None,
            span: None,
            label: None,
            help: None,
        }
    }

    /// A warning about a whole file (no span).
    pub fn warning(code: Code, file: &Path, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, file, message)
        }
    }

    /// Points the problem at `span` in `source`, with a caret label.
    pub fn at(
        mut self,
        source: &Arc<NamedSource<String>>,
        span: impl Into<SourceSpan>,
        label: impl Into<String>,
    ) -> Self {
        self.source_text = Some(source.clone());
        self.span = Some(span.into());
        self.label = Some(label.into());
        self
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether this problem rejects the bundle.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:column` (1-based) of the span, or just the file.
    pub fn location(&self) -> String {
        match (&self.source_text, self.span) {
            (Some(src), Some(span)) => {
                let (line, col) = line_col(src.inner(), span.offset());
                format!("{}:{line}:{col}", self.file.display())
            }
            _ => self.file.display().to_string(),
        }
    }

    /// One line: `error[code]: file:line:col: message`.
    pub fn one_line(&self) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{sev}[{}]: {}: {}",
            self.code,
            self.location(),
            self.message
        )
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count() + 1)
        .unwrap_or(1);
    (line, col)
}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source_text
            .as_deref()
            .map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.span?;
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(self.label.clone(), span),
        )))
    }
}

/// Renders problems the way `talktrack check` prints them: plain text, no
/// colours, stable across terminals (also what the snapshot tests record).
pub fn render(problems: &[Problem]) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for p in problems {
        // With a span, miette shows file:line:column above the source; without one,
        // the one-line form names the file.
        if p.span.is_none() || handler.render_report(&mut out, p).is_err() {
            out.push_str(&p.one_line());
            out.push('\n');
            if let Some(h) = &p.help {
                out.push_str("  help: ");
                out.push_str(h);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out
}

/// Wraps a file's text for diagnostics.
pub fn named_source(path: &Path, text: &str) -> Arc<NamedSource<String>> {
    Arc::new(NamedSource::new(
        path.display().to_string(),
        text.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
