//! Three-valued evaluation of a condition on a partly chosen request: which of
//! true, false and unknown (the rule fails closed) the condition can still take
//! whatever the quantities not yet set. An atom (anything but `and`, `or`,
//! `not`) whose quantities are all set is evaluated by the real evaluator; any
//! other atom can take every value. `and` and `or` combine the sets as the
//! evaluator combines values (Kleene's logic: false wins in `and`, true in
//! `or`, else unknown wins), so the answer over-approximates what the
//! completions give: a search may cut a branch on it. With every atom's value
//! given, the same combination is the condition's value, so a search keeps
//! atoms' values and re-evaluates only the atoms whose quantities changed.

use talktrack::tooling::typed::TExpr;
use talktrack::tooling::{RuleSet, TurnView};

/// The condition can be true.
pub(crate) const T: u8 = 1;
/// The condition can be false.
pub(crate) const F: u8 = 2;
/// The condition can be unknown (it cannot be evaluated).
pub(crate) const U: u8 = 4;

/// Calls `f` on every atom of `e`, in the order [`outcomes`] reads them.
pub(crate) fn each_atom<'e>(e: &'e TExpr, f: &mut impl FnMut(&'e TExpr)) {
    match e {
        TExpr::Not(x) => each_atom(x, f),
        TExpr::And(v) | TExpr::Or(v) => v.iter().for_each(|x| each_atom(x, f)),
        atom => f(atom),
    }
}

/// What `e` can still evaluate to (a set of [`T`], [`F`], [`U`]); `atom(i,
/// a)` gives what atom `a`, the `i`-th in [`each_atom`] order, can evaluate
/// to: its value ([`value`]) when all its quantities are set, else `T | F | U`.
/// With every atom's value given, the answer is the condition's value, as
/// the real evaluator combines it.
pub(crate) fn outcomes(
    e: &TExpr,
    atom: &mut dyn FnMut(usize, &TExpr) -> u8,
    next: &mut usize,
) -> u8 {
    match e {
        TExpr::Not(x) => {
            let m = outcomes(x, atom, next);
            (m & U) | if m & T != 0 { F } else { 0 } | if m & F != 0 { T } else { 0 }
        }
        TExpr::And(v) => v.iter().fold(T, |acc, x| and(acc, outcomes(x, atom, next))),
        TExpr::Or(v) => v.iter().fold(F, |acc, x| or(acc, outcomes(x, atom, next))),
        a => {
            let i = *next;
            *next += 1;
            atom(i, a)
        }
    }
}

/// The value of atom `a` on `view` by the real evaluator: [`T`], [`F`], or
/// [`U`] when it cannot be evaluated.
pub(crate) fn value(rules: &RuleSet, a: &TExpr, view: &TurnView<'_>) -> u8 {
    match rules.expr_holds(a, view) {
        Ok(true) => T,
        Ok(false) => F,
        Err(_) => U,
    }
}

/// Kleene `and` of two sets of values.
fn and(a: u8, b: u8) -> u8 {
    let mut r = 0;
    if a & F != 0 || b & F != 0 {
        r |= F;
    }
    if (a & U != 0 && b & (U | T) != 0) || (b & U != 0 && a & T != 0) {
        r |= U;
    }
    if a & T != 0 && b & T != 0 {
        r |= T;
    }
    r
}

/// Kleene `or` of two sets of values.
fn or(a: u8, b: u8) -> u8 {
    let mut r = 0;
    if a & T != 0 || b & T != 0 {
        r |= T;
    }
    if (a & U != 0 && b & (U | F) != 0) || (b & U != 0 && a & F != 0) {
        r |= U;
    }
    if a & F != 0 && b & F != 0 {
        r |= F;
    }
    r
}
