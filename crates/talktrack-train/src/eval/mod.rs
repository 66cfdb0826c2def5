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
pub mod tabular;

use std::sync::Arc;

use crate::sim::Mdp;
use crate::train::env::{ActionPolicy, Evaluator};

pub use baselines::{baselines, behaviour_table, Baselines};
pub use simulate::{simulate, Estimate};
pub use tabular::Tabular;

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
}

/// States are numbered as [`Mdp::state`] does: (turn, last reply), turn-major.
impl Tabular for ExactEvaluator {
    fn model(&self) -> &Mdp {
        &self.mdp
    }

    fn n_states(&self) -> usize {
        self.mdp.max_turns as usize * self.mdp.n_last()
    }

    fn turn_last(&self, s: usize) -> (u32, u32) {
        let n_last = self.mdp.n_last().max(1);
        ((s / n_last) as u32, (s % n_last) as u32)
    }

    fn successor(&self, s: usize, _a: usize, r: usize) -> Option<usize> {
        let (t, _) = self.turn_last(s);
        let last = r + 1;
        (t + 1 < self.mdp.max_turns && last < self.mdp.n_last())
            .then(|| self.mdp.state(t + 1, last as u32))
    }

    fn observation(&self, s: usize) -> &[f32] {
        self.mdp.observation(s)
    }

    fn mask_row(&self, s: usize) -> &[bool] {
        self.mdp.mask_row(s)
    }

    fn start_value(&self, v: &[f64]) -> f64 {
        v.first().copied().unwrap_or(0.0)
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
