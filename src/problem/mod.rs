//! Problems found while loading a bundle or checking rules, as diagnostics a
//! person can act on: file, line and column, the source line with a caret, and
//! a hint.
//!
//! Every loader collects *all* problems before giving up, so one `talktrack
//! check` run shows everything that needs fixing.

mod code;
mod escape;

pub use code::Code;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, NamedSource, SourceSpan};

pub use escape::{escape_controls, escape_controls_in_lines};

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The bundle may still load; worth a look (e.g. a rule that gives no reason).
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
    /// Other places the problem involves (the first use of a duplicate rule id).
    pub related: Vec<Related>,
}

/// Another place a [`Problem`] involves, with what it is.
#[derive(Clone, Debug)]
pub struct Related {
    /// The file it is in.
    pub file: PathBuf,
    /// The file's text.
    pub source_text: Arc<NamedSource<String>>,
    /// Byte span in `source_text`.
    pub span: SourceSpan,
    /// What is there: lowercase, no final period.
    pub message: String,
}

impl Related {
    /// Where the span starts and ends.
    pub fn range(&self) -> TextRange {
        TextRange::of(self.source_text.inner(), self.span)
    }
}

/// A 1-based line and column, the column counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters (not bytes).
    pub column: usize,
}

/// Where a span starts and where it ends: `end` is the position just after its
/// last character (the start itself for an empty span).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TextRange {
    /// The first character.
    pub start: Position,
    /// Just after the last character.
    pub end: Position,
}

impl TextRange {
    fn of(text: &str, span: SourceSpan) -> Self {
        let at = |o: usize| {
            let (line, column) = line_col(text, o);
            Position { line, column }
        };
        TextRange {
            start: at(span.offset()),
            end: at(span.offset().saturating_add(span.len())),
        }
    }
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
            related: Vec::new(),
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

    /// Adds another place the problem involves.
    pub fn with_related(
        mut self,
        file: &Path,
        source: &Arc<NamedSource<String>>,
        span: impl Into<SourceSpan>,
        message: impl Into<String>,
    ) -> Self {
        self.related.push(Related {
            file: file.to_owned(),
            source_text: source.clone(),
            span: span.into(),
            message: message.into(),
        });
        self
    }

    /// Where the problem's span starts and ends in its file; `None` for a problem
    /// about a whole file. Columns count characters, as the rendered diagnostics do.
    pub fn range(&self) -> Option<TextRange> {
        match (&self.source_text, self.span) {
            (Some(src), Some(span)) => Some(TextRange::of(src.inner(), span)),
            _ => None,
        }
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
///
/// Control characters and bidi controls in the messages, the file name and the
/// echoed source lines are shown as escapes (`\u{1b}`), so a bundle cannot
/// drive the terminal of the person reading its diagnostics. The
/// `file:line:column` above the source counts columns in characters of the file
/// as written, as [`Problem::range`] and the one-line form do.
pub fn render(problems: &[Problem]) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false)
        // The location is part of the source's name (see `Located`): miette would
        // count the column in bytes of the escaped text.
        .without_primary_span_start();
    let mut out = String::new();
    for original in problems {
        let p = &*visible(original);
        // With a span, miette shows file:line:column above the source; without one,
        // the one-line form names the file.
        let shown = match (&p.source_text, original.range()) {
            (Some(src), Some(range)) if p.span.is_some() && !near_long_line(p) => Some(Shown {
                p,
                src: Located {
                    name: format!("{}:{}:{}", src.name(), range.start.line, range.start.column),
                    src,
                },
            }),
            _ => None,
        };
        if shown.is_none_or(|s| handler.render_report(&mut out, &s).is_err()) {
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

/// A problem's source under the name `file:line:column`.
struct Located<'a> {
    name: String,
    src: &'a NamedSource<String>,
}

impl miette::SourceCode for Located<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let c = self.src.inner().read_span(span, before, after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            *c.span(),
            c.line(),
            c.column(),
            c.line_count(),
        )))
    }
}

/// A problem as rendered: its source [`Located`].
struct Shown<'a> {
    p: &'a Problem,
    src: Located<'a>,
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.p, f)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.p, f)
    }
}

impl std::error::Error for Shown<'_> {}

impl Diagnostic for Shown<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.p.code()
    }

    fn severity(&self) -> Option<miette::Severity> {
        Diagnostic::severity(self.p)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.p.help()
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.p.labels()
    }
}

/// `p`, or a copy of it whose text shows every control character as an escape,
/// its span moved to the same characters in the escaped source.
fn visible(p: &Problem) -> Cow<'_, Problem> {
    let file = p.file.to_string_lossy();
    let plain = |s: &str| matches!(escape_controls(s), Cow::Borrowed(_));
    let plain_lines = |s: &str| matches!(escape_controls_in_lines(s), Cow::Borrowed(_));
    let source_plain = p
        .source_text
        .as_deref()
        .is_none_or(|src| plain(src.name()) && plain_lines(src.inner()));
    // Messages may span lines (a TOML error does); miette indents their later lines.
    if plain(&file)
        && plain_lines(&p.message)
        && p.label.as_deref().is_none_or(plain)
        && p.help.as_deref().is_none_or(plain_lines)
        && source_plain
    {
        return Cow::Borrowed(p);
    }
    let mut q = p.clone();
    q.file = PathBuf::from(escape_controls(&file).into_owned());
    q.message = escape_controls_in_lines(&p.message).into_owned();
    q.label = p.label.as_deref().map(|l| escape_controls(l).into_owned());
    q.help = p
        .help
        .as_deref()
        .map(|h| escape_controls_in_lines(h).into_owned());
    if let Some(src) = p.source_text.as_deref() {
        let text = src.inner();
        q.source_text = Some(Arc::new(NamedSource::new(
            escape_controls(src.name()),
            escape_controls_in_lines(text).into_owned(),
        )));
        q.span = p.span.map(|span| {
            let end = span.offset().saturating_add(span.len());
            let [start, end] = escape::offsets_in_escaped_lines(text, [span.offset(), end]);
            SourceSpan::from(start..end.max(start))
        });
    }
    Cow::Owned(q)
}

/// Longest source line shown under a diagnostic, in bytes.
const MAX_SHOWN_LINE: usize = 400;

/// Whether the source excerpt of `p` (its lines and one line either side, as
/// rendered) holds a line longer than [`MAX_SHOWN_LINE`]: such a problem is shown
/// in its one-line form, so that a megabyte-long line does not make a
/// megabyte-long diagnostic.
fn near_long_line(p: &Problem) -> bool {
    let (Some(src), Some(span)) = (&p.source_text, p.span) else {
        return false;
    };
    let b = src.inner().as_bytes();
    let start = span.offset().min(b.len());
    let end = (span.offset() + span.len()).min(b.len());
    // Back over the span's line and the one before, forward over its last line and the next.
    let mut from = start;
    for _ in 0..2 {
        from = b[..from.saturating_sub(1)]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
    }
    let mut to = end;
    for _ in 0..2 {
        to = b[to.min(b.len())..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |i| to + i + 1);
    }
    b[from..to.min(b.len())]
        .split(|&c| c == b'\n')
        .any(|line| line.len() > MAX_SHOWN_LINE)
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
