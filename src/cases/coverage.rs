//! Rule coverage: what a bundle's test cases exercise of its rules
//! (`talktrack test --coverage`).
//!
//! Each case's request runs through the rules' instrumented evaluation
//! (`RuleSet::evaluate_probed`, the reference evaluation recording what it
//! saw), off the hot path. Items to cover:
//!
//! - per rule: some case made it fire; some case made it not fire (unless it
//!   always applies: no condition and fixed targets); some case made it fail
//!   closed, where a request can (an optional attribute read without `has`, a
//!   `contacts(tagged ..)` count that may meet a retired track, ...);
//! - per atom of a `when` condition (a condition below its `and`, `or`, `not`,
//!   located by its place in the rules file): some case evaluated it true, some
//!   false;
//! - per atom of a `tracks where` predicate: true for some (case, targeted
//!   track) pair, false for some.
//!
//! Coverage is the number of items covered over the number of items, both
//! integers; a threshold compares them exactly.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::load_cases;
use crate::bundle::BundleTemplate;
use crate::context::Resolved;
use crate::engine::resolve;
use crate::problem::{escape_controls as shown, Problem};
use crate::rules::{
    Seen, Verdict, SEEN_FAILED_CLOSED, SEEN_FALSE, SEEN_FIRED, SEEN_NOT_FIRED, SEEN_TRUE,
};
use crate::turn_view::ContactLog;

/// What an item asks of the cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ItemKind {
    /// Some case made the rule fire.
    RuleFires,
    /// Some case made the rule not fire.
    RuleDoesNotFire,
    /// Some case made the rule fail closed.
    RuleFailsClosed,
    /// Some case evaluated the condition atom true.
    ConditionTrue,
    /// Some case evaluated the condition atom false.
    ConditionFalse,
    /// The predicate atom was true for some (case, targeted track) pair.
    PredicateTrue,
    /// The predicate atom was false for some (case, targeted track) pair.
    PredicateFalse,
}

impl ItemKind {
    /// What was never seen, in words, for the list of uncovered items.
    fn never(self) -> &'static str {
        match self {
            ItemKind::RuleFires => "never fired",
            ItemKind::RuleDoesNotFire => "always fired",
            ItemKind::RuleFailsClosed => "never failed closed",
            ItemKind::ConditionTrue => "never true",
            ItemKind::ConditionFalse => "never false",
            ItemKind::PredicateTrue => "never true for a targeted track",
            ItemKind::PredicateFalse => "never false for a targeted track",
        }
    }
}

/// One thing the cases should exercise, and whether they did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CoverageItem {
    /// What it asks.
    pub kind: ItemKind,
    /// The rule it belongs to.
    pub rule: String,
    /// The rules file, relative to the bundle directory.
    pub file: PathBuf,
    /// 1-based line: of the `rule` keyword, or of the atom.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// The atom as written (whitespace collapsed); `None` for a rule item.
    pub atom: Option<String>,
    /// Whether some case covered it.
    pub covered: bool,
}

/// What a bundle's cases exercise of its rules.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Coverage {
    /// Cases whose request ran.
    pub cases: usize,
    /// Cases left out because their request is invalid (their test fails).
    pub invalid_cases: usize,
    /// Every item, rule by rule in rule order, rule items before atom items.
    pub items: Vec<CoverageItem>,
    /// Cases on which the instrumented evaluation did not decide what the rules
    /// decide (forbidden, restricted, boosted tracks, rules fired), or rules whose
    /// atoms it could not place: a defect of the coverage evaluator, never of the
    /// rules. Each names the case or rule; empty when coverage can be trusted.
    pub disagreements: Vec<String>,
}

impl Coverage {
    /// Items covered.
    pub fn covered(&self) -> usize {
        self.items.iter().filter(|i| i.covered).count()
    }

    /// Items in all.
    pub fn total(&self) -> usize {
        self.items.len()
    }

    /// Whether coverage is at least `percent`: `covered × 100 ≥ percent × total`,
    /// in integers, so 100 means every item (and no items meet any threshold).
    pub fn meets(&self, percent: u32) -> bool {
        self.covered() as u128 * 100 >= u128::from(percent) * self.total() as u128
    }

