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
pub(crate) enum CVal {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    Enum(u32),
    Set(Box<[String]>),
    Time(i64),
    Dur(i64),
}

impl CVal {
    pub(crate) fn as_val(&self) -> Val<'_> {
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

    pub(crate) fn from_val(v: Val<'_>) -> Self {
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
pub(crate) struct ContactQuery {
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
pub(crate) enum TExpr {
    Const(CVal),
    /// A context attribute by slot, with the kind of value it must hold.
    Ctx(u32, ValKind),
    Turn,
    TurnsLeft,
    Now,
    /// `Val::Enum(index)`, or `Val::Enum(u32::MAX)` before the first reply.
    LastReply,
    Count(Box<[u32]>),
    Used(Box<[u32]>),
    /// `contacts(..)`: how many past contacts match.
    Contacts(Box<ContactQuery>),
    TrackAttr(u32),
    TrackId,
    TrackProduct,
    TrackTagged(TrackSet),
    HasCtx(u32),
    HasReply,
    HasTrackAttr(u32),
    HasTrackProduct,
    Not(Box<TExpr>),
    And(Vec<TExpr>),
    Or(Vec<TExpr>),
    Cmp(CmpOp, Box<TExpr>, Box<TExpr>),
    In(bool, Box<TExpr>, Box<[CVal]>),
    Contains(Box<TExpr>, Box<TExpr>),
    Arith(ArithOp, Box<TExpr>, Box<TExpr>),
}

/// The variant a context value must have (checked when it is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValKind {
    Bool,
    Num,
    Str,
    Enum,
    Set,
    Time,
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
    pub(crate) fn any(&self, f: &dyn Fn(&TExpr) -> bool) -> bool {
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
pub(crate) enum TTargets {
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
    pub cond_span: Span,
    pub effect_span: Span,
}
