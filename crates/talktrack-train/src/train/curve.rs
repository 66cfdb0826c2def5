//! What a training run reports while it runs: a cheap per-update progress record, a
//! periodic exact evaluation of the greedy policy, and the learning curve they form.
//!
//! Wall time here is training time: evaluation is measurement, so the clock is
//! paused while [`Evaluator::value`](super::env::Evaluator::value) runs. That makes
//! "seconds to 98% of the optimum" independent of how often one evaluates.

use serde::{Deserialize, Serialize};

/// State of a run after one update (a gradient step for DQN, a rollout's epochs for PPO).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Environment steps taken so far, over all environment copies.
    pub env_steps: u64,
    /// Training wall seconds so far (evaluation excluded).
    pub wall_secs: f64,
    /// Episodes finished so far.
    pub episodes: u64,
    /// Mean return of the last (up to 100) finished episodes of the behaviour policy.
    pub mean_return: f64,
    /// Mean loss of the update (total loss; for PPO policy + value − entropy terms).
    pub loss: f64,
    /// Exploration rate (DQN) or mean policy entropy (PPO) at this update.
    pub explore: f64,
    /// Seconds so far spent stepping environments and acting (plain forward).
    pub act_secs: f64,
    /// Seconds so far spent in gradient steps (targets, burn forward/backward, optimiser).
    pub learn_secs: f64,
}

/// One exact evaluation of the greedy policy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// Environment steps taken when the policy was evaluated.
    pub env_steps: u64,
    /// Training wall seconds at that point (evaluation excluded).
    pub wall_secs: f64,
    /// Expected return of the greedy policy.
    pub value: f64,
    /// `value / optimum` (1.0 when the optimum is 0 and the value reaches it).
    pub fraction: f64,
}

/// Whether a run goes on after an observer has seen a progress record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop now and return what was learned so far.
    Stop,
}

/// Hook called by the trainers; keep it cheap (it runs on the training thread).
pub trait TrainObserver {
    /// After every update.
    fn on_update(&mut self, _progress: &Progress) -> Control {
        Control::Continue
    }
    /// After every evaluation of the greedy policy.
    fn on_eval(&mut self, _point: &EvalPoint) -> Control {
        Control::Continue
    }
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl TrainObserver for NoObserver {}

/// The evaluations of one run, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LearningCurve {
    /// The optimum the fractions refer to.
    pub optimum: f64,
    /// Evaluations, by increasing `env_steps`.
    pub points: Vec<EvalPoint>,
}

impl LearningCurve {
    /// The first evaluation reaching `fraction` of the optimum.
    pub fn first_reaching(&self, fraction: f64) -> Option<&EvalPoint> {
        self.points.iter().find(|p| p.fraction >= fraction)
    }

    /// Training seconds until the greedy policy first reached `fraction` of the optimum.
    pub fn secs_to(&self, fraction: f64) -> Option<f64> {
        self.first_reaching(fraction).map(|p| p.wall_secs)
    }

    /// The last evaluation.
    pub fn last(&self) -> Option<&EvalPoint> {
        self.points.last()
    }

    /// The best fraction reached by any evaluation.
    pub fn best_fraction(&self) -> Option<f64> {
        self.points.iter().map(|p| p.fraction).reduce(f64::max)
    }
}

/// `value / optimum`, with the degenerate optimum 0 handled.
pub(crate) fn fraction(value: f64, optimum: f64) -> f64 {
    if optimum.abs() < 1e-12 {
        if value >= optimum - 1e-9 {
            1.0
        } else {
            0.0
        }
    } else {
        value / optimum
    }
}
