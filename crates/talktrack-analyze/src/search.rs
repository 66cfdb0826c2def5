//! The per-query backtracking search: assign the quantities a query depends on
//! one at a time, evaluate the REAL rules at every node (the quantities not yet
//! assigned at their first representative), and cut a branch as soon as a rule
//! whose effect is settled (all its quantities assigned, or its condition
//! settled by three-valued evaluation, `partial.rs`) decides the query against it.
//!
//! What a node evaluates is what its query reads ([`Eval`]): the whole real
//! mask (not again for a first child, whose point is its parent's), or only the
//! forbid and `only` rules the query asks about, re-evaluated when a quantity
//! they read changed, or nothing. A condition the search evaluates itself is
//! combined from its atoms' values (`partial.rs`), each atom run by the real
//! evaluator and its value kept until a quantity it reads changes. A rule
//! found settled stays settled below its node, and one found not settled stays
//! so until one more quantity it reads is assigned. Every evaluation is charged
//! to the query's budget (`budget.rs`); a search out of budget ends, and its
//! question is undecided.

use std::cell::RefCell;

use talktrack::tooling::{mask, EffectKind, MaskOutcome, TrackSet, TurnView, Verdict};

use crate::blocks::Blocks;
use crate::budget::{Meter, EVALUATED, KEPT};
use crate::partial::{outcomes, value, F, T, U};
use crate::space::{Point, Space, ViewParts};
use crate::Subject;

/// What a search evaluates at every node.
#[derive(Clone, Copy)]
pub(crate) enum Eval<'w> {
    /// The real mask over the whole rule set: the node's outcome, allowed set
    /// and verdict, and what every fired rule blocks.
    Mask,
    /// What these forbid and `only` rules block, and nothing else (the whole
    /// mask when one of them has its targets chosen by a predicate).
    Rules(&'w [usize]),
    /// Nothing: the callbacks evaluate what they read ([`Node::fires`]).
    Nothing,
}

/// What one node of the search knows.
pub(crate) struct Node<'n> {
    pub point: &'n Point,
    /// The mask's outcome, allowed set and verdict (with [`Eval::Mask`] only).
    pub outcome: MaskOutcome,
    pub allowed: &'n TrackSet,
    pub verdict: &'n Verdict,
    blocks: &'n Blocks,
    subject: &'n Subject<'n>,
    space: &'n Space,
    assigned: &'n [bool],
    /// Per rule: how many of the quantities it reads are assigned.
    counts: &'n [u32],
    depth: usize,
    settled: &'n RefCell<Settled>,
    atoms: &'n RefCell<Atoms>,
    /// Per quantity: how often its value changed.
    versions: &'n [u64],
    parts: &'n ViewParts<'n>,
    meter: &'n Meter,
}

