//! The simulator kinds behind one trait, [`SimulatorKind`]: what each kind answers
//! (its reply model, an environment to train on, how its values are computed, its
//! part of the report), and [`Values`], the one place values are computed — exactly
//! on an enumerated MDP (through [`Tabular`], shared by both exact kinds) or from
//! simulated episodes.

use std::sync::Arc;

use crate::aggregate::Aggregates;
use crate::eval::{baselines, ExactEvaluator, Tabular};
use crate::report::{BaselineSummary, ContextSource, ExpandedSummary};
use crate::sim::{ExpandedEnv, ExpandedMdp, LiveEnv, LiveEvaluator, LiveSim, Mdp, SimEnv};
use crate::train::env::{ActionPolicy, Evaluator, MaskedEnv};

/// What every simulator kind answers for the job's stages.
pub(super) trait SimulatorKind: Send + Sync {
    /// The reply model: data availability and reply cells by (turn, last reply).
    fn replies(&self) -> &Mdp;
    /// The enumerated (turn, last reply) MDP, when this kind is one.
    fn exact_mdp(&self) -> Option<&Mdp> {
        None
    }
    /// A fresh environment to train on.
    fn env(&self) -> Box<dyn MaskedEnv>;
    /// What selects the best network during training.
    fn train_evaluator(&self) -> &dyn Evaluator;
    /// How this kind's values are computed.
    fn values(&self) -> Values<'_>;
    /// The choices of the optimal plan that rest on thin data (exact MDP only).
    fn thin_choices(&self) -> Vec<crate::eval::plan::ThinChoice> {
        Vec::new()
    }
    /// This kind's part of the report's simulator summary.
    fn describe(&self) -> KindSummary;
}

/// A kind's part of [`crate::report::MdpSummary`].
pub(super) struct KindSummary {
    /// `exact` or `simulated`.
    pub evaluation: &'static str,
    /// Where the context attributes come from (empty for a fixed context).
    pub context: Vec<ContextSource>,
    /// Episodes per simulated evaluation.
    pub episodes: Option<u64>,
    /// The observation width.
    pub obs_dim: usize,
    /// The enumerated simulator's size.
    pub expanded: Option<ExpandedSummary>,
    /// Why the state space was not enumerated.
    pub why_simulated: Option<String>,
}

/// The (turn, last reply) MDP in a fixed context, evaluated exactly.
pub(super) struct ExactKind {
    pub mdp: Arc<Mdp>,
    pub ev: ExactEvaluator,
}

impl SimulatorKind for ExactKind {
    fn replies(&self) -> &Mdp {
        &self.mdp
    }

    fn exact_mdp(&self) -> Option<&Mdp> {
        Some(&self.mdp)
    }

    fn env(&self) -> Box<dyn MaskedEnv> {
        Box::new(SimEnv::new(Arc::clone(&self.mdp)))
    }

    fn train_evaluator(&self) -> &dyn Evaluator {
        &self.ev
    }

    fn values(&self) -> Values<'_> {
        Values::Exact(&self.ev)
    }

    fn thin_choices(&self) -> Vec<crate::eval::plan::ThinChoice> {
        crate::eval::plan::thin_choices(&self.mdp, &self.ev.solve().1)
    }

    fn describe(&self) -> KindSummary {
        KindSummary {
            evaluation: "exact",
            context: Vec::new(),
            episodes: None,
            obs_dim: self.mdp.obs_dim(),
            expanded: None,
            why_simulated: None,
        }
    }
}

/// The simulator whose state also carries track usage and a drawn context,
/// enumerated and evaluated exactly.
pub(super) struct ExpandedKind {
    pub sim: Arc<LiveSim>,
    pub mdp: Arc<ExpandedMdp>,
}

impl SimulatorKind for ExpandedKind {
    fn replies(&self) -> &Mdp {
        self.sim.mdp()
    }

    fn env(&self) -> Box<dyn MaskedEnv> {
        Box::new(ExpandedEnv::new(Arc::clone(&self.mdp)))
    }

    fn train_evaluator(&self) -> &dyn Evaluator {
        &*self.mdp
    }

