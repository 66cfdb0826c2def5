//! Exact evaluation on a finite MDP, written once for every tabular simulator: the
//! (turn, last reply) [`Mdp`] through [`ExactEvaluator`](super::ExactEvaluator)
//! and the enumerated [`ExpandedMdp`](crate::sim::ExpandedMdp).
//!
//! A simulator numbers its states so that every successor comes after its state;
//! backward induction then visits each state once, last to first. Its reply model and
//! rewards are those of its (turn, last reply) [`Mdp`], whose
//! `q_with` computes the expected return of a track given the values of the
//! successors.

use super::{ask, Baselines, Evaluation, PolicyTable};
use crate::aggregate::Aggregates;
use crate::sim::Mdp;
use crate::train::env::ActionPolicy;

/// A finite MDP evaluated exactly: states `0..n_states()`, successors after their state.
pub trait Tabular {
    /// Its (turn, last reply) reply model and rewards.
    fn model(&self) -> &Mdp;

    /// Number of states.
    fn n_states(&self) -> usize;

    /// The turn and last-reply slot of state `s`.
    fn turn_last(&self, s: usize) -> (u32, u32);

    /// The state reached from `s` by track `a` and non-terminal reply `r`, if any.
    fn successor(&self, s: usize, a: usize, r: usize) -> Option<usize>;

    /// The observation of state `s`.
    fn observation(&self, s: usize) -> &[f32];

    /// Per track, whether it is allowed (data and rules) in state `s`.
    fn mask_row(&self, s: usize) -> &[bool];

    /// The value of the start, given the value of every state.
    fn start_value(&self, v: &[f64]) -> f64;

    /// Number of tracks.
    fn n_actions(&self) -> usize {
        self.model().n_actions()
    }

    /// Whether track `a` is allowed in state `s`.
    fn allowed(&self, s: usize, a: usize) -> bool {
        self.mask_row(s).get(a).copied().unwrap_or(false)
    }

    /// Expected return of track `a` in state `s`, then the values `v` of later states.
    fn q(&self, s: usize, a: usize, v: &[f64]) -> f64 {
        let (t, l) = self.turn_last(s);
        self.model().q_with(t, l, a, |r| {
            self.successor(s, a, r)
                .and_then(|n| v.get(n))
                .copied()
                .unwrap_or(0.0)
        })
    }

    /// Value iteration under the masks: the optimal value and a best track per state
    /// (`None` where nothing is allowed).
    fn solve(&self) -> (f64, Vec<Option<usize>>) {
        let n = self.n_states();
        let mut v = vec![0.0; n];
        let mut greedy = vec![None; n];
        for s in (0..n).rev() {
            let mut best: Option<(usize, f64)> = None;
            for a in (0..self.n_actions()).filter(|&a| self.allowed(s, a)) {
                let q = self.q(s, a, &v);
                if best.is_none_or(|(_, b)| q > b) {
                    best = Some((a, q));
                }
            }
            v[s] = best.map_or(0.0, |(_, q)| q);
            greedy[s] = best.map(|(a, _)| a);
        }
        (self.start_value(&v), greedy)
    }

    /// Exact value of a policy table `probs[s * A + a]`; forbidden tracks earn nothing.
    fn table_value(&self, probs: &[f64]) -> f64 {
        let (n, n_a) = (self.n_states(), self.n_actions());
        let mut v = vec![0.0; n];
        for s in (0..n).rev() {
            let mut acc = 0.0;
            for a in 0..n_a {
                let p = probs.get(s * n_a + a).copied().unwrap_or(0.0);
                if p > 0.0 && self.allowed(s, a) {
                    acc += p * self.q(s, a, &v);
                }
            }
            v[s] = acc;
        }
        self.start_value(&v)
    }

    /// Asks `policy` for its probabilities in every state with an allowed track;
    /// counts the states where it puts probability on a forbidden one.
    fn tabulate(&self, policy: &dyn ActionPolicy) -> (PolicyTable, u64) {
        let n_a = self.n_actions();
        let mut out = vec![0.0f32; n_a];
        let mut table = vec![0.0; self.n_states() * n_a];
        let mut violating = 0;
        for (s, row) in table.chunks_exact_mut(n_a.max(1)).enumerate() {
            let mask = self.mask_row(s);
            if mask.iter().any(|&x| x) {
                let bad = ask(policy, self.observation(s), mask, &mut out, row);
                violating += u64::from(bad);
            }
        }
        (table, violating)
    }

    /// Exact value of `policy` and its rule violations.
    fn evaluate(&self, policy: &dyn ActionPolicy) -> Evaluation {
        let (table, violating_states) = self.tabulate(policy);
        Evaluation {
            value: self.table_value(&table),
            violating_states,
        }
    }

    /// Uniform over the allowed tracks of every state.
    fn uniform_table(&self) -> PolicyTable {
        let n_a = self.n_actions();
        let mut table = vec![0.0; self.n_states() * n_a];
        for s in 0..self.n_states() {
            let n = (0..n_a).filter(|&a| self.allowed(s, a)).count();
            for a in (0..n_a).filter(|&a| self.allowed(s, a)) {
                table[s * n_a + a] = 1.0 / n as f64;
            }
        }
        table
    }

    /// The optimum, uniform, best single track and logged behaviour (from
    /// `behaviour_from`'s published counts), all exact: [`super::baselines()`].
    fn baselines(&self, behaviour_from: &Aggregates) -> Baselines {
        super::baselines::baselines(self, behaviour_from)
    }
}
