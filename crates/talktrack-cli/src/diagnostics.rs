//! Diagnostics for CI and editors: what `check`, `test`, `fmt --check` and `diff`
//! print with `--format json`, one versioned document on stdout.
//!
//! The document's shape is `docs/diagnostics.schema.json`: `version`, the
//! `command`, whether it succeeded (`ok`, as its exit code says), every
//! diagnostic (code, severity, message, help, file, start and end line and
//! column, related places) and the command's `result`. Lines and columns are
//! 1-based and count characters, as the human diagnostics do; the end is the
//! position just after the last character.

use std::path::Path;

use serde::Serialize;
use talktrack::Problem;

/// The version of the document's shape; a change that could break a reader bumps it.
pub(crate) const VERSION: u32 = 1;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    /// The input is rejected, or the command fails.
    Error,
    /// Likely a mistake; the input is still accepted.
    Warning,
    /// Worth knowing.
    Note,
}

/// Another place a diagnostic involves.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RelatedPlace {
    message: String,
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

/// One diagnostic.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Diagnostic {
    code: String,
    severity: Severity,
    message: String,
    help: Option<String>,
    /// What the span is, in a word or two.
    label: Option<String>,
    /// The file, openable from where the command ran; `None` when the problem is
    /// about no file.
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    related: Vec<RelatedPlace>,
}

/// `file` as a reader opens it: inside `base` (a bundle directory) when relative.
fn place(base: Option<&Path>, file: &Path) -> String {
    match base {
        Some(b) if file.is_relative() => b.join(file).display().to_string(),
        _ => file.display().to_string(),
    }
}

impl Diagnostic {
    /// A runtime problem; its file is relative to `base` (the bundle directory) when given.
    pub(crate) fn of_problem(p: &Problem, base: Option<&Path>) -> Self {
        let range = p.range();
        Self {
            code: p.code.as_str().to_owned(),
            severity: if p.is_error() {
                Severity::Error
            } else {
                Severity::Warning
            },
            message: p.message.clone(),
            help: p.help.clone(),
            label: p.label.clone(),
            file: Some(place(base, &p.file)),
            line: range.map(|r| r.start.line),
            column: range.map(|r| r.start.column),
            end_line: range.map(|r| r.end.line),
            end_column: range.map(|r| r.end.column),
            related: p
                .related
                .iter()
                .map(|r| {
                    let range = r.range();
                    RelatedPlace {
                        message: r.message.clone(),
                        file: place(base, &r.file),
                        line: range.start.line,
                        column: range.start.column,
                        end_line: range.end.line,
                        end_column: range.end.column,
                    }
                })
                .collect(),
        }
    }

    /// A finding of the rule set's analysis, at its rule (start only: the
    /// analysis knows where a rule starts, not where it ends).
    pub(crate) fn of_finding(f: &talktrack_analyze::Finding, base: &Path) -> Self {
        let severity = match f.severity {
            talktrack_analyze::Severity::Warning => Severity::Warning,
            talktrack_analyze::Severity::Note => Severity::Note,
        };
        let help = (!f.reasons.is_empty()).then(|| f.reasons.join("; "));
        Self {
            code: f.code.to_owned(),
            severity,
            message: f.message.clone(),
            help,
            label: None,
            file: f
                .rule
                .as_ref()
                .map(|r| place(Some(base), Path::new(&r.file))),
            line: f.rule.as_ref().map(|r| r.line as usize),
            column: f.rule.as_ref().map(|r| r.column as usize),
            end_line: None,
            end_column: None,
            related: Vec::new(),
        }
    }

    /// A problem with no place in a file (`file` may still name what it is about).
    pub(crate) fn plain(
        code: talktrack::Code,
        severity: Severity,
        file: Option<&Path>,
        message: String,
    ) -> Self {
        Self {
            code: code.as_str().to_owned(),
            severity,
            message,
            help: None,
            label: None,
            file: file.map(|f| f.display().to_string()),
            line: None,
            column: None,
            end_line: None,
            end_column: None,
            related: Vec::new(),
        }
    }

    /// Sets the line the diagnostic starts at: the whole line.
    pub(crate) fn on_line(mut self, line: usize, chars: usize) -> Self {
        self.line = Some(line);
        self.column = Some(1);
        self.end_line = Some(line);
        self.end_column = Some(chars + 1);
        self
    }

    /// Adds a hint.
    pub(crate) fn with_help(mut self, help: String) -> Self {
        self.help = Some(help);
        self
    }
}

/// The document one command prints.
#[derive(Serialize)]
pub(crate) struct Document<R: Serialize> {
    version: u32,
    command: &'static str,
    ok: bool,
    diagnostics: Vec<Diagnostic>,
    /// What the command found; `None` when it could not run (an input failed to load).
    result: Option<R>,
}

impl<R: Serialize> Document<R> {
    /// The document of `command`.
    pub(crate) fn new(
        command: &'static str,
        ok: bool,
        diagnostics: Vec<Diagnostic>,
        result: Option<R>,
    ) -> Self {
        Self {
            version: VERSION,
            command,
            ok,
            diagnostics,
            result,
        }
    }

    /// Prints the document on stdout, pretty.
    pub(crate) fn print(&self) {
        match serde_json::to_string_pretty(self) {
            Ok(s) => say!("{s}"),
            // Only a map with non-string keys fails; none is built here.
            Err(e) => eprintln!("error: cannot write the JSON document: {e}"),
        }
    }
}
