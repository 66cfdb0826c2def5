//! The search space of two rule sets at once (an old and a new version of a
//! bundle): the union of their quantities, matched by name (context attributes,
//! reply categories, track ids), each split at the constants of BOTH rule sets,
//! with only the values that both bundles accept. A point of this space is one
//! request valid for both; it gives one turn view per side.

use talktrack::tooling::{AttrDecl, AttrType, Val};
use talktrack::Request;

use crate::atoms::{Konst, Quantity};
use crate::domain::{representatives, Rep};
use crate::space::{Point, Space, ViewParts};
use crate::Subject;

/// Old (0) and new (1).
pub(crate) const SIDES: [usize; 2] = [0, 1];

/// Two rule sets' joint space.
pub(crate) struct Pair<'s> {
    pub subjects: [&'s Subject<'s>; 2],
    pub spaces: [Space; 2],
    /// Per joint quantity: its value on each side, per representative.
    pub reps: Vec<Vec<[Rep; 2]>>,
    /// Per joint quantity: why its split is not exact.
    pub inexact: Vec<Option<String>>,
    /// Per side, per side quantity: its joint quantity (`None`: fixed, since the
    /// other bundle does not know it).
    pub joint_of: [Vec<Option<usize>>; 2],
    /// Per side, per rule: the joint quantities it reads.
    pub rule_q: [Vec<Vec<usize>>; 2],
    /// Why no request is valid for both bundles, if none is.
    pub refused: Option<String>,
    /// Per side, per side quantity not in the joint space: its fixed value.
    fixed: [Vec<Rep>; 2],
}

impl<'s> Pair<'s> {
    pub(crate) fn new(old: &'s Subject<'s>, new: &'s Subject<'s>) -> Self {
        let subjects = [old, new];
        let spaces = [Space::new(old), Space::new(new)];
        let mut reps: Vec<Vec<[Rep; 2]>> = Vec::new();
        let mut inexact = Vec::new();
        let mut joint_of = [
            vec![None; spaces[0].quantities.len()],
            vec![None; spaces[1].quantities.len()],
        ];
        let mut fixed = [
            vec![Rep::Absent; spaces[0].quantities.len()],
            vec![Rep::Absent; spaces[1].quantities.len()],
        ];
        let mut refused = None;
        let max_turns = old.max_turns.max(new.max_turns);
        // Constants of both sides for matched quantities (`turns_left` as turns).
        let konsts = |side: usize, qi: usize| -> Vec<Konst> {
            let s = subjects[side];
            let mut v: Vec<Konst> = spaces[side]
                .konsts
                .get(qi)
                .into_iter()
                .flatten()
                .map(|k| match k {
                    Konst::TurnsLeft(l) => Konst::Num(s.max_turns as f64 - *l as f64),
                    k => k.clone(),
                })
                .collect();
            if spaces[side].quantities.get(qi) == Some(&Quantity::Turn) {
                v.push(Konst::Num(s.max_turns as f64));
            }
            v
        };
        for (qi, q) in spaces[1].quantities.iter().enumerate() {
            let other = match q {
                Quantity::Ctx(slot) => new
                    .schema
                    .attrs()
                    .get(*slot as usize)
                    .and_then(|d| old.schema.slot(&d.name))
                    .and_then(|o| {
                        let o = Quantity::Ctx(o as u32);
                        spaces[0].quantities.iter().position(|x| *x == o)
                    }),
                Quantity::Turn | Quantity::Reply => {
                    spaces[0].quantities.iter().position(|x| x == q)
                }
                Quantity::Usage(t) => new
                    .catalog
                    .track(*t as usize)
                    .and_then(|tr| old.catalog.index(&tr.id))
                    .and_then(|o| {
                        let o = Quantity::Usage(o as u32);
                        spaces[0].quantities.iter().position(|x| *x == o)
                    }),
            };
            let Some(oi) = other else {
                // Known to the new bundle only: fixed at what the old one accepts.
                match (fixed_value(new, q), fixed[1].get_mut(qi)) {
                    (Ok(r), Some(slot)) => *slot = r,
                    (Err(why), _) => refused = refused.or(Some(why)),
                    (Ok(_), None) => {}
                }
                continue;
            };
            let mut ks = konsts(0, oi);
            ks.extend(konsts(1, qi));
            let (v, why) = joint_reps(*q, &ks, old, new, max_turns);
            if v.is_empty() {
                refused = refused.or(Some(why.clone().unwrap_or_default()));
            }
            for (side, i) in [(0, oi), (1, qi)] {
                if let Some(slot) = joint_of[side].get_mut(i) {
                    *slot = Some(reps.len());
                }
            }
            reps.push(v);
            inexact.push(why);
        }
        for (oi, q) in spaces[0].quantities.iter().enumerate() {
            if joint_of[0].get(oi).copied().flatten().is_none() {
                match (fixed_value(old, q), fixed[0].get_mut(oi)) {
                    (Ok(r), Some(slot)) => *slot = r,
                    (Err(why), _) => refused = refused.or(Some(why)),
                    (Ok(_), None) => {}
                }
            }
        }
        let rule_q = [0, 1].map(|side| {
            spaces[side]
                .rule_q
                .iter()
                .map(|qs| {
                    qs.iter()
                        .filter_map(|q| joint_of[side].get(*q).copied().flatten())
                        .collect()
                })
                .collect()
        });
        Self {
            subjects,
            spaces,
            reps,
            inexact,
            joint_of,
            rule_q,
            refused,
            fixed,
        }
    }

