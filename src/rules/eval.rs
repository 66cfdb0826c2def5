//! Evaluation of a compiled rule set for one turn: every distinct leaf condition
//! once, then the rules not known false (watch groups skip whole groups whose
//! watched literal is false), applied in rule order into the caller's
//! [`Verdict`]; and the plain tree-walking evaluation the fast path is tested
//! against. The logic of one condition is in `truth.rs`, of one track predicate
//! in `predicate.rs`.

use super::compiled::{Inner, RuleSet, ALL_TRACKS, LONG_RULE, NEG_BIT, STATIC_TARGETS};
use super::predicate::eval_set;
use super::truth::{cond, truth, Env};
use super::typed::TExpr;
use super::verdict::{Verdict, NO_RUN};
use super::{EffectKind, EvalError, Fired};
use crate::trackset::members;
use crate::turn_view::TurnView;

impl Inner {
    /// Clears `out` for one evaluation of this rule set.
    #[inline]
    pub(super) fn reset(&self, out: &mut Verdict) {
        out.reset(
            self.n_tracks,
            self.scratch_words + 2 * self.words,
            self.leaves.len(),
            self.rules.len(),
            self.n_preds,
        );
    }

    /// What conditions read for `view`, besides the condition itself.
    #[inline]
    pub(super) fn env<'a, 'v>(&'a self, view: &'a TurnView<'v>) -> Env<'a, 'v> {
        Env {
            view,
            cols: &self.cols,
            products: &self.products,
            count_tracks: &self.count_tracks,
        }
    }
}

impl RuleSet {
    /// Evaluates every rule for one turn; clears and fills `out`.
    ///
    /// Never panics, and never allocates once `out` has been used with this rule set.
    pub fn evaluate(&self, view: &TurnView, out: &mut Verdict) {
        let inner = &*self.inner;
        inner.reset(out);
        let env = inner.env(view);
        // Every distinct leaf once; leaves are grouped by kind, so the dispatch predicts well.
        let states = out.lit_state.chunks_exact_mut(2);
        for ((l, st), er) in inner.leaves.iter().zip(states).zip(out.leaf_err.iter_mut()) {
            // Branch-free on the outcome: (1, 2) when true, (2, 1) when false.
            let (t, f) = match cond(l, &env) {
                Ok(b) => (2 - u8::from(b), 1 + u8::from(b)),
                Err(e) => {
                    *er = e;
                    (0, 0)
                }
            };
            st.copy_from_slice(&[t, f]);
        }
        let ls = &out.lit_state[..];
        let lit = |l: u32| ls.get(l as usize).copied().unwrap_or(0);
        // Rules with more literals, or shapes that do not flatten, first.
        for &i in &inner.long {
            let i = i as usize;
            let (Some(rc), Some(r)) = (inner.conds.get(i), inner.rules.get(i)) else {
                continue;
            };
            let state = if rc.fallback {
                match cond(&r.cond, &env) {
                    Ok(true) => 1,
                    Ok(false) => 2,
                    Err(_) => 0,
                }
            } else {
                let (va, vb) = (lit(rc.a), lit(rc.b));
                let (mut all, mut any) = (va & vb, va | vb);
                let start = rc.extra_start as usize;
                for &l in inner
                    .lits
                    .get(start..start + usize::from(rc.extra_len))
                    .unwrap_or(&[])
                {
                    let v = lit(l);
                    all &= v;
                    any |= v;
                }
                let (t, f) = (all & 1, (any >> 1) & 1);
                if rc.neg {
                    f | t << 1
                } else {
                    t | f << 1
                }
            };
            if let Some(x) = out.rule_state.get_mut(i) {
                *x = state;
            }
        }
        // Then the rules not known false: a watch group whose literal is known
        // false is skipped in one test; the others check each rule's pair. Live
        // rules are marked in a bitset, so they are applied in rule order.
        let live = &mut out.live[..];
        live.iter_mut().for_each(|w| *w = 0);
        let rule_state = &mut out.rule_state[..];
        let pair_state = |i: usize, long_state: u8| -> u8 {
            let Some(&(a, b)) = inner.pairs.get(i) else {
                return 0;
            };
            if b == LONG_RULE {
                return long_state;
            }
            let (va, vb) = (lit(a & !NEG_BIT), lit(b));
            let (t, f) = (va & vb & 1, ((va | vb) >> 1) & 1);
            if a & NEG_BIT != 0 {
                f | t << 1
            } else {
                t | f << 1
            }
        };
        for &(l, start, end) in &inner.watch {
            let vw = lit(l);
            if vw & 2 != 0 {
                continue;
            }
            // Each entry carries the rule's other literal: the rule is the
            // conjunction of the two, read without touching the rule's pair.
            for &(i, other) in inner
                .watched
                .get(start as usize..end as usize)
                .unwrap_or(&[])
            {
                let i = i as usize;
                let vo = lit(other);
                let state = (vw & vo & 1) | (((vw | vo) >> 1) & 1) << 1;
                if state & 2 == 0 {
                    if let (Some(w), Some(x)) = (live.get_mut(i / 64), rule_state.get_mut(i)) {
                        *w |= 1 << (i % 64);
                        *x = state;
                    }
                }
            }
        }
        for &i in &inner.unwatched {
            let i = i as usize;
            let state = pair_state(i, rule_state.get(i).copied().unwrap_or(0));
            if state & 2 == 0 {
                if let (Some(w), Some(x)) = (live.get_mut(i / 64), rule_state.get_mut(i)) {
                    *w |= 1 << (i % 64);
                    *x = state;
                }
            }
        }
        out.reset_classes(inner.n_classes);
        let generation = out.generation;
        for wi in 0..out.live.len() {
            let mut word = out.live.get(wi).copied().unwrap_or(0);
            while word != 0 {
                let i = wi * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                // A rule like one applied before this turn does what it did.
                let class = inner.class_of.get(i).map_or(usize::MAX, |&c| c as usize);
                if out.class_gen.get(class) == Some(&generation) {
                    if let Some(Some(f)) = out.class_fired.get(class).copied() {
                        out.fired.push(Fired {
                            rule: i as u32,
                            ..f
                        });
                    }
                    continue;
                }
                let state = out.rule_state.get(i).copied().unwrap_or(0);
                let err = if state == 1 {
                    None
                } else if let Some(rc) = inner.conds.get(i).filter(|rc| !rc.fallback) {
                    // The first unknown literal in source order is the one the tree walk reports.
                    let start = rc.extra_start as usize;
                    let extra = inner
                        .lits
                        .get(start..start + usize::from(rc.extra_len))
                        .unwrap_or(&[]);
                    [rc.a, rc.b]
                        .iter()
                        .chain(extra)
                        .find(|&&l| out.lit_state.get(l as usize).copied().unwrap_or(0) == 0)
                        .and_then(|&l| out.leaf_err.get((l / 2) as usize).copied())
                        .or(Some(EvalError::Overflow))
                } else {
                    // A shape that does not flatten: the tree says why it is unknown.
                    inner
                        .rules
                        .get(i)
                        .map_or(Some(EvalError::Overflow), |r| cond(&r.cond, &env).err())
                };
                let before = out.fired.len();
                apply(inner, &env, out, i, err, true);
                let recorded = out.fired.get(before).copied();
                if let (Some(g), Some(f)) =
                    (out.class_gen.get_mut(class), out.class_fired.get_mut(class))
                {
                    *g = generation;
                    *f = recorded;
                }
            }
        }
    }

