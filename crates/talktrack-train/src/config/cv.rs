//! `[cv]` of the trainer config: the k-fold cross-validation `train` runs by default
//! (and `talktrack-train cv` runs alone): how many folds, the split seed, and the
//! algorithm and step budget each fold trains with.

use serde::{Deserialize, Serialize};

use super::Algorithm;
use crate::aggregate::split::DEFAULT_SPLIT_SEED;

/// `[cv]`: how the policy is cross-validated by conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CvSettings {
    /// Number of folds (default 5, at least 2).
    pub folds: u32,
    /// Seed of the split by conversation id (default 20190606).
    pub seed: u64,
    /// The algorithm each fold trains (default `ppo`).
    pub algorithm: Algorithm,
    /// Environment steps per fold (default 200000): a fold trains with the
    /// algorithm's settings (`[ppo]` or `[dqn]`) but this budget, so that five folds
    /// cost about one full training run.
    pub steps: u64,
}

impl Default for CvSettings {
    fn default() -> Self {
        Self {
            folds: 5,
            seed: DEFAULT_SPLIT_SEED,
            algorithm: Algorithm::Ppo,
            steps: 200_000,
        }
    }
}

impl CvSettings {
    /// Checks the settings: at least 2 folds and a positive step budget.
    pub fn validate(&self) -> Result<(), String> {
        if self.folds < 2 {
            return Err(format!(
                "`folds` in [cv] must be at least 2, not {}",
                self.folds
            ));
        }
        if self.steps == 0 {
            return Err("`steps` in [cv] must be positive".into());
        }
        Ok(())
    }
}
