//! The instrumented evaluation behind rule coverage (`talktrack test
//! --coverage`): the reference evaluation of `eval.rs` (each condition walked as
//! written, each rule applied with the same `apply`), recording what it saw —
//! per rule whether it fired, did not fire or failed closed, and per condition
//! atom whether it came out true, false or unknown. Off the hot path.
//!
//! An *atom* is a condition below its `and`, `or` and `not`: `customer.age < 18`,
//! `used(fee_disclosure)`, `has customer.credit_score`, `customer.open_complaint`.
//! Atoms are evaluated by the evaluator's own `truth` and combined by its own
//! three-valued `and` / `or`, which stop at the first operand that decides them:
//! an atom the evaluation did not reach is not counted for that case. Atoms of a
//! `tracks where` predicate count once per (case, targeted track), whenever the
//! rule's condition did not rule it out.

use super::ast::{Expr, ExprKind, Span};
use super::compiled::RuleSet;
use super::eval::apply;
use super::truth::{and3, or3, truth, Env};
use super::typed::{TExpr, TTargets};
use super::verdict::Verdict;
use super::EvalError;
use crate::turn_view::TurnView;

/// Where a rule's atoms are written and which outcomes it can have: what the
/// checker records for coverage, kept next to the compiled rule.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sites {
    /// The atoms of the `when` condition, in the order of the typed tree's atoms.
    pub cond: Box<[Span]>,
    /// The atoms of the `tracks where` predicate, in the same order.
    pub pred: Box<[Span]>,
    /// Whether some request can leave the rule unevaluable (an optional attribute
    /// read without `has`, a `contacts(tagged ..)` that may meet a retired track,
    /// a division by a value that may be zero, a track attribute a targeted track
    /// lacks): only then is "failed closed" an outcome to cover.
    pub may_fail_closed: bool,
}

/// Collects the spans of the atoms of `e`, left to right: the nodes below its
/// `and`, `or` and `not`. The checker maps these three one to one onto the
/// typed tree, so the order matches [`atoms_in`]'s.
pub(super) fn atom_spans(e: &Expr, out: &mut Vec<Span>) {
    match &e.kind {
        ExprKind::And(v) | ExprKind::Or(v) => v.iter().for_each(|x| atom_spans(x, out)),
        ExprKind::Not(x) => atom_spans(x, out),
        _ => out.push(e.span),
    }
}

/// How many atoms a typed condition has.
fn atoms_in(e: &TExpr) -> usize {
    match e {
        TExpr::And(v) | TExpr::Or(v) => v.iter().map(atoms_in).sum(),
        TExpr::Not(x) => atoms_in(x),
        _ => 1,
    }
}

/// An atom came out true.
pub(crate) const SEEN_TRUE: u8 = 1;
/// An atom came out false.
pub(crate) const SEEN_FALSE: u8 = 2;
/// An atom could not be evaluated.
pub(crate) const SEEN_UNKNOWN: u8 = 4;
/// A rule fired: its condition held and it was applied (a forbid or boost that
/// reached no track changed nothing and does not count as firing).
pub(crate) const SEEN_FIRED: u8 = 1;
/// A rule did not fire.
pub(crate) const SEEN_NOT_FIRED: u8 = 2;
/// A rule failed closed.
pub(crate) const SEEN_FAILED_CLOSED: u8 = 4;

/// What instrumented evaluations saw, accumulated over turns: per rule the
/// outcomes it had, per atom the values it took (bit sets of the `SEEN_*`
/// constants).
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    /// Per rule: the outcomes seen.
    pub(crate) rules: Vec<u8>,
    /// Per atom, rule by rule, each rule's condition atoms then its predicate atoms.
    pub(crate) atoms: Vec<u8>,
    /// Per rule: the index of its first atom in `atoms`; one more entry at the end.
    pub(crate) starts: Vec<usize>,
    /// Per rule: how many of its atoms are condition atoms.
    pub(crate) n_cond: Vec<usize>,
}

impl Seen {
    /// Nothing seen yet, for the rules of `set`.
    pub(crate) fn new(set: &RuleSet) -> Self {
        let inner = &*set.inner;
        let mut starts = Vec::with_capacity(inner.rules.len() + 1);
        let mut n_cond = Vec::with_capacity(inner.rules.len());
        let mut at = 0;
        for r in &inner.rules {
            starts.push(at);
            let c = r.expr.as_ref().map_or(0, atoms_in);
            let p = match &r.targets {
                TTargets::Pred(_, p) => atoms_in(p),
                TTargets::Set(_) => 0,
            };
            n_cond.push(c);
            at += c + p;
        }
        starts.push(at);
        Self {
            rules: vec![0; inner.rules.len()],
            atoms: vec![0; at],
            starts,
            n_cond,
        }
    }

    /// The outcomes rule `i` had (`SEEN_FIRED`, `SEEN_NOT_FIRED`, `SEEN_FAILED_CLOSED`).
    pub(crate) fn rule(&self, i: usize) -> u8 {
        self.rules.get(i).copied().unwrap_or(0)
    }

