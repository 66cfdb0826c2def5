//! The simulator stage: which simulator kind the job builds from the aggregates and the
//! template, and what every kind answers (environment, evaluation, baselines, the
//! observations the export is checked on, the report's summary).
//!
//! A simulator is enumerated and evaluated exactly when its state is (turn, last
//! reply) with a fixed context, or when the state that also carries usage and a drawn
//! context has few enough reachable states; it is simulated otherwise.

use std::sync::Arc;

mod kinds;

use kinds::{ExactKind, ExpandedKind, LiveKind, SimulatorKind};

use super::JobError;
use crate::aggregate::shrink::{shrink, Strengths};
use crate::aggregate::Aggregates;
use crate::config::{SetupError, SimSetup};
use crate::eval::ExactEvaluator;
use crate::report::{BaselineSummary, MdpSummary};
use crate::sim::{ContextSampler, ExpandedMdp, LiveEvaluator, LiveSim, Mdp, RulesMask, SimConfig};
use crate::train::env::{ActionPolicy, Evaluator, MaskedEnv};
use talktrack::tooling::BundleTemplate;

/// What the simulator cannot represent: a text embedding in the feature spec (the
/// aggregates hold no user text). Everything else the template reads is simulated:
/// track usage and context attributes (see [`crate::sim::live`]).
pub fn check_simulable(tpl: &BundleTemplate) -> Result<(), JobError> {
    use talktrack::tooling::Feature;
    if tpl
        .manifest()
        .features
        .iter()
        .any(|f| matches!(f, Feature::Embedding { .. }))
    {
        return Err(JobError::Setup(SetupError::Template(format!(
            "`{}` cannot be simulated from aggregates: its feature spec reads a text embedding, and the aggregates hold no user text. Train with a feature spec without `embedding`",
            tpl.dir().display()
        ))));
    }
    Ok(())
}

