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
use crate::bundle::BundleTemplate;
use crate::eval::{baselines, ExactEvaluator};
use crate::export::{export_bundle, ExportSpec};
use crate::log::ReadOptions;
use crate::policy::onnx_writer::{Activation as OnnxActivation, Dense};
use crate::policy::ScoreKind;
use crate::report::{
    BaselineSummary, DataSummary, ExportSummary, HoldoutSummary, MdpSummary, NoiseSummary, Report,
    RunSummary,
};
use crate::sim::config::{SetupError, SimSetup};
use crate::sim::{Mdp, RulesMask, SimEnv};
use crate::train::config::Activation;
use crate::train::curve::TrainObserver;
use crate::train::env::Evaluator;
use crate::train::mlp::{PlainMlp, Scratch};
use crate::train::{train_dqn, train_ppo, TrainError, TrainOutcome};

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
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            algorithms: vec![Algorithm::Ppo, Algorithm::Dqn],
            export: Algorithm::Ppo,
            holdout: true,
            version: None,
            objective: "the simulator's reward: 1 when the user's reply ends the conversation with the configured conversion reply, 0 otherwise".into(),
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
    #[error("{algorithm}: {source}")]
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
    /// Writing the report failed.
    #[error("cannot write the report into `{path}`: {source}")]
    Report {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
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

/// Opens the setup's log for reading.
fn open_log(setup: &SimSetup) -> Result<std::io::BufReader<std::fs::File>, JobError> {
    let f = std::fs::File::open(&setup.data.log).map_err(|source| SetupError::Io {
        path: setup.data.log.clone(),
        source,
    })?;
    Ok(std::io::BufReader::new(f))
}

/// What the simulator cannot represent yet: its state is (turn, last reply) with a
/// context fixed by `[sim] context`, so a template whose rules or features read
/// context attributes that are not given, or track usage, would be trained on facts
/// it never sees. Refused rather than simulated wrongly.
pub fn check_simulable(tpl: &BundleTemplate, setup: &SimSetup) -> Result<(), JobError> {
    use crate::features::Feature;
    let mut problems = Vec::new();
    let mut values = Vec::new();
    let context_given = tpl
        .schema()
        .resolve(&setup.sim.context, &mut values)
        .is_ok()
        && !tpl.schema().is_empty();
    if tpl.rules().reads_context() && !context_given {
        problems.push("its rules read context attributes (set them in `[sim] context`)");
    }
    if tpl.rules().reads_usage() {
        problems.push("its rules read track usage (`used`, `count`)");
    }
    for f in &tpl.manifest().features {
        match f {
            Feature::Attr { .. } | Feature::AttrOneHot { .. } if !context_given => problems
                .push("its feature spec reads context attributes (set them in `[sim] context`)"),
            Feature::UsedTracks => problems.push("its feature spec reads track usage"),
            Feature::Embedding { .. } => problems.push("its feature spec reads a text embedding"),
            _ => {}
        }
    }
    problems.dedup();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(JobError::Setup(SetupError::Template(format!(
            "`{}` cannot be simulated from aggregates yet: {}. The simulator's state is the turn and the last reply, with the context fixed by `[sim] context`",
            tpl.dir().display(),
            problems.join("; ")
        ))))
    }
}

fn build_mdp(
    agg: &Aggregates,
    setup: &SimSetup,
    tpl: &BundleTemplate,
) -> Result<Arc<Mdp>, JobError> {
    let mask = RulesMask::new(tpl.rules(), tpl.fallback());
    Ok(Arc::new(Mdp::build(
        agg,
        &setup.sim,
        &mask,
        tpl.features(),
    )?))
}