    fn values(&self) -> Values<'_> {
        Values::Exact(&*self.mdp)
    }

    fn describe(&self) -> KindSummary {
        KindSummary {
            evaluation: "exact",
            context: self.sim.context().describe().to_vec(),
            episodes: None,
            obs_dim: self.mdp.obs_dim(),
            expanded: Some(ExpandedSummary {
                states: self.mdp.n_states(),
                contexts: self.mdp.contexts(),
                tracks_read: self.mdp.tracks_read(),
            }),
            why_simulated: None,
        }
    }
}

/// The simulator with too many reachable states to enumerate, evaluated by
/// simulated episodes.
pub(super) struct LiveKind {
    pub sim: Arc<LiveSim>,
    /// Selects the best network during training.
    pub train_ev: LiveEvaluator,
    /// Reports values, on other episodes than the ones that selected the network.
    pub ev: LiveEvaluator,
    /// Why the state space was not enumerated.
    pub why: String,
}

impl SimulatorKind for LiveKind {
    fn replies(&self) -> &Mdp {
        self.sim.mdp()
    }

    fn env(&self) -> Box<dyn MaskedEnv> {
        Box::new(LiveEnv::new(Arc::clone(&self.sim)))
    }

    fn train_evaluator(&self) -> &dyn Evaluator {
        &self.train_ev
    }

    fn values(&self) -> Values<'_> {
        Values::Simulated(&self.ev)
    }

    fn describe(&self) -> KindSummary {
        KindSummary {
            evaluation: "simulated",
            context: self.sim.context().describe().to_vec(),
            episodes: Some(self.ev.episodes),
            obs_dim: self.sim.obs_dim(),
            expanded: None,
            why_simulated: Some(self.why.clone()),
        }
    }
}

/// Where a simulator's values come from.
pub(super) enum Values<'a> {
    /// Exact, on the enumerated MDP.
    Exact(&'a dyn Tabular),
    /// Estimated from simulated episodes.
    Simulated(&'a LiveEvaluator),
}

impl Values<'_> {
    /// The best value any policy reaches under the same masks; known when exact.
    pub(super) fn optimum(&self) -> Option<f64> {
        match self {
            Self::Exact(t) => Some(t.solve().0),
            Self::Simulated(_) => None,
        }
    }

    /// Value, 95% half-width (simulated only) and rule violations of `policy`.
    pub(super) fn evaluate(&self, policy: &dyn ActionPolicy) -> (f64, Option<f64>, u64) {
        match self {
            Self::Exact(t) => {
                let e = t.evaluate(policy);
                (e.value, None, e.violating_states)
            }
            Self::Simulated(ev) => {
                let e = ev.estimate(policy);
                (e.mean, Some(e.half_width), e.violations)
            }
        }
    }

    /// The value of choosing uniformly among the allowed tracks.
    pub(super) fn uniform(&self) -> f64 {
        match self {
            Self::Exact(t) => t.table_value(&t.uniform_table()),
            Self::Simulated(ev) => ev.estimate(&crate::sim::live::UniformPolicy).mean,
        }
    }

    /// The baselines the report compares with.
    pub(super) fn baselines(&self, agg: &Aggregates) -> BaselineSummary {
        match self {
            Self::Exact(t) => {
                let b = baselines(*t, agg);
                BaselineSummary {
                    optimum: Some(b.optimum),
                    ci95: None,
                    uniform: b.uniform,
                    best_single: b.best_single,
                    behaviour: b.behaviour,
                }
            }
            Self::Simulated(ev) => {
                let b = ev.baselines(agg);
                BaselineSummary {
                    optimum: None,
                    ci95: Some([
                        b.uniform.half_width,
                        b.best_single.1.half_width,
                        b.behaviour.half_width,
                    ]),
                    uniform: b.uniform.mean,
                    best_single: (b.best_single.0, b.best_single.1.mean),
                    behaviour: b.behaviour.mean,
                }
            }
        }
    }

    /// Observations the exported policy is checked on: every state when enumerated,
    /// the states of simulated episodes otherwise.
    pub(super) fn observations(&self) -> Vec<Vec<f32>> {
        match self {
            Self::Exact(t) => (0..t.n_states())
                .map(|s| t.observation(s).to_vec())
                .collect(),
            Self::Simulated(ev) => ev.sample_observations(200, 0x0b5),
        }
    }
}