/// Why nothing is allowed in the start state (fixed context `values`): the rules that
/// fire there, and the tracks with published data.
fn start_rules(
    tpl: &BundleTemplate,
    agg: &Aggregates,
    values: &[Option<talktrack::tooling::Val<'_>>],
    now_ms: i64,
    contacts: &talktrack::tooling::ContactLog,
) -> String {
    let rules = tpl.rules();
    let used = vec![0u16; tpl.catalog().len()];
    let view = talktrack::tooling::TurnView {
        values,
        now_ms,
        turn: 0,
        max_turns: agg.config.max_turns,
        used: &used,
        last_reply: None,
        embedding: None,
        contacts,
    };
    let mut verdict = talktrack::tooling::Verdict::new(rules.n_tracks());
    rules.evaluate(&view, &mut verdict);
    let fired: Vec<String> = verdict
        .fired
        .iter()
        .map(|f| {
            let r = rules.rule(f.rule as usize);
            format!("`{}` ({}:{})", r.id, r.file.display(), r.line)
        })
        .collect();
    if fired.is_empty() {
        "no rule fires there, so no track has published data at turn 0 before any reply: lower `k` in [aggregate] or aggregate more conversations".into()
    } else {
        format!(
            "the rules that fire there: {}; change them (or the tracks with published data there: lower `k` in [aggregate])",
            fired.join(", ")
        )
    }
}

/// Whether the template's rules or features read track usage.
pub(super) fn reads_usage(tpl: &BundleTemplate) -> bool {
    tpl.rules().reads_usage()
        || tpl
            .manifest()
            .features
            .iter()
            .any(|f| matches!(f, talktrack::tooling::Feature::UsedTracks))
}

/// The tracks whose usage the template's rules or features read (every track for
/// the `used_tracks` feature).
fn tracks_read(tpl: &BundleTemplate) -> Vec<usize> {
    if tpl
        .manifest()
        .features
        .iter()
        .any(|f| matches!(f, talktrack::tooling::Feature::UsedTracks))
    {
        return (0..tpl.catalog().len()).collect();
    }
    tpl.rules()
        .usage_tracks()
        .into_iter()
        .map(|t| t as usize)
        .collect()
}

/// The simulator of one aggregate file, one of the [`SimulatorKind`]s: enumerated
/// and evaluated exactly when its state is (turn, last reply) with a fixed context
/// ([`ExactKind`]), or when the state that also carries usage and a drawn context has
/// few enough reachable states ([`ExpandedKind`]); simulated otherwise ([`LiveKind`]).
pub(super) struct Simulator {
    kind: Box<dyn SimulatorKind>,
}

impl Simulator {
    /// The simulator of `agg` as published (raw estimates, no pessimism): what
    /// held-out and reference evaluations use.
    pub(super) fn build(
        agg: &Aggregates,
        setup: &SimSetup,
        tpl: &BundleTemplate,
    ) -> Result<Self, JobError> {
        let cfg = SimConfig {
            pessimism: 0.0,
            ..setup.sim.clone()
        };
        Self::build_with(agg, setup, &cfg, tpl)
    }

    fn build_with(
        agg: &Aggregates,
        setup: &SimSetup,
        cfg: &SimConfig,
        tpl: &BundleTemplate,
    ) -> Result<Self, JobError> {
        let sampler = ContextSampler::new(tpl, &cfg.context, agg)?;
        if !reads_usage(tpl) && sampler.is_fixed() {
            let mut rng = rand::SeedableRng::seed_from_u64(0);
            let mut fixed = Vec::new();
            sampler.draw(&mut rng, &mut fixed);
            let values: Vec<_> = fixed
                .iter()
                .map(|v| v.as_ref().map(|v| v.as_val()))
                .collect();
            let mask = RulesMask::new(tpl.rules(), tpl.fallback());
            let contacts = crate::sim::contacts::resolve(cfg, tpl)?;
            let mdp = Arc::new(
                Mdp::build_in_context(agg, cfg, &mask, tpl.features(), &values, &contacts)
                    .map_err(|e| match e {
                        crate::sim::SimError::DeadStart => JobError::DeadStart(start_rules(
                            tpl,
                            agg,
                            &values,
                            cfg.now_ms().unwrap_or(0),
                            &contacts,
                        )),
                        e => e.into(),
                    })?,
            );
            let ev = ExactEvaluator::new(Arc::clone(&mdp));
            return Ok(Self::of(ExactKind { mdp, ev }));
        }
        let sim = Arc::new(LiveSim::build(agg, cfg, tpl).map_err(|e| match e {
            crate::sim::SimError::DeadStart => JobError::DeadStart(
                "check the rules that apply at turn 0 before any reply (`when turn == 0`, `not has last_reply`), and which tracks have published data there".into(),
            ),
            e => e.into(),
        })?);
        let why = match ExpandedMdp::build(&sim, &tracks_read(tpl)) {
            Ok(mdp) => {
                return Ok(Self::of(ExpandedKind {
                    sim,
                    mdp: Arc::new(mdp),
                }))
            }
            Err(e) => e.to_string(),
        };
        let n = setup.job.eval_episodes.max(1);
        Ok(Self::of(LiveKind {
            train_ev: LiveEvaluator::new(Arc::clone(&sim), n, 0x7a1c),
            ev: LiveEvaluator::new(Arc::clone(&sim), n, 0x7a1d),
            sim,
            why,
        }))
    }

    /// The simulator policies train on: built from the aggregates with every cell
    /// shrunk toward its back-off parent as `[shrink]` says (with `shrink_scale` as
    /// its scale), and pessimism `strength`
    /// (see [`SimConfig::pessimism`]); with the prior strengths used per level.
    /// Held-out and reference evaluations use [`Simulator::build`].
    pub(super) fn build_training(
        agg: &Aggregates,
        setup: &SimSetup,
        tpl: &BundleTemplate,
        shrink_scale: f64,
        strength: f64,
    ) -> Result<(Self, Vec<Option<Strengths>>), JobError> {
        let (shrunk, strengths) = shrink(agg, &setup.shrink.with_scale(shrink_scale));
        let cfg = SimConfig {
            pessimism: strength,
            ..setup.sim.clone()
        };
        Ok((Self::build_with(&shrunk, setup, &cfg, tpl)?, strengths))
    }

    fn of(kind: impl SimulatorKind + 'static) -> Self {
        Self {
            kind: Box::new(kind),
        }
    }

    /// The reply model: data availability and reply cells by (turn, last reply).
    pub(super) fn replies(&self) -> &Mdp {
        self.kind.replies()
    }

    /// The enumerated MDP, when the state is (turn, last reply) with a fixed context.
    pub(super) fn exact_mdp(&self) -> Option<&Mdp> {
        self.kind.exact_mdp()
    }

    /// (state, track) pairs the reply model allows, and how many of them it serves
    /// from a coarser back-off level than the finest.
    pub(super) fn backoff_counts(&self) -> (u64, u64) {
        let m = self.replies();
        let (mut pairs, mut backed) = (0, 0);
        for t in 0..m.max_turns {
            for l in 0..m.n_last() as u32 {
                for a in 0..m.n_actions() {
                    if !m.allowed(t, l, a) {
                        continue;
                    }
                    pairs += 1;
                    backed += u64::from(m.cell_level(t, l, a).is_some_and(|lv| lv > 0));
                }
            }
        }
        (pairs, backed)
    }

    /// A fresh environment to train on.
    pub(super) fn env(&self) -> Box<dyn MaskedEnv> {
        self.kind.env()
    }

    /// What selects the best network during training.
    pub(super) fn train_evaluator(&self) -> &dyn Evaluator {
        self.kind.train_evaluator()
    }

    /// The best value any policy reaches under the same masks, when evaluated exactly.
    pub(super) fn optimum(&self) -> Option<f64> {
        self.kind.values().optimum()
    }

    /// Value, 95% half-width (simulated only) and rule violations of `policy`.
    pub(super) fn evaluate(&self, policy: &dyn ActionPolicy) -> (f64, Option<f64>, u64) {
        self.kind.values().evaluate(policy)
    }

    /// The value of choosing uniformly among the allowed tracks.
    pub(super) fn uniform(&self) -> f64 {
        self.kind.values().uniform()
    }

    /// The baselines the report compares with.
    pub(super) fn baselines(&self, agg: &Aggregates) -> BaselineSummary {
        self.kind.values().baselines(agg)
    }

    /// Observations the exported policy is checked on: every state when enumerated,
    /// the states of simulated episodes otherwise.
    pub(super) fn observations(&self) -> Vec<Vec<f32>> {
        self.kind.values().observations()
    }

    pub(super) fn summary(&self, agg: &Aggregates, usage: bool) -> MdpSummary {
        let m = self.replies();
        let unavailable = (0..m.max_turns)
            .flat_map(|t| (0..m.n_last() as u32).map(move |l| (t, l)))
            .map(|(t, l)| {
                (0..m.n_actions())
                    .filter(|&a| !m.available(t, l, a))
                    .count()
            })
            .sum();
        let kind = self.kind.describe();
        MdpSummary {
            shrinkage: Vec::new(),
            pessimism: None,
            thin: self.kind.thin_choices(),
            evaluation: kind.evaluation.into(),
            expanded: kind.expanded,
            why_simulated: kind.why_simulated,
            states: agg.config.max_turns as usize * m.n_last(),
            context: kind.context,
            usage,
            episodes: kind.episodes,
            actions: m.n_actions(),
            obs_dim: kind.obs_dim,
            unavailable,
            warnings: m.warnings().to_vec(),
        }
    }
}
