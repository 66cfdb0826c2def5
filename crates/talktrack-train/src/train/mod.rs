//! Learning a policy: the environment contract and the DQN / PPO trainers.
//!
//! The trainers (and the networks they learn) need the `learn` feature; the
//! environment contract ([`env`](mod@env)), the hyper-parameters ([`config`]) and the learning
//! curve ([`curve`]) do not, so the simulator builds without the autodiff stack.
//!
//! Gradients come from burn (ndarray backend + autodiff); acting in rollouts uses a
//! plain `f32` copy of the same weights ([`mlp::PlainMlp`]), which is also what gets
//! exported. Both trainers return a [`TrainOutcome`] holding that copy and the
//! learning curve.
//!
//! Reproducibility: every random draw comes from `StdRng`s derived from the config
//! seed (one per environment copy for its dynamics and action sampling, one for
//! weights and minibatches); burn's global RNG is never used, so runs on parallel
//! threads do not disturb each other. burn is built with `default-features = false`,
//! which leaves out burn-ndarray's `multi-threads` (rayon, threaded matrixmultiply)
//! and `simd`; `cargo tree -e features -i burn-ndarray` shows it. Everything runs on
//! the calling thread and a run is bit-for-bit reproducible for a given seed, build
//! and CPU. If feature unification ever turns `multi-threads` on, matrixmultiply
//! splits the output matrix between threads, which in practice leaves each element's
//! summation order alone, but nothing promises it; pin a single thread then
//! (`RAYON_NUM_THREADS=1`, `MATMUL_NUM_THREADS=1`) for reproducible runs.

pub mod config;
pub mod curve;
#[cfg(feature = "learn")]
pub mod dqn;
pub mod env;
#[cfg(feature = "learn")]
pub mod mlp;
#[cfg(feature = "learn")]
pub mod ppo;
#[cfg(feature = "learn")]
mod vec_env;

#[cfg(feature = "learn")]
use burn::backend::{Autodiff, NdArray};

pub use config::{Activation, DqnConfig, NetConfig, PpoConfig, RunConfig};
pub use curve::{Control, EvalPoint, LearningCurve, NoObserver, Progress, TrainObserver};
#[cfg(feature = "learn")]
pub use dqn::train_dqn;
#[cfg(feature = "learn")]
pub use mlp::{DenseWeights, GreedyPolicy, PlainMlp};
#[cfg(feature = "learn")]
pub use ppo::train_ppo;

/// The autodiff backend the trainers learn with.
#[cfg(feature = "learn")]
pub(crate) type Learner = Autodiff<NdArray<f32>>;

/// Why training stopped without a usable policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A loss, gradient step or weight became NaN or infinite.
    #[error("non-finite {what} at environment step {step}")]
    NonFinite {
        /// Environment steps taken when it was detected.
        step: u64,
        /// What became non-finite (`loss`, `weights`, ...).
        what: String,
    },
    /// The configuration is out of range.
    #[error("invalid training config: {0}")]
    Config(String),
    /// The environment's shape is unusable (no actions, an episode with no allowed action).
    #[error("environment: {0}")]
    Env(String),
    /// The tensor backend returned data of an unexpected type.
    #[error("tensor backend: {0}")]
    Backend(String),
}

/// What a finished run hands back.
#[cfg(feature = "learn")]
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// The trained network (Q-values for DQN, policy logits for PPO), weights finite.
    pub net: PlainMlp,
    /// Evaluations of the greedy policy during the run (empty without an evaluator).
    pub curve: LearningCurve,
    /// Environment steps taken.
    pub env_steps: u64,
    /// Training wall seconds (evaluation excluded).
    pub wall_secs: f64,
    /// Forbidden actions taken, summed over environment copies (0 unless a bug).
    pub violations: u64,
}

#[cfg(feature = "learn")]
impl TrainOutcome {
    /// The greedy policy of the trained network.
    pub fn greedy(&self) -> GreedyPolicy {
        GreedyPolicy {
            net: self.net.clone(),
        }
    }

    /// Environment steps per training second.
    pub fn steps_per_sec(&self) -> f64 {
        self.env_steps as f64 / self.wall_secs.max(1e-9)
    }
}
