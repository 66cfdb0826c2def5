//! Hyper-parameters of the trainers, as serde structs that read from TOML.
//!
//! Every field has a default (see each `Default` impl) tuned for the small
//! turn-by-turn MDPs that talktrack trains on (a few hundred states, ~10 steps per
//! episode, a few dozen actions), so a config file only names what it changes.

use serde::{Deserialize, Serialize};

use super::TrainError;

/// The nonlinearity between hidden layers (the output layer is linear).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// Hyperbolic tangent.
    Tanh,
}

/// Shape of a multi-layer perceptron: observation → hidden layers → one output per action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// Width of each hidden layer. Default `[64, 64]`.
    pub hidden: Vec<usize>,
    /// Nonlinearity after each hidden layer. Default `relu`.
    pub activation: Activation,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            hidden: vec![64, 64],
            activation: Activation::Relu,
        }
    }
}

/// When a training run stops, and how it measures itself on the way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of every random choice (weights, exploration, environment). Default 0.
    pub seed: u64,
    /// Training budget in environment steps. Default 1,000,000.
    pub total_steps: u64,
    /// Evaluate the greedy policy every this many environment steps (0 = only at the
    /// end). Default 20,000.
    pub eval_every: u64,
    /// Stop as soon as an evaluation reaches this fraction of the optimum (e.g. 0.995).
    /// Default none: run the whole budget.
    pub stop_at_fraction: Option<f64>,
    /// Return the best evaluated network rather than the last one (needs an
    /// evaluator; the exact evaluation makes this checkpoint choice sound). Default true.
    pub keep_best: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            total_steps: 1_000_000,
            eval_every: 20_000,
            stop_at_fraction: None,
            keep_best: true,
        }
    }
}

/// Deep Q-learning (double DQN, Huber loss, target network, masked max).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DqnConfig {
    /// Budget, seed and evaluation schedule.
    pub run: RunConfig,
    /// Q-network shape.
    pub net: NetConfig,
    /// Environments stepped side by side (one batched forward per step). Default 16.
    pub n_envs: usize,
    /// Discount; 1.0 is right for the finite-horizon MDPs with the turn in the state.
    /// Default 1.0.
    pub gamma: f32,
    /// AdamW learning rate. Default 1e-3.
    pub lr: f64,
    /// Anneal the learning rate linearly to 10% of `lr` over the budget; damps the
    /// late oscillation between near-tied actions. Default true.
    pub lr_anneal: bool,
    /// AdamW decoupled weight decay. Default 0.
    pub weight_decay: f32,
    /// Replay buffer capacity in transitions. Default 100,000.
    pub buffer_size: usize,
    /// Minibatch size of one gradient step. Default 128.
    pub batch_size: usize,
    /// Gradient steps per environment step (replay ratio). Default 0.125 (one step of
    /// `batch_size` every 8 environment steps, each transition replayed ~16 times).
    pub replay_ratio: f64,
    /// Environment steps of uniform random (allowed) actions before learning. Default 2,000.
    pub learning_starts: u64,
    /// Initial exploration rate. Default 1.0.
    pub eps_start: f64,
    /// Final exploration rate. Default 0.02.
    pub eps_end: f64,
    /// Fraction of `total_steps` over which epsilon decays linearly. Default 0.3.
    pub eps_decay_fraction: f64,
    /// Polyak factor of the target update (1.0 = hard copy). Default 1.0.
    pub tau: f32,
    /// Gradient steps between target updates. Default 250.
    pub target_update_every: u64,
    /// Huber loss threshold. Default 1.0.
    pub huber_delta: f64,
    /// Clip the global gradient norm at this value (none = no clipping). Default 10.
    pub max_grad_norm: Option<f32>,
}

impl Default for DqnConfig {
    fn default() -> Self {
        Self {
            run: RunConfig {
                total_steps: 300_000,
                ..RunConfig::default()
            },
            net: NetConfig::default(),
            n_envs: 16,
            gamma: 1.0,
            lr: 1e-3,
            lr_anneal: true,
            weight_decay: 0.0,
            buffer_size: 100_000,
            batch_size: 128,
            replay_ratio: 0.125,
            learning_starts: 2_000,
            eps_start: 1.0,
            eps_end: 0.02,
            eps_decay_fraction: 0.3,
            tau: 1.0,
            target_update_every: 250,
            huber_delta: 1.0,
            max_grad_norm: Some(10.0),
        }
    }
}