    /// The values rule `i`'s condition atoms took, in [`RuleSet::atom_sites`] order.
    pub(crate) fn cond_atoms(&self, i: usize) -> &[u8] {
        let (s, n) = (self.start(i), self.n_cond.get(i).copied().unwrap_or(0));
        self.atoms.get(s..s + n).unwrap_or(&[])
    }

    /// The values rule `i`'s predicate atoms took over (turn, targeted track) pairs.
    pub(crate) fn pred_atoms(&self, i: usize) -> &[u8] {
        let (s, n) = (self.start(i), self.n_cond.get(i).copied().unwrap_or(0));
        let end = self.starts.get(i + 1).copied().unwrap_or(s);
        self.atoms.get(s + n..end).unwrap_or(&[])
    }

    fn start(&self, i: usize) -> usize {
        self.starts.get(i).copied().unwrap_or(0)
    }
}

/// The bit of an atom's or a condition's value.
fn seen_bit(r: &Result<bool, EvalError>) -> u8 {
    match r {
        Ok(true) => SEEN_TRUE,
        Ok(false) => SEEN_FALSE,
        Err(_) => SEEN_UNKNOWN,
    }
}

/// Evaluates `e` exactly as `truth` does, recording into `seen` (its atoms, from
/// the first) the value of every atom the evaluation reached.
fn walk(e: &TExpr, env: &Env, track: usize, seen: &mut [u8]) -> Result<bool, EvalError> {
    match e {
        TExpr::Not(x) => walk(x, env, track, seen).map(|b| !b),
        TExpr::And(v) | TExpr::Or(v) => {
            let mut rest = &mut *seen;
            let ops = v.iter().map(|x| {
                let n = atoms_in(x).min(rest.len());
                let (mine, after) = std::mem::take(&mut rest).split_at_mut(n);
                rest = after;
                walk(x, env, track, mine)
            });
            if matches!(e, TExpr::And(_)) {
                and3(ops)
            } else {
                or3(ops)
            }
        }
        atom => {
            let r = truth(atom, env, track);
            if let Some(s) = seen.first_mut() {
                *s |= seen_bit(&r);
            }
            r
        }
    }
}

impl RuleSet {
    /// Where rule `i`'s atoms are written (condition atoms, then predicate
    /// atoms), and whether it can fail closed; `None` when `i` is out of range.
    pub(crate) fn atom_sites(&self, i: usize) -> Option<(&[Span], &[Span], bool)> {
        self.inner
            .rules
            .get(i)
            .map(|r| (&*r.sites.cond, &*r.sites.pred, r.sites.may_fail_closed))
    }

    /// Whether rule `i` can not fire: it has a condition, or targets tracks
    /// through a predicate that may select none.
    pub(crate) fn may_not_fire(&self, i: usize) -> bool {
        self.inner
            .rules
            .get(i)
            .is_some_and(|r| r.expr.is_some() || matches!(r.targets, TTargets::Pred(..)))
    }

    /// Evaluates every rule for one turn like the reference evaluation, into
    /// `out`, and adds what it saw to `seen` (made by [`Seen::new`] for this
    /// rule set). The verdict equals [`RuleSet::evaluate`]'s.
    pub(crate) fn evaluate_probed(&self, view: &TurnView, out: &mut Verdict, seen: &mut Seen) {
        let inner = &*self.inner;
        inner.reset(out);
        let env = inner.env(view);
        for (i, r) in inner.rules.iter().enumerate() {
            let (s, n) = (seen.start(i), seen.n_cond.get(i).copied().unwrap_or(0));
            let end = seen.starts.get(i + 1).copied().unwrap_or(s);
            let (cond_seen, pred_seen) = match seen.atoms.get_mut(s..end) {
                Some(a) => a.split_at_mut(n.min(a.len())),
                None => Default::default(),
            };
            let res = match &r.expr {
                Some(e) => walk(e, &env, usize::MAX, cond_seen),
                None => Ok(true),
            };
            let outcome = match res {
                Ok(false) => SEEN_NOT_FIRED,
                Ok(true) | Err(_) => {
                    if let TTargets::Pred(base, p) = &r.targets {
                        for t in 0..inner.n_tracks {
                            if base.as_ref().is_none_or(|b| b.contains(t)) {
                                let _ = walk(p, &env, t, &mut *pred_seen);
                            }
                        }
                    }
                    let before = out.fired.len();
                    apply(inner, &env, out, i, res.err(), false);
                    match out.fired.get(before) {
                        Some(f) if f.error.is_some() => SEEN_FAILED_CLOSED,
                        Some(_) => SEEN_FIRED,
                        None => SEEN_NOT_FIRED,
                    }
                }
            };
            if let Some(x) = seen.rules.get_mut(i) {
                *x |= outcome;
            }
        }
    }
}
