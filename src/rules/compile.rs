//! Checked rules → the compiled rule set (`compiled.rs`) evaluated on every turn.
//!
//! All work that does not depend on the request is done here, once: constant
//! folding, target track sets for ids and tags, track predicates that read only
//! the catalog folded into sets, and per track attribute a sorted index with
//! prefix sets so that `tracks where track.min_age > customer.age` costs a
//! binary search and a set copy at run time instead of a loop over tracks.

use crate::problem::Code;
use std::collections::HashMap;
use std::sync::Arc;

use super::ast::CmpOp;
use super::compiled::{
    key, CRule, Cond, HotRule, Inner, RCond, RuleSet, SetPred, SortedIndex, ALL_TRACKS, LONG_RULE,
    NEG_BIT,
};
use super::suggest::clip;
use super::truth::{truth, Env};
use super::typed::{CVal, CheckedRule, TExpr, TTargets, ValKind};
use super::{EffectKind, RuleEnv};
use crate::context::AttrType;
use crate::problem::Problem;
use crate::trackset::TrackSet;
use crate::turn_view::{ContactLog, TurnView};

/// Builds the run-time rule set from checked rules; returns warnings found on the way.
pub(crate) fn build(checked: Vec<CheckedRule>, env: &RuleEnv) -> (RuleSet, Vec<Problem>) {
    let cat = env.catalog;
    let n = cat.len();
    let attr_schema = cat.attr_schema();
    let cols: Vec<Vec<Option<CVal>>> = (0..attr_schema.len())
        .map(|slot| {
            (0..n)
                .map(|t| cat.attr(slot, t).map(CVal::from_val))
                .collect()
        })
        .collect();
    let products = cat
        .tracks()
        .iter()
        .map(|t| t.product.as_deref().map(Into::into))
        .collect();
    let mut inner = Inner {
        rules: Vec::with_capacity(checked.len()),
        hot: Vec::new(),
        hot_ids: Vec::with_capacity(checked.len()),
        class_of: Vec::new(),
        n_classes: 0,
        count_tracks: Vec::new(),
        preds: Vec::new(),
        leaves: Vec::new(),
        conds: Vec::new(),
        lits: Vec::new(),
        pairs: Vec::new(),
        long: Vec::new(),
        watch: Vec::new(),
        watched: Vec::new(),
        unwatched: Vec::new(),
        static_words: Vec::new(),
        infos: Vec::with_capacity(checked.len()),
        n_tracks: n,
        words: n.div_ceil(64),
        all: TrackSet::full(n),
        cols,
        products,
        indexes: Vec::new(),
        scratch_words: 0,
        n_preds: 0,
        reads_contacts: false,
        contact_horizon_ms: -1,
        condition_counts_contacts: Vec::with_capacity(checked.len()),
    };
    let counts_contacts = |e: &TExpr| e.any(&|x| matches!(x, TExpr::Contacts(_)));
    inner.reads_contacts = checked.iter().any(|c| {
        c.cond.as_ref().is_some_and(counts_contacts)
            || matches!(&c.targets, TTargets::Pred(_, e) if counts_contacts(e))
    });
    // The longest window any `contacts(..)` counts in: older contacts count nowhere.
    let mut horizon = -1i64;
    for c in &checked {
        let mut widen = |e: &TExpr| {
            e.visit(&mut |x| {
                if let TExpr::Contacts(q) = x {
                    horizon = horizon.max(q.within_ms);
                }
            })
        };
        if let Some(e) = &c.cond {
            widen(e);
        }
        if let TTargets::Pred(_, e) = &c.targets {
            widen(e);
        }
        inner
            .condition_counts_contacts
            .push(c.cond.as_ref().is_some_and(counts_contacts));
    }
    inner.contact_horizon_ms = horizon;
    let mut pred_ids: HashMap<String, u32> = HashMap::new();
    let mut hot_index: HashMap<(EffectKind, bool, u32, u32, u32), u32> = HashMap::new();
    let mut index_of: HashMap<u32, u32> = HashMap::new();
    let mut warnings = Vec::new();
    let mut depth = 0;
    for c in checked {
        let cond = match &c.cond {
            None => Cond::Always,
            Some(e) => lower_cond(e, &inner, env),
        };
        let mut static_set = None;
        let written_targets = c.targets.clone();
        let target = match c.targets {
            TTargets::Set(s) => {
                static_set = Some(s);
                None
            }
            TTargets::Pred(base, p) => {
                let pred = lower_pred(&p, &mut inner, &mut index_of, env);
                match (&pred, &base) {
                    (SetPred::Static { t, e, err: None }, _) if e.is_empty() => {
                        let mut s = t.clone();
                        if let Some(b) = &base {
                            s.intersect_with(b);
                        }
                        static_set = Some(s);
                        None
                    }
                    _ => {
                        depth = depth.max(pred.depth());
                        let n_preds = inner.preds.len() as u32;
                        let id = *pred_ids.entry(format!("{pred:?}")).or_insert(n_preds);
                        if id == n_preds {
                            inner.preds.push(pred);
                        }
                        let base = match base {
                            None => ALL_TRACKS,
                            Some(b) => {
                                let off = inner.static_words.len() as u32;
                                inner.static_words.extend_from_slice(b.words());
                                off
                            }
                        };
                        Some((id, base))
                    }
                }
            }
        };
        let (pred, target, base) = match target {
            Some((id, base)) => (true, id, base),
            None => {
                let off = inner.static_words.len() as u32;
                if let Some(s) = &static_set {
                    inner.static_words.extend_from_slice(s.words());
                }
                (false, off, ALL_TRACKS)
            }
        };
        if c.info.effect == EffectKind::Only {
            if let Some(s) = &static_set {
                if s.is_empty() {
                    warnings.push(
                        Problem::warning(
                            Code::RulesEmptyOnly,
                            &c.info.file,
                            format!("rule `{}` allows no track at all", clip(&c.info.id)),
                        )
                        .at(&c.src, c.effect_span.pair(), "no track matches")
                        .with_help("when it matches only the fallback track is left; check the tags or the `where` condition"),
                    );
                }
            }
        }
        inner.rules.push(CRule {
            cond,
            expr: c.cond.clone(),
            targets: written_targets,
            sites: c.sites,
        });
        let entry = HotRule {
            effect: c.info.effect,
            pred,
            target,
            base,
            boost: c.boost,
        };
        let key = (entry.effect, pred, target, base, c.boost.to_bits());
        let id = *hot_index.entry(key).or_insert_with(|| {
            inner.hot.push(entry);
            (inner.hot.len() - 1) as u32
        });
        inner.hot_ids.push(id);
        inner.infos.push(c.info);
    }
    inner.scratch_words = depth * 2 * inner.words;
    inner.n_preds = inner.preds.len();
    flatten_all(&mut inner);
    group_duplicates(&mut inner);
    (
        RuleSet {
            inner: Arc::new(inner),
        },
        warnings,
    )
}

