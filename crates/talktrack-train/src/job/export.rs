//! The export stage: the exported algorithm's network written as the bundle's ONNX
//! policy, next to the generated no-data rules and the `[training]` record, published
//! only after tract's scores agree with the trainer's on every checked state.

use std::path::Path;

use ndarray::{Array1, Array2};

use super::aggregate::TrainingData;
use super::generated_rules::no_data_rules;
use super::simulator::Simulator;
use super::train::seed_of;
use super::{Hooks, JobError};
use crate::config::{Algorithm, SimSetup};
use crate::export::{export_bundle_checked, ExportSpec};
use crate::report::{BaselineSummary, ExportSummary, RunSummary};
use crate::train::config::Activation;
use crate::train::mlp::{PlainMlp, Scratch};
use crate::train::TrainError;
use talktrack::tooling::BundleTemplate;
use talktrack::tooling::ScoreKind;
use talktrack::tooling::{Activation as OnnxActivation, Dense};

/// What the export stage reads from the stages before it.
pub(super) struct ExportInput<'a> {
    pub setup: &'a SimSetup,
    pub tpl: &'a BundleTemplate,
    pub data: &'a TrainingData,
    pub sim: &'a Simulator,
    pub base: &'a BaselineSummary,
    pub runs: &'a [RunSummary],
    /// Conversations the aggregates count.
    pub conversations: u64,
    /// Whether the template reads track usage.
    pub usage: bool,
}

/// The stage: exports `net` into `bundle_dir`, or does nothing without a network.
pub(super) fn stage(
    input: &ExportInput<'_>,
    net: Option<PlainMlp>,
    bundle_dir: &Path,
    hooks: &mut Hooks<'_>,
) -> Result<Option<ExportSummary>, JobError> {
    let Some(net) = net else {
        return Ok(None);
    };
    let ExportInput {
        setup,
        tpl,
        data,
        sim,
        base,
        runs,
        conversations,
        usage,
    } = *input;
    let job = &setup.job;
    let agg = &data.agg;
    let from_file = &data.from_file;
    (hooks.stage)("exporting the bundle");
    // Printed by the rules formatter, so `talktrack fmt --check` passes on exported bundles.
    let rules_text = no_data_rules(sim.replies(), agg).text();
    let mut training = toml::Table::new();
    training.insert("algorithm".into(), job.export.name().into());
    training.insert("seed".into(), (seed_of(job.export, setup) as i64).into());
    match &from_file {
        Some(f) => training.insert("aggregates".into(), f.clone().into()),
        None => training.insert("log".into(), setup.data.log.display().to_string().into()),
    };
    training.insert("conversations".into(), (conversations as i64).into());
    if from_file.is_none() {
        // Which conversations it was trained on, so an evaluation can tell held-out
        // logs from training data (ids are not stored, only a Bloom filter of them).
        if let Some(fp) = training_fingerprint(setup) {
            training.insert(crate::ope::fingerprint::TRAINING_KEY.into(), fp);
        }
    }
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
        sim.summary(agg, usage).evaluation.into(),
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
            template: tpl,
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
            generated_rules: Some((talktrack::tooling::GENERATED_RULES_FILE.into(), rules_text)),
            training,
        },
        bundle_dir,
        check,
    )?;
    let max_diff = max_diff.get();
    Ok(Some(ExportSummary {
        path: bundle_dir.display().to_string(),
        digest: bundle.digest().to_owned(),
        algorithm: job.export.name().into(),
        max_abs_score_diff: max_diff,
        states_checked: observations.len(),
    }))
}

/// The fingerprint of the log's conversations (as the aggregation read them), or
/// `None` when the log cannot be read again.
fn training_fingerprint(setup: &SimSetup) -> Option<toml::Value> {
    let vocab = setup.vocab();
    let reader = crate::log::LogReader::new(
        setup.open_log().ok()?,
        &vocab,
        super::aggregate::read_options(setup),
    );
    let ids: Vec<String> = reader.filter_map(Result::ok).map(|c| c.id).collect();
    crate::ope::fingerprint::Fingerprint::of(ids.iter().map(String::as_str)).to_toml()
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
