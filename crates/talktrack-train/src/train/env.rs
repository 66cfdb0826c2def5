//! The contract between a simulator and the learning algorithms.
//!
//! An environment is episodic, has a fixed number of discrete actions (catalog
//! tracks) and tells, at every step, which actions the compliance rules allow. The
//! algorithms only ever pick allowed actions; an environment may treat a forbidden
//! action as a bug and count it as a rule violation.

use rand::rngs::StdRng;

/// The outcome of one environment step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// Reward for the transition.
    pub reward: f32,
    /// Whether the episode ended with this step.
    pub done: bool,
}

/// An episodic environment with an allowed-action mask at every step.
pub trait MaskedEnv: Send {
    /// Length of the observation vector.
    fn obs_dim(&self) -> usize;
    /// Number of actions (catalog tracks).
    fn n_actions(&self) -> usize;
    /// Starts a new episode: writes the first observation and which actions are allowed.
    fn reset(&mut self, rng: &mut StdRng, obs: &mut [f32], mask: &mut [bool]);
    /// Takes an allowed `action`; writes the next observation and mask (left
    /// unspecified when the episode is done).
    fn step(&mut self, action: usize, rng: &mut StdRng, obs: &mut [f32], mask: &mut [bool])
        -> Step;
    /// Number of forbidden actions taken so far (must stay 0).
    fn violations(&self) -> u64;
    /// A fresh copy for another worker or vectorised slot.
    fn boxed_clone(&self) -> Box<dyn MaskedEnv>;
}

/// A policy as the evaluator sees it: observation and mask in, action probabilities out.
pub trait ActionPolicy {
    /// Writes a probability per action (zero for forbidden actions) for one observation.
    fn probs(&self, obs: &[f32], mask: &[bool], out: &mut [f32]);
}

/// Exact (or simulated) evaluation of policies on an environment's MDP.
pub trait Evaluator {
    /// Expected return of `policy` from the start distribution.
    fn value(&self, policy: &dyn ActionPolicy) -> f64;
    /// The optimum under the same masks (value iteration), the ceiling for any policy.
    fn optimum(&self) -> f64;
}