    /// Whether rule `i`'s condition holds for `view`, as written: `Ok(true)` for
    /// a rule without a condition, `Err` when it cannot be evaluated (the rule
    /// then fails closed). Static analysis reads it to tell when a rule fires,
    /// whatever its targets; an out-of-range `i` is `Ok(false)`.
    pub fn condition_holds(&self, i: usize, view: &TurnView) -> Result<bool, EvalError> {
        let inner = &*self.inner;
        let Some(r) = inner.rules.get(i) else {
            return Ok(false);
        };
        let env = inner.env(view);
        match &r.expr {
            Some(e) => truth(e, &env, usize::MAX),
            None => Ok(true),
        }
    }

    /// Whether the condition `e` (a part of one of this rule set's conditions,
    /// from [`RuleSet::condition`]) holds for `view`, evaluated as the rule's
    /// condition is: `Err` when it cannot be evaluated. Static analysis reads it
    /// to tell which parts of a condition a partly chosen request settles.
    pub fn expr_holds(&self, e: &TExpr, view: &TurnView) -> Result<bool, EvalError> {
        let env = self.inner.env(view);
        truth(e, &env, usize::MAX)
    }

    /// The plain evaluation: each rule's condition walked as written, each
    /// target predicate evaluated for its own rule. Slower, and the oracle the
    /// fast path is tested against; not part of the supported API.
    #[doc(hidden)]
    pub fn evaluate_reference(&self, view: &TurnView, out: &mut Verdict) {
        let inner = &*self.inner;
        inner.reset(out);
        let env = inner.env(view);
        for (i, r) in inner.rules.iter().enumerate() {
            let res = match &r.expr {
                Some(e) => truth(e, &env, usize::MAX),
                None => Ok(true),
            };
            let err = match res {
                Ok(false) => continue,
                Ok(true) => None,
                Err(e) => Some(e),
            };
            apply(inner, &env, out, i, err, false);
        }
    }
}

