//! Evaluation of a compiled rule set for one turn.
//!
//! Conditions use three-valued (Kleene) logic: a value that cannot be read (an
//! optional attribute not sent, a value of the wrong type, an overflow) makes a
//! comparison *unknown*. `false and unknown` is `false` and `true or unknown` is
//! `true`, whatever the order, so `has customer.x and customer.x > 3` is safe;
//! anything else unknown leaves the whole condition unknown and the rule fails
//! closed: a forbid forbids, an only restricts, a boost is not applied. `and` and
//! `or` stop at the first operand that decides them.
//!
//! `last_reply` before the first reply equals no category: `last_reply == x` and
//! `last_reply in [..]` are false, `!=` and `not in` true, `has last_reply` false.
//!
//! Per-track predicates yield two sets: tracks where the predicate holds and
//! tracks where it could not be evaluated (e.g. the track lacks the attribute);
//! the latter count as an error for that track only.

use super::ast::{ArithOp, CmpOp};
use super::check::{CVal, TExpr, ValKind};
use super::compile::{
    key, Cond, Inner, RuleSet, SetPred, ALL_TRACKS, LONG_RULE, NEG_BIT, STATIC_TARGETS,
};
use super::{EffectKind, EvalError, Fired};
use crate::context::Val;
use crate::trackset::TrackSet;
use crate::turn::TurnView;

/// What a rule set decided for one turn; reusable scratch owned by the caller.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Union of the targets of matched (or failed-closed) forbid rules.
    pub forbidden: TrackSet,
    /// Intersection of the targets of matched `only` rules; meaningful iff `any_only`.
    pub restricted: TrackSet,
    /// Whether any `only` rule matched.
    pub any_only: bool,
    /// Per track: the sum of the boosts of matched boost rules (0 otherwise).
    pub boosts: Vec<f32>,
    /// Every rule that matched or failed closed, in rule order (a matched forbid or
    /// boost whose targets came out empty, e.g. `tracks where ...` with no track
    /// passing, is left out: it changed nothing).
    pub fired: Vec<Fired>,
    /// Arena of target sets: each `Fired` owns one [`TrackSet`]-sized run of words.
    pub target_words: Vec<u64>,
    scratch: Vec<u64>,
    /// Per leaf literal (`2 * leaf + negated`): bit 0 known true, bit 1 known false.
    lit_state: Vec<u8>,
    /// Per leaf: why it is unknown (meaningful only where its state is unknown).
    leaf_err: Vec<EvalError>,
    /// Rules whose condition is not known false, as a bitset over rule ids.
    live: Vec<u64>,
    /// Per rule in `long`: its condition's state (bit 0 true, bit 1 false).
    rule_state: Vec<u8>,
    /// Per distinct target predicate: its true and undecided sets, back to back.
    pred_words: Vec<u64>,
    pred_err: Vec<Option<EvalError>>,
    /// Whether the predicate was evaluated this turn.
    pred_done: Vec<bool>,
    /// Per distinct predicate and kind of effect (forbid, other): the offset of
    /// the target run that rules over all tracks share, or [`NO_RUN`].
    pred_runs: Vec<u32>,
    /// This evaluation's number; a class whose `class_gen` equals it was applied.
    generation: u32,
    /// Per rule class: the evaluation that last applied it, and what its rule
    /// recorded then (`None`: it changed nothing).
    class_gen: Vec<u32>,
    class_fired: Vec<Option<Fired>>,
}

/// No shared target run yet.
const NO_RUN: u32 = u32::MAX;

impl Verdict {
    /// Empty scratch for a catalog of `n_tracks` tracks.
    pub fn new(n_tracks: usize) -> Self {
        Self {
            forbidden: TrackSet::empty(n_tracks),
            restricted: TrackSet::full(n_tracks),
            any_only: false,
            boosts: vec![0.0; n_tracks],
            fired: Vec::new(),
            target_words: Vec::new(),
            scratch: Vec::new(),
            lit_state: Vec::new(),
            leaf_err: Vec::new(),
            live: Vec::new(),
            rule_state: Vec::new(),
            pred_words: Vec::new(),
            pred_err: Vec::new(),
            pred_done: Vec::new(),
            pred_runs: Vec::new(),
            generation: 0,
            class_gen: Vec::new(),
            class_fired: Vec::new(),
        }
    }

