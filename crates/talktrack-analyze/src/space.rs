//! The search space of one rule set: every quantity with its representatives,
//! what each rule reads, and a point (one representative per quantity) turned
//! into the turn view the real evaluator reads and into a witness request.

use talktrack::tooling::typed::TTargets;
use talktrack::tooling::{AttrType, TurnView, Val};
use talktrack::{Context, Request, Value};

use crate::atoms::{atom_reads, rule_reads, Konst, Quantity};
use crate::domain::{representatives, Rep, NOW_MS};
use crate::Subject;

/// Quantities, their representatives and what each rule reads.
pub(crate) struct Space {
    pub quantities: Vec<Quantity>,
    pub reps: Vec<Vec<Rep>>,
    /// Per quantity: the constants the rules compare it with.
    pub konsts: Vec<Vec<Konst>>,
    /// Per quantity: why its split is not exact.
    pub inexact: Vec<Option<String>>,
    /// Per rule: the quantities (indices) it reads, in order.
    pub rule_q: Vec<Vec<usize>>,
    /// Per rule: why it is outside the exact fragment.
    pub rule_free: Vec<Vec<String>>,
    /// Per rule, per atom of its condition (in `partial::each_atom` order): the
    /// quantities (indices) the atom reads.
    pub cond_atoms: Vec<Vec<Vec<usize>>>,
    /// Per rule: whether its targets are a fixed set (not `tracks where ..`).
    pub static_targets: Vec<bool>,
    /// Search steps left for the whole analysis.
    pub left: std::cell::Cell<u64>,
}

/// One representative index per quantity.
pub(crate) type Point = Vec<usize>;

impl Space {
    pub(crate) fn new(s: &Subject<'_>) -> Self {
        let n_rules = s.rules.len();
        let reads: Vec<_> = (0..n_rules)
            .map(|i| rule_reads(s.rules, s.catalog, i))
            .collect();
        let mut quantities: Vec<Quantity> = (0..s.schema.len() as u32).map(Quantity::Ctx).collect();
        quantities.push(Quantity::Turn);
        quantities.push(Quantity::Reply);
        quantities.extend((0..s.catalog.len() as u32).map(Quantity::Usage));
        let mut konsts: Vec<Vec<Konst>> = vec![Vec::new(); quantities.len()];
        let index = |q: Quantity, qs: &[Quantity]| qs.iter().position(|x| *x == q);
        let mut rule_q = Vec::with_capacity(n_rules);
        let mut rule_free = Vec::with_capacity(n_rules);
        for r in &reads {
            let mut qi = Vec::new();
            for (q, ks) in &r.quantities {
                if let Some(i) = index(*q, &quantities) {
                    qi.push(i);
                    if let Some(k) = konsts.get_mut(i) {
                        k.extend(ks.iter().cloned());
                    }
                }
            }
            rule_q.push(qi);
            rule_free.push(r.free.clone());
        }
        let cond_atoms = (0..n_rules)
            .map(|i| {
                let mut atoms = Vec::new();
                if let Some(e) = s.rules.condition(i) {
                    crate::partial::each_atom(e, &mut |a| {
                        atoms.push(
                            atom_reads(a, s.catalog)
                                .into_iter()
                                .filter_map(|q| index(q, &quantities))
                                .collect(),
                        );
                    });
                }
                atoms
            })
            .collect();
        let static_targets = (0..n_rules)
            .map(|i| matches!(s.rules.targets(i), Some(TTargets::Set(_))))
            .collect();
        let mut reps = Vec::with_capacity(quantities.len());
        let mut inexact = Vec::with_capacity(quantities.len());
        for (q, ks) in quantities.iter().zip(&konsts) {
            let decl = match q {
                Quantity::Ctx(slot) => s.schema.attrs().get(*slot as usize),
                _ => None,
            };
            let (r, why) = representatives(*q, ks, decl, s.replies.len(), s.max_turns);
            reps.push(r);
            inexact.push(why);
        }
        Self {
            quantities,
            reps,
            konsts,
            inexact,
            rule_q,
            rule_free,
            cond_atoms,
            static_targets,
            left: std::cell::Cell::new(u64::MAX),
        }
    }

    /// The default point: the first representative of every quantity.
    pub(crate) fn origin(&self) -> Point {
        vec![0; self.quantities.len()]
    }

    fn rep(&self, p: &Point, qi: usize) -> &Rep {
        self.reps
            .get(qi)
            .and_then(|r| r.get(p.get(qi).copied().unwrap_or(0)))
            .unwrap_or(&Rep::Absent)
    }

    /// Context values by schema slot, usage per track, turn and last reply at `p`.
    pub(crate) fn view_parts<'a>(&'a self, p: &Point, s: &Subject<'_>) -> ViewParts<'a> {
        self.parts_with(|qi| self.rep(p, qi), s)
    }