impl Node<'_> {
    /// The node's request as the evaluator reads it.
    pub(crate) fn view(&self) -> TurnView<'_> {
        self.parts.view(self.subject.max_turns)
    }

    /// Whether rule `r`'s effect here is final: every quantity it reads is
    /// assigned, or its targets are fixed and the quantities assigned settle
    /// whether it fires (three-valued evaluation, `partial.rs`). The answer is
    /// kept for the nodes below: settled stays settled, and not settled stays so
    /// until one more quantity the rule reads is assigned.
    pub(crate) fn decided(&self, r: usize) -> bool {
        let set = |q: &usize| self.assigned.get(*q).copied().unwrap_or(false);
        let count = self.counts.get(r).copied().unwrap_or(0);
        if self
            .space
            .rule_q
            .get(r)
            .is_some_and(|qs| qs.len() == count as usize)
        {
            return true;
        }
        if !self.space.static_targets.get(r).copied().unwrap_or(false) {
            return false;
        }
        {
            let st = self.settled.borrow();
            if st.yes.get(r).copied().unwrap_or(false) {
                return true;
            }
            if st.no.get(r) == Some(&(count + 1)) {
                return false;
            }
        }
        if self.subject.rules.condition(r).is_none() {
            return false;
        }
        let m = self.outcomes(r, Some(&set));
        let yes = match self.subject.rules.rules().get(r).map(|i| i.effect) {
            // A boost fires when true; forbid and `only` when true or unknown.
            Some(EffectKind::Boost) => m == T || m & T == 0,
            _ => m & F == 0 || m == F,
        };
        let mut st = self.settled.borrow_mut();
        if yes {
            if let Some(y) = st.yes.get_mut(r) {
                *y = true;
            }
        } else if let Some(n) = st.no.get_mut(r) {
            *n = count + 1;
        }
        if let Some(at) = st.at.get_mut(self.depth) {
            at.push(r);
        }
        yes
    }

    /// What rule `r` blocks here, when it fired (a rule the search evaluates).
    pub(crate) fn blocked(&self, r: usize) -> Option<&TrackSet> {
        self.blocks.get(r)
    }

    /// Whether rule `r` blocks track `t` here.
    pub(crate) fn blocks(&self, r: usize, t: usize) -> bool {
        self.blocks.blocks(r, t)
    }

    /// Whether rule `r` fires here: its condition holds, or (a forbid or `only`
    /// rule) it cannot be evaluated.
    pub(crate) fn fires(&self, r: usize) -> bool {
        let m = self.outcomes(r, None);
        if crate::queries::is_effect(self.subject, r, EffectKind::Boost) {
            m == T
        } else {
            m != F
        }
    }

    /// What rule `r`'s condition can evaluate to here (`set`: with only the
    /// atoms whose quantities are all set; `None`: its value at the node's point).
    fn outcomes(&self, r: usize, set: Option<&dyn Fn(&usize) -> bool>) -> u8 {
        rule_outcomes(
            self.subject,
            self.space,
            &mut self.atoms.borrow_mut(),
            self.versions,
            &self.view(),
            r,
            set,
            self.meter,
        )
    }
}

/// What rule `r`'s condition can evaluate to on `view` (`set`: with only the
/// atoms whose quantities are all set, the others free; `None`: its value),
/// from the atoms' kept values where their quantities have not changed since
/// (`versions`); each walk and each atom evaluated is charged to `meter`.
#[allow(clippy::too_many_arguments)]
fn rule_outcomes(
    s: &Subject<'_>,
    space: &Space,
    atoms: &mut Atoms,
    versions: &[u64],
    view: &TurnView<'_>,
    r: usize,
    set: Option<&dyn Fn(&usize) -> bool>,
    meter: &Meter,
) -> u8 {
    let Some(e) = s.rules.condition(r) else {
        return T;
    };
    let (Some(&base), Some(reads)) = (space.atom_base.get(r), space.cond_atoms.get(r)) else {
        return T | F | U;
    };
    meter.charge(1);
    outcomes(
        e,
        &mut |i, a| {
            let qs = reads.get(i).map_or(&[][..], Vec::as_slice);
            if set.is_some_and(|set| !qs.iter().all(set)) {
                return T | F | U;
            }
            let v: u64 = qs.iter().filter_map(|q| versions.get(*q)).sum();
            let k = base + i;
            if atoms.ver.get(k) == Some(&v) {
                if let Some(&x) = atoms.val.get(k) {
                    meter.charge(KEPT);
                    return x;
                }
            }
            meter.charge(EVALUATED);
            let x = value(s.rules, a, view);
            if let (Some(kv), Some(kx)) = (atoms.ver.get_mut(k), atoms.val.get_mut(k)) {
                *kv = v;
                *kx = x;
            }
            x
        },
        &mut 0,
    )
}

/// The atoms' values at the search's point, each kept while the quantities
/// it reads keep theirs.
struct Atoms {
    val: Vec<u8>,
    /// Per atom: the sum of its quantities' versions when it was evaluated
    /// (versions only grow, so an equal sum means none changed); `u64::MAX`: never.
    ver: Vec<u64>,
}

/// Whether rule `r` fires on `view`: its condition holds or (forbid, `only`)
/// cannot be evaluated.
pub(crate) fn fires(s: &Subject<'_>, r: usize, view: &TurnView<'_>) -> bool {
    let boost = crate::queries::is_effect(s, r, EffectKind::Boost);
    match s.rules.condition_holds(r, view) {
        Ok(b) => b,
        Err(_) => !boost,
    }
}