    /// The tracks a fired rule targeted; `rules` is the rule set that produced this verdict.
    pub fn targets<'a>(
        &'a self,
        rules: &'a RuleSet,
        f: &Fired,
    ) -> impl Iterator<Item = usize> + 'a {
        rules
            .target_run(&self.target_words, f.targets)
            .iter()
            .enumerate()
            .flat_map(|(wi, &word)| {
                let mut word = word;
                std::iter::from_fn(move || {
                    if word == 0 {
                        None
                    } else {
                        let b = word.trailing_zeros() as usize;
                        word &= word - 1;
                        Some(wi * 64 + b)
                    }
                })
            })
    }

    /// `(restricted if any_only else all tracks) minus forbidden`, into `out`.
    pub fn allowed_into(&self, out: &mut TrackSet) {
        if self.any_only {
            out.copy_from(&self.restricted);
        } else {
            out.copy_from(&self.forbidden);
            out.fill();
        }
        out.subtract(&self.forbidden);
    }

    fn reset_classes(&mut self, classes: usize) {
        if self.class_gen.len() != classes {
            self.class_gen = vec![0; classes];
            self.class_fired = vec![None; classes];
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.class_gen.iter_mut().for_each(|g| *g = 0);
            self.generation = 1;
        }
    }

    fn reset(&mut self, n: usize, scratch: usize, leaves: usize, rules: usize, preds: usize) {
        if self.forbidden.universe() != n || self.boosts.len() != n {
            *self = Verdict::new(n);
        }
        self.forbidden.clear();
        self.restricted.fill();
        self.any_only = false;
        self.boosts.iter_mut().for_each(|b| *b = 0.0);
        self.fired.clear();
        self.target_words.clear();
        if self.scratch.len() < scratch {
            self.scratch.resize(scratch, 0);
        }
        if self.lit_state.len() < 2 * leaves {
            self.lit_state.resize(2 * leaves, 0);
        }
        if self.leaf_err.len() < leaves {
            self.leaf_err.resize(leaves, EvalError::Overflow);
        }
        if self.live.len() != rules.div_ceil(64) {
            self.live.resize(rules.div_ceil(64), 0);
        }
        if self.rule_state.len() < rules {
            self.rule_state.resize(rules, 0);
        }
        let w = n.div_ceil(64);
        if self.pred_words.len() < preds * 2 * w {
            self.pred_words.resize(preds * 2 * w, 0);
        }
        if self.pred_err.len() < preds {
            self.pred_err.resize(preds, None);
        }
        if self.pred_done.len() < preds {
            self.pred_done.resize(preds, false);
        }
        self.pred_done.iter_mut().for_each(|d| *d = false);
        if self.pred_runs.len() < 2 * preds {
            self.pred_runs.resize(2 * preds, NO_RUN);
        }
    }
}

/// What expression evaluation reads besides the expression.
pub(crate) struct Env<'a, 'v> {
    pub view: &'a TurnView<'v>,
    pub cols: &'a [Vec<Option<CVal>>],
    pub products: &'a [Option<Box<str>>],
    pub count_tracks: &'a [u32],
}

