//! The compiled rule set: the flat form evaluated on every turn.
//!
//! Conditions are lowered to leaf literals over distinct atomic conditions,
//! target predicates to set operations over sorted per-attribute indexes, and
//! what applying a rule reads is packed into small hot entries. `compile.rs`
//! builds it; `eval.rs` reads it.

use std::sync::Arc;

use super::ast::CmpOp;
use super::typed::{CVal, ContactQuery, TExpr, TTargets};
use super::{EffectKind, EvalError, RuleInfo};
use crate::context::Val;
use crate::trackset::TrackSet;

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
    /// `contacts(..) <op> k`.
    ContactsCmp {
        q: Box<ContactQuery>,
        op: CmpOp,
        k: i64,
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
    pub(crate) fn depth(&self) -> usize {
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
    /// The checked targets as written, for static analysis.
    pub targets: TTargets,
    /// Where its atoms are written, for coverage.
    pub sites: super::probe::Sites,
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

    /// Whether any rule condition counts past contacts (`contacts(..)`).
    pub fn reads_contacts(&self) -> bool {
        self.inner.reads_contacts
    }

    /// How far back any `contacts(..)` counts: the longest window of the calls,
    /// or `None` when no rule counts contacts. A contact older than the request
    /// time minus this is in no window.
    pub(crate) fn contact_horizon_ms(&self) -> Option<i64> {
        Some(self.inner.contact_horizon_ms).filter(|&h| h >= 0)
    }

    /// Whether rule `i`'s condition counts past contacts.
    pub(crate) fn condition_counts_contacts(&self, i: usize) -> bool {
        self.inner
            .condition_counts_contacts
            .get(i)
            .copied()
            .unwrap_or(false)
    }

    /// The `contacts(..)` calls in rule `i`'s condition, for explanations.
    pub(crate) fn contact_queries(&self, i: usize) -> Vec<&ContactQuery> {
        let mut out = Vec::new();
        if let Some(e) = self.inner.rules.get(i).and_then(|r| r.expr.as_ref()) {
            e.visit(&mut |x| {
                if let TExpr::Contacts(q) = x {
                    out.push(&**q);
                }
            });
        }
        out
    }

    /// Whether any rule condition reads the current time (`now`).
    pub fn reads_now(&self) -> bool {
        self.inner.rules.iter().any(|r| {
            r.expr
                .as_ref()
                .is_some_and(|e| e.any(&|x| matches!(x, TExpr::Now)))
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
    /// Whether any condition counts past contacts.
    pub reads_contacts: bool,
    /// The longest window of the `contacts(..)` calls; −1 when there is none.
    pub contact_horizon_ms: i64,
    /// Per rule: whether its condition counts past contacts.
    pub condition_counts_contacts: Vec<bool>,
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

    /// Rule `i`'s checked condition as written (`None`: no condition, or `i` out of range).
    pub fn condition(&self, i: usize) -> Option<&TExpr> {
        self.inner.rules.get(i).and_then(|r| r.expr.as_ref())
    }

    /// Rule `i`'s checked targets as written (`None`: `i` out of range).
    pub fn targets(&self, i: usize) -> Option<&TTargets> {
        self.inner.rules.get(i).map(|r| &r.targets)
    }

    /// Rule `i`'s targets when the catalog alone decides them: the tracks it
    /// targets, and the tracks its `where` predicate cannot be evaluated on (a
    /// track without the attribute read; they fail closed). `None` when the
    /// targets depend on the request, or `i` is out of range.
    pub fn catalog_targets(&self, i: usize) -> Option<(TrackSet, TrackSet)> {
        let n = self.inner.n_tracks;
        match self.targets(i)? {
            TTargets::Set(s) => Some((s.clone(), TrackSet::empty(n))),
            TTargets::Pred(base, _) => {
                let hot = self.inner.hot.get(*self.inner.hot_ids.get(i)? as usize)?;
                if !hot.pred {
                    // A predicate decided at load time without error: compiled to a set.
                    let at = hot.target as usize;
                    let words = self.inner.static_words.get(at..at + self.inner.words)?;
                    let t = TrackSet::from_indices(n, crate::trackset::members(words));
                    return Some((t, TrackSet::empty(n)));
                }
                let SetPred::Static { t, e, .. } = self.inner.preds.get(hot.target as usize)?
                else {
                    return None;
                };
                let (mut t, mut e) = (t.clone(), e.clone());
                if let Some(b) = base {
                    t.intersect_with(b);
                    e.intersect_with(b);
                }
                Some((t, e))
            }
        }
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

pub(crate) fn key(v: Val<'_>) -> Option<f64> {
    match v {
        Val::Int(i) | Val::Time(i) | Val::Dur(i) => Some(i as f64),
        Val::Float(x) => Some(x),
        _ => None,
    }
}

/// Marks a negated condition in the first literal of [`Inner::pairs`].
pub(crate) const NEG_BIT: u32 = 1 << 31;

/// Marks a [`super::Fired::targets`] offset into the rule set's load-time target
/// words rather than into the verdict's arena.
pub(crate) const STATIC_TARGETS: u32 = 1 << 31;

/// Second literal of a rule's pair when the rule is in [`Inner::long`].
pub(crate) const LONG_RULE: u32 = u32::MAX;