/// What a search step tells the search.
pub(crate) enum Step {
    /// Keep going.
    Go,
    /// Cut this branch.
    Cut,
    /// The query is answered.
    Stop,
}

/// How a search ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Every branch was searched or cut.
    Complete,
    /// The leaf callback stopped it.
    Stopped,
    /// The budget ran out.
    Budget,
}

/// Searches the points over quantities `qs` with `budget` units of work (and
/// no more than the whole analysis has left), evaluating `eval` at every node:
/// `node` is called on every inner node (return `Cut` to prune, `Stop` to
/// end), `leaf` on every full assignment.
pub(crate) fn search(
    s: &Subject<'_>,
    space: &Space,
    qs: &[usize],
    budget: u64,
    eval: Eval<'_>,
    node: &mut dyn FnMut(&Node<'_>) -> Step,
    leaf: &mut dyn FnMut(&Node<'_>) -> Step,
) -> End {
    let blocks = Blocks::new(s);
    let eval = match eval {
        Eval::Rules(ws) if !ws.iter().all(|&r| blocks.is_fixed(r)) => Eval::Mask,
        e => e,
    };
    let mut readers = vec![Vec::new(); space.quantities.len()];
    if let Eval::Rules(ws) = eval {
        for &r in ws {
            for &q in space.rule_q.get(r).into_iter().flatten() {
                if let Some(v) = readers.get_mut(q) {
                    v.push(r);
                }
            }
        }
    }
    let point = space.origin();
    let mut st = State {
        parts: space.view_parts(&point, s),
        point,
        assigned: vec![false; space.quantities.len()],
        verdict: Verdict::new(s.catalog.len()),
        allowed: TrackSet::empty(s.catalog.len()),
        outcome: MaskOutcome::Allowed,
        blocks,
        settled: RefCell::new(Settled {
            yes: vec![false; s.rules.len()],
            at: vec![Vec::new(); qs.len() + 1],
            no: vec![0; s.rules.len()],
        }),
        counts: vec![0; s.rules.len()],
        atoms: RefCell::new(Atoms {
            val: vec![0; space.n_atoms],
            ver: vec![u64::MAX; space.n_atoms],
        }),
        versions: vec![0; space.quantities.len()],
        eval,
        readers,
        changed: Vec::new(),
        fresh: false,
        stamp: vec![0; s.rules.len()],
        evaluations: 0,
    };
    let meter = Meter::new(budget.min(space.left.get()));
    let end = dfs(s, space, qs, 0, &meter, &mut st, node, leaf);
    space
        .left
        .set(space.left.get().saturating_sub(meter.spent()));
    end
}

/// What the three-valued evaluation found about rules, valid below the node
/// that found it.
struct Settled {
    /// Per rule: settled at this node or an ancestor.
    yes: Vec<bool>,
    /// Per rule: found not settled with this many of its quantities assigned,
    /// plus one (0: not asked).
    no: Vec<u32>,
    /// Per depth: the rules asked at the node of that depth on the path.
    at: Vec<Vec<usize>>,
}

impl Settled {
    /// A new node at `depth`: what nodes off its path found is forgotten.
    fn enter(&mut self, depth: usize) {
        for at in self.at.iter_mut().skip(depth) {
            for r in at.drain(..) {
                if let Some(y) = self.yes.get_mut(r) {
                    *y = false;
                }
                if let Some(n) = self.no.get_mut(r) {
                    *n = 0;
                }
            }
        }
    }
}

struct State<'s> {
    point: Point,
    parts: ViewParts<'s>,
    assigned: Vec<bool>,
    counts: Vec<u32>,
    verdict: Verdict,
    allowed: TrackSet,
    outcome: MaskOutcome,
    blocks: Blocks,
    settled: RefCell<Settled>,
    atoms: RefCell<Atoms>,
    versions: Vec<u64>,
    eval: Eval<'s>,
    /// Per quantity: the rules evaluated one by one ([`Eval::Rules`]) that read it.
    readers: Vec<Vec<usize>>,
    /// Quantities whose value changed since the last evaluation.
    changed: Vec<usize>,
    /// Whether the state was evaluated at least once.
    fresh: bool,
    /// Per rule: the evaluation (count) that last re-evaluated it.
    stamp: Vec<u64>,
    evaluations: u64,
}

impl State<'_> {
    /// Marks quantity `q` assigned or not, and counts it for the rules that read it.
    fn assign(&mut self, space: &Space, q: usize, on: bool) {
        if let Some(a) = self.assigned.get_mut(q) {
            *a = on;
        }
        for &r in space.readers.get(q).into_iter().flatten() {
            if let Some(c) = self.counts.get_mut(r) {
                *c = if on { *c + 1 } else { c.saturating_sub(1) };
            }
        }
    }

    fn set(&mut self, q: usize, i: usize) {
        if let Some(p) = self.point.get_mut(q) {
            if *p != i {
                *p = i;
                if let Some(v) = self.versions.get_mut(q) {
                    *v += 1;
                }
                if !self.changed.contains(&q) {
                    self.changed.push(q);
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn dfs<'s>(
    s: &Subject<'_>,
    space: &'s Space,
    qs: &[usize],
    depth: usize,
    meter: &Meter,
    st: &mut State<'s>,
    node: &mut dyn FnMut(&Node<'_>) -> Step,
    leaf: &mut dyn FnMut(&Node<'_>) -> Step,
) -> End {
    if meter.exhausted() {
        return End::Budget;
    }
    meter.charge(1);
    evaluate(s, space, st, meter);
    st.settled.borrow_mut().enter(depth);
    let n = Node {
        point: &st.point,
        outcome: st.outcome,
        allowed: &st.allowed,
        verdict: &st.verdict,
        blocks: &st.blocks,
        subject: s,
        space,
        assigned: &st.assigned,
        counts: &st.counts,
        depth,
        settled: &st.settled,
        atoms: &st.atoms,
        versions: &st.versions,
        parts: &st.parts,
        meter,
    };
    let Some(&q) = qs.get(depth) else {
        return match leaf(&n) {
            Step::Stop => End::Stopped,
            _ => End::Complete,
        };
    };
    match node(&n) {
        Step::Cut => return End::Complete,
        Step::Stop => return End::Stopped,
        Step::Go => {}
    }
    let n_reps = space.reps.get(q).map_or(0, Vec::len);
    st.assign(space, q, true);
    let mut end = End::Complete;
    for i in 0..n_reps {
        st.set(q, i);
        match dfs(s, space, qs, depth + 1, meter, st, node, leaf) {
            End::Complete => {}
            other => {
                end = other;
                break;
            }
        }
    }
    st.assign(space, q, false);
    st.set(q, 0);
    end
}

/// Brings the state's evaluation up to its point: the view's changed parts,
/// then the whole mask, or the rules that read a changed quantity.
fn evaluate<'s>(s: &Subject<'_>, space: &'s Space, st: &mut State<'s>, meter: &Meter) {
    if st.fresh && st.changed.is_empty() {
        return;
    }
    for &q in &st.changed {
        space.update_part(&mut st.parts, &st.point, q);
    }
    st.evaluations += 1;
    let view = st.parts.view(s.max_turns);
    match st.eval {
        Eval::Mask => {
            meter.charge(space.mask_weight);
            st.outcome = mask(s.rules, &view, s.fallback, &mut st.verdict, &mut st.allowed);
            st.blocks.read_verdict(s, &st.verdict);
        }
        Eval::Rules(ws) => {
            let atoms = &mut st.atoms.borrow_mut();
            let mut one = |r: usize, blocks: &mut Blocks| {
                let m = rule_outcomes(s, space, atoms, &st.versions, &view, r, None, meter);
                blocks.set_fixed(r, m != F, m == U);
            };
            if !st.fresh {
                for &r in ws {
                    one(r, &mut st.blocks);
                }
            } else {
                for &q in &st.changed {
                    for &r in st.readers.get(q).into_iter().flatten() {
                        if let Some(x) = st.stamp.get_mut(r) {
                            if *x != st.evaluations {
                                *x = st.evaluations;
                                one(r, &mut st.blocks);
                            }
                        }
                    }
                }
            }
        }
        Eval::Nothing => {}
    }
    st.changed.clear();
    st.fresh = true;
}