impl RuleSet {
    /// Evaluates every rule for one turn; clears and fills `out`.
    ///
    /// Never panics, and never allocates once `out` has been used with this rule set.
    pub fn evaluate(&self, view: &TurnView, out: &mut Verdict) {
        let inner = &*self.inner;
        let w = inner.words;
        out.reset(
            inner.n_tracks,
            inner.scratch_words + 2 * w,
            inner.leaves.len(),
            inner.rules.len(),
            inner.n_preds,
        );
        let env = Env {
            view,
            cols: &inner.cols,
            products: &inner.products,
            count_tracks: &inner.count_tracks,
        };
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

    /// The plain evaluation: each rule's condition walked as written, each
    /// target predicate evaluated for its own rule. Slower, and the oracle the
    /// fast path is tested against; not part of the supported API.
    #[doc(hidden)]
    pub fn evaluate_reference(&self, view: &TurnView, out: &mut Verdict) {
        let inner = &*self.inner;
        out.reset(
            inner.n_tracks,
            inner.scratch_words + 2 * inner.words,
            inner.leaves.len(),
            inner.rules.len(),
            inner.n_preds,
        );
        let env = Env {
            view,
            cols: &inner.cols,
            products: &inner.products,
            count_tracks: &inner.count_tracks,
        };
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
fn apply(
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
                for (wi, &word) in words.iter().enumerate() {
                    let mut word = word;
                    while word != 0 {
                        let b = wi * 64 + word.trailing_zeros() as usize;
                        word &= word - 1;
                        if let Some(x) = out.boosts.get_mut(b) {
                            *x += boost;
                        }
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

#[inline]
fn test(op: CmpOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
    }
}

#[inline]
fn cond(c: &Cond, env: &Env) -> Result<bool, EvalError> {
    let v = env.view;
    match c {
        Cond::Always => Ok(true),
        Cond::Never => Ok(false),
        Cond::IntCmp { slot, op, k } => match v.values.get(*slot as usize) {
            Some(Some(Val::Int(x))) => Ok(test(*op, x.cmp(k))),
            Some(Some(Val::Float(x))) => x
                .partial_cmp(&(*k as f64))
                .map(|o| test(*op, o))
                .ok_or(EvalError::TypeMismatch { slot: *slot }),
            Some(Some(_)) => Err(EvalError::TypeMismatch { slot: *slot }),
            _ => Err(EvalError::MissingAttribute { slot: *slot }),
        },
        Cond::Flag { slot, want } => match v.values.get(*slot as usize) {
            Some(Some(Val::Bool(b))) => Ok(b == want),
            Some(Some(_)) => Err(EvalError::TypeMismatch { slot: *slot }),
            _ => Err(EvalError::MissingAttribute { slot: *slot }),
        },
        Cond::EnumIn {
            slot,
            mask,
            negated,
        } => match v.values.get(*slot as usize) {
            Some(Some(Val::Enum(x))) => Ok((*x < 64 && mask & (1u64 << x) != 0) != *negated),
            Some(Some(_)) => Err(EvalError::TypeMismatch { slot: *slot }),
            _ => Err(EvalError::MissingAttribute { slot: *slot }),
        },
        Cond::Used { track, want } => {
            Ok((v.used.get(*track as usize).copied().unwrap_or(0) > 0) == *want)
        }
        Cond::CountCmp { track, op, k } => {
            let n = i64::from(v.used.get(*track as usize).copied().unwrap_or(0));
            Ok(test(*op, n.cmp(k)))
        }
        Cond::CountSpanCmp { start, len, op, k } => {
            let (start, len) = (*start as usize, *len as usize);
            let n: i64 = env
                .count_tracks
                .get(start..start + len)
                .unwrap_or(&[])
                .iter()
                .map(|t| i64::from(v.used.get(*t as usize).copied().unwrap_or(0)))
                .sum();
            Ok(test(*op, n.cmp(k)))
        }
        Cond::CountSetCmp { tracks, op, k } => {
            let n: i64 = tracks
                .iter()
                .map(|t| i64::from(v.used.get(*t as usize).copied().unwrap_or(0)))
                .sum();
            Ok(test(*op, n.cmp(k)))
        }
        Cond::FloatCmp { slot, op, k } => {
            let x = match v.values.get(*slot as usize) {
                Some(Some(Val::Int(x))) => *x as f64,
                Some(Some(Val::Float(x))) => *x,
                Some(Some(_)) => return Err(EvalError::TypeMismatch { slot: *slot }),
                _ => return Err(EvalError::MissingAttribute { slot: *slot }),
            };
            x.partial_cmp(k)
                .map(|o| test(*op, o))
                .ok_or(EvalError::TypeMismatch { slot: *slot })
        }
        Cond::TurnCmp { op, k } => Ok(test(*op, i64::from(v.turn).cmp(k))),
        Cond::TurnsLeftCmp { op, k } => Ok(test(*op, i64::from(v.turns_left()).cmp(k))),
        Cond::ReplyIn { mask, negated } => Ok(match v.last_reply {
            Some(r) if r < 64 => (mask & (1u64 << r) != 0) != *negated,
            _ => *negated,
        }),
        Cond::HasCtx(slot) => Ok(matches!(v.values.get(*slot as usize), Some(Some(_)))),
        Cond::HasReply => Ok(v.last_reply.is_some()),
        Cond::And(cs) => and3(cs.iter().map(|c| cond(c, env))),
        Cond::Or(cs) => or3(cs.iter().map(|c| cond(c, env))),
        Cond::Not(c) => cond(c, env).map(|b| !b),
        Cond::Generic(e) => truth(e, env, usize::MAX),
    }
}

/// Three-valued `and`, evaluated lazily: false as soon as one operand is false,
/// otherwise unknown (the first error) if one is unknown, otherwise true.
fn and3(ops: impl Iterator<Item = Result<bool, EvalError>>) -> Result<bool, EvalError> {
    let mut unknown = None;
    for x in ops {
        match x {
            Ok(false) => return Ok(false),
            Ok(true) => {}
            Err(e) => {
                unknown.get_or_insert(e);
            }
        }
    }
    unknown.map_or(Ok(true), Err)
}

/// Three-valued `or`, evaluated lazily: true as soon as one operand is true,
/// otherwise unknown (the first error) if one is unknown, otherwise false.
fn or3(ops: impl Iterator<Item = Result<bool, EvalError>>) -> Result<bool, EvalError> {
    let mut unknown = None;
    for x in ops {
        match x {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) => {
                unknown.get_or_insert(e);
            }
        }
    }
    unknown.map_or(Ok(false), Err)
}

/// Evaluates a condition; `track` is the track under test inside `tracks where`.
pub(crate) fn truth(e: &TExpr, env: &Env, track: usize) -> Result<bool, EvalError> {
    match e {
        TExpr::Const(CVal::Bool(b)) => Ok(*b),
        TExpr::HasCtx(slot) => Ok(matches!(env.view.values.get(*slot as usize), Some(Some(_)))),
        TExpr::HasReply => Ok(env.view.last_reply.is_some()),
        TExpr::Used(ts) => Ok(ts
            .iter()
            .any(|t| env.view.used.get(*t as usize).copied().unwrap_or(0) > 0)),
        TExpr::TrackTagged(s) => Ok(s.contains(track)),
        TExpr::HasTrackAttr(slot) => Ok(matches!(
            env.cols.get(*slot as usize).and_then(|c| c.get(track)),
            Some(Some(_))
        )),
        TExpr::HasTrackProduct => Ok(matches!(env.products.get(track), Some(Some(_)))),
        TExpr::Not(x) => truth(x, env, track).map(|b| !b),
        TExpr::And(v) => and3(v.iter().map(|x| truth(x, env, track))),
        TExpr::Or(v) => or3(v.iter().map(|x| truth(x, env, track))),
        TExpr::Cmp(op, a, b) => compare(*op, val(a, env, track)?, val(b, env, track)?),
        TExpr::In(negated, x, items) => {
            let v = val(x, env, track)?;
            let mut found = false;
            for it in items.iter() {
                if compare(CmpOp::Eq, v, it.as_val())? {
                    found = true;
                    break;
                }
            }
            Ok(found != *negated)
        }
        TExpr::Contains(a, b) => match (val(a, env, track)?, val(b, env, track)?) {
            (Val::Set(s), Val::Str(x)) => Ok(s.iter().any(|i| i == x)),
            _ => Err(EvalError::TypeMismatch { slot: u32::MAX }),
        },
        other => match val(other, env, track)? {
            Val::Bool(b) => Ok(b),
            _ => Err(EvalError::TypeMismatch { slot: u32::MAX }),
        },
    }
}

fn compare(op: CmpOp, a: Val, b: Val) -> Result<bool, EvalError> {
    let o = match (a, b) {
        (Val::Int(x), Val::Int(y)) => x.cmp(&y),
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let (x, y) = (key(a).unwrap_or(f64::NAN), key(b).unwrap_or(f64::NAN));
            x.partial_cmp(&y).ok_or(EvalError::Overflow)?
        }
        (Val::Time(x), Val::Time(y)) | (Val::Dur(x), Val::Dur(y)) => x.cmp(&y),
        (Val::Str(x), Val::Str(y)) => x.cmp(y),
        (Val::Enum(x), Val::Enum(y)) => x.cmp(&y),
        (Val::Bool(x), Val::Bool(y)) => x.cmp(&y),
        _ => return Err(EvalError::TypeMismatch { slot: u32::MAX }),
    };
    Ok(test(op, o))
}

fn kind_ok(k: ValKind, v: &Val) -> bool {
    matches!(
        (k, v),
        (ValKind::Bool, Val::Bool(_))
            | (ValKind::Num, Val::Int(_) | Val::Float(_))
            | (ValKind::Str, Val::Str(_))
            | (ValKind::Enum, Val::Enum(_))
            | (ValKind::Set, Val::Set(_))
            | (ValKind::Time, Val::Time(_))
            | (ValKind::Dur, Val::Dur(_))
    )
}

fn val<'a>(e: &'a TExpr, env: &Env<'a, 'a>, track: usize) -> Result<Val<'a>, EvalError> {
    let v = env.view;
    Ok(match e {
        TExpr::Const(c) => c.as_val(),
        TExpr::Ctx(slot, kind) => match v.values.get(*slot as usize) {
            Some(Some(x)) if kind_ok(*kind, x) => *x,
            Some(Some(_)) => return Err(EvalError::TypeMismatch { slot: *slot }),
            _ => return Err(EvalError::MissingAttribute { slot: *slot }),
        },
        TExpr::Turn => Val::Int(i64::from(v.turn)),
        TExpr::TurnsLeft => Val::Int(i64::from(v.turns_left())),
        TExpr::Now => Val::Time(v.now_ms),
        TExpr::LastReply => Val::Enum(v.last_reply.unwrap_or(u32::MAX)),
        TExpr::Count(ts) => Val::Int(
            ts.iter()
                .map(|t| i64::from(v.used.get(*t as usize).copied().unwrap_or(0)))
                .sum(),
        ),
        TExpr::TrackAttr(slot) => match env.cols.get(*slot as usize).and_then(|c| c.get(track)) {
            Some(Some(c)) => c.as_val(),
            _ => return Err(EvalError::MissingTrackAttribute { slot: *slot }),
        },
        TExpr::TrackId => Val::Enum(track as u32),
        TExpr::TrackProduct => match env.products.get(track) {
            Some(Some(p)) => Val::Str(p),
            _ => return Err(EvalError::MissingTrackAttribute { slot: u32::MAX }),
        },
        TExpr::Arith(op, a, b) => arith(*op, val(a, env, track)?, val(b, env, track)?)?,
        other => Val::Bool(truth(other, env, track)?),
    })
}

fn arith<'a>(op: ArithOp, a: Val<'a>, b: Val<'a>) -> Result<Val<'a>, EvalError> {
    use ArithOp::*;
    let zero = matches!(b, Val::Int(0)) || matches!(b, Val::Float(y) if y == 0.0);
    if op == Div && zero {
        return Err(EvalError::DivisionByZero);
    }
    let int = |x: i64, y: i64| match op {
        Add => x.checked_add(y),
        Sub => x.checked_sub(y),
        Mul => x.checked_mul(y),
        Div => x.checked_div(y),
    };
    let r = match (a, b) {
        (Val::Int(x), Val::Int(y)) => int(x, y).map(Val::Int),
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let (x, y) = (key(a).unwrap_or(f64::NAN), key(b).unwrap_or(f64::NAN));
            let z = match op {
                Add => x + y,
                Sub => x - y,
                Mul => x * y,
                Div => x / y,
            };
            z.is_finite().then_some(Val::Float(z))
        }
        (Val::Time(x), Val::Time(y)) if op == Sub => x.checked_sub(y).map(Val::Dur),
        (Val::Time(x), Val::Dur(y)) if matches!(op, Add | Sub) => int(x, y).map(Val::Time),
        (Val::Dur(x), Val::Time(y)) if op == Add => x.checked_add(y).map(Val::Time),
        (Val::Dur(x), Val::Dur(y)) if matches!(op, Add | Sub) => int(x, y).map(Val::Dur),
        _ => return Err(EvalError::TypeMismatch { slot: u32::MAX }),
    };
    r.ok_or(EvalError::Overflow)
}

