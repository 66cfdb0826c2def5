//! The typed form of a rule: what the checker hands the compiler. Names are
//! resolved to schema slots, track indices, tag sets and enum variant indices,
//! and every expression has been type-checked; constants are owned values.

use std::sync::Arc;

use miette::NamedSource;

use super::ast::{ArithOp, CmpOp, Span};
use super::RuleInfo;
use crate::context::{AttrType, Val};
use crate::trackset::TrackSet;

/// A constant value, owned by the compiled rule set.
#[derive(Clone, Debug, PartialEq)]
pub enum CVal {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Box<str>),
    /// An enum variant (or reply category) by index.
    Enum(u32),
    /// A list of strings.
    Set(Box<[String]>),
    /// A timestamp, milliseconds since the epoch.
    Time(i64),
    /// A duration in milliseconds.
    Dur(i64),
}

impl CVal {
    /// The constant as a run-time value.
    pub fn as_val(&self) -> Val<'_> {
        match self {
            CVal::Bool(b) => Val::Bool(*b),
            CVal::Int(i) => Val::Int(*i),
            CVal::Float(x) => Val::Float(*x),
            CVal::Str(s) => Val::Str(s),
            CVal::Enum(e) => Val::Enum(*e),
            CVal::Set(s) => Val::Set(s),
            CVal::Time(t) => Val::Time(*t),
            CVal::Dur(d) => Val::Dur(*d),
        }
    }

    /// The owned constant of a run-time value.
    pub fn from_val(v: Val<'_>) -> Self {
        match v {
            Val::Bool(b) => CVal::Bool(b),
            Val::Int(i) => CVal::Int(i),
            Val::Float(x) => CVal::Float(x),
            Val::Str(s) => CVal::Str(s.into()),
            Val::Enum(e) => CVal::Enum(e),
            Val::Set(s) => CVal::Set(s.into()),
            Val::Time(t) => CVal::Time(t),
            Val::Dur(d) => CVal::Dur(d),
        }
    }
}

/// `contacts(..)` resolved: which past contacts it counts.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactQuery {
    /// The catalog tracks whose contacts count.
    pub tracks: TrackSet,
    /// Whether a contact about a track the catalog no longer has could count
    /// (`tagged` and `product` filters: its tags and product are unknown).
    pub retired_may_match: bool,
    /// Bit `i`: outcome `i` counts; `None`: every contact, with or without an outcome.
    pub outcomes: Option<u64>,
    /// The window's length; it ends at the request time, both ends included.
    pub within_ms: i64,
    /// The call in canonical form, for explanations.
    pub text: Box<str>,
}

/// A resolved, type-checked expression.
#[derive(Clone, Debug, PartialEq)]
pub enum TExpr {
    /// A constant.
    Const(CVal),
    /// A context attribute by slot, with the kind of value it must hold.
    Ctx(u32, ValKind),
    /// `turn`.
    Turn,
    /// `turns_left`.
    TurnsLeft,
    /// `now`.
    Now,
    /// `Val::Enum(index)`, or `Val::Enum(u32::MAX)` before the first reply.
    LastReply,
    /// `count(..)`: the summed use count of these tracks.
    Count(Box<[u32]>),
    /// `used(..)`: whether any of these tracks was used.
    Used(Box<[u32]>),
    /// `contacts(..)`: how many past contacts match.
    Contacts(Box<ContactQuery>),
    /// `track.<attr>` by track attribute slot.
    TrackAttr(u32),
    /// `track.id`.
    TrackId,
    /// `track.product`.
    TrackProduct,
    /// `track tagged t`: the tracks carrying the tag.
    TrackTagged(TrackSet),
    /// `has customer.<attr>`.
    HasCtx(u32),
    /// `has last_reply`.
    HasReply,
    /// `has track.<attr>`.
    HasTrackAttr(u32),
    /// `has track.product`.
    HasTrackProduct,
    /// `not`.
    Not(Box<TExpr>),
    /// `and`.
    And(Vec<TExpr>),
    /// `or`.
    Or(Vec<TExpr>),
    /// A comparison.
    Cmp(CmpOp, Box<TExpr>, Box<TExpr>),
    /// `in [..]` (`true`: `not in`).
    In(bool, Box<TExpr>, Box<[CVal]>),
    /// `a contains b`.
    Contains(Box<TExpr>, Box<TExpr>),
    /// Arithmetic.
    Arith(ArithOp, Box<TExpr>, Box<TExpr>),
}

