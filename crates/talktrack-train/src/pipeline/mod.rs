//! The trainer's main job, end to end: log → aggregates → simulator → DQN / PPO →
//! evaluation against the exact optimum and baselines → held-out diagnostic →
//! exported bundle → report.
//!
//! `talktrack-train train` is a thin wrapper around [`run`]; progress reporting is
//! the caller's (see [`Hooks`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::aggregate::split::{aggregate_split, Split, DEFAULT_SPLIT_SEED};
use crate::aggregate::{aggregate_log, Aggregates};
use crate::eval::{baselines, ExactEvaluator};
use crate::export::{export_bundle_checked, ExportSpec};
use crate::log::ReadOptions;
use crate::report::{
    BaselineSummary, DataSummary, ExportSummary, HoldoutSummary, MdpSummary, NoiseSummary, Report,
    RunSummary,
};
use crate::sim::config::{SetupError, SimSetup};
use crate::sim::{
    ContextSampler, ExpandedEnv, ExpandedMdp, LiveEnv, LiveEvaluator, LiveSim, Mdp, RulesMask,
    SimEnv,
};
use crate::train::config::Activation;
use crate::train::curve::TrainObserver;
use crate::train::env::{ActionPolicy, Evaluator, MaskedEnv};
use crate::train::mlp::{PlainMlp, Scratch};
use crate::train::{train_dqn, train_ppo, TrainError, TrainOutcome};
use talktrack::tooling::BundleTemplate;
use talktrack::tooling::ScoreKind;
use talktrack::tooling::{Activation as OnnxActivation, Dense};

/// A learning algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Run the 80/20 held-out diagnostic (default true).
    pub holdout: bool,
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
            holdout: true,
            version: None,
            objective: "the simulator's reward: 1 when the user's reply ends the conversation with the configured conversion reply, 0 otherwise".into(),
            eval_episodes: 2000,
        }
    }
}