/// A view with no context, for folding expressions that do not read the request.
fn with_empty_view<R>(inner: &Inner, env: &RuleEnv, f: impl FnOnce(&Env) -> R) -> R {
    let used = vec![0u16; inner.n_tracks];
    let view = TurnView {
        values: &[],
        now_ms: 0,
        turn: 0,
        max_turns: env.max_turns,
        used: &used,
        last_reply: None,
        embedding: None,
        contacts: ContactLog::empty(),
    };
    let e = Env {
        view: &view,
        cols: &inner.cols,
        products: &inner.products,
        count_tracks: &inner.count_tracks,
    };
    f(&e)
}

fn lower_cond(e: &TExpr, inner: &Inner, env: &RuleEnv) -> Cond {
    if !e.reads_request() {
        if let Ok(b) = with_empty_view(inner, env, |x| truth(e, x, usize::MAX)) {
            return if b { Cond::Always } else { Cond::Never };
        }
    }
    match e {
        TExpr::Cmp(op, a, b) => match (&**a, &**b) {
            (TExpr::Ctx(slot, ValKind::Num), TExpr::Const(CVal::Int(k))) => Cond::IntCmp {
                slot: *slot,
                op: *op,
                k: *k,
            },
            (TExpr::Const(CVal::Int(k)), TExpr::Ctx(slot, ValKind::Num)) => Cond::IntCmp {
                slot: *slot,
                op: op.flip(),
                k: *k,
            },
            (TExpr::Ctx(slot, ValKind::Enum), TExpr::Const(CVal::Enum(v)))
            | (TExpr::Const(CVal::Enum(v)), TExpr::Ctx(slot, ValKind::Enum))
                if *v < 64 && matches!(op, CmpOp::Eq | CmpOp::Ne) =>
            {
                Cond::EnumIn {
                    slot: *slot,
                    mask: 1 << v,
                    negated: *op == CmpOp::Ne,
                }
            }
            (TExpr::Count(ts), TExpr::Const(CVal::Int(k))) if ts.len() == 1 => Cond::CountCmp {
                track: ts[0],
                op: *op,
                k: *k,
            },
            (TExpr::Count(ts), TExpr::Const(CVal::Int(k))) => Cond::CountSetCmp {
                tracks: ts.iter().copied().collect(),
                op: *op,
                k: *k,
            },
            (TExpr::Ctx(slot, ValKind::Num), TExpr::Const(CVal::Float(k))) => Cond::FloatCmp {
                slot: *slot,
                op: *op,
                k: *k,
            },
            (TExpr::Const(CVal::Float(k)), TExpr::Ctx(slot, ValKind::Num)) => Cond::FloatCmp {
                slot: *slot,
                op: op.flip(),
                k: *k,
            },
            (TExpr::Contacts(q), TExpr::Const(CVal::Int(k))) => Cond::ContactsCmp {
                q: q.clone(),
                op: *op,
                k: *k,
            },
            (TExpr::Const(CVal::Int(k)), TExpr::Contacts(q)) => Cond::ContactsCmp {
                q: q.clone(),
                op: op.flip(),
                k: *k,
            },
            (TExpr::Turn, TExpr::Const(CVal::Int(k))) => Cond::TurnCmp { op: *op, k: *k },
            (TExpr::Const(CVal::Int(k)), TExpr::Turn) => Cond::TurnCmp {
                op: op.flip(),
                k: *k,
            },
            (TExpr::TurnsLeft, TExpr::Const(CVal::Int(k))) => Cond::TurnsLeftCmp { op: *op, k: *k },
            (TExpr::Const(CVal::Int(k)), TExpr::TurnsLeft) => Cond::TurnsLeftCmp {
                op: op.flip(),
                k: *k,
            },
            (TExpr::LastReply, TExpr::Const(CVal::Enum(v)))
            | (TExpr::Const(CVal::Enum(v)), TExpr::LastReply)
                if *v < 64 && matches!(op, CmpOp::Eq | CmpOp::Ne) =>
            {
                Cond::ReplyIn {
                    mask: 1 << v,
                    negated: *op == CmpOp::Ne,
                }
            }
            _ => Cond::Generic(Box::new(e.clone())),
        },
        TExpr::HasCtx(slot) => Cond::HasCtx(*slot),
        TExpr::HasReply => Cond::HasReply,
        TExpr::And(v) => Cond::And(v.iter().map(|x| lower_cond(x, inner, env)).collect()),
        TExpr::Or(v) => Cond::Or(v.iter().map(|x| lower_cond(x, inner, env)).collect()),
        TExpr::Ctx(slot, ValKind::Bool) => Cond::Flag {
            slot: *slot,
            want: true,
        },
        TExpr::In(negated, x, items) => match &**x {
            TExpr::Ctx(slot, ValKind::Enum)
                if items.iter().all(|i| matches!(i, CVal::Enum(v) if *v < 64)) =>
            {
                let mask = items.iter().fold(0u64, |m, i| match i {
                    CVal::Enum(v) => m | 1 << v,
                    _ => m,
                });
                Cond::EnumIn {
                    slot: *slot,
                    mask,
                    negated: *negated,
                }
            }
            TExpr::LastReply if items.iter().all(|i| matches!(i, CVal::Enum(v) if *v < 64)) => {
                let mask = items.iter().fold(0u64, |m, i| match i {
                    CVal::Enum(v) => m | 1 << v,
                    _ => m,
                });
                Cond::ReplyIn {
                    mask,
                    negated: *negated,
                }
            }
            _ => Cond::Generic(Box::new(e.clone())),
        },
        TExpr::Used(ts) if ts.len() == 1 => Cond::Used {
            track: ts[0],
            want: true,
        },
        TExpr::Not(x) => match &**x {
            TExpr::Ctx(slot, ValKind::Bool) => Cond::Flag {
                slot: *slot,
                want: false,
            },
            TExpr::Used(ts) if ts.len() == 1 => Cond::Used {
                track: ts[0],
                want: false,
            },
            _ => Cond::Not(Box::new(lower_cond(x, inner, env))),
        },
        _ => Cond::Generic(Box::new(e.clone())),
    }
}

