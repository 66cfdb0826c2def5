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
    /// Per quantity: the rules that read it.
    pub readers: Vec<Vec<usize>>,
    /// Per rule, per atom of its condition (in `partial::each_atom` order): the
    /// quantities (indices) the atom reads.
    pub cond_atoms: Vec<Vec<Vec<usize>>>,
    /// Per rule: where its atoms start in a list of every rule's atoms.
    pub atom_base: Vec<usize>,
    /// How many atoms the rules' conditions have in all.
    pub n_atoms: usize,
    /// Per rule: whether its targets are a fixed set (not `tracks where ..`).
    pub static_targets: Vec<bool>,
    /// The work (`budget.rs`) of one evaluation of the whole mask: per rule, 1
    /// plus the atoms of its condition and of its target predicate.
    pub mask_weight: u64,
    /// Work left for the whole analysis.
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
        let mut readers = vec![Vec::new(); quantities.len()];
        for (r, qs) in rule_q.iter().enumerate() {
            for &q in qs {
                if let Some(v) = readers.get_mut(q) {
                    v.push(r);
                }
            }
        }
        let cond_atoms: Vec<Vec<Vec<usize>>> = (0..n_rules)
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
        let mut atom_base = Vec::with_capacity(n_rules);
        let mut n_atoms = 0;
        for a in &cond_atoms {
            atom_base.push(n_atoms);
            n_atoms += a.len();
        }
        let atoms = |e: Option<&talktrack::tooling::typed::TExpr>| {
            let mut n = 0u64;
            if let Some(e) = e {
                crate::partial::each_atom(e, &mut |_| n += 1);
            }
            n
        };
        let mask_weight = (0..n_rules)
            .map(|i| {
                let pred = match s.rules.targets(i) {
                    Some(TTargets::Pred(_, p)) => atoms(Some(p)),
                    _ => 0,
                };
                1 + atoms(s.rules.condition(i)) + pred
            })
            .sum();
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
            readers,
            cond_atoms,
            atom_base,
            n_atoms,
            static_targets,
            mask_weight,
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
        let mut parts = ViewParts {
            values: Vec::with_capacity(s.schema.len()),
            used: vec![0u16; s.catalog.len()],
            turn: 0,
            last_reply: None,
        };
        for (qi, q) in self.quantities.iter().enumerate() {
            if let Quantity::Ctx(_) = q {
                parts.values.push(None);
            }
            set_part(&mut parts, *q, rep(qi));
        }
        parts
    }

    /// Sets quantity `qi` of `parts` to its value at point `p` (the other
    /// quantities stay as they are).
    pub(crate) fn update_part<'a>(&'a self, parts: &mut ViewParts<'a>, p: &Point, qi: usize) {
        if let Some(q) = self.quantities.get(qi) {
            set_part(parts, *q, self.rep(p, qi));
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

/// Sets quantity `q` of `parts` to `rep` (a context attribute's slot must exist).
fn set_part<'a>(parts: &mut ViewParts<'a>, q: Quantity, rep: &'a Rep) {
    match q {
        Quantity::Ctx(slot) => {
            if let Some(v) = parts.values.get_mut(slot as usize) {
                *v = match rep {
                    Rep::Absent => None,
                    Rep::Bool(b) => Some(Val::Bool(*b)),
                    Rep::Int(i) => Some(Val::Int(*i)),
                    Rep::Float(x) => Some(Val::Float(*x)),
                    Rep::Str(t) => Some(Val::Str(t)),
                    Rep::Enum(e) => Some(Val::Enum(*e)),
                    Rep::Set(v) => Some(Val::Set(v)),
                    Rep::Time(t) => Some(Val::Time(*t)),
                    Rep::Dur(d) => Some(Val::Dur(*d)),
                };
            }
        }
        Quantity::Turn => {
            parts.turn = match rep {
                Rep::Int(i) => u32::try_from(*i).unwrap_or(0),
                _ => 0,
            };
        }
        Quantity::Reply => {
            parts.last_reply = match rep {
                Rep::Enum(e) => Some(*e),
                _ => None,
            };
        }
        Quantity::Usage(t) => {
            if let Some(u) = parts.used.get_mut(t as usize) {
                *u = match rep {
                    Rep::Int(i) => u16::try_from(*i).unwrap_or(u16::MAX),
                    _ => 0,
                };
            }
        }
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