/// Why the job stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The config, template, log or aggregates are unusable.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Aggregation failed.
    #[error(transparent)]
    Aggregate(#[from] crate::aggregate::AggregateError),
    /// The simulator could not be built.
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    /// Training failed (e.g. a non-finite loss).
    #[error("{algorithm}: {source}{}", train_hint(algorithm, source))]
    Train {
        /// Which algorithm.
        algorithm: &'static str,
        /// Why.
        source: TrainError,
    },
    /// The trained policy broke a rule during evaluation.
    #[error("{algorithm}: the greedy policy picks a forbidden track in {states} state(s)")]
    Violations {
        /// Which algorithm.
        algorithm: &'static str,
        /// How many states.
        states: u64,
    },
    /// The bundle could not be exported.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// No track is allowed in the simulator's start state; says which rules forbid what.
    #[error("no track is allowed in the start state (turn 0, before any reply): every episode would end at once; {0}")]
    DeadStart(String),
    /// The log has no valid conversation.
    #[error("`{path}` has no valid conversation ({bad} bad lines skipped): check that it is a talktrack JSONL log (one conversation per line, see docs/log.schema.json)")]
    EmptyLog {
        /// The log file.
        path: PathBuf,
        /// Bad lines skipped.
        bad: u64,
    },
    /// The bundle to evaluate does not fit the config, or its policy cannot score.
    #[error("bundle {0}")]
    Bundle(String),
    /// Writing the report failed.
    #[error("cannot write the report into `{path}`: {source}")]
    Report {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What to change after a training failure: the config section of the algorithm.
fn train_hint(algorithm: &str, e: &TrainError) -> String {
    match e {
        TrainError::NonFinite { .. } => format!(
            " — lower the learning rate (`lr` in [{algorithm}]), or check the rewards (`terminal`, `engagement` in [sim])"
        ),
        TrainError::Config(_) => format!(" (in [{algorithm}])"),
        _ => String::new(),
    }
}

/// How the caller follows the job.
pub struct Hooks<'a> {
    /// A stage message ("aggregating the log", ...).
    pub stage: &'a mut dyn FnMut(&str),
    /// An observer for one training run: (algorithm, step budget).
    pub observer: &'a mut dyn FnMut(&str, u64) -> Box<dyn TrainObserver>,
}

/// What [`run`] produced.
#[derive(Debug)]
pub struct JobOutput {
    /// The report (also written into the output directory).
    pub report: Report,
    /// The exported bundle directory.
    pub bundle_dir: PathBuf,
    /// The report directory.
    pub report_dir: PathBuf,
}

/// How many bad log lines the report and stderr show (line number and reason); the
/// report counts all of them.
pub const BAD_LINES_SHOWN: usize = 10;

/// The read options of the setup (`[data] strict`, `max_line_bytes`).
fn read_options(setup: &SimSetup) -> ReadOptions {
    ReadOptions {
        max_examples: BAD_LINES_SHOWN,
        ..setup.data.read_options()
    }
}

/// Aggregates the setup's log with `cfg`.
fn aggregate(
    setup: &SimSetup,
    cfg: crate::aggregate::AggregateConfig,
) -> Result<(Aggregates, crate::log::ReadStats), JobError> {
    aggregate_log(setup.open_log()?, &setup.vocab(), cfg, read_options(setup)).map_err(
        |e| match e {
            crate::aggregate::AggregateError::Empty { bad } => JobError::EmptyLog {
                path: setup.data.log.clone(),
                bad,
            },
            e => e.into(),
        },
    )
}

/// The aggregates the job trains on: the aggregate file of `[data] aggregates` when set
/// (with no log statistics), the log's aggregation otherwise.
fn load_aggregates(
    setup: &SimSetup,
) -> Result<(Aggregates, Option<crate::log::ReadStats>), JobError> {
    match setup.read_aggregates()? {
        Some(agg) => Ok((agg, None)),
        None => {
            let (agg, stats) = aggregate(setup, setup.aggregate.clone())?;
            Ok((agg, Some(stats)))
        }
    }
}

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
) -> String {
    let rules = tpl.rules();
    let used = vec![0u16; tpl.catalog().len()];
    let view = talktrack::tooling::TurnView {
        values,
        now_ms: 0,
        turn: 0,
        max_turns: agg.config.max_turns,
        used: &used,
        last_reply: None,
        embedding: None,
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
fn reads_usage(tpl: &BundleTemplate) -> bool {
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

/// The simulator of one aggregate file: enumerated and evaluated exactly when its
/// state is (turn, last reply) with a fixed context, or when the state that also
/// carries usage and a drawn context has few enough reachable states; simulated
/// otherwise.
enum Simulator {
    Exact {
        mdp: Arc<Mdp>,
        ev: ExactEvaluator,
    },
    Expanded {
        sim: Arc<LiveSim>,
        mdp: Arc<ExpandedMdp>,
    },
    Live {
        sim: Arc<LiveSim>,
        /// Selects the best network during training.
        train_ev: LiveEvaluator,
        /// Reports values, on other episodes than the ones that selected the network.
        ev: LiveEvaluator,
        /// Why the state space was not enumerated.
        why: String,
    },
}

impl Simulator {
    fn build(agg: &Aggregates, setup: &SimSetup, tpl: &BundleTemplate) -> Result<Self, JobError> {
        let sampler = ContextSampler::new(tpl, &setup.sim.context, agg)?;
        if !reads_usage(tpl) && sampler.is_fixed() {
            let mut rng = rand::SeedableRng::seed_from_u64(0);
            let mut fixed = Vec::new();
            sampler.draw(&mut rng, &mut fixed);
            let values: Vec<_> = fixed
                .iter()
                .map(|v| v.as_ref().map(|v| v.as_val()))
                .collect();
            let mask = RulesMask::new(tpl.rules(), tpl.fallback());
            let mdp = Arc::new(
                Mdp::build_in_context(agg, &setup.sim, &mask, tpl.features(), &values).map_err(
                    |e| match e {
                        crate::sim::SimError::DeadStart => {
                            JobError::DeadStart(start_rules(tpl, agg, &values))
                        }
                        e => e.into(),
                    },
                )?,
            );
            let ev = ExactEvaluator::new(Arc::clone(&mdp));
            return Ok(Self::Exact { mdp, ev });
        }
        let sim = Arc::new(LiveSim::build(agg, &setup.sim, tpl).map_err(|e| match e {
            crate::sim::SimError::DeadStart => JobError::DeadStart(
                "check the rules that apply at turn 0 before any reply (`when turn == 0`, `not has last_reply`), and which tracks have published data there".into(),
            ),
            e => e.into(),
        })?);
        let why = match ExpandedMdp::build(&sim, &tracks_read(tpl)) {
            Ok(mdp) => {
                return Ok(Self::Expanded {
                    sim,
                    mdp: Arc::new(mdp),
                })
            }
            Err(e) => e.to_string(),
        };
        let n = setup.job.eval_episodes.max(1);
        Ok(Self::Live {
            train_ev: LiveEvaluator::new(Arc::clone(&sim), n, 0x7a1c),
            ev: LiveEvaluator::new(Arc::clone(&sim), n, 0x7a1d),
            sim,
            why,
        })
    }

    /// The reply model: data availability and reply cells by (turn, last reply).
    fn replies(&self) -> &Mdp {
        match self {
            Self::Exact { mdp, .. } => mdp,
            Self::Expanded { sim, .. } | Self::Live { sim, .. } => sim.mdp(),
        }
    }

    fn env(&self) -> Box<dyn MaskedEnv> {
        match self {
            Self::Exact { mdp, .. } => Box::new(SimEnv::new(Arc::clone(mdp))),
            Self::Expanded { mdp, .. } => Box::new(ExpandedEnv::new(Arc::clone(mdp))),
            Self::Live { sim, .. } => Box::new(LiveEnv::new(Arc::clone(sim))),
        }
    }

    fn train_evaluator(&self) -> &dyn Evaluator {
        match self {
            Self::Exact { ev, .. } => ev,
            Self::Expanded { mdp, .. } => &**mdp,
            Self::Live { train_ev, .. } => train_ev,
        }
    }

    fn optimum(&self) -> Option<f64> {
        match self {
            Self::Exact { ev, .. } => Some(ev.optimum()),
            Self::Expanded { mdp, .. } => Some(mdp.solve().0),
            Self::Live { .. } => None,
        }
    }

    /// Value, 95% half-width (simulated only) and rule violations of `policy`.
    fn evaluate(&self, policy: &dyn ActionPolicy) -> (f64, Option<f64>, u64) {
        match self {
            Self::Exact { ev, .. } => {
                let e = ev.evaluate(policy);
                (e.value, None, e.violating_states)
            }
            Self::Expanded { mdp, .. } => {
                let e = mdp.evaluate(policy);
                (e.value, None, e.violating_states)
            }
            Self::Live { ev, .. } => {
                let e = ev.estimate(policy);
                (e.mean, Some(e.half_width), e.violations)
            }
        }
    }

    fn uniform(&self) -> f64 {
        match self {
            Self::Exact { ev, .. } => ev.table_value(&ev.uniform_table()),
            Self::Expanded { mdp, .. } => mdp.table_value(&mdp.uniform_table()),
            Self::Live { ev, .. } => ev.estimate(&crate::sim::live::UniformPolicy).mean,
        }
    }

    fn baselines(&self, agg: &Aggregates) -> BaselineSummary {
        let exact = |b: crate::eval::Baselines| BaselineSummary {
            optimum: Some(b.optimum),
            ci95: None,
            uniform: b.uniform,
            best_single: b.best_single,
            behaviour: b.behaviour,
        };
        match self {
            Self::Expanded { mdp, .. } => exact(mdp.baselines(agg)),
            Self::Exact { ev, .. } => exact(baselines(ev, agg)),
            Self::Live { ev, .. } => {
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
    fn observations(&self) -> Vec<Vec<f32>> {
        match self {
            Self::Exact { mdp, .. } => {
                let mut out = Vec::new();
                for t in 0..mdp.max_turns {
                    for l in 0..mdp.n_last() as u32 {
                        let mut obs = vec![0.0; mdp.obs_dim()];
                        mdp.encode(t, l, &mut obs);
                        out.push(obs);
                    }
                }
                out
            }
            Self::Expanded { mdp, .. } => (0..mdp.n_states())
                .map(|s| mdp.observation(s).to_vec())
                .collect(),
            Self::Live { ev, .. } => ev.sample_observations(200, 0x0b5),
        }
    }

    fn summary(&self, agg: &Aggregates, usage: bool) -> MdpSummary {
        let m = self.replies();
        let unavailable = (0..m.max_turns)
            .flat_map(|t| (0..m.n_last() as u32).map(move |l| (t, l)))
            .map(|(t, l)| {
                (0..m.n_actions())
                    .filter(|&a| !m.available(t, l, a))
                    .count()
            })
            .sum();
        let (evaluation, context, episodes, obs_dim) = match self {
            Self::Exact { mdp, .. } => ("exact", Vec::new(), None, mdp.obs_dim()),
            Self::Expanded { sim, mdp } => (
                "exact",
                sim.context().describe().to_vec(),
                None,
                mdp.obs_dim(),
            ),
            Self::Live { sim, ev, .. } => (
                "simulated",
                sim.context().describe().to_vec(),
                Some(ev.episodes),
                sim.obs_dim(),
            ),
        };
        let (expanded, why_simulated) = match self {
            Self::Exact { .. } => (None, None),
            Self::Expanded { mdp, .. } => (
                Some(crate::report::ExpandedSummary {
                    states: mdp.n_states(),
                    contexts: mdp.contexts(),
                    tracks_read: mdp.tracks_read(),
                }),
                None,
            ),
            Self::Live { why, .. } => (None, Some(why.clone())),
        };
        MdpSummary {
            evaluation: evaluation.into(),
            expanded,
            why_simulated,
            states: agg.config.max_turns as usize * m.n_last(),
            context,
            usage,
            episodes,
            actions: m.n_actions(),
            obs_dim,
            unavailable,
            warnings: m.warnings().to_vec(),
        }
    }
}

/// The value of a served bundle's policy on a config's simulator, next to the baselines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BundleEvaluation {
    /// The greedy policy's value (exact, or the simulated mean).
    pub value: f64,
    /// Half-width of its 95% confidence interval (simulated evaluation only).
    pub ci95: Option<f64>,
    /// Rule violations: states (exact) or steps (simulated) where it picks a forbidden track.
    pub violations: u64,
    /// The baselines (with the optimum when the state space is enumerated).
    pub baselines: BaselineSummary,
}

/// Evaluates `bundle`'s policy (greedy over its scores among the allowed tracks) on
/// the simulator `setup` describes: exactly when enumerable, by simulation otherwise.
///
/// The bundle must fit the config: the same catalog, reply vocabulary and turn limit,
/// and the observation width of the config's template. Masks and observations come
/// from the bundle itself (its rules, generated ones included, and its feature spec):
/// what it serves is what is evaluated. A policy that cannot score an observation is
/// an error, not a value.
pub fn evaluate_bundle(
    setup: &SimSetup,
    bundle: &talktrack::Bundle,
) -> Result<BundleEvaluation, JobError> {
    let tpl = setup
        .load_template()?
        .ok_or_else(|| SetupError::Template("name the bundle `template` in `[data]`".into()))?;
    check_bundle_fits(setup, &tpl, bundle)?;
    let own = bundle.as_template();
    check_simulable(own)?;
    let (agg, _) = load_aggregates(setup)?;
    let sim = Simulator::build(&agg, setup, own)?;
    struct Served<'a> {
        bundle: &'a talktrack::Bundle,
        error: std::sync::Mutex<Option<String>>,
    }
    impl ActionPolicy for Served<'_> {
        fn probs(&self, obs: &[f32], mask: &[bool], out: &mut [f32]) {
            let mut s = vec![0.0; out.len()];
            let ok = match self.bundle.policy().scores(obs, &mut s) {
                Ok(()) => true,
                Err(e) => {
                    if let Ok(mut first) = self.error.lock() {
                        first.get_or_insert_with(|| e.to_string());
                    }
                    false
                }
            };
            out.iter_mut().for_each(|x| *x = 0.0);
            let best = (0..s.len())
                .filter(|&a| mask.get(a).copied().unwrap_or(false) && ok && s[a].is_finite())
                .max_by(|&a, &c| s[a].total_cmp(&s[c]));
            if let Some(x) = best.and_then(|a| out.get_mut(a)) {
                *x = 1.0;
            }
        }
    }
    let served = Served {
        bundle,
        error: std::sync::Mutex::new(None),
    };
    let (value, ci95, violations) = sim.evaluate(&served);
    if let Some(e) = served.error.lock().ok().and_then(|mut e| e.take()) {
        return Err(JobError::Bundle(format!(
            "`{}`: its policy cannot score the simulator's observations: {e}",
            bundle.dir().display()
        )));
    }
    Ok(BundleEvaluation {
        value,
        ci95,
        violations,
        baselines: sim.baselines(&agg),
    })
}

/// Checks that `bundle` can be evaluated on the simulator of `setup` (template `tpl`).
fn check_bundle_fits(
    setup: &SimSetup,
    tpl: &BundleTemplate,
    bundle: &talktrack::Bundle,
) -> Result<(), JobError> {
    let fail = |what: String| {
        Err(JobError::Bundle(format!(
            "`{}` does not fit the config's simulator (template `{}`): {what}; evaluate it with a config whose template it was trained from",
            bundle.dir().display(),
            tpl.dir().display()
        )))
    };
    let ids: Vec<&str> = bundle
        .catalog()
        .tracks()
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    if ids
        != setup
            .data
            .tracks
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    {
        return fail(format!(
            "its catalog [{}] differs from the config's [{}]",
            ids.join(", "),
            setup.data.tracks.join(", ")
        ));
    }
    if bundle.manifest().replies != setup.data.replies {
        return fail(format!(
            "its replies [{}] differ from the config's [{}]",
            bundle.manifest().replies.join(", "),
            setup.data.replies.join(", ")
        ));
    }
    if bundle.manifest().max_turns != setup.aggregate.max_turns {
        return fail(format!(
            "its max_turns = {} differs from the config's {}",
            bundle.manifest().max_turns,
            setup.aggregate.max_turns
        ));
    }
    if bundle.features().dim() != tpl.features().dim() {
        return fail(format!(
            "its observation has {} floats, the template's {}",
            bundle.features().dim(),
            tpl.features().dim()
        ));
    }
    Ok(())
}

fn train(
    algo: Algorithm,
    setup: &SimSetup,
    sim: &Simulator,
    hooks: &mut Hooks<'_>,
) -> Result<TrainOutcome, JobError> {
    let env = sim.env();
    let ev = sim.train_evaluator();
    let name = algo.name();
    let result = match algo {
        Algorithm::Ppo => {
            let mut obs = (hooks.observer)(name, setup.ppo.run.total_steps);
            train_ppo(&*env, Some(ev), &setup.ppo, obs.as_mut())
        }
        Algorithm::Dqn => {
            let mut obs = (hooks.observer)(name, setup.dqn.run.total_steps);
            train_dqn(&*env, Some(ev), &setup.dqn, obs.as_mut())
        }
    };
    result.map_err(|source| JobError::Train {
        algorithm: name,
        source,
    })
}

fn seed_of(algo: Algorithm, setup: &SimSetup) -> u64 {
    match algo {
        Algorithm::Ppo => setup.ppo.run.seed,
        Algorithm::Dqn => setup.dqn.run.seed,
    }
}

/// The network as the ONNX writer takes it.
pub fn dense_layers(net: &PlainMlp) -> Result<Vec<Dense>, JobError> {
    net.layers
        .iter()
        .map(|l| {
            let w = Array2::from_shape_vec((l.n_in, l.n_out), l.weights.clone()).map_err(|e| {
                JobError::Train {
                    algorithm: "export",
                    source: TrainError::Backend(e.to_string()),
                }
            })?;
            Ok(Dense {
                weights: w,
                bias: Array1::from(l.bias.clone()),
            })
        })
        .collect()
}

/// How far tract's score for an action may be from the trainer's for the exported
/// bundle to be published: 1e-5 absolute, or 1e-6 of the score when that is larger.
pub fn score_tolerance(score: f64) -> f64 {
    1e-5f64.max(1e-6 * score.abs())
}

/// A rules file that forbids, in every simulator state, the tracks for which the
/// aggregates published no data: serving never offers a track where the policy
/// never learned anything.
pub fn no_data_rules(mdp: &Mdp, agg: &Aggregates) -> (String, usize) {
    let t_max = agg.config.max_turns;
    let mut text = format!(
        "{}\n# Tracks for which the aggregated logs publish no data in a state (fewer than k\n# conversations, even after back-off). The policy never learned anything there.\n\n",
        talktrack::tooling::GENERATED_RULES_HEADER
    );
    let mut count = 0;
    let states: Vec<(u32, u32)> = (0..t_max)
        .flat_map(|t| (0..mdp.n_last() as u32).map(move |l| (t, l)))
        .collect();
    // A track with no data anywhere gets one unconditional rule.
    let nowhere: Vec<usize> = (0..mdp.n_actions())
        .filter(|&a| states.iter().all(|&(t, l)| !mdp.available(t, l, a)))
        .collect();
    if !nowhere.is_empty() {
        let ids: Vec<String> = nowhere
            .iter()
            .map(|&a| format!("\"{}\"", agg.tracks[a]))
            .collect();
        count += nowhere.len() * states.len();
        text.push_str(&format!(
            "rule no-data-anywhere\n  because \"no publishable data for these tracks in any state\"\n  owner \"talktrack-train\"\n  forbid tracks {}\n\n",
            ids.join(", ")
        ));
    }
    for &(t, last) in &states {
        let missing: Vec<&str> = (0..mdp.n_actions())
            .filter(|&a| !mdp.available(t, last, a) && !nowhere.contains(&a))
            .map(|a| agg.tracks[a].as_str())
            .collect();
        if missing.is_empty() {
            continue;
        }
        count += missing.len();
        let turn = if t + 1 == t_max {
            format!("turn >= {t}")
        } else {
            format!("turn == {t}")
        };
        let reply = if last == 0 {
            "not has last_reply".to_owned()
        } else {
            format!("last_reply == \"{}\"", agg.last_name(last))
        };
        let ids: Vec<String> = missing.iter().map(|m| format!("\"{m}\"")).collect();
        text.push_str(&format!(
            "rule no-data-t{t}-{}\n  because \"no publishable data for these tracks in this state\"\n  owner \"talktrack-train\"\n  when {turn} and {reply}\n  forbid tracks {}\n\n",
            agg.last_name(last).replace(['/', ' '], "-"),
            ids.join(", ")
        ));
    }
    (text, count)
}

/// The 80/20 held-out diagnostic: trains the exported algorithm on 80% of the log's
/// conversations and evaluates it on the simulator of the other 20%.
fn holdout_diagnostic(
    setup: &SimSetup,
    tpl: &BundleTemplate,
    hooks: &mut Hooks<'_>,
) -> Result<HoldoutSummary, JobError> {
    let job = &setup.job;
    let split = aggregate_split(
        setup.open_log()?,
        &setup.vocab(),
        setup.aggregate.clone(),
        read_options(setup),
        Split::default(),
    )?;
    let sim80 = Simulator::build(&split.train, setup, tpl)?;
    let sim20 = Simulator::build(&split.holdout, setup, tpl)?;
    let out = train(job.export, setup, &sim80, hooks)?;
    let p = out.greedy();
    Ok(HoldoutSummary {
        split_seed: DEFAULT_SPLIT_SEED,
        train_conversations: split.train.conversations.round() as u64,
        holdout_conversations: split.holdout.conversations.round() as u64,
        algorithm: job.export.name().into(),
        value_train: sim80.evaluate(&p).0,
        optimum_train: sim80.optimum(),
        value_holdout: sim20.evaluate(&p).0,
        optimum_holdout: sim20.optimum(),
        uniform_holdout: sim20.uniform(),
        uniform_train: sim80.uniform(),
    })
}

/// Runs the whole job; writes the bundle to `bundle_dir` and the report to `report_dir`.
pub fn run(
    setup: &SimSetup,
    bundle_dir: &Path,
    report_dir: &Path,
    hooks: &mut Hooks<'_>,
) -> Result<JobOutput, JobError> {
    let job = &setup.job;
    let tpl = setup
        .load_template()?
        .ok_or_else(|| SetupError::Template("name the bundle `template` in `[data]`".into()))?;

    check_simulable(&tpl)?;
    // Every algorithm the job will train, checked before any of them starts.
    let mut algos = job.algorithms.clone();
    if job.holdout {
        algos.push(job.export);
    }
    for algo in algos {
        let checked = match algo {
            Algorithm::Ppo => setup.ppo.validate(),
            Algorithm::Dqn => setup.dqn.validate(),
        };
        checked.map_err(|source| JobError::Train {
            algorithm: algo.name(),
            source,
        })?;
    }
    let usage = reads_usage(&tpl);
    (hooks.stage)(if setup.data.aggregates.is_some() {
        "reading the aggregate file"
    } else {
        "aggregating the log"
    });
    let (agg, stats) = load_aggregates(setup)?;
    let mut notes = Vec::new();
    let from_file = setup
        .data
        .aggregates
        .as_ref()
        .map(|p| p.display().to_string());
    (hooks.stage)("building the simulator");
    let sim = Simulator::build(&agg, setup, &tpl)?;
    let base = sim.baselines(&agg);

    let mut runs = Vec::new();
    let mut export_net = None;
    for &algo in &job.algorithms {
        (hooks.stage)(&format!("training {}", algo.name().to_uppercase()));
        let out = train(algo, setup, &sim, hooks)?;
        let (value, ci95, violations) = sim.evaluate(&out.greedy());
        if violations > 0 {
            return Err(JobError::Violations {
                algorithm: algo.name(),
                states: violations,
            });
        }
        runs.push(RunSummary {
            algorithm: algo.name().into(),
            seed: seed_of(algo, setup),
            value,
            ci95,
            fraction: base.optimum.map(|o| if o > 0.0 { value / o } else { 0.0 }),
            env_steps: out.env_steps,
            wall_secs: out.wall_secs,
            steps_per_sec: out.steps_per_sec(),
            secs_to: [
                out.curve.secs_to(0.95),
                out.curve.secs_to(0.98),
                out.curve.secs_to(0.995),
            ],
            violations_training: out.violations,
            violations_eval: violations,
            curve: out.curve.points.clone(),
        });
        if algo == job.export {
            export_net = Some(out.net.clone());
        }
    }

    let holdout = match (&from_file, job.holdout) {
        (_, false) => None,
        (Some(f), true) => {
            notes.push(format!(
                "held-out diagnostic skipped: the job trained from the aggregate file `{f}`, and the 80/20 split needs the individual conversations of the log (train from the log to run it, or pass `--no-holdout`)"
            ));
            None
        }
        (None, true) => {
            (hooks.stage)("held-out diagnostic (80/20 split by conversation)");
            match holdout_diagnostic(setup, &tpl, hooks) {
                Ok(h) => Some(h),
                Err(JobError::Aggregate(e)) => {
                    notes.push(format!(
                        "held-out diagnostic skipped: one side of the 80/20 split has too little publishable data: {e}; or pass `--no-holdout` (`[job] holdout = false`) to leave the diagnostic out"
                    ));
                    None
                }
                Err(JobError::Sim(e)) => {
                    notes.push(format!(
                        "held-out diagnostic skipped: one side of the 80/20 split has too little publishable data to build a simulator: {e}; lower `k` in [aggregate], aggregate more conversations, or pass `--no-holdout` (`[job] holdout = false`) to leave the diagnostic out"
                    ));
                    None
                }
                Err(e) => return Err(e),
            }
        }
    };

    // With Laplace noise, measure what it costs: the noisy-trained policy on the noise-free simulator.
    let noise = match (agg.config.epsilon, &export_net) {
        (Some(_), Some(_)) if from_file.is_some() => {
            notes.push(
                "cost of the noise not measured: it needs the noise-free aggregation of the log, and the job trained from an aggregate file".into(),
            );
            None
        }
        (Some(epsilon), Some(net)) => {
            (hooks.stage)("measuring the cost of the noise");
            let clean_cfg = crate::aggregate::AggregateConfig {
                epsilon: None,
                ..setup.aggregate.clone()
            };
            let (clean, _) = aggregate(setup, clean_cfg)?;
            let clean = Simulator::build(&clean, setup, &tpl)?;
            let policy = crate::train::GreedyPolicy { net: net.clone() };
            let value = clean.evaluate(&policy).0;
            Some(NoiseSummary {
                epsilon,
                // Without enumeration the reference is the noise-free best single track.
                optimum_clean: clean
                    .optimum()
                    .unwrap_or_else(|| clean.baselines(&agg).best_single.1),
                policy_value_clean: value,
            })
        }
        _ => None,
    };

    let conversations = match &stats {
        Some(st) => st.conversations,
        None => agg.conversations.round().max(0.0) as u64,
    };
    let exported = match export_net {
        None => None,
        Some(net) => {
            (hooks.stage)("exporting the bundle");
            let (rules_text, _) = no_data_rules(sim.replies(), &agg);
            // Written in canonical layout, so `talktrack fmt --check` passes on exported bundles.
            let rules_text = talktrack::tooling::format_rules(
                &rules_text,
                Path::new(talktrack::tooling::GENERATED_RULES_FILE),
            )
            .unwrap_or(rules_text);
            let mut training = toml::Table::new();
            training.insert("algorithm".into(), job.export.name().into());
            training.insert("seed".into(), (seed_of(job.export, setup) as i64).into());
            match &from_file {
                Some(f) => training.insert("aggregates".into(), f.clone().into()),
                None => training.insert("log".into(), setup.data.log.display().to_string().into()),
            };
            training.insert("conversations".into(), (conversations as i64).into());
            training.insert("k".into(), (agg.config.k as i64).into());
            if let Some(r) = runs.iter().find(|r| r.algorithm == job.export.name()) {
                training.insert("value".into(), r.value.into());
                if let Some(f) = r.fraction {
                    training.insert("fraction_of_optimum".into(), f.into());
                }
                if let Some(h) = r.ci95 {
                    training.insert("value_ci95".into(), h.into());
                }
                training.insert("env_steps".into(), (r.env_steps as i64).into());
            }
            if let Some(o) = base.optimum {
                training.insert("optimum".into(), o.into());
            }
            training.insert(
                "evaluation".into(),
                sim.summary(&agg, usage).evaluation.into(),
            );
            // The served scores must be the trainer's: before the bundle is published,
            // tract runs the exported ONNX on every state (or simulated-episode state)
            // and must agree with the trainer's forward pass within SCORE_TOLERANCE.
            let observations = sim.observations();
            let n_a = sim.replies().n_actions();
            let max_diff = std::cell::Cell::new(0f64);
            let check = |b: &talktrack::Bundle| -> Result<(), String> {
                let mut ours = vec![0.0; n_a];
                let mut served = vec![0.0; n_a];
                let mut scratch = Scratch::default();
                for obs in &observations {
                    net.forward(obs, &mut scratch, &mut ours);
                    b.policy()
                        .scores(obs, &mut served)
                        .map_err(|e| format!("tract cannot run the exported policy: {e}"))?;
                    for (a, s) in ours.iter().zip(&served) {
                        let diff = f64::from((a - s).abs());
                        max_diff.set(max_diff.get().max(diff));
                        let tol = score_tolerance(f64::from(*a));
                        if diff.is_nan() || diff > tol {
                            return Err(format!(
                                "tract's score {s} differs from the trainer's {a} by {diff:.3e}, more than the tolerance {tol:.1e} (max(1e-5, 1e-6·|score|))"
                            ));
                        }
                    }
                }
                Ok(())
            };
            let bundle = export_bundle_checked(
                ExportSpec {
                    template: &tpl,
                    layers: dense_layers(&net)?,
                    hidden: match net.activation {
                        Activation::Relu => OnnxActivation::Relu,
                        Activation::Tanh => OnnxActivation::Tanh,
                    },
                    scores: match job.export {
                        Algorithm::Ppo => ScoreKind::Logits,
                        Algorithm::Dqn => ScoreKind::QValues,
                    },
                    version: job.version.clone(),
                    generated_rules: Some((
                        talktrack::tooling::GENERATED_RULES_FILE.into(),
                        rules_text,
                    )),
                    training,
                },
                bundle_dir,
                check,
            )?;
            let max_diff = max_diff.get();
            Some(ExportSummary {
                path: bundle_dir.display().to_string(),
                digest: bundle.digest().to_owned(),
                algorithm: job.export.name().into(),
                max_abs_score_diff: max_diff,
                states_checked: observations.len(),
            })
        }
    };

    let report = Report {
        bundle: tpl.manifest().name.clone(),
        objective: job.objective.clone(),
        data: DataSummary {
            log: if from_file.is_some() {
                String::new()
            } else {
                setup.data.log.display().to_string()
            },
            aggregates: from_file.clone(),
            conversations,
            bad_lines: stats.as_ref().map_or(0, |s| s.bad),
            bad_line_examples: stats.map(|s| s.examples).unwrap_or_default(),
            k: agg.config.k,
            cells_published: agg.levels.iter().map(|l| l.cells.len()).sum(),
            epsilon: agg.config.epsilon,
            noise,
        },
        mdp: sim.summary(&agg, usage),
        baselines: base,
        runs,
        holdout,
        exported,
        notes,
    };
    report
        .write(report_dir)
        .map_err(|source| JobError::Report {
            path: report_dir.to_owned(),
            source,
        })?;
    Ok(JobOutput {
        report,
        bundle_dir: bundle_dir.to_owned(),
        report_dir: report_dir.to_owned(),
    })
}
