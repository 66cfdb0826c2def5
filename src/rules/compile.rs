//! Checked rules → the flat form evaluated on every turn.
//!
//! All work that does not depend on the request is done here, once: constant
//! folding, target track sets for ids and tags, track predicates that read only
//! the catalog folded into sets, and per track attribute a sorted index with
//! prefix sets so that `tracks where track.min_age > customer.age` costs a
//! binary search and a set copy at run time instead of a loop over tracks.

use std::collections::HashMap;
use std::sync::Arc;

use super::ast::CmpOp;
use super::check::{CVal, CheckedRule, TExpr, TTargets, ValKind};
use super::eval::{truth, Env};
use super::{EffectKind, EvalError, RuleEnv, RuleInfo};
use crate::context::{AttrType, Val};
use crate::diag::{Code, Problem};
use crate::trackset::TrackSet;
use crate::turn::TurnView;

/// A rule's condition in run-time form; the common shapes get their own variant.
#[derive(Clone, Debug)]
pub(crate) enum Cond {
    Always,
    Never,
    /// `customer.x <op> k` for a numeric attribute and an integer constant.
    IntCmp {
        slot: u32,
        op: CmpOp,
        k: i64,
    },
    /// `customer.flag` (`want`) or `not customer.flag`.
    Flag {
        slot: u32,
        want: bool,
    },
    /// `used(t)` (`want`) or `not used(t)`.
    Used {
        track: u32,
        want: bool,
    },
    /// `customer.e in [..]` / `not in` / `==` / `!=` for an enum with at most 64 variants.
    EnumIn {
        slot: u32,
        mask: u64,
        negated: bool,
    },
    /// `count(t) <op> k`.
    CountCmp {
        track: u32,
        op: CmpOp,
        k: i64,
    },
    /// `count(tagged t) <op> k`: the summed use count of several tracks.
    CountSetCmp {
        tracks: Box<[u32]>,
        op: CmpOp,
        k: i64,
    },
    /// [`Cond::CountSetCmp`] as a leaf: its tracks are `len` entries from `start`
    /// in [`Inner::count_tracks`], next to the other leaves' tracks.
    CountSpanCmp {
        start: u32,
        len: u32,
        op: CmpOp,
        k: i64,
    },
    /// `customer.x <op> k` for a numeric attribute and a float constant.
    FloatCmp {
        slot: u32,
        op: CmpOp,
        k: f64,
    },
    /// `turn <op> k`.
    TurnCmp {
        op: CmpOp,
        k: i64,
    },
    /// `turns_left <op> k`.
    TurnsLeftCmp {
        op: CmpOp,
        k: i64,
    },
    /// `last_reply in [..]` / `==` (false before the first reply) or their negations.
    ReplyIn {
        mask: u64,
        negated: bool,
    },
    /// `has customer.x`.
    HasCtx(u32),
    /// `has last_reply`.
    HasReply,
    /// Three-valued `and` of fast conditions.
    And(Box<[Cond]>),
    /// Three-valued `or` of fast conditions.
    Or(Box<[Cond]>),
    /// Three-valued `not`.
    Not(Box<Cond>),
    Generic(Box<TExpr>),
}

/// A per-track predicate in run-time form: each node yields the tracks where it
/// is true and the tracks where it could not be evaluated.
#[derive(Clone, Debug)]
pub(crate) enum SetPred {
    /// Decided at load time (reads only the catalog).
    Static {
        t: TrackSet,
        e: TrackSet,
        err: Option<EvalError>,
    },
    /// Reads only the request: true for all tracks or none.
    Request(TExpr),
    /// `track.<attr> <op> rhs`, `rhs` not reading the track.
    Index {
        index: u32,
        op: CmpOp,
        rhs: TExpr,
    },
    Not(Box<SetPred>),
    And(Box<[SetPred]>),
    Or(Box<[SetPred]>),
    /// Anything else: evaluated track by track.
    PerTrack(TExpr),
}

