//! Rule test cases kept in a bundle: given a context and a history, which tracks
//! must be allowed, which forbidden, which chosen.
//!
//! Compliance officers write them next to the rules (`tests = ["cases.toml"]` in
//! `bundle.toml`); `talktrack test` runs them and shows a diff for each failure.
//! A template (a bundle with no policy yet) runs its cases through the rules
//! alone: expectations about `chosen` are skipped. What the cases exercise of
//! the rules is measured in `coverage.rs`.

mod coverage;

pub use coverage::{coverage, Coverage, CoverageItem, ItemKind};

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::bundle::{Bundle, BundleTemplate};
use crate::context::{Context, Resolved};
use crate::engine::{decide, mask, resolve, Contact, History, MaskOutcome, Request};
use crate::problem::{escape_controls as shown, named_source, Code, Problem};
use crate::rules::{EffectKind, Verdict};
use crate::trackset::TrackSet;
use crate::turn_view::ContactLog;

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
    /// Expectations that were not checked, and why.
    pub skipped: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.diffs.is_empty()
    }
}

/// Loads every case file the bundle (or template) lists; problems name the file and position.
pub fn load_cases(tpl: &BundleTemplate) -> Result<Vec<(PathBuf, Case)>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, rel) in tpl.manifest().tests.iter().enumerate() {
        let shown = Path::new(rel);
        match tpl.read_test_file(i) {
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
            None => 1_767_225_600_000,
            Some(t) => t.map_err(|e| format!("time: {}", shown(&e)))?,
        };
        let mut req = Request::new(format!("case: {}", self.name), time);
        req.context = self.context.clone();
        req.history = self.history.clone();
        req.contacts = self.contacts.clone();
        Ok(req)
    }
}

/// What cases run against.
#[derive(Clone, Copy)]
enum Subject<'a> {
    /// A bundle decides: rules and policy.
    Bundle(&'a Arc<Bundle>),
    /// A template has no policy yet: the rules alone mask.
    Template(&'a BundleTemplate),
}

impl Subject<'_> {
    fn template(&self) -> &BundleTemplate {
        match self {
            Subject::Bundle(b) => b.as_template(),
            Subject::Template(t) => t,
        }
    }
}

/// What a case's expectations are checked against.
struct Outcome {
    allowed: TrackSet,
    /// Per masked track, the ids of the rules that masked it.
    masked_by: Vec<(usize, Vec<String>)>,
    fallback_used: bool,
    /// The chosen track (`""` for none); `None` without a policy.
    chosen: Option<String>,
}

/// Runs the case's request: a decision with a bundle, the mask with a template.
fn outcome(subject: Subject, req: &Request) -> Result<Outcome, String> {
    let err = |e: crate::engine::DecideError| format!("request: {}", shown(&e.to_string()));
    match subject {
        Subject::Bundle(b) => {
            let d = decide(b, req).map_err(err)?;
            let mut allowed = TrackSet::empty(b.catalog().len());
            let mut masked_by = Vec::new();
            for t in 0..b.catalog().len() {
                if d.is_allowed(t) {
                    allowed.insert(t);
                }
            }
            for m in d.masked() {
                masked_by.push((m.track, m.by.iter().map(|r| r.rule.id.clone()).collect()));
            }
            Ok(Outcome {
                allowed,
                masked_by,
                fallback_used: d.fallback_used(),
                chosen: Some(d.chosen_id().unwrap_or("").to_owned()),
            })
        }
        Subject::Template(tpl) => {
            let n = tpl.catalog().len();
            let mut values = Resolved::new();
            let mut used = vec![0u16; n];
            let mut contacts = ContactLog::new();
            let turn = resolve(tpl, req, &mut values, &mut used, &mut contacts).map_err(err)?;
            let view = turn.view(tpl, req, &values, &used, &contacts);
            let mut verdict = Verdict::new(n);
            let mut allowed = TrackSet::empty(n);
            let rules = tpl.rules();
            let m = mask(rules, &view, tpl.fallback(), &mut verdict, &mut allowed);
            let masked_by = (0..n)
                .filter(|t| !allowed.contains(*t))
                .map(|t| {
                    let by = verdict
                        .fired
                        .iter()
                        .filter(|f| {
                            let rule = rules.rule(f.rule as usize);
                            let hit = verdict.targets(rules, f).any(|x| x == t);
                            match rule.effect {
                                EffectKind::Forbid => hit,
                                EffectKind::Only => !hit,
                                EffectKind::Boost => false,
                            }
                        })
                        .map(|f| rules.rule(f.rule as usize).id.clone())
                        .collect();
                    (t, by)
                })
                .collect();
            Ok(Outcome {
                allowed,
                masked_by,
                fallback_used: m == MaskOutcome::Fallback,
                chosen: None,
            })
        }
    }
}