fn indexable(ty: &AttrType) -> bool {
    matches!(
        ty,
        AttrType::Int | AttrType::Float | AttrType::Timestamp | AttrType::Duration
    )
}

fn lower_pred(
    e: &TExpr,
    inner: &mut Inner,
    index_of: &mut HashMap<u32, u32>,
    env: &RuleEnv,
) -> SetPred {
    let n = inner.n_tracks;
    if !e.reads_request() {
        // Reads only the catalog: decide every track now.
        let mut t = TrackSet::empty(n);
        let mut es = TrackSet::empty(n);
        let mut err = None;
        with_empty_view(inner, env, |x| {
            for tr in 0..n {
                match truth(e, x, tr) {
                    Ok(true) => t.insert(tr),
                    Ok(false) => {}
                    Err(er) => {
                        es.insert(tr);
                        err.get_or_insert(er);
                    }
                }
            }
        });
        return SetPred::Static { t, e: es, err };
    }
    if !e.reads_track() {
        return SetPred::Request(e.clone());
    }
    match e {
        TExpr::Not(x) => SetPred::Not(Box::new(lower_pred(x, inner, index_of, env))),
        TExpr::And(v) => SetPred::And(
            v.iter()
                .map(|x| lower_pred(x, inner, index_of, env))
                .collect(),
        ),
        TExpr::Or(v) => SetPred::Or(
            v.iter()
                .map(|x| lower_pred(x, inner, index_of, env))
                .collect(),
        ),
        TExpr::Cmp(op, a, b) => {
            let (slot, op, rhs) = match (&**a, &**b) {
                (TExpr::TrackAttr(s), r) if !r.reads_track() => (*s, *op, r),
                (l, TExpr::TrackAttr(s)) if !l.reads_track() => (*s, op.flip(), l),
                _ => return SetPred::PerTrack(e.clone()),
            };
            let ty = env
                .catalog
                .attr_schema()
                .attrs()
                .get(slot as usize)
                .map(|d| &d.ty);
            if !ty.is_some_and(indexable) {
                return SetPred::PerTrack(e.clone());
            }
            let index = *index_of.entry(slot).or_insert_with(|| {
                let idx = build_index(slot, inner);
                inner.indexes.push(idx);
                (inner.indexes.len() - 1) as u32
            });
            SetPred::Index {
                index,
                op,
                rhs: rhs.clone(),
            }
        }
        _ => SetPred::PerTrack(e.clone()),
    }
}