/// Applies rule `i`, whose condition held (`err` none) or is unknown (`err`
/// says why), to `out`; `cached` shares predicate results between rules.
pub(super) fn apply(
    inner: &Inner,
    env: &Env,
    out: &mut Verdict,
    i: usize,
    mut err: Option<EvalError>,
    cached: bool,
) {
    let Some(&r) = inner
        .hot_ids
        .get(i)
        .and_then(|&h| inner.hot.get(h as usize))
    else {
        return;
    };
    let w = inner.words;
    let word_run = |at: u32| {
        let at = at as usize;
        inner.static_words.get(at..at + w).unwrap_or(&[])
    };
    let (targets, words): (u32, &[u64]) = if !r.pred {
        // Load-time targets are not copied: the fired rule points at the rule set's words.
        (r.target | STATIC_TARGETS, word_run(r.target))
    } else {
        // Rules often share a predicate (same attribute, same customer value):
        // each distinct one is evaluated at most once per turn.
        let id = r.target as usize;
        let pred = inner.preds.get(id);
        let at = id * 2 * w;
        let done = out.pred_done.get(id).copied().unwrap_or(false);
        let (t, e, perr): (&[u64], &[u64], Option<EvalError>) =
            match out.pred_words.get_mut(at..at + 2 * w).filter(|_| cached) {
                Some(te) => {
                    let (t, e) = te.split_at_mut(w);
                    if !done {
                        let mut perr = None;
                        if let Some(pred) = pred {
                            eval_set(pred, env, inner, t, e, &mut out.scratch, &mut perr);
                        }
                        if let Some(x) = out.pred_err.get_mut(id) {
                            *x = perr;
                        }
                        if let Some(x) = out.pred_done.get_mut(id) {
                            *x = true;
                        }
                        if let Some(x) = out.pred_runs.get_mut(2 * id..2 * id + 2) {
                            x.fill(NO_RUN);
                        }
                    }
                    (t, e, out.pred_err.get(id).copied().flatten())
                }
                None => {
                    let (te, rest) = out.scratch.split_at_mut(2 * w);
                    let (t, e) = te.split_at_mut(w);
                    let mut perr = None;
                    if let Some(pred) = pred {
                        eval_set(pred, env, inner, t, e, rest, &mut perr);
                    }
                    (t, e, perr)
                }
            };
        let base = if r.base == ALL_TRACKS {
            inner.all.words()
        } else {
            word_run(r.base)
        };
        // An error inside the predicate matters only if it left some target track undecided.
        if err.is_none() && e.iter().zip(base).any(|(x, b)| x & b != 0) {
            err = perr;
        }
        let forbid = r.effect == EffectKind::Forbid;
        // Rules with the same predicate over all tracks and the same kind of
        // effect target the same tracks: they share one run of words.
        let shared = (cached && r.base == ALL_TRACKS)
            .then_some(2 * id + usize::from(!forbid))
            .filter(|&k| k < out.pred_runs.len());
        let known = shared.and_then(|k| out.pred_runs.get(k).copied());
        let off = match known {
            Some(off) if off != NO_RUN => off as usize,
            _ => {
                let off = out.target_words.len();
                out.target_words
                    .extend(t.iter().zip(e).zip(base).map(|((&tk, &ek), &bk)| {
                        if forbid {
                            (tk | ek) & bk
                        } else {
                            tk & !ek & bk
                        }
                    }));
                if let Some(x) = shared.and_then(|k| out.pred_runs.get_mut(k)) {
                    *x = off as u32;
                }
                off
            }
        };
        (
            off as u32,
            out.target_words.get(off..off + w).unwrap_or(&[]),
        )
    };
    // A forbid or boost that reached no track changed nothing: not worth explaining.
    if err.is_none() && r.effect != EffectKind::Only && words.iter().all(|w| *w == 0) {
        return;
    }
    let mut boost = 0.0;
    match r.effect {
        EffectKind::Forbid => out.forbidden.union_words(words),
        EffectKind::Only => {
            out.restricted.intersect_words(words);
            out.any_only = true;
        }
        EffectKind::Boost => {
            if err.is_none() {
                boost = r.boost;
                for b in members(words) {
                    if let Some(x) = out.boosts.get_mut(b) {
                        *x += boost;
                    }
                }
            }
        }
    }
    out.fired.push(Fired {
        rule: i as u32,
        error: err,
        targets,
        boost,
    });
}
