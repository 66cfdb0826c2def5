//! The simulator as a [`MaskedEnv`]: one episode at a time over the flat tables of an
//! [`Mdp`], no allocation per step.

use std::sync::Arc;

use rand::rngs::StdRng;

use super::{Mdp, Transition};
use crate::train::env::{MaskedEnv, Step};

/// An episode runner over a shared [`Mdp`].
///
/// The state is exactly what the rules and the observation read: the turn and the
/// last reply. Taking a forbidden or unavailable action counts a violation and ends
/// the episode with reward 0, so breaking a rule never pays.
#[derive(Clone, Debug)]
pub struct SimEnv {
    mdp: Arc<Mdp>,
    turn: u32,
    last: u32,
    violations: u64,
}

impl SimEnv {
    /// A fresh environment over `mdp`.
    pub fn new(mdp: Arc<Mdp>) -> Self {
        Self {
            mdp,
            turn: 0,
            last: 0,
            violations: 0,
        }
    }

    /// The MDP this environment simulates.
    pub fn mdp(&self) -> &Arc<Mdp> {
        &self.mdp
    }

    /// Current (turn, last-reply slot).
    pub fn state(&self) -> (u32, u32) {
        (self.turn, self.last)
    }
}

impl MaskedEnv for SimEnv {
    fn obs_dim(&self) -> usize {
        self.mdp.obs_dim()
    }

    fn n_actions(&self) -> usize {
        self.mdp.n_actions()
    }

    fn reset(&mut self, _rng: &mut StdRng, obs: &mut [f32], mask: &mut [bool]) {
        self.turn = 0;
        self.last = 0;
        self.mdp.encode(0, 0, obs);
        self.mdp.write_mask(0, 0, mask);
    }

    fn step(
        &mut self,
        action: usize,
        rng: &mut StdRng,
        obs: &mut [f32],
        mask: &mut [bool],
    ) -> Step {
        let m = &*self.mdp;
        let end = |reward: f32| Step { reward, done: true };
        let sa = m.sa(self.turn, self.last, action);
        if !m.allowed_sa(sa) {
            self.violations += 1;
            return end(0.0);
        }
        let reward = match m.transition(sa, self.turn, rng) {
            Transition::End(reward) => return end(reward),
            Transition::Next { reply, reward } => {
                self.turn += 1;
                self.last = reply as u32 + 1;
                reward
            }
        };
        if !m.has_allowed(self.turn, self.last) {
            return end(reward);
        }
        m.encode(self.turn, self.last, obs);
        m.write_mask(self.turn, self.last, mask);
        Step {
            reward,
            done: false,
        }
    }

    fn violations(&self) -> u64 {
        self.violations
    }

    fn boxed_clone(&self) -> Box<dyn MaskedEnv> {
        Box::new(SimEnv::new(Arc::clone(&self.mdp)))
    }
}
