//! `[job]` of the trainer config: which algorithms the job trains, which one the
//! exported bundle serves, and the command-line overrides of the config.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::SimSetup;

/// A learning algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "learn", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Proximal policy optimisation (masked logits).
    Ppo,
    /// Double deep Q-learning (masked maxima).
    Dqn,
}

impl Algorithm {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ppo => "ppo",
            Algorithm::Dqn => "dqn",
        }
    }
}

/// `[job]`: what `talktrack-train train` does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// Algorithms to train (default both).
    pub algorithms: Vec<Algorithm>,
    /// Whose policy the exported bundle serves (default `ppo`).
    pub export: Algorithm,
    /// Cross-validate by conversation (default true; settings in `[cv]`). `holdout`,
    /// the name of the former 80/20 diagnostic, is read as this.
    #[serde(alias = "holdout")]
    pub cv: bool,
    /// Version of the exported bundle (default: the template's).
    pub version: Option<String>,
    /// What the policy optimises, in words, for the report.
    pub objective: String,
    /// Episodes per evaluation when the simulator's state is not enumerated (track
    /// usage or a drawn context): values are then estimates with 95% confidence
    /// intervals (default 2000).
    pub eval_episodes: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            algorithms: vec![Algorithm::Ppo, Algorithm::Dqn],
            export: Algorithm::Ppo,
            cv: true,
            version: None,
            objective: "the simulator's reward: 1 when the user's reply ends the conversation with the configured conversion reply, 0 otherwise".into(),
            eval_episodes: 2000,
        }
    }
}

/// What the command line may override in a loaded config (`talktrack-train train`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// Only this algorithm, trained and exported.
    pub algorithm: Option<Algorithm>,
    /// Seed of both algorithms.
    pub seed: Option<u64>,
    /// Environment-step budget of both algorithms.
    pub steps: Option<u64>,
    /// Skip the cross-validation.
    pub no_cv: bool,
    /// Train from this aggregate file instead of the log.
    pub aggregates: Option<PathBuf>,
    /// Fail on the first bad log line.
    pub strict: bool,
}

impl SimSetup {
    /// Applies command-line overrides to this config.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(a) = o.algorithm {
            self.job.algorithms = vec![a];
            self.job.export = a;
        }
        if let Some(s) = o.seed {
            self.ppo.run.seed = s;
            self.dqn.run.seed = s;
        }
        if let Some(n) = o.steps {
            self.ppo.run.total_steps = n;
            self.dqn.run.total_steps = n;
        }
        if o.no_cv {
            self.job.cv = false;
        }
        if o.aggregates.is_some() {
            self.data.aggregates.clone_from(&o.aggregates);
        }
        if o.strict {
            self.data.strict = true;
        }
    }
}