/// The variant a context value must have (checked when it is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValKind {
    /// A boolean.
    Bool,
    /// An int or a float.
    Num,
    /// A string.
    Str,
    /// An enum variant.
    Enum,
    /// A string set.
    Set,
    /// A timestamp.
    Time,
    /// A duration.
    Dur,
}

impl ValKind {
    pub(crate) fn of(t: &AttrType) -> Self {
        match t {
            AttrType::Bool => ValKind::Bool,
            AttrType::Int | AttrType::Float => ValKind::Num,
            AttrType::Enum(_) => ValKind::Enum,
            AttrType::StringSet => ValKind::Set,
            AttrType::Timestamp => ValKind::Time,
            AttrType::Duration => ValKind::Dur,
            _ => ValKind::Str,
        }
    }
}

impl TExpr {
    /// Whether the value depends on the request (context, time, turn, history).
    pub(crate) fn reads_request(&self) -> bool {
        match self {
            TExpr::Ctx(..)
            | TExpr::Turn
            | TExpr::TurnsLeft
            | TExpr::Now
            | TExpr::LastReply
            | TExpr::Count(_)
            | TExpr::Used(_)
            | TExpr::Contacts(_)
            | TExpr::HasCtx(_)
            | TExpr::HasReply => true,
            TExpr::Not(e) | TExpr::In(_, e, _) => e.reads_request(),
            TExpr::And(v) | TExpr::Or(v) => v.iter().any(TExpr::reads_request),
            TExpr::Cmp(_, a, b) | TExpr::Contains(a, b) | TExpr::Arith(_, a, b) => {
                a.reads_request() || b.reads_request()
            }
            _ => false,
        }
    }

    /// Whether `f` holds for this node or any node below it.
    pub fn any(&self, f: &dyn Fn(&TExpr) -> bool) -> bool {
        f(self)
            || match self {
                TExpr::Not(e) | TExpr::In(_, e, _) => e.any(f),
                TExpr::And(v) | TExpr::Or(v) => v.iter().any(|e| e.any(f)),
                TExpr::Cmp(_, a, b) | TExpr::Contains(a, b) | TExpr::Arith(_, a, b) => {
                    a.any(f) || b.any(f)
                }
                _ => false,
            }
    }

    /// Calls `f` on this node and every node below it, parents first.
    pub(crate) fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a TExpr)) {
        f(self);
        match self {
            TExpr::Not(e) | TExpr::In(_, e, _) => e.visit(f),
            TExpr::And(v) | TExpr::Or(v) => v.iter().for_each(|e| e.visit(f)),
            TExpr::Cmp(_, a, b) | TExpr::Contains(a, b) | TExpr::Arith(_, a, b) => {
                a.visit(f);
                b.visit(f);
            }
            _ => {}
        }
    }

    /// Whether the value depends on the track being tested.
    pub(crate) fn reads_track(&self) -> bool {
        match self {
            TExpr::TrackAttr(_)
            | TExpr::TrackId
            | TExpr::TrackProduct
            | TExpr::TrackTagged(_)
            | TExpr::HasTrackAttr(_)
            | TExpr::HasTrackProduct => true,
            TExpr::Not(e) | TExpr::In(_, e, _) => e.reads_track(),
            TExpr::And(v) | TExpr::Or(v) => v.iter().any(TExpr::reads_track),
            TExpr::Cmp(_, a, b) | TExpr::Contains(a, b) | TExpr::Arith(_, a, b) => {
                a.reads_track() || b.reads_track()
            }
            _ => false,
        }
    }
}

/// Which tracks a checked rule targets.
#[derive(Clone, Debug)]
pub enum TTargets {
    /// Known at load time.
    Set(TrackSet),
    /// `base` (all tracks when `None`) filtered by a per-track predicate.
    Pred(Option<TrackSet>, TExpr),
}

/// A rule after checking.
#[derive(Clone, Debug)]
pub(crate) struct CheckedRule {
    pub info: RuleInfo,
    pub cond: Option<TExpr>,
    pub boost: f32,
    pub targets: TTargets,
    pub src: Arc<NamedSource<String>>,
    pub effect_span: Span,
    /// Where its atoms are written and whether it can fail closed, for coverage.
    pub sites: super::probe::Sites,
}
