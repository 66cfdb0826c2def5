//! Evaluation of policies on the aggregate MDP: the optimum by value iteration, exact
//! policy evaluation, the baselines a trained policy must beat, and Monte-Carlo
//! estimates with 95% confidence intervals where enumeration is not possible.
//!
//! A policy is evaluated as a table `probs[state * A + a]`; an [`ActionPolicy`] is
//! tabulated by asking it once per state with the simulator's own observation and
//! mask. Probability a policy puts on a forbidden track counts as a rule violation
//! and earns nothing (the simulator ends the episode), never a reward.

pub mod baselines;
pub mod plan;
pub mod simulate;

use std::sync::Arc;

use crate::sim::Mdp;
use crate::train::env::{ActionPolicy, Evaluator};

pub use baselines::{baselines, behaviour_table, Baselines};
pub use simulate::{simulate, Estimate};

/// A stochastic policy over the enumerable states: `probs[state * A + a]`.
pub type PolicyTable = Vec<f64>;

/// The result of evaluating one policy exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Expected return from the start state.
    pub value: f64,
    /// States where the policy puts probability on a forbidden track.
    pub violating_states: u64,
}

/// Asks `policy` for its probabilities in one state into `row`; whether it puts
/// probability on a track `mask` forbids.
pub(crate) fn ask(
    policy: &dyn ActionPolicy,
    obs: &[f32],
    mask: &[bool],
    out: &mut [f32],
    row: &mut [f64],
) -> bool {
    out.iter_mut().for_each(|x| *x = 0.0);
    policy.probs(obs, mask, out);
    let mut bad = false;
    for (a, (&p, x)) in out.iter().zip(row.iter_mut()).enumerate() {
        bad |= p > 0.0 && !mask.get(a).copied().unwrap_or(false);
        *x = f64::from(p.max(0.0));
    }
    bad
}

/// Exact evaluation on an enumerable [`Mdp`].
#[derive(Clone, Debug)]
pub struct ExactEvaluator {
    mdp: Arc<Mdp>,
}

impl ExactEvaluator {
    /// An evaluator of `mdp`.
    pub fn new(mdp: Arc<Mdp>) -> Self {
        Self { mdp }
    }

    /// The MDP evaluated.
    pub fn mdp(&self) -> &Arc<Mdp> {
        &self.mdp
    }

    /// Value iteration under the masks: the optimal value and a greedy action per state
    /// (`None` where nothing is allowed).
    pub fn solve(&self) -> (f64, Vec<Option<usize>>) {
        let m = &*self.mdp;
        let (t_max, n_last, n_a) = (m.max_turns, m.n_last(), m.n_actions());
        let mut v_next = vec![0.0; n_last];
        let mut v = vec![0.0; n_last];
        let mut greedy = vec![None; t_max as usize * n_last];
        for t in (0..t_max).rev() {
            for l in 0..n_last as u32 {
                let mut best: Option<(usize, f64)> = None;
                for a in 0..n_a {
                    if !m.allowed(t, l, a) {
                        continue;
                    }
                    let q = m.q_value(t, l, a, &v_next);
                    if best.is_none_or(|(_, b)| q > b) {
                        best = Some((a, q));
                    }
                }
                v[l as usize] = best.map_or(0.0, |(_, q)| q);
                if let Some(g) = greedy.get_mut(m.state(t, l)) {
                    *g = best.map(|(a, _)| a);
                }
            }
            std::mem::swap(&mut v, &mut v_next);
        }
        (v_next.first().copied().unwrap_or(0.0), greedy)
    }

    /// Exact value of a policy table; forbidden tracks earn nothing.
    pub fn table_value(&self, probs: &[f64]) -> f64 {
        let m = &*self.mdp;
        let (t_max, n_last, n_a) = (m.max_turns, m.n_last(), m.n_actions());
        let mut v_next = vec![0.0; n_last];
        let mut v = vec![0.0; n_last];
        for t in (0..t_max).rev() {
            for l in 0..n_last as u32 {
                let s = m.state(t, l);
                let mut acc = 0.0;
                for a in 0..n_a {
                    let p = probs.get(s * n_a + a).copied().unwrap_or(0.0);
                    if p > 0.0 && m.allowed(t, l, a) {
                        acc += p * m.q_value(t, l, a, &v_next);
                    }
                }
                v[l as usize] = acc;
            }
            std::mem::swap(&mut v, &mut v_next);
        }
        v_next.first().copied().unwrap_or(0.0)
    }

    /// Asks `policy` for its action probabilities in every state.
    pub fn tabulate(&self, policy: &dyn ActionPolicy) -> (PolicyTable, u64) {
        let m = &*self.mdp;
        let n_a = m.n_actions();
        let mut obs = vec![0.0f32; m.obs_dim()];
        let mut mask = vec![false; n_a];
        let mut out = vec![0.0f32; n_a];
        let mut table = vec![0.0; m.max_turns as usize * m.n_last() * n_a];
        let mut violating = 0;
        for t in 0..m.max_turns {
            for l in 0..m.n_last() as u32 {
                if !m.has_allowed(t, l) {
                    continue;
                }
                m.encode(t, l, &mut obs);
                m.write_mask(t, l, &mut mask);
                let s = m.state(t, l);
                let row = table.get_mut(s * n_a..(s + 1) * n_a).unwrap_or(&mut []);
                let bad = ask(policy, &obs, &mask, &mut out, row);
                violating += u64::from(bad);
            }
        }
        (table, violating)
    }

    /// Exact value of `policy` and its rule violations.
    pub fn evaluate(&self, policy: &dyn ActionPolicy) -> Evaluation {
        let (table, violating_states) = self.tabulate(policy);
        Evaluation {
            value: self.table_value(&table),
            violating_states,
        }
    }

    /// Uniform over the allowed tracks of every state.
    pub fn uniform_table(&self) -> PolicyTable {
        let m = &*self.mdp;
        let n_a = m.n_actions();
        let mut table = vec![0.0; m.max_turns as usize * m.n_last() * n_a];
        for t in 0..m.max_turns {
            for l in 0..m.n_last() as u32 {
                let s = m.state(t, l);
                let n = (0..n_a).filter(|&a| m.allowed(t, l, a)).count();
                for a in (0..n_a).filter(|&a| m.allowed(t, l, a)) {
                    table[s * n_a + a] = 1.0 / n as f64;
                }
            }
        }
        table
    }
}

impl Evaluator for ExactEvaluator {
    fn value(&self, policy: &dyn ActionPolicy) -> f64 {
        self.evaluate(policy).value
    }

    fn optimum(&self) -> f64 {
        self.solve().0
    }
}