fn train(
    algo: Algorithm,
    setup: &SimSetup,
    mdp: &Arc<Mdp>,
    ev: &ExactEvaluator,
    hooks: &mut Hooks<'_>,
) -> Result<TrainOutcome, JobError> {
    let env = SimEnv::new(Arc::clone(mdp));
    let name = algo.name();
    let result = match algo {
        Algorithm::Ppo => {
            let mut obs = (hooks.observer)(name, setup.ppo.run.total_steps);
            train_ppo(&env, Some(ev), &setup.ppo, obs.as_mut())
        }
        Algorithm::Dqn => {
            let mut obs = (hooks.observer)(name, setup.dqn.run.total_steps);
            train_dqn(&env, Some(ev), &setup.dqn, obs.as_mut())
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

/// A rules file that forbids, in every simulator state, the tracks for which the
/// aggregates published no data: serving never offers a track where the policy
/// never learned anything.
pub fn no_data_rules(mdp: &Mdp, agg: &Aggregates) -> (String, usize) {
    let t_max = agg.config.max_turns;
    let mut text = String::from(
        "# Generated by talktrack-train: do not edit.\n# Tracks for which the aggregated logs publish no data in a state (fewer than k\n# conversations, even after back-off). The policy never learned anything there.\n\n",
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

    check_simulable(&tpl, setup)?;
    (hooks.stage)("aggregating the log");
    let (agg, stats) = aggregate_log(
        open_log(setup)?,
        &setup.vocab(),
        setup.aggregate.clone(),
        ReadOptions::default(),
    )?;
    (hooks.stage)("building the simulator");
    let mdp = build_mdp(&agg, setup, &tpl)?;
    let ev = ExactEvaluator::new(Arc::clone(&mdp));
    let base = baselines(&ev, &agg);
    let unavailable = (0..agg.config.max_turns)
        .flat_map(|t| (0..mdp.n_last() as u32).map(move |l| (t, l)))
        .map(|(t, l)| {
            (0..mdp.n_actions())
                .filter(|&a| !mdp.available(t, l, a))
                .count()
        })
        .sum();

    let mut runs = Vec::new();
    let mut export_net = None;
    for &algo in &job.algorithms {
        (hooks.stage)(&format!("training {}", algo.name().to_uppercase()));
        let out = train(algo, setup, &mdp, &ev, hooks)?;
        let evaluation = ev.evaluate(&out.greedy());
        if evaluation.violating_states > 0 {
            return Err(JobError::Violations {
                algorithm: algo.name(),
                states: evaluation.violating_states,
            });
        }
        runs.push(RunSummary {
            algorithm: algo.name().into(),
            seed: seed_of(algo, setup),
            value: evaluation.value,
            fraction: if base.optimum > 0.0 {
                evaluation.value / base.optimum
            } else {
                0.0
            },
            env_steps: out.env_steps,
            wall_secs: out.wall_secs,
            steps_per_sec: out.steps_per_sec(),
            secs_to: [
                out.curve.secs_to(0.95),
                out.curve.secs_to(0.98),
                out.curve.secs_to(0.995),
            ],
            violations_training: out.violations,
            violations_eval: evaluation.violating_states,
            curve: out.curve.points.clone(),
        });
        if algo == job.export {
            export_net = Some(out.net.clone());
        }
    }

    let holdout = if job.holdout {
        (hooks.stage)("held-out diagnostic (80/20 split by conversation)");
        let split = aggregate_split(
            open_log(setup)?,
            &setup.vocab(),
            setup.aggregate.clone(),
            ReadOptions::default(),
            Split::default(),
        )?;
        let mdp80 = build_mdp(&split.train, setup, &tpl)?;
        let mdp20 = build_mdp(&split.holdout, setup, &tpl)?;
        let ev80 = ExactEvaluator::new(Arc::clone(&mdp80));
        let ev20 = ExactEvaluator::new(Arc::clone(&mdp20));
        let out = train(job.export, setup, &mdp80, &ev80, hooks)?;
        let p = out.greedy();
        let uniform = ev20.table_value(&ev20.uniform_table());
        Some(HoldoutSummary {
            split_seed: DEFAULT_SPLIT_SEED,
            train_conversations: split.train.conversations.round() as u64,
            holdout_conversations: split.holdout.conversations.round() as u64,
            algorithm: job.export.name().into(),
            value_train: ev80.value(&p),
            optimum_train: ev80.optimum(),
            value_holdout: ev20.value(&p),
            optimum_holdout: ev20.optimum(),
            uniform_holdout: uniform,
            uniform_train: ev80.table_value(&ev80.uniform_table()),
        })
    } else {
        None
    };

    // With Laplace noise, measure what it costs: the noisy-trained policy on the noise-free simulator.
    let noise = match (agg.config.epsilon, &export_net) {
        (Some(epsilon), Some(net)) => {
            (hooks.stage)("measuring the cost of the noise");
            let clean_cfg = crate::aggregate::AggregateConfig {
                epsilon: None,
                ..setup.aggregate.clone()
            };
            let (clean, _) = aggregate_log(
                open_log(setup)?,
                &setup.vocab(),
                clean_cfg,
                ReadOptions::default(),
            )?;
            let ev_clean = ExactEvaluator::new(build_mdp(&clean, setup, &tpl)?);
            let policy = crate::train::GreedyPolicy { net: net.clone() };
            Some(NoiseSummary {
                epsilon,
                optimum_clean: ev_clean.optimum(),
                policy_value_clean: ev_clean.value(&policy),
            })
        }
        _ => None,
    };

    let exported = match export_net {
        None => None,
        Some(net) => {
            (hooks.stage)("exporting the bundle");
            let (rules_text, _) = no_data_rules(&mdp, &agg);
            // Written in canonical layout, so `talktrack fmt --check` passes on exported bundles.
            let rules_text =
                crate::rules::format_rules(&rules_text, Path::new("generated-no-data.rules"))
                    .unwrap_or(rules_text);
            let mut training = toml::Table::new();
            training.insert("algorithm".into(), job.export.name().into());
            training.insert("seed".into(), (seed_of(job.export, setup) as i64).into());
            training.insert("log".into(), setup.data.log.display().to_string().into());
            training.insert("conversations".into(), (stats.conversations as i64).into());
            training.insert("k".into(), (agg.config.k as i64).into());
            if let Some(r) = runs.iter().find(|r| r.algorithm == job.export.name()) {
                training.insert("value".into(), r.value.into());
                training.insert("fraction_of_optimum".into(), r.fraction.into());
                training.insert("env_steps".into(), (r.env_steps as i64).into());
            }
            training.insert("optimum".into(), base.optimum.into());
            let bundle = export_bundle(
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
                    generated_rules: Some(("rules/generated-no-data.rules".into(), rules_text)),
                    training,
                },
                bundle_dir,
            )?;
            // The served scores must be the trainer's: compare tract with the trainer's forward pass in every state.
            let mut max_diff = 0f64;
            let mut obs = vec![0.0; mdp.obs_dim()];
            let mut ours = vec![0.0; mdp.n_actions()];
            let mut served = vec![0.0; mdp.n_actions()];
            let mut scratch = Scratch::default();
            for t in 0..agg.config.max_turns {
                for l in 0..mdp.n_last() as u32 {
                    mdp.encode(t, l, &mut obs);
                    net.forward(&obs, &mut scratch, &mut ours);
                    if bundle.policy().scores(&obs, &mut served).is_err() {
                        max_diff = f64::INFINITY;
                    }
                    for (a, b) in ours.iter().zip(&served) {
                        max_diff = max_diff.max(f64::from((a - b).abs()));
                    }
                }
            }
            Some(ExportSummary {
                path: bundle_dir.display().to_string(),
                digest: bundle.digest().to_owned(),
                algorithm: job.export.name().into(),
                max_abs_score_diff: max_diff,
            })
        }
    };

    let report = Report {
        bundle: tpl.manifest().name.clone(),
        objective: job.objective.clone(),
        data: DataSummary {
            log: setup.data.log.display().to_string(),
            conversations: stats.conversations,
            bad_lines: stats.bad,
            k: agg.config.k,
            cells_published: agg.levels.iter().map(|l| l.cells.len()).sum(),
            epsilon: agg.config.epsilon,
            noise,
        },
        mdp: MdpSummary {
            states: agg.config.max_turns as usize * mdp.n_last(),
            actions: mdp.n_actions(),
            obs_dim: mdp.obs_dim(),
            unavailable,
            warnings: mdp.warnings().to_vec(),
        },
        baselines: BaselineSummary {
            optimum: base.optimum,
            uniform: base.uniform,
            best_single: base.best_single.clone(),
            behaviour: base.behaviour,
        },
        runs,
        holdout,
        exported,
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