/// Runs one case against a bundle or a template.
fn run_on(subject: Subject, file: &Path, case: &Case) -> CaseResult {
    let mut diffs = Vec::new();
    let mut skipped = Vec::new();
    match case.request().and_then(|req| outcome(subject, &req)) {
        Err(e) => diffs.push(e),
        Ok(d) => {
            let cat = subject.template().catalog();
            for id in &case.allowed {
                match cat.index(id) {
                    None => diffs.push(format!("allowed: unknown track `{}`", shown(id))),
                    Some(t) if !d.allowed.contains(t) => {
                        let why: Vec<String> = d
                            .masked_by
                            .iter()
                            .filter(|(m, _)| *m == t)
                            .flat_map(|(_, by)| by.iter().map(|r| shown(r).into_owned()))
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
                    Some(t) if d.allowed.contains(t) => diffs.push(format!(
                        "forbidden: expected `{}` to be masked, but it is allowed",
                        shown(id)
                    )),
                    Some(_) => {}
                }
            }
            match (&case.chosen, &d.chosen) {
                (Some(want), Some(got)) if got != want => diffs.push(format!(
                    "chosen:\n    - expected `{}`\n    + got      `{}`",
                    shown(want),
                    shown(got)
                )),
                (Some(want), None) => skipped.push(format!(
                    "chosen `{}`: the template has no policy yet",
                    shown(want)
                )),
                _ => {}
            }
            if let Some(want) = case.fallback {
                if d.fallback_used != want {
                    let word = |b: bool| if b { "used" } else { "not used" };
                    diffs.push(format!(
                        "fallback: expected {}, got {}",
                        word(want),
                        word(d.fallback_used)
                    ));
                }
            }
        }
    }
    CaseResult {
        file: file.to_owned(),
        name: case.name.clone(),
        diffs,
        skipped,
    }
}

/// Runs all cases and renders a report; returns (report, passed, failed).
///
/// Case names, track ids and messages from the case files and the bundle show
/// their control characters as escapes (`\u{1b}`): one line of the report is one
/// line on the terminal.
pub fn run_all(bundle: &Arc<Bundle>) -> Result<(String, usize, usize), Vec<Problem>> {
    run_all_on(Subject::Bundle(bundle))
}

/// Runs a template's cases through its rules alone (it has no policy yet):
/// like [`run_all`], with every expectation about `chosen` reported as skipped.
pub fn run_all_template(tpl: &BundleTemplate) -> Result<(String, usize, usize), Vec<Problem>> {
    run_all_on(Subject::Template(tpl))
}

/// Runs every case the bundle lists, in file order, and returns each outcome.
pub fn run_cases(bundle: &Arc<Bundle>) -> Result<Vec<CaseResult>, Vec<Problem>> {
    run_cases_on(Subject::Bundle(bundle))
}

/// Runs every case a template lists through its rules alone, in file order.
pub fn run_cases_template(tpl: &BundleTemplate) -> Result<Vec<CaseResult>, Vec<Problem>> {
    run_cases_on(Subject::Template(tpl))
}

fn run_cases_on(subject: Subject) -> Result<Vec<CaseResult>, Vec<Problem>> {
    Ok(load_cases(subject.template())?
        .iter()
        .map(|(file, case)| run_on(subject, file, case))
        .collect())
}

fn run_all_on(subject: Subject) -> Result<(String, usize, usize), Vec<Problem>> {
    let cases = load_cases(subject.template())?;
    let mut report = String::new();
    let mut failed = 0;
    let mut skipped = 0;
    for (file, case) in &cases {
        let r = run_on(subject, file, case);
        let status = if r.passed() { "ok  " } else { "FAIL" };
        failed += usize::from(!r.passed());
        let _ = writeln!(
            report,
            "{status} {} ({})",
            shown(&r.name),
            shown(&r.file.to_string_lossy())
        );
        for d in &r.diffs {
            let _ = writeln!(report, "  {d}");
        }
        for s in &r.skipped {
            skipped += 1;
            let _ = writeln!(report, "  skipped: {s}");
        }
    }
    let _ = write!(
        report,
        "\n{} passed, {} failed",
        cases.len() - failed,
        failed
    );
    if skipped > 0 {
        let _ = write!(
            report,
            ", {skipped} expectation(s) about `chosen` skipped (no policy)"
        );
    }
    let _ = writeln!(report);
    Ok((report, cases.len() - failed, failed))
}
