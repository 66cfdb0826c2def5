//! Rule test cases kept in a bundle: given a context and a history, which tracks
//! must be allowed, which forbidden, which chosen.
//!
//! Compliance officers write them next to the rules (`tests = ["cases.toml"]` in
//! `bundle.toml`); `talktrack test` runs them and shows a diff for each failure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::bundle::{Bundle, BundleTemplate};
use crate::context::Context;
use crate::diag::{escape_controls as shown, named_source, Code, Problem};
use crate::engine::{decide, Contact, History, Request};

/// A case file: a list of `[[case]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(default)]
    case: Vec<Case>,
}

/// One test case.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case checks, in words.
    pub name: String,
    /// Request time (RFC 3339); defaults to 2026-01-01T00:00:00Z.
    #[serde(default)]
    pub time: Option<String>,
    /// Context attributes.
    #[serde(default)]
    pub context: Context,
    /// Dialogue so far.
    #[serde(default)]
    pub history: History,
    /// Past contacts, as a request sends them (`contacts(..)` in rules counts them).
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Tracks that must be allowed.
    #[serde(default)]
    pub allowed: Vec<String>,
    /// Tracks that must not be allowed.
    #[serde(default)]
    pub forbidden: Vec<String>,
    /// The track that must be chosen (`""` for "none").
    #[serde(default)]
    pub chosen: Option<String>,
    /// Whether the fallback must (or must not) be used.
    #[serde(default)]
    pub fallback: Option<bool>,
}

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// File the case is in.
    pub file: PathBuf,
    /// Case name.
    pub name: String,
    /// Differences between expected and actual; empty when the case passed.
    pub diffs: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.diffs.is_empty()
    }
}

/// Loads every case file the bundle (or template) lists, each case with its
/// file; problems name the file and position.
pub fn load_cases(bundle: &BundleTemplate) -> Result<Vec<(PathBuf, Case)>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, rel) in bundle.manifest().tests.iter().enumerate() {
        let shown = Path::new(rel);
        match bundle.read_test_file(i) {
            Err(p) => problems.push(p),
            Ok(text) => match toml::from_str::<CaseFile>(&text) {
                Ok(f) => out.extend(f.case.into_iter().map(|c| (shown.to_owned(), c))),
                Err(e) => {
                    let mut p = Problem::error(Code::CasesSyntax, shown, e.message().to_owned());
                    if let Some(s) = e.span() {
                        p = p.at(
                            &named_source(shown, &text),
                            s.start..s.end.max(s.start + 1),
                            "here",
                        );
                    }
                    problems.push(p);
                }
            },
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

impl Case {
    /// The request the case describes (its time defaults to 2026-01-01T00:00:00Z);
    /// an unreadable `time` is an error naming it.
    pub fn request(&self) -> Result<Request, String> {
        let time = match self.time.as_deref().map(crate::context::parse_timestamp) {
            None => Ok(1_767_225_600_000),
            Some(t) => t,
        };
        let time = time.map_err(|e| format!("time: {}", shown(&e)))?;
        let mut req = Request::new(format!("case: {}", self.name), time);
        req.context = self.context.clone();
        req.history = self.history.clone();
        req.contacts = self.contacts.clone();
        Ok(req)
    }
}

/// Runs one case against the bundle.
pub fn run_case(bundle: &Arc<Bundle>, file: &Path, case: &Case) -> CaseResult {
    let mut diffs = Vec::new();
    let result = case.request().and_then(|req| {
        decide(bundle, &req).map_err(|e| format!("request: {}", shown(&e.to_string())))
    });
    match result {
        Err(e) => diffs.push(e),
        Ok(d) => {
            let cat = bundle.catalog();
            for id in &case.allowed {
                match cat.index(id) {
                    None => diffs.push(format!("allowed: unknown track `{}`", shown(id))),
                    Some(t) if !d.is_allowed(t) => {
                        let why: Vec<String> = d
                            .masked()
                            .iter()
                            .filter(|m| m.track == t)
                            .flat_map(|m| m.by.iter().map(|r| shown(&r.rule.id).into_owned()))
                            .collect();
                        diffs.push(format!(
                            "allowed: expected `{}` to be allowed, but it is masked{}",
                            shown(id),
                            if why.is_empty() {
                                " (no rule recorded)".to_owned()
                            } else {
                                format!(" by {}", why.join(", "))
                            }
                        ));
                    }
                    Some(_) => {}
                }
            }
            for id in &case.forbidden {
                match cat.index(id) {
                    None => diffs.push(format!("forbidden: unknown track `{}`", shown(id))),
                    Some(t) if d.is_allowed(t) => diffs.push(format!(
                        "forbidden: expected `{}` to be masked, but it is allowed",
                        shown(id)
                    )),
                    Some(_) => {}
                }
            }
            if let Some(want) = &case.chosen {
                let got = d.chosen_id().unwrap_or("");
                if got != want {
                    diffs.push(format!(
                        "chosen:\n    - expected `{}`\n    + got      `{}`",
                        shown(want),
                        shown(got)
                    ));
                }
            }
            if let Some(want) = case.fallback {
                if d.fallback_used() != want {
                    diffs.push(format!(
                        "fallback: expected {}, got {}",
                        if want { "used" } else { "not used" },
                        if d.fallback_used() {
                            "used"
                        } else {
                            "not used"
                        }
                    ));
                }
            }
        }
    }
    CaseResult {
        file: file.to_owned(),
        name: case.name.clone(),
        diffs,
    }
}

/// Runs all cases and renders a report; returns (report, passed, failed).
///
/// Case names, track ids and messages from the case files and the bundle show
/// their control characters as escapes (`\u{1b}`): one line of the report is one
/// line on the terminal.
pub fn run_all(bundle: &Arc<Bundle>) -> Result<(String, usize, usize), Vec<Problem>> {
    let results = run_cases(bundle)?;
    let mut report = String::new();
    let mut failed = 0;
    for r in &results {
        if r.passed() {
            let _ = writeln!(
                report,
                "ok   {} ({})",
                shown(&r.name),
                shown(&r.file.to_string_lossy())
            );
        } else {
            failed += 1;
            let _ = writeln!(
                report,
                "FAIL {} ({})",
                shown(&r.name),
                shown(&r.file.to_string_lossy())
            );
            for d in &r.diffs {
                let _ = writeln!(report, "  {d}");
            }
        }
    }
    let _ = writeln!(
        report,
        "\n{} passed, {} failed",
        results.len() - failed,
        failed
    );
    Ok((report, results.len() - failed, failed))
}

/// Runs every case the bundle lists, in file order, and returns each outcome.
pub fn run_cases(bundle: &Arc<Bundle>) -> Result<Vec<CaseResult>, Vec<Problem>> {
    Ok(load_cases(bundle.as_template())?
        .iter()
        .map(|(file, case)| run_case(bundle, file, case))
        .collect())
}
