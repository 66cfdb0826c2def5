//! What a rule reads: the request quantities its condition and target predicate
//! compare with constants (the exact fragment), and the atoms outside it
//! (*free* atoms), with the reason they are free.
//!
//! A quantity is one thing a request sets: a context attribute, the turn, the
//! last reply, or how often one track was used. An atom is in the fragment when
//! it compares one quantity with constants; a track attribute or id counts as a
//! constant, since the analysis substitutes each track's values.

use std::collections::BTreeMap;

use talktrack::tooling::ast::{ArithOp, CmpOp};
use talktrack::tooling::typed::{CVal, TExpr, TTargets, ValKind};
use talktrack::tooling::{Catalog, RuleSet};

/// One thing a request sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Quantity {
    /// A context attribute by schema slot.
    Ctx(u32),
    /// `history.turn` (and `turns_left`, a function of it).
    Turn,
    /// The last reply category.
    Reply,
    /// How often a catalog track was used.
    Usage(u32),
}

/// A constant a quantity is compared with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Konst {
    /// A number (ints, floats, durations, timestamps as milliseconds).
    Num(f64),
    /// A string (for string attributes and `contains`).
    Str(String),
    /// `now - customer.<attr>` compared with this many milliseconds.
    Ago(i64),
    /// `turns_left` compared with this.
    TurnsLeft(i64),
}

/// What one rule reads.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reads {
    /// Quantities read, with the constants they are compared with.
    pub quantities: BTreeMap<Quantity, Vec<Konst>>,
    /// Why atoms of this rule are outside the exact fragment (empty: exact).
    pub free: Vec<String>,
}

impl Reads {
    fn add(&mut self, q: Quantity, k: Option<Konst>) {
        let v = self.quantities.entry(q).or_default();
        if let Some(k) = k {
            v.push(k);
        }
    }

    fn free(&mut self, why: impl Into<String>) {
        let why = why.into();
        if !self.free.contains(&why) {
            self.free.push(why);
        }
    }
}

/// What rule `i` reads, in its condition and its target predicate.
pub(crate) fn rule_reads(rules: &RuleSet, catalog: &Catalog, i: usize) -> Reads {
    let mut r = Reads::default();
    if let Some(e) = rules.condition(i) {
        walk(e, catalog, &mut r);
    }
    if let Some(TTargets::Pred(_, p)) = rules.targets(i) {
        walk(p, catalog, &mut r);
    }
    r
}

/// The quantities one atom of a condition reads.
pub(crate) fn atom_reads(e: &TExpr, catalog: &Catalog) -> Vec<Quantity> {
    let mut r = Reads::default();
    walk(e, catalog, &mut r);
    r.quantities.into_keys().collect()
}

fn walk(e: &TExpr, cat: &Catalog, r: &mut Reads) {
    match e {
        TExpr::Not(x) => walk(x, cat, r),
        TExpr::And(v) | TExpr::Or(v) => v.iter().for_each(|x| walk(x, cat, r)),
        TExpr::Const(_)
        | TExpr::TrackTagged(_)
        | TExpr::HasTrackAttr(_)
        | TExpr::HasTrackProduct
        | TExpr::TrackAttr(_)
        | TExpr::TrackId
        | TExpr::TrackProduct => {}
        TExpr::HasCtx(s) => r.add(Quantity::Ctx(*s), None),
        TExpr::HasReply => r.add(Quantity::Reply, None),
        TExpr::Ctx(s, ValKind::Bool) => r.add(Quantity::Ctx(*s), None),
        TExpr::Used(ts) => ts
            .iter()
            .for_each(|t| r.add(Quantity::Usage(*t), Some(Konst::Num(1.0)))),
        TExpr::In(_, x, list) => match quantity(x) {
            Some(q) => {
                for k in list.iter() {
                    let k = konst(k);
                    r.add(q, k);
                }
            }
            None => free_reads(e, r, "`in` on a computed value"),
        },
        TExpr::Contains(a, b) => match (&**a, &**b) {
            (TExpr::Ctx(s, ValKind::Set), TExpr::Const(CVal::Str(k))) => {
                r.add(Quantity::Ctx(*s), Some(Konst::Str(k.to_string())))
            }
            _ => free_reads(e, r, "`contains` on a computed value"),
        },
        TExpr::Cmp(op, a, b) => cmp(*op, a, b, cat, r),
        other => free_reads(other, r, "a value used as a condition"),
    }
}

/// The quantity an expression is, when it is one.
fn quantity(e: &TExpr) -> Option<Quantity> {
    match e {
        TExpr::Ctx(s, _) => Some(Quantity::Ctx(*s)),
        TExpr::Turn | TExpr::TurnsLeft => Some(Quantity::Turn),
        TExpr::LastReply => Some(Quantity::Reply),
        TExpr::Count(ts) if ts.len() == 1 => ts.first().map(|t| Quantity::Usage(*t)),
        _ => None,
    }
}