/// Proximal policy optimisation (clipped ratio, GAE, masked logits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Budget, seed and evaluation schedule.
    pub run: RunConfig,
    /// Shape of the policy network (and of the value network).
    pub net: NetConfig,
    /// Policy and value share the hidden layers (one trunk, two linear heads) instead
    /// of being two networks: about a third less gradient compute per sample (what
    /// bounds PPO's throughput on a CPU), but the value loss disturbs the policy and
    /// it needed ~60% more steps to 98% of the optimum. Default false.
    pub shared_trunk: bool,
    /// Environment copies stepped side by side. Default 128.
    pub n_envs: usize,
    /// Steps per environment per rollout; a rollout is `n_envs * n_steps` samples.
    /// Default 32.
    pub n_steps: usize,
    /// Passes over each rollout. Default 2: gradient steps are most of PPO's time on a
    /// CPU, and on the reference MDP 2 epochs reached 98% of the optimum in fewer
    /// seconds than 4 (same final fraction).
    pub epochs: usize,
    /// Samples per gradient step. Default 1,024.
    pub minibatch_size: usize,
    /// Discount. Default 1.0 (finite horizon, turn in the state).
    pub gamma: f32,
    /// GAE λ. Default 0.95.
    pub gae_lambda: f32,
    /// Ratio clipping ε. Default 0.2.
    pub clip: f32,
    /// Weight of the value loss. Default 0.5.
    pub vf_coef: f32,
    /// Weight of the entropy bonus at the start. Default 0.001: the greedy policy is
    /// what gets exported, so exploration only needs to keep near-tied actions alive.
    pub ent_coef: f32,
    /// Decay the entropy bonus linearly to zero over the budget. Default true.
    pub ent_decay: bool,
    /// AdamW learning rate. Default 2e-2 (high for PPO, right for these small MDPs
    /// with large minibatches; 3e-3 reached 95% of the optimum three times slower).
    pub lr: f64,
    /// Anneal the learning rate linearly to 10% of `lr` over the budget. Default true.
    pub lr_anneal: bool,
    /// AdamW decoupled weight decay. Default 0.
    pub weight_decay: f32,
    /// Clip the global gradient norm at this value. Default 0.5.
    pub max_grad_norm: Option<f32>,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            run: RunConfig {
                total_steps: 1_000_000,
                ..RunConfig::default()
            },
            net: NetConfig::default(),
            shared_trunk: false,
            n_envs: 128,
            n_steps: 32,
            epochs: 2,
            minibatch_size: 1024,
            gamma: 1.0,
            gae_lambda: 0.95,
            clip: 0.2,
            vf_coef: 0.5,
            ent_coef: 0.001,
            ent_decay: true,
            lr: 2e-2,
            lr_anneal: true,
            weight_decay: 0.0,
            max_grad_norm: Some(0.5),
        }
    }
}

fn positive(what: &str, v: usize) -> Result<(), TrainError> {
    if v == 0 {
        return Err(TrainError::Config(format!("`{what}` must be positive")));
    }
    Ok(())
}

fn finite_in(what: &str, v: f64, lo: f64, hi: f64) -> Result<(), TrainError> {
    if !(v.is_finite() && v >= lo && v <= hi) {
        return Err(TrainError::Config(format!(
            "`{what}` = {v} must lie in [{lo}, {hi}]"
        )));
    }
    Ok(())
}

impl NetConfig {
    pub(crate) fn validate(&self) -> Result<(), TrainError> {
        for &h in &self.hidden {
            positive("net.hidden", h)?;
        }
        Ok(())
    }
}

impl DqnConfig {
    /// Checks ranges that would make training meaningless or panic inside the backend.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.net.validate()?;
        positive("n_envs", self.n_envs)?;
        positive("buffer_size", self.buffer_size)?;
        positive("batch_size", self.batch_size)?;
        finite_in("gamma", f64::from(self.gamma), 0.0, 1.0)?;
        finite_in("lr", self.lr, 0.0, 10.0)?;
        finite_in("replay_ratio", self.replay_ratio, 0.0, 1e3)?;
        finite_in("eps_start", self.eps_start, 0.0, 1.0)?;
        finite_in("eps_end", self.eps_end, 0.0, 1.0)?;
        finite_in("eps_decay_fraction", self.eps_decay_fraction, 0.0, 1.0)?;
        finite_in("tau", f64::from(self.tau), 0.0, 1.0)?;
        finite_in("huber_delta", self.huber_delta, 1e-9, 1e9)?;
        positive(
            "target_update_every",
            usize::from(self.target_update_every > 0),
        )?;
        Ok(())
    }
}

impl PpoConfig {
    /// Checks ranges that would make training meaningless or panic inside the backend.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.net.validate()?;
        positive("n_envs", self.n_envs)?;
        positive("n_steps", self.n_steps)?;
        positive("epochs", self.epochs)?;
        positive("minibatch_size", self.minibatch_size)?;
        finite_in("gamma", f64::from(self.gamma), 0.0, 1.0)?;
        finite_in("gae_lambda", f64::from(self.gae_lambda), 0.0, 1.0)?;
        finite_in("clip", f64::from(self.clip), 0.0, 10.0)?;
        finite_in("lr", self.lr, 0.0, 10.0)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_file_names_only_what_it_changes() {
        let cfg: PpoConfig =
            toml::from_str("n_envs = 64\n[run]\nseed = 3\n[net]\nactivation = \"tanh\"\n").unwrap();
        assert_eq!(cfg.n_envs, 64);
        assert_eq!(cfg.run.seed, 3);
        assert_eq!(cfg.run.total_steps, RunConfig::default().total_steps);
        assert_eq!(
            cfg.net,
            NetConfig {
                activation: Activation::Tanh,
                ..NetConfig::default()
            }
        );
        assert_eq!(cfg.epochs, PpoConfig::default().epochs);
        let back: PpoConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn unknown_fields_and_bad_ranges_are_rejected() {
        assert!(toml::from_str::<DqnConfig>("learning_rate = 0.1\n").is_err());
        let cfg = DqnConfig {
            gamma: 1.5,
            ..DqnConfig::default()
        };
        assert!(matches!(cfg.validate(), Err(TrainError::Config(m)) if m.contains("`gamma`")));
        let cfg = PpoConfig {
            minibatch_size: 0,
            ..PpoConfig::default()
        };
        assert!(cfg.validate().is_err());
    }
}