    /// The view's parts with each quantity (by index) at `rep(index)`.
    pub(crate) fn parts_with<'a>(
        &self,
        rep: impl Fn(usize) -> &'a Rep,
        s: &Subject<'_>,
    ) -> ViewParts<'a> {
        let mut values = Vec::with_capacity(s.schema.len());
        let mut used = vec![0u16; s.catalog.len()];
        let mut turn = 0u32;
        let mut last_reply = None;
        for (qi, q) in self.quantities.iter().enumerate() {
            let rep = rep(qi);
            match q {
                Quantity::Ctx(_) => values.push(match rep {
                    Rep::Absent => None,
                    Rep::Bool(b) => Some(Val::Bool(*b)),
                    Rep::Int(i) => Some(Val::Int(*i)),
                    Rep::Float(x) => Some(Val::Float(*x)),
                    Rep::Str(t) => Some(Val::Str(t)),
                    Rep::Enum(e) => Some(Val::Enum(*e)),
                    Rep::Set(v) => Some(Val::Set(v)),
                    Rep::Time(t) => Some(Val::Time(*t)),
                    Rep::Dur(d) => Some(Val::Dur(*d)),
                }),
                Quantity::Turn => {
                    if let Rep::Int(i) = rep {
                        turn = u32::try_from(*i).unwrap_or(0);
                    }
                }
                Quantity::Reply => {
                    if let Rep::Enum(e) = rep {
                        last_reply = Some(*e);
                    }
                }
                Quantity::Usage(t) => {
                    if let (Rep::Int(i), Some(u)) = (rep, used.get_mut(*t as usize)) {
                        *u = u16::try_from(*i).unwrap_or(u16::MAX);
                    }
                }
            }
        }
        ViewParts {
            values,
            used,
            turn,
            last_reply,
        }
    }

    /// The request whose resolved form is the point `p`.
    pub(crate) fn request(&self, p: &Point, s: &Subject<'_>) -> Request {
        self.request_with(|qi| self.rep(p, qi), s)
    }

    /// The request with each quantity (by index) at `rep(index)`.
    pub(crate) fn request_with<'a>(
        &self,
        rep: impl Fn(usize) -> &'a Rep,
        s: &Subject<'_>,
    ) -> Request {
        let mut req = Request::new("analysis-witness", NOW_MS);
        let mut ctx = Context::new();
        for (qi, q) in self.quantities.iter().enumerate() {
            let rep = rep(qi);
            match q {
                Quantity::Ctx(slot) => {
                    let Some(decl) = s.schema.attrs().get(*slot as usize) else {
                        continue;
                    };
                    let v = match rep {
                        Rep::Absent => continue,
                        Rep::Bool(b) => Value::Bool(*b),
                        Rep::Int(i) => Value::Int(*i),
                        Rep::Float(x) => Value::Float(*x),
                        Rep::Str(t) => Value::Str(t.clone()),
                        Rep::Enum(e) => match &decl.ty {
                            AttrType::Enum(vs) => {
                                Value::Str(vs.get(*e as usize).cloned().unwrap_or_default())
                            }
                            _ => continue,
                        },
                        Rep::Set(v) => Value::Set(v.clone()),
                        // As a host sends them: RFC 3339 text and `<n>ms`.
                        Rep::Time(t) => Value::Str(rfc3339(*t)),
                        Rep::Dur(d) => Value::Str(format!("{d}ms")),
                    };
                    ctx.set(decl.name.clone(), v);
                }
                Quantity::Turn => {
                    if let Rep::Int(i) = rep {
                        req.history.turn = u32::try_from(*i).ok();
                    }
                }
                Quantity::Reply => {
                    if let Rep::Enum(e) = rep {
                        if let Some(r) = s.replies.get(*e as usize) {
                            req.history.replies.push(r.clone());
                        }
                    }
                }
                Quantity::Usage(t) => {
                    if let (Rep::Int(i), Some(track)) = (rep, s.catalog.track(*t as usize)) {
                        for _ in 0..*i {
                            req.history.tracks.push(track.id.clone());
                        }
                    }
                }
            }
        }
        if req.history.turn.is_none() {
            req.history.turn = Some(0);
        }
        req.context = ctx;
        req
    }
}

/// What a turn view borrows.
pub(crate) struct ViewParts<'a> {
    pub values: Vec<Option<Val<'a>>>,
    pub used: Vec<u16>,
    pub turn: u32,
    pub last_reply: Option<u32>,
}

impl ViewParts<'_> {
    pub(crate) fn view(&self, max_turns: u32) -> TurnView<'_> {
        TurnView {
            values: &self.values,
            now_ms: NOW_MS,
            turn: self.turn,
            max_turns,
            used: &self.used,
            last_reply: self.last_reply,
            embedding: None,
            // Witness requests carry no contact history: conditions that read it are
            // free atoms, and their findings undecided.
            contacts: talktrack::tooling::ContactLog::empty(),
        }
    }
}

/// `ms` since the epoch as RFC 3339 text (milliseconds kept).
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