    /// The report for a person: totals by kind of item, then every uncovered
    /// item by its place (`file:line:column`). Rule ids, file names and atoms
    /// show their control characters as escapes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let count = |kinds: &[ItemKind]| {
            let of = self.items.iter().filter(|i| kinds.contains(&i.kind));
            let n = of.clone().count();
            (of.filter(|i| i.covered).count(), n)
        };
        let _ = writeln!(
            out,
            "coverage over {} case(s){}:",
            self.cases,
            if self.invalid_cases > 0 {
                format!(" ({} left out: invalid request)", self.invalid_cases)
            } else {
                String::new()
            }
        );
        let rows = [
            (
                "rule outcomes",
                count(&[
                    ItemKind::RuleFires,
                    ItemKind::RuleDoesNotFire,
                    ItemKind::RuleFailsClosed,
                ]),
                "fired, did not fire, failed closed (where a request can)",
            ),
            (
                "condition atoms",
                count(&[ItemKind::ConditionTrue, ItemKind::ConditionFalse]),
                "true and false in `when`",
            ),
            (
                "track predicates",
                count(&[ItemKind::PredicateTrue, ItemKind::PredicateFalse]),
                "true and false in `tracks where`, over (case, track)",
            ),
        ];
        for (name, (c, n), what) in rows {
            let _ = writeln!(out, "  {name:<17} {:>9}  {what}", format!("{c}/{n}"));
        }
        let (c, n) = (self.covered(), self.total());
        let _ = writeln!(
            out,
            "  {:<17} {:>9}  {}",
            "total",
            format!("{c}/{n}"),
            percent(c, n)
        );
        for d in &self.disagreements {
            let _ = writeln!(
                out,
                "error: the coverage evaluation disagrees with the rules on {d}: these figures cannot be trusted"
            );
        }
        let missing: Vec<&CoverageItem> = self.items.iter().filter(|i| !i.covered).collect();
        if missing.is_empty() {
            return out;
        }
        let _ = writeln!(out, "\nnot covered:");
        let places: Vec<String> = missing
            .iter()
            .map(|i| {
                format!(
                    "{}:{}:{}",
                    shown(&i.file.to_string_lossy()),
                    i.line,
                    i.column
                )
            })
            .collect();
        let width = places.iter().map(|p| p.chars().count()).max().unwrap_or(0);
        for (i, place) in missing.iter().zip(&places) {
            let what = match &i.atom {
                None => format!("rule `{}` {}", shown(&i.rule), i.kind.never()),
                Some(a) => format!(
                    "`{}` {} (rule `{}`)",
                    shown(a),
                    i.kind.never(),
                    shown(&i.rule)
                ),
            };
            let _ = writeln!(out, "  {place:<width$}  {what}");
        }
        out
    }
}

/// `covered / total` as a percentage with one decimal, rounded down, so that
/// it never shows a threshold as met that [`Coverage::meets`] refuses.
fn percent(covered: usize, total: usize) -> String {
    if total == 0 {
        return "(no items)".to_owned();
    }
    let tenths = covered as u128 * 1000 / total as u128;
    format!("({}.{}%)", tenths / 10, tenths % 10)
}