/// Evaluates a per-track predicate into `t` (holds) and `e` (could not be
/// evaluated), using `scratch` for nested operands.
fn eval_set(
    p: &SetPred,
    env: &Env,
    inner: &Inner,
    t: &mut [u64],
    e: &mut [u64],
    scratch: &mut [u64],
    err: &mut Option<EvalError>,
) {
    // INVARIANT: `t`, `e`, `all` and every set in `inner` have exactly `w` words.
    let all = inner.all.words();
    let w = inner.words;
    match p {
        SetPred::Static {
            t: st,
            e: se,
            err: serr,
        } => {
            t.copy_from_slice(st.words());
            e.copy_from_slice(se.words());
            if let Some(x) = serr {
                err.get_or_insert(*x);
            }
        }
        SetPred::Request(x) => {
            let r = truth(x, env, usize::MAX);
            let (tv, ev) = match r {
                Ok(true) => (true, false),
                Ok(false) => (false, false),
                Err(x) => {
                    err.get_or_insert(x);
                    (false, true)
                }
            };
            for k in 0..w {
                t[k] = if tv { all[k] } else { 0 };
                e[k] = if ev { all[k] } else { 0 };
            }
        }
        SetPred::Index { index, op, rhs } => {
            let Some(ix) = inner.indexes.get(*index as usize) else {
                return;
            };
            let k = match val(rhs, env, usize::MAX).map(key) {
                Ok(Some(k)) => k,
                Ok(None) | Err(_) => {
                    let x = val(rhs, env, usize::MAX)
                        .err()
                        .unwrap_or(EvalError::TypeMismatch { slot: u32::MAX });
                    err.get_or_insert(x);
                    t.iter_mut().for_each(|x| *x = 0);
                    e.copy_from_slice(all);
                    return;
                }
            };
            // Tracks with a value `< k` and `<= k`, each a binary search over the distinct values.
            let lt = || ix.below.get(ix.keys.partition_point(|x| *x < k));
            let le = || ix.below.get(ix.keys.partition_point(|x| *x <= k));
            let present = ix.present.words();
            let zero = |t: &mut [u64]| t.iter_mut().for_each(|x| *x = 0);
            match op {
                CmpOp::Lt | CmpOp::Le => match if *op == CmpOp::Lt { lt() } else { le() } {
                    Some(s) => t.copy_from_slice(s.words()),
                    None => zero(t),
                },
                CmpOp::Gt | CmpOp::Ge => {
                    let s = if *op == CmpOp::Gt { le() } else { lt() };
                    let s = s.map_or(present, TrackSet::words);
                    for i in 0..w {
                        t[i] = present[i] & !s[i];
                    }
                }
                CmpOp::Eq | CmpOp::Ne => {
                    let (a, b) = (
                        le().map_or(present, TrackSet::words),
                        lt().map_or(present, TrackSet::words),
                    );
                    for i in 0..w {
                        let eq = a[i] & !b[i];
                        t[i] = if *op == CmpOp::Eq {
                            eq
                        } else {
                            present[i] & !eq
                        };
                    }
                }
            }
            e.copy_from_slice(ix.missing.words());
            if !ix.missing.is_empty() {
                err.get_or_insert(EvalError::MissingTrackAttribute { slot: ix.slot });
            }
        }
        SetPred::Not(x) => {
            eval_set(x, env, inner, t, e, scratch, err);
            for i in 0..w {
                t[i] = all[i] & !t[i] & !e[i];
            }
        }
        SetPred::And(v) | SetPred::Or(v) => {
            let is_and = matches!(p, SetPred::And(_));
            if scratch.len() < 2 * w {
                // INVARIANT: compile sizes the scratch for the deepest predicate; fail closed if not.
                t.iter_mut().for_each(|x| *x = 0);
                e.copy_from_slice(all);
                err.get_or_insert(EvalError::Overflow);
                return;
            }
            // `e` holds the tracks where the result is known false until the end.
            for i in 0..w {
                t[i] = if is_and { all[i] } else { 0 };
                e[i] = if is_and { 0 } else { all[i] };
            }
            let (tc, rest) = scratch.split_at_mut(w);
            let (ec, rest) = rest.split_at_mut(w);
            for x in v.iter() {
                eval_set(x, env, inner, tc, ec, rest, err);
                for i in 0..w {
                    let fc = all[i] & !tc[i] & !ec[i];
                    if is_and {
                        t[i] &= tc[i];
                        e[i] |= fc;
                    } else {
                        t[i] |= tc[i];
                        e[i] &= fc;
                    }
                }
            }
            for i in 0..w {
                e[i] = all[i] & !t[i] & !e[i];
            }
        }
        SetPred::PerTrack(x) => {
            t.iter_mut().for_each(|x| *x = 0);
            e.iter_mut().for_each(|x| *x = 0);
            for tr in 0..inner.n_tracks {
                match truth(x, env, tr) {
                    Ok(true) => t[tr / 64] |= 1 << (tr % 64),
                    Ok(false) => {}
                    Err(er) => {
                        e[tr / 64] |= 1 << (tr % 64);
                        err.get_or_insert(er);
                    }
                }
            }
        }
    }
}