fn konst(k: &CVal) -> Option<Konst> {
    match k {
        CVal::Int(i) | CVal::Time(i) | CVal::Dur(i) => Some(Konst::Num(*i as f64)),
        CVal::Float(x) => Some(Konst::Num(*x)),
        CVal::Str(s) => Some(Konst::Str(s.to_string())),
        CVal::Bool(_) | CVal::Enum(_) | CVal::Set(_) => None,
    }
}

/// The constants a constant-like side takes: a literal, or a track attribute
/// with every value the catalog gives it.
fn side_constants(e: &TExpr, cat: &Catalog) -> Option<Vec<Konst>> {
    match e {
        TExpr::Const(k) => Some(konst(k).into_iter().collect()),
        TExpr::TrackAttr(slot) => Some(
            (0..cat.len())
                .filter_map(|t| cat.attr(*slot as usize, t))
                .filter_map(|v| konst(&CVal::from_val(v)))
                .collect(),
        ),
        TExpr::TrackId => Some(
            cat.tracks()
                .iter()
                .map(|t| Konst::Str(t.id.clone()))
                .collect(),
        ),
        TExpr::TrackProduct => Some(
            cat.tracks()
                .iter()
                .filter_map(|t| t.product.clone().map(Konst::Str))
                .collect(),
        ),
        _ => None,
    }
}

fn cmp(op: CmpOp, a: &TExpr, b: &TExpr, cat: &Catalog, r: &mut Reads) {
    // `now - customer.x <op> duration`: a difference constraint on one attribute.
    let ago = |x: &TExpr, k: &TExpr| match (x, k) {
        (TExpr::Arith(ArithOp::Sub, n, c), TExpr::Const(CVal::Dur(d))) => match (&**n, &**c) {
            (TExpr::Now, TExpr::Ctx(s, ValKind::Time)) => Some((*s, *d)),
            _ => None,
        },
        _ => None,
    };
    if let Some((s, d)) = ago(a, b).or_else(|| ago(b, a)) {
        r.add(Quantity::Ctx(s), Some(Konst::Ago(d)));
        return;
    }
    let (q, other, qe) = match (quantity(a), quantity(b)) {
        (Some(q), None) => (q, b, a),
        (None, Some(q)) => (q, a, b),
        (None, None) => {
            if a.any(&|x| !is_track_side(x)) || b.any(&|x| !is_track_side(x)) {
                free_reads(a, r, "a comparison of computed values");
                free_reads(b, r, "a comparison of computed values");
            }
            return;
        }
        (Some(_), Some(_)) => {
            free_reads(a, r, "a comparison of two request values");
            free_reads(b, r, "a comparison of two request values");
            return;
        }
    };
    let Some(ks) = side_constants(other, cat) else {
        free_reads(other, r, "a comparison with a computed value");
        r.add(q, None);
        return;
    };
    r.add(q, None);
    if let (TExpr::Ctx(_, ValKind::Str), false) = (qe, matches!(op, CmpOp::Eq | CmpOp::Ne)) {
        r.free("an ordering comparison of strings");
    }
    for k in ks {
        let k = match (qe, k) {
            (TExpr::TurnsLeft, Konst::Num(x)) => Konst::TurnsLeft(x as i64),
            (_, k) => k,
        };
        r.add(q, Some(k));
    }
}

fn is_track_side(e: &TExpr) -> bool {
    matches!(
        e,
        TExpr::Const(_)
            | TExpr::TrackAttr(_)
            | TExpr::TrackId
            | TExpr::TrackProduct
            | TExpr::TrackTagged(_)
            | TExpr::HasTrackAttr(_)
            | TExpr::HasTrackProduct
    )
}

/// Marks `e` free, recording every quantity it reads (so that the search still
/// varies them) and why.
fn free_reads(e: &TExpr, r: &mut Reads, why: &str) {
    let reads = std::cell::RefCell::new(Vec::new());
    let contacts = std::cell::Cell::new(false);
    e.any(&|x| {
        let q = match x {
            TExpr::Ctx(s, _) | TExpr::HasCtx(s) => Some(Quantity::Ctx(*s)),
            TExpr::Turn | TExpr::TurnsLeft => Some(Quantity::Turn),
            TExpr::LastReply | TExpr::HasReply => Some(Quantity::Reply),
            TExpr::Now => {
                reads.borrow_mut().push(None);
                None
            }
            TExpr::Contacts(_) => {
                contacts.set(true);
                reads.borrow_mut().push(None);
                None
            }
            _ => None,
        };
        if let Some(q) = q {
            reads.borrow_mut().push(Some(q));
        }
        if let TExpr::Count(ts) | TExpr::Used(ts) = x {
            reads
                .borrow_mut()
                .extend(ts.iter().map(|t| Some(Quantity::Usage(*t))));
        }
        false
    });
    let reads = reads.into_inner();
    if reads.is_empty() {
        return;
    }
    for q in reads.into_iter().flatten() {
        r.add(q, None);
    }
    if contacts.get() {
        // The contact history is not one of the analysed quantities: a condition
        // reading it is free, whatever else it reads.
        r.free("`contacts(..)` reads the contact history, which the analysis leaves free");
    } else {
        r.free(why);
    }
}