fn build_index(slot: u32, inner: &Inner) -> SortedIndex {
    let n = inner.n_tracks;
    let mut present = TrackSet::empty(n);
    let mut missing = TrackSet::empty(n);
    let mut pairs: Vec<(f64, usize)> = Vec::new();
    if let Some(col) = inner.cols.get(slot as usize) {
        for (t, v) in col.iter().enumerate() {
            match v.as_ref().and_then(|v| key(v.as_val())) {
                Some(k) => {
                    present.insert(t);
                    pairs.push((k, t));
                }
                None => missing.insert(t),
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut keys: Vec<f64> = Vec::new();
    let mut below = Vec::new();
    let mut acc = TrackSet::empty(n);
    for (k, t) in &pairs {
        if keys.last() != Some(k) {
            keys.push(*k);
            below.push(acc.clone());
        }
        acc.insert(*t);
    }
    below.push(acc);
    SortedIndex {
        slot,
        keys,
        below,
        present,
        missing,
    }
}

/// Leaf literals of the always-true leaf, used as padding.
const TRUE_LIT: u32 = 0;

/// Pushes the literals of `c` (negated when `neg`) as operands of one
/// conjunction; false when the shape is not a conjunction of literals.
fn conj_lits(c: &Cond, neg: bool, out: &mut Vec<(Cond, bool)>) -> bool {
    match (c, neg) {
        (Cond::And(v), false) | (Cond::Or(v), true) => v.iter().all(|x| conj_lits(x, neg, out)),
        (Cond::And(_) | Cond::Or(_), _) => false,
        (Cond::Not(x), _) => conj_lits(x, !neg, out),
        (Cond::Generic(_), _) | (_, _) => {
            out.push((c.clone(), neg));
            true
        }
    }
}

fn kind_rank(c: &Cond) -> (u8, u8) {
    let op = |o: &CmpOp| *o as u8;
    match c {
        Cond::Always => (0, 0),
        Cond::Never => (1, 0),
        Cond::IntCmp { op: o, .. } => (2, op(o)),
        Cond::Flag { .. } => (3, 0),
        Cond::Used { .. } => (4, 0),
        Cond::EnumIn { .. } => (5, 0),
        Cond::CountCmp { op: o, .. } => (6, op(o)),
        Cond::CountSetCmp { op: o, .. } | Cond::CountSpanCmp { op: o, .. } => (7, op(o)),
        Cond::FloatCmp { op: o, .. } => (8, op(o)),
        Cond::TurnCmp { op: o, .. } => (9, op(o)),
        Cond::TurnsLeftCmp { op: o, .. } => (10, op(o)),
        Cond::ReplyIn { .. } => (11, 0),
        Cond::ContactsCmp { op: o, .. } => (16, op(o)),
        Cond::HasCtx(_) => (12, 0),
        Cond::HasReply => (13, 0),
        Cond::And(_) | Cond::Or(_) | Cond::Not(_) => (14, 0),
        Cond::Generic(_) => (15, 0),
    }
}

/// Collects the distinct leaves of every rule and writes each rule's condition
/// as literals over them.
fn flatten_all(inner: &mut Inner) {
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut leaves: Vec<Cond> = Vec::new();
    let mut intern = |c: Cond, leaves: &mut Vec<Cond>| -> u32 {
        let key = format!("{c:?}");
        *ids.entry(key).or_insert_with(|| {
            leaves.push(c);
            (leaves.len() - 1) as u32
        })
    };
    // Leaf 0 is always true: the padding literal.
    intern(Cond::Always, &mut leaves);
    let mut raw: Vec<(Vec<u32>, bool, bool)> = Vec::with_capacity(inner.rules.len());
    let mut buf = Vec::new();
    for r in &inner.rules {
        buf.clear();
        let (ok, neg) = if conj_lits(&r.cond, false, &mut buf) {
            (true, false)
        } else {
            buf.clear();
            (conj_lits(&r.cond, true, &mut buf), true)
        };
        // Literal ids must leave NEG_BIT free.
        let ok = ok && buf.len() <= usize::from(u16::MAX) && leaves.len() < (1 << 29);
        let lits = if ok {
            buf.drain(..)
                .map(|(c, n)| 2 * intern(c, &mut leaves) + u32::from(n))
                .collect()
        } else {
            Vec::new()
        };
        raw.push((lits, neg, !ok));
    }
    // Group leaves by kind and operator; remap literals to the new order.
    let mut order: Vec<u32> = (0..leaves.len() as u32).collect();
    order.sort_by_key(|&i| leaves.get(i as usize).map(kind_rank));
    let mut new_of = vec![0u32; leaves.len()];
    for (new, &old) in order.iter().enumerate() {
        if let Some(x) = new_of.get_mut(old as usize) {
            *x = new as u32;
        }
    }
    let remap = |l: u32| 2 * new_of.get((l / 2) as usize).copied().unwrap_or(0) + (l & 1);
    let mut slots: Vec<Option<Cond>> = leaves.into_iter().map(Some).collect();
    inner.leaves = order
        .iter()
        .filter_map(|&i| slots.get_mut(i as usize).and_then(Option::take))
        .collect();
    // Leaves that count several tracks read them from one array, in leaf order.
    for leaf in &mut inner.leaves {
        if let Cond::CountSetCmp { tracks, op, k } = leaf {
            let start = inner.count_tracks.len() as u32;
            inner.count_tracks.extend_from_slice(tracks);
            *leaf = Cond::CountSpanCmp {
                start,
                len: tracks.len() as u32,
                op: *op,
                k: *k,
            };
        }
    }
    let true_lit = remap(TRUE_LIT);
    inner.conds = raw
        .into_iter()
        .map(|(lits, neg, fallback)| {
            let lits: Vec<u32> = lits.into_iter().map(remap).collect();
            let extra_start = inner.lits.len() as u32;
            let extra = lits.get(2..).unwrap_or(&[]);
            inner.lits.extend_from_slice(extra);
            RCond {
                a: lits.first().copied().unwrap_or(true_lit),
                b: lits.get(1).copied().unwrap_or(true_lit),
                extra_start,
                extra_len: extra.len() as u16,
                neg,
                fallback,
            }
        })
        .collect();
    inner.pairs = inner
        .conds
        .iter()
        .map(|c| {
            if c.fallback || c.extra_len > 0 {
                (0, LONG_RULE)
            } else {
                (c.a | if c.neg { NEG_BIT } else { 0 }, c.b)
            }
        })
        .collect();
    inner.long = (0..inner.conds.len() as u32)
        .filter(|&i| {
            inner
                .conds
                .get(i as usize)
                .is_some_and(|c| c.fallback || c.extra_len > 0)
        })
        .collect();
    group_by_watch(inner, true_lit);
}

/// Groups rules that behave identically (see [`Inner::class_of`]); boost rules and
/// rules whose condition does not flatten to a pair each form their own class.
fn group_duplicates(inner: &mut Inner) {
    let mut ids: HashMap<(u32, u32, u32), u32> = HashMap::new();
    let mut n = 0u32;
    let mut class_of = Vec::with_capacity(inner.pairs.len());
    for (i, &(a, b)) in inner.pairs.iter().enumerate() {
        let h = inner.hot_ids.get(i).copied().unwrap_or(u32::MAX);
        let boost = inner
            .hot
            .get(h as usize)
            .is_none_or(|r| r.effect == EffectKind::Boost);
        let class = if boost || b == LONG_RULE {
            None
        } else {
            Some(*ids.entry((a, b, h)).or_insert_with(|| {
                n += 1;
                n - 1
            }))
        };
        class_of.push(class.unwrap_or_else(|| {
            n += 1;
            n - 1
        }));
    }
    inner.class_of = class_of;
    inner.n_classes = n as usize;
}

/// Builds the watch groups: each plain conjunction watches one of its two
/// literals, the one that more rules share (it is more likely to rule out a
/// whole group at once; the always-true padding literal only when there is no
/// other). Which one is watched changes the speed, never the result.
fn group_by_watch(inner: &mut Inner, true_lit: u32) {
    let mut uses: HashMap<u32, u32> = HashMap::new();
    for &(a, b) in &inner.pairs {
        if b != LONG_RULE && a & NEG_BIT == 0 {
            *uses.entry(a).or_default() += 1;
            if b != a {
                *uses.entry(b).or_default() += 1;
            }
        }
    }
    let count = |l: u32| {
        if l == true_lit {
            0
        } else {
            uses.get(&l).copied().unwrap_or(0)
        }
    };
    let mut by_lit: Vec<(u32, u32, u32)> = Vec::with_capacity(inner.pairs.len());
    inner.unwatched.clear();
    for (i, &(a, b)) in inner.pairs.iter().enumerate() {
        if b == LONG_RULE || a & NEG_BIT != 0 {
            inner.unwatched.push(i as u32);
        } else if count(b) > count(a) {
            by_lit.push((b, i as u32, a));
        } else {
            by_lit.push((a, i as u32, b));
        }
    }
    by_lit.sort_unstable();
    inner.watch.clear();
    inner.watched = by_lit.iter().map(|&(_, i, o)| (i, o)).collect();
    let mut start = 0usize;
    while let Some(&(lit, _, _)) = by_lit.get(start) {
        let end = by_lit
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .position(|&(l, _, _)| l != lit)
            .map_or(by_lit.len(), |k| start + k);
        inner.watch.push((lit, start as u32, end as u32));
        start = end;
    }
}