/// Runs every case of `tpl` (a bundle's [`Bundle::as_template`](crate::Bundle::as_template)
/// or a template) through the instrumented evaluation of its rules and collects
/// the coverage. Case files that cannot be read or parsed are the problems.
pub fn coverage(tpl: &BundleTemplate) -> Result<Coverage, Vec<Problem>> {
    let cases = load_cases(tpl)?;
    let rules = tpl.rules();
    let n = tpl.catalog().len();
    let mut seen = Seen::new(rules);
    let (mut verdict, mut real) = (Verdict::new(n), Verdict::new(n));
    let (mut ran, mut invalid) = (0, 0);
    let mut disagreements = Vec::new();
    for (_, case) in &cases {
        let Ok(req) = case.request() else {
            invalid += 1;
            continue;
        };
        let mut values = Resolved::new();
        let mut used = vec![0u16; n];
        let mut contacts = ContactLog::new();
        let Ok(turn) = resolve(tpl, &req, &mut values, &mut used, &mut contacts) else {
            invalid += 1;
            continue;
        };
        let view = turn.view(tpl, &req, &values, &used, &contacts);
        rules.evaluate_probed(&view, &mut verdict, &mut seen);
        rules.evaluate(&view, &mut real);
        if !same_verdict(rules, &verdict, &real) {
            disagreements.push(format!("case `{}`", shown(&case.name)));
        }
        ran += 1;
    }
    let lines = Lines::of(tpl);
    let mut items = Vec::new();
    for (i, info) in rules.rules().iter().enumerate() {
        let Some((cond, pred, may_fail)) = rules.atom_sites(i) else {
            continue;
        };
        let rule_item = |kind, covered| CoverageItem {
            kind,
            rule: info.id.clone(),
            file: info.file.clone(),
            line: info.line,
            column: info.column,
            atom: None,
            covered,
        };
        let had = seen.rule(i);
        items.push(rule_item(ItemKind::RuleFires, had & SEEN_FIRED != 0));
        if rules.may_not_fire(i) {
            items.push(rule_item(
                ItemKind::RuleDoesNotFire,
                had & SEEN_NOT_FIRED != 0,
            ));
        }
        if may_fail {
            items.push(rule_item(
                ItemKind::RuleFailsClosed,
                had & SEEN_FAILED_CLOSED != 0,
            ));
        }
        let groups = [
            (
                cond,
                seen.cond_atoms(i),
                ItemKind::ConditionTrue,
                ItemKind::ConditionFalse,
            ),
            (
                pred,
                seen.pred_atoms(i),
                ItemKind::PredicateTrue,
                ItemKind::PredicateFalse,
            ),
        ];
        for (spans, values, _, _) in &groups {
            if spans.len() != values.len() {
                disagreements.push(format!(
                    "rule `{}`: {} atoms located, {} evaluated",
                    shown(&info.id),
                    spans.len(),
                    values.len()
                ));
            }
        }
        for (spans, values, when_true, when_false) in groups {
            for (k, span) in spans.iter().enumerate() {
                let v = values.get(k).copied().unwrap_or(0);
                let (line, column, atom) = lines.place(&info.file, span.start, span.end);
                for (kind, bit) in [(when_true, SEEN_TRUE), (when_false, SEEN_FALSE)] {
                    items.push(CoverageItem {
                        kind,
                        rule: info.id.clone(),
                        file: info.file.clone(),
                        line,
                        column,
                        atom: Some(atom.clone()),
                        covered: v & bit != 0,
                    });
                }
            }
        }
    }
    Ok(Coverage {
        cases: ran,
        invalid_cases: invalid,
        items,
        disagreements,
    })
}

/// Whether two verdicts decide the same: forbidden and restricted tracks, boosts,
/// and the same rules fired or failed closed, with the same targets.
fn same_verdict(rules: &crate::rules::RuleSet, a: &Verdict, b: &Verdict) -> bool {
    let fired = |v: &Verdict| -> Vec<_> {
        v.fired
            .iter()
            .map(|f| {
                let targets: Vec<usize> = v.targets(rules, f).collect();
                (f.rule, f.error, f.boost.to_bits(), targets)
            })
            .collect()
    };
    a.forbidden == b.forbidden
        && a.any_only == b.any_only
        && (!a.any_only || a.restricted == b.restricted)
        && a.boosts == b.boosts
        && fired(a) == fired(b)
}

/// The rule files' texts, to put atoms' byte spans into lines and columns.
struct Lines<'t> {
    files: Vec<(&'t std::path::Path, &'t str)>,
}

impl<'t> Lines<'t> {
    fn of(tpl: &'t BundleTemplate) -> Self {
        Self {
            files: tpl
                .sources()
                .iter()
                .map(|s| (s.path.as_path(), s.text.as_str()))
                .collect(),
        }
    }

    /// Line and column (1-based, in characters) of byte `start` in `file`, and
    /// the text from `start` to `end` with its whitespace collapsed.
    fn place(&self, file: &std::path::Path, start: usize, end: usize) -> (u32, u32, String) {
        let text = self
            .files
            .iter()
            .find(|(p, _)| *p == file)
            .map_or("", |(_, t)| *t);
        let before = text.get(..start).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let atom = text
            .get(start..end)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        (line as u32, column as u32, atom)
    }
}