    /// The first joint point.
    pub(crate) fn origin(&self) -> Point {
        vec![0; self.reps.len()]
    }

    fn side_rep(&self, side: usize, p: &Point, qi: usize) -> &Rep {
        match self.joint_of[side].get(qi).copied().flatten() {
            Some(j) => self
                .reps
                .get(j)
                .and_then(|r| r.get(p.get(j).copied().unwrap_or(0)))
                .map_or(&Rep::Absent, |r| &r[side]),
            None => self.fixed[side].get(qi).unwrap_or(&Rep::Absent),
        }
    }

    /// Side `side`'s turn view parts at joint point `p`.
    pub(crate) fn view_parts(&self, side: usize, p: &Point) -> ViewParts<'_> {
        self.spaces[side].parts_with(|qi| self.side_rep(side, p, qi), self.subjects[side])
    }

    /// The request at `p` (as the new bundle spells it; every value in it is one
    /// the old bundle knows too).
    pub(crate) fn request(&self, p: &Point) -> Request {
        self.spaces[1].request_with(|qi| self.side_rep(1, p, qi), self.subjects[1])
    }
}

/// The value a quantity only `s` knows takes in a request the other bundle
/// accepts: absent (an optional attribute), 0 uses; `Err` when `s` requires it.
fn fixed_value(s: &Subject<'_>, q: &Quantity) -> Result<Rep, String> {
    match q {
        Quantity::Ctx(slot) => match s.schema.attrs().get(*slot as usize) {
            Some(d) if d.optional => Ok(Rep::Absent),
            Some(d) => Err(format!(
                "context attribute `{}` is required by one bundle and unknown to the other",
                d.name
            )),
            None => Ok(Rep::Absent),
        },
        Quantity::Usage(_) => Ok(Rep::Int(0)),
        Quantity::Turn => Ok(Rep::Int(0)),
        Quantity::Reply => Ok(Rep::Absent),
    }
}

/// The representatives of a quantity both bundles know (`q` as the new bundle
/// numbers it): a split at both sides' constants, kept to the values both accept.
fn joint_reps(
    q: Quantity,
    ks: &[Konst],
    old: &Subject<'_>,
    new: &Subject<'_>,
    max_turns: u32,
) -> (Vec<[Rep; 2]>, Option<String>) {
    match q {
        Quantity::Turn | Quantity::Usage(_) => {
            let (v, why) = representatives(q, ks, None, 0, max_turns);
            (v.into_iter().map(|r| [r.clone(), r]).collect(), why)
        }
        Quantity::Reply => {
            let mut v = vec![[Rep::Absent, Rep::Absent]];
            for (ni, name) in new.replies.iter().enumerate() {
                if let Some(oi) = old.replies.iter().position(|x| x == name) {
                    v.push([Rep::Enum(oi as u32), Rep::Enum(ni as u32)]);
                }
            }
            (v, None)
        }
        Quantity::Ctx(slot) => {
            let Some(dn) = new.schema.attrs().get(slot as usize) else {
                return (vec![[Rep::Absent, Rep::Absent]], None);
            };
            let Some(d_o) = old.schema.get(&dn.name) else {
                return (vec![[Rep::Absent, Rep::Absent]], None);
            };
            ctx_reps(q, ks, d_o, dn, max_turns)
        }
    }
}

/// A context attribute both bundles declare.
fn ctx_reps(
    q: Quantity,
    ks: &[Konst],
    d_o: &AttrDecl,
    dn: &AttrDecl,
    max_turns: u32,
) -> (Vec<[Rep; 2]>, Option<String>) {
    let both_optional = d_o.optional && dn.optional;
    let absent = || both_optional.then_some([Rep::Absent, Rep::Absent]);
    let mismatch = || {
        let v: Vec<[Rep; 2]> = absent().into_iter().collect();
        let why = format!(
            "context attribute `{}` has a different type in each bundle",
            dn.name
        );
        (v, Some(why))
    };
    match (&d_o.ty, &dn.ty) {
        (AttrType::Enum(vo), AttrType::Enum(vn)) => {
            let mut v: Vec<[Rep; 2]> = vn
                .iter()
                .enumerate()
                .filter_map(|(ni, name)| {
                    vo.iter()
                        .position(|x| x == name)
                        .map(|oi| [Rep::Enum(oi as u32), Rep::Enum(ni as u32)])
                })
                .collect();
            v.extend(absent());
            (v, None)
        }
        (a, b) if a == b => {
            let (mut v, why) = representatives(q, ks, Some(dn), 0, max_turns);
            let (vo, why_o) = representatives(q, ks, Some(d_o), 0, max_turns);
            v.extend(vo);
            let mut out: Vec<[Rep; 2]> = Vec::new();
            for r in v {
                let ok = match &r {
                    Rep::Absent => both_optional,
                    r => in_range(d_o, r) && in_range(dn, r),
                };
                if ok && !out.iter().any(|x| x[1] == r) {
                    out.push([r.clone(), r]);
                }
            }
            (out, why.or(why_o))
        }
        _ => mismatch(),
    }
}

/// Whether `r` lies in `d`'s declared range.
fn in_range(d: &AttrDecl, r: &Rep) -> bool {
    let Some(range) = &d.range else {
        return true;
    };
    let v = match r {
        Rep::Int(i) => Val::Int(*i),
        Rep::Float(x) => Val::Float(*x),
        Rep::Dur(x) => Val::Dur(*x),
        Rep::Time(x) => Val::Time(*x),
        _ => return true,
    };
    range.contains(&v)
}
