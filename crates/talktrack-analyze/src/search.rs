//! The per-query backtracking search: assign the quantities a query depends on
//! one at a time, evaluate the REAL rule set at every node (the quantities not
//! yet assigned at their first representative), and cut a branch as soon as a
//! rule whose effect is settled (all its quantities assigned, or its condition
//! settled by three-valued evaluation, `partial.rs`) decides the query against it.

use talktrack::tooling::{mask, EffectKind, MaskOutcome, TrackSet, Verdict};

use crate::space::{Point, Space, ViewParts};
use crate::Subject;

/// What one node of the search knows.
pub(crate) struct Node<'n> {
    pub point: &'n Point,
    pub outcome: MaskOutcome,
    pub allowed: &'n TrackSet,
    /// Per rule: the tracks it blocked (forbid: masked; only: left out), when it fired.
    pub blocks: &'n [Option<TrackSet>],
    pub verdict: &'n Verdict,
    subject: &'n Subject<'n>,
    space: &'n Space,
    assigned: &'n [bool],
    /// Per rule: whether its effect here is final (0: not asked yet, 1: no, 2: yes).
    settled: &'n std::cell::RefCell<Vec<u8>>,
    /// The node's request as the evaluator reads it, built when first needed.
    parts: std::cell::OnceCell<ViewParts<'n>>,
}

impl Node<'_> {
    /// Whether rule `r`'s effect here is final: every quantity it reads is
    /// assigned, or its targets are fixed and the quantities assigned settle
    /// whether it fires (three-valued evaluation, `partial.rs`).
    pub(crate) fn decided(&self, _space: &Space, r: usize) -> bool {
        let set = |q: &usize| self.assigned.get(*q).copied().unwrap_or(false);
        if self
            .space
            .rule_q
            .get(r)
            .is_some_and(|qs| qs.iter().all(set))
        {
            return true;
        }
        if !self.space.static_targets.get(r).copied().unwrap_or(false) {
            return false;
        }
        if let Some(&known) = self.settled.borrow().get(r) {
            if known != 0 {
                return known == 2;
            }
        }
        let parts = self
            .parts
            .get_or_init(|| self.space.view_parts(self.point, self.subject));
        let yes = settles(
            self.subject,
            self.space,
            &set,
            &parts.view(self.subject.max_turns),
            r,
        );
        if let Some(slot) = self.settled.borrow_mut().get_mut(r) {
            *slot = if yes { 2 } else { 1 };
        }
        yes
    }

    /// Whether rule `r` blocks track `t` here.
    pub(crate) fn blocks(&self, r: usize, t: usize) -> bool {
        self.blocks
            .get(r)
            .and_then(Option::as_ref)
            .is_some_and(|b| b.contains(t))
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

/// Searches the points over quantities `qs`: `node` is called on every node
/// (return `Cut` to prune, `Stop` to end), `leaf` on every full assignment.
pub(crate) fn search(
    s: &Subject<'_>,
    space: &Space,
    qs: &[usize],
    budget: &mut u64,
    node: &mut dyn FnMut(&Node<'_>) -> Step,
    leaf: &mut dyn FnMut(&Node<'_>) -> Step,
) -> End {
    let mut st = State {
        point: space.origin(),
        assigned: vec![false; space.quantities.len()],
        verdict: Verdict::new(s.catalog.len()),
        allowed: TrackSet::empty(s.catalog.len()),
        blocks: vec![None; s.rules.len()],
        settled: std::cell::RefCell::new(vec![0; s.rules.len()]),
    };
    // The query's budget, within what the whole analysis has left.
    let mut mine = (*budget).min(space.left.get());
    let start = mine;
    let end = dfs(s, space, qs, 0, &mut mine, &mut st, node, leaf);
    space.left.set(space.left.get() - (start - mine));
    *budget -= start - mine;
    end
}

struct State {
    point: Point,
    assigned: Vec<bool>,
    verdict: Verdict,
    allowed: TrackSet,
    blocks: Vec<Option<TrackSet>>,
    settled: std::cell::RefCell<Vec<u8>>,
}

#[allow(clippy::too_many_arguments)]
fn dfs(
    s: &Subject<'_>,
    space: &Space,
    qs: &[usize],
    depth: usize,
    budget: &mut u64,
    st: &mut State,
    node: &mut dyn FnMut(&Node<'_>) -> Step,
    leaf: &mut dyn FnMut(&Node<'_>) -> Step,
) -> End {
    if *budget == 0 {
        return End::Budget;
    }
    *budget -= 1;
    let outcome = evaluate(s, space, st);
    let n = Node {
        point: &st.point,
        outcome,
        allowed: &st.allowed,
        blocks: &st.blocks,
        verdict: &st.verdict,
        subject: s,
        space,
        assigned: &st.assigned,
        settled: &st.settled,
        parts: std::cell::OnceCell::new(),
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
    if let Some(a) = st.assigned.get_mut(q) {
        *a = true;
    }
    let mut end = End::Complete;
    for i in 0..n_reps {
        if let Some(p) = st.point.get_mut(q) {
            *p = i;
        }
        match dfs(s, space, qs, depth + 1, budget, st, node, leaf) {
            End::Complete => {}
            other => {
                end = other;
                break;
            }
        }
    }
    if let Some(a) = st.assigned.get_mut(q) {
        *a = false;
    }
    if let Some(p) = st.point.get_mut(q) {
        *p = 0;
    }
    end
}

/// Runs the real mask at the state's point and records what each rule blocked.
fn evaluate(s: &Subject<'_>, space: &Space, st: &mut State) -> MaskOutcome {
    let parts = space.view_parts(&st.point, s);
    let view = parts.view(s.max_turns);
    let outcome = mask(s.rules, &view, s.fallback, &mut st.verdict, &mut st.allowed);
    st.settled.borrow_mut().fill(0);
    st.blocks.iter_mut().for_each(|b| *b = None);
    let n = s.catalog.len();
    for f in &st.verdict.fired {
        let r = f.rule as usize;
        let targets = TrackSet::from_indices(n, st.verdict.targets(s.rules, f));
        let blocked = match s.rules.rules().get(r).map(|i| i.effect) {
            Some(EffectKind::Forbid) => targets,
            Some(EffectKind::Only) => {
                let mut b = TrackSet::full(n);
                b.subtract(&targets);
                b
            }
            _ => continue,
        };
        if let Some(slot) = st.blocks.get_mut(r) {
            *slot = Some(blocked);
        }
    }
    outcome
}

/// Whether the quantities set (`set`) settle whether rule `r` (fixed targets)
/// fires, by three-valued evaluation of its condition on `view`.
fn settles(
    s: &Subject<'_>,
    space: &Space,
    set: &dyn Fn(&usize) -> bool,
    view: &talktrack::tooling::TurnView<'_>,
    r: usize,
) -> bool {
    use crate::partial::{outcomes, F, T};
    let (Some(e), Some(atoms)) = (s.rules.condition(r), space.cond_atoms.get(r)) else {
        return false;
    };
    let m = outcomes(
        e,
        s.rules,
        view,
        &|i| atoms.get(i).is_some_and(|qs| qs.iter().all(set)),
        &mut 0,
    );
    match s.rules.rules().get(r).map(|i| i.effect) {
        // A boost fires when true; forbid and `only` when true or unknown.
        Some(EffectKind::Boost) => m == T || m & T == 0,
        _ => m & F == 0 || m == F,
    }
}