impl SetPred {
    /// How many nested scratch set pairs evaluation needs.
    fn depth(&self) -> usize {
        match self {
            SetPred::Not(p) => p.depth(),
            SetPred::And(v) | SetPred::Or(v) => 1 + v.iter().map(SetPred::depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Tracks sorted by one numeric (or time) attribute, with prefix sets.
#[derive(Clone, Debug)]
pub(crate) struct SortedIndex {
    pub slot: u32,
    /// The distinct attribute values in ascending order (timestamps and durations
    /// as milliseconds); catalogs repeat values a lot, so this is usually short.
    pub keys: Vec<f64>,
    /// `below[i]`: the tracks whose value is less than `keys[i]`; `below[keys.len()]`
    /// holds every track that has the attribute.
    pub below: Vec<TrackSet>,
    /// Tracks that have the attribute.
    pub present: TrackSet,
    /// Tracks that lack it.
    pub missing: TrackSet,
}

/// What applying a rule reads, packed small and kept apart from the conditions
/// and predicate trees, so that the pass over matched rules touches one short
/// array (16 bytes a rule) however cold the caches are after the policy ran.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HotRule {
    pub effect: EffectKind,
    /// Whether the targets come from a predicate (`target` is then its index in
    /// [`Inner::preds`]) rather than a load-time set (`target` is then the offset
    /// of its words in [`Inner::static_words`]).
    pub pred: bool,
    pub target: u32,
    /// For a predicate: offset in [`Inner::static_words`] of the set it is
    /// intersected with, or [`ALL_TRACKS`].
    pub base: u32,
    pub boost: f32,
}

/// [`HotRule::base`] of a predicate over every track.
pub(crate) const ALL_TRACKS: u32 = u32::MAX;

/// A rule's condition as a conjunction of leaf literals, negated as a whole when
/// `neg` (so a disjunction is stored as `not` of the conjunction of the negated
/// literals, by De Morgan, which holds in three-valued logic too).
///
/// A literal is `2 * leaf + negated`; `a` and `b` are the first two literals
/// (padded with the always-true literal), `extra` the rest in [`Inner::lits`].
/// Literal order is the order of the source operands, so the first unknown
/// literal is the one whose error the tree walk would report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RCond {
    pub a: u32,
    pub b: u32,
    pub extra_start: u32,
    pub extra_len: u16,
    pub neg: bool,
    /// The shape does not flatten (e.g. `or` inside `and`): evaluate [`CRule::cond`].
    pub fallback: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct CRule {
    pub cond: Cond,
    /// The checked condition as written (`None`: always), for the reference evaluation.
    pub expr: Option<TExpr>,
}

impl RuleSet {
    /// Whether any rule condition reads how often tracks were used (`used`, `count`).
    pub fn reads_usage(&self) -> bool {
        self.inner.rules.iter().any(|r| {
            r.expr
                .as_ref()
                .is_some_and(|e| e.any(&|x| matches!(x, TExpr::Used(_) | TExpr::Count(_))))
        })
    }

    /// The tracks whose usage the rules read (`used(..)` and `count(..)`, tags expanded).
    pub fn usage_tracks(&self) -> std::collections::BTreeSet<u32> {
        let found = std::cell::RefCell::new(std::collections::BTreeSet::new());
        for r in &self.inner.rules {
            if let Some(e) = &r.expr {
                e.any(&|x| {
                    if let TExpr::Used(ts) | TExpr::Count(ts) = x {
                        found.borrow_mut().extend(ts.iter().copied());
                    }
                    false
                });
            }
        }
        found.into_inner()
    }

    /// The schema slots of the context attributes the rules read (in conditions or
    /// track predicates).
    pub fn context_slots(&self) -> std::collections::BTreeSet<u32> {
        let found = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let visit = |x: &TExpr| {
            if let TExpr::Ctx(slot, _) | TExpr::HasCtx(slot) = x {
                found.borrow_mut().insert(*slot);
            }
            false
        };
        fn pred_visit(p: &SetPred, f: &dyn Fn(&TExpr) -> bool) {
            match p {
                SetPred::Static { .. } => {}
                SetPred::Request(e) | SetPred::PerTrack(e) => {
                    e.any(f);
                }
                SetPred::Index { rhs, .. } => {
                    rhs.any(f);
                }
                SetPred::Not(q) => pred_visit(q, f),
                SetPred::And(v) | SetPred::Or(v) => v.iter().for_each(|q| pred_visit(q, f)),
            }
        }
        for r in &self.inner.rules {
            if let Some(e) = &r.expr {
                e.any(&visit);
            }
        }
        for p in &self.inner.preds {
            pred_visit(p, &visit);
        }
        found.into_inner()
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub rules: Vec<CRule>,
    /// The distinct effect-and-target entries, by [`Inner::hot_ids`]: rules
    /// with the same effect on the same targets (often the same predicate)
    /// share one, so applying them reads fewer cache lines.
    pub hot: Vec<HotRule>,
    /// Per rule, parallel to `rules`: its entry in [`Inner::hot`].
    pub hot_ids: Vec<u32>,
    /// The tracks of every `count(..)` leaf over several tracks, back to back.
    pub count_tracks: Vec<u32>,
    /// Per rule: its class. Forbid and `only` rules with the same condition
    /// literals and the same effect entry do the same thing, so evaluation
    /// applies the first of a class and records the others as firing alike.
    pub class_of: Vec<u32>,
    /// Number of classes.
    pub n_classes: usize,
    /// The distinct target predicates, by [`HotRule::target`].
    pub preds: Vec<SetPred>,
    /// Every distinct atomic condition, grouped by kind and operator so that the
    /// leaf loop's dispatch is predictable.
    pub leaves: Vec<Cond>,
    /// Per rule, parallel to `rules`: the condition over leaf literals.
    pub conds: Vec<RCond>,
    /// Literals beyond each rule's first two, back to back.
    pub lits: Vec<u32>,
    /// Per rule: its first two literals, the first with [`NEG_BIT`] set when the
    /// condition is negated as a whole, or `(0, LONG_RULE)` for a rule in `long`;
    /// condition is negated as a whole; exact for rules not in `long`.
    pub pairs: Vec<(u32, u32)>,
    /// Rules with more than two literals or a fallback condition.
    pub long: Vec<u32>,
    /// Rules grouped by a *watched* literal, one of their own: while it is known
    /// false, none of the group can match, so evaluation skips the group in one
    /// test. `(literal, start, end)` into [`Inner::watched`].
    pub watch: Vec<(u32, u32, u32)>,
    /// The watch groups' rules, back to back and ascending within a group:
    /// `(rule, its other literal)` (the padding literal for a one-literal rule).
    pub watched: Vec<(u32, u32)>,
    /// Rules no literal can rule out alone (negated conjunctions and `long`
    /// rules): their state is computed every turn.
    pub unwatched: Vec<u32>,
    /// The words of every load-time target set, back to back, so the hot loop stays in few cache lines.
    pub static_words: Vec<u64>,
    pub infos: Vec<RuleInfo>,
    pub n_tracks: usize,
    pub words: usize,
    pub all: TrackSet,
    /// `cols[slot][track]`: track attribute values.
    pub cols: Vec<Vec<Option<CVal>>>,
    pub products: Vec<Option<Box<str>>>,
    pub indexes: Vec<SortedIndex>,
    /// Number of distinct target predicates.
    pub n_preds: usize,
    /// Scratch words evaluation needs beyond the target pair.
    pub scratch_words: usize,
}

/// A compiled, immutable rule set; cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct RuleSet {
    pub(crate) inner: Arc<Inner>,
}

impl RuleSet {
    /// Number of rules.
    pub fn len(&self) -> usize {
        self.inner.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.inner.rules.is_empty()
    }

    /// Where rule `i` stands and what it says.
    ///
    /// `i` must be below [`RuleSet::len`] (indices come from `Fired::rule`);
    /// an out-of-range index returns the last rule's info rather than panicking,
    /// and a placeholder when the set is empty.
    pub fn rule(&self, i: usize) -> &RuleInfo {
        self.inner
            .infos
            .get(i)
            .or_else(|| self.inner.infos.last())
            .unwrap_or(&PLACEHOLDER)
    }

    /// The words of a fired rule's targets: `targets` is [`super::Fired::targets`],
    /// `arena` the verdict's [`super::Verdict::target_words`] it was recorded in.
    pub(crate) fn target_run<'a>(&'a self, arena: &'a [u64], targets: u32) -> &'a [u64] {
        let w = self.inner.words;
        let (words, at) = if targets & STATIC_TARGETS != 0 {
            (
                &self.inner.static_words[..],
                (targets & !STATIC_TARGETS) as usize,
            )
        } else {
            (arena, targets as usize)
        };
        words.get(at..at + w).unwrap_or(&[])
    }

    /// All rules' infos in rule order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.inner.infos
    }

    /// Number of catalog tracks the rules were compiled against.
    pub fn n_tracks(&self) -> usize {
        self.inner.n_tracks
    }
}

static PLACEHOLDER: RuleInfo = RuleInfo {
    id: String::new(),
    reason: String::new(),
    meta: Vec::new(),
    file: std::path::PathBuf::new(),
    line: 0,
    column: 0,
    effect: EffectKind::Forbid,
};

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
    };
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
        // The checker explains contradictory bounds; a condition that folds to false is caught here.
        if matches!(cond, Cond::Never) && !matches!(c.cond, Some(TExpr::Const(CVal::Bool(false)))) {
            warnings.push(
                Problem::warning(
                    Code::RulesNeverMatches,
                    &c.info.file,
                    format!("rule `{}` can never match", c.info.id),
                )
                .at(&c.src, c.cond_span.pair(), "this condition is always false")
                .with_help("the condition does not depend on the request; remove the rule or fix the condition"),
            );
        }
        let mut static_set = None;
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
                            format!("rule `{}` allows no track at all", c.info.id),
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

pub(crate) fn key(v: Val<'_>) -> Option<f64> {
    match v {
        Val::Int(i) | Val::Time(i) | Val::Dur(i) => Some(i as f64),
        Val::Float(x) => Some(x),
        _ => None,
    }
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

/// Marks a negated condition in the first literal of [`Inner::pairs`].
pub(crate) const NEG_BIT: u32 = 1 << 31;

/// Marks a [`super::Fired::targets`] offset into the rule set's load-time target
/// words rather than into the verdict's arena.
pub(crate) const STATIC_TARGETS: u32 = 1 << 31;

/// Second literal of a rule's pair when the rule is in [`Inner::long`].
pub(crate) const LONG_RULE: u32 = u32::MAX;

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
