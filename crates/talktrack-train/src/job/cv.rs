//! The cross-validation stage: k folds by conversation id; in each, the algorithm of
//! `[cv]` trains on the other folds and is evaluated on the simulator built from the
//! fold (built as always: raw, `k`-thresholded estimates, backing off where the fold
//! has no cell of its own), next to that simulator's optimum and the baselines.
//!
//! It needs the individual conversations of the log: from an aggregate file it is
//! skipped with a note. Under Laplace noise it is refused: every fold would be one
//! more release of each conversation's data (k + 1 releases in all with the trained
//! aggregates, a privacy loss of (k + 1) · epsilon), and the configured budget is for
//! one release.

use super::aggregate::{read_options, TrainingData};
use super::simulator::Simulator;
use super::train::train;
use super::{Hooks, JobError};
use crate::aggregate::folds::{aggregate_folds, FoldAggregates, Folds};
use crate::config::{Algorithm, SimSetup};
use crate::eval::plan::{QPolicy, SingleTrack};
use crate::report::{CvSummary, FoldSummary};
use talktrack::tooling::BundleTemplate;

/// Why cross-validation cannot run on this setup, if it cannot: training from an
/// aggregate file, or Laplace noise.
fn refusal(setup: &SimSetup, from_file: Option<&str>) -> Option<String> {
    if let Some(f) = from_file {
        return Some(format!(
            "cross-validation skipped: the job trained from the aggregate file `{f}`, and the folds need the individual conversations of the log (train from the log to run it, or pass `--no-cv`)"
        ));
    }
    if let Some(eps) = setup.aggregate.epsilon {
        return Some(format!(
            "cross-validation skipped: with Laplace noise (epsilon = {eps}) each fold would publish every conversation's data once more ({} releases with the trained aggregates, a privacy loss of {} · epsilon instead of epsilon); cross-validate without noise on data you may use without it, or pass `--no-cv`",
            setup.cv.folds + 1,
            setup.cv.folds + 1
        ));
    }
    None
}

/// The stage: the cross-validation, or `None` with the reason in `notes`.
pub(super) fn stage(
    setup: &SimSetup,
    tpl: &BundleTemplate,
    data: &TrainingData,
    hooks: &mut Hooks<'_>,
    notes: &mut Vec<String>,
) -> Result<Option<CvSummary>, JobError> {
    if !setup.job.cv {
        return Ok(None);
    }
    if let Some(why) = refusal(setup, data.from_file.as_deref()) {
        notes.push(why);
        return Ok(None);
    }
    match cross_validate_with(setup, tpl, hooks) {
        Ok(cv) => {
            if cv.results.is_empty() {
                notes.push(format!(
                    "cross-validation skipped: no fold has enough publishable data on both sides ({}); lower `k` in [aggregate], aggregate more conversations, use fewer folds (`folds` in [cv]) or pass `--no-cv`",
                    cv.skipped.join("; ")
                ));
                return Ok(None);
            }
            Ok(Some(cv))
        }
        Err(JobError::Aggregate(e)) => {
            notes.push(format!(
                "cross-validation skipped: {e}; or pass `--no-cv` (`[job] cv = false`) to leave it out"
            ));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Cross-validates the setup's policy training on its log (`talktrack-train cv`):
/// the template loaded and checked as `train` does. An error when the setup trains
/// from an aggregate file, adds Laplace noise, or no fold can run.
pub fn cross_validate(setup: &SimSetup, hooks: &mut Hooks<'_>) -> Result<CvSummary, JobError> {
    let tpl = super::config::stage(setup)?;
    let from_file = setup
        .data
        .aggregates
        .as_ref()
        .map(|p| p.display().to_string());
    if let Some(why) = refusal(setup, from_file.as_deref()) {
        return Err(JobError::CrossValidation(why));
    }
    let cv = cross_validate_with(setup, &tpl, hooks)?;
    if cv.results.is_empty() {
        return Err(JobError::CrossValidation(format!(
            "no fold has enough publishable data on both sides: {}; lower `k` in [aggregate], aggregate more conversations or use fewer folds (`folds` in [cv])",
            cv.skipped.join("; ")
        )));
    }
    Ok(cv)
}

/// The folds, trained and evaluated in order.
fn cross_validate_with(
    setup: &SimSetup,
    tpl: &BundleTemplate,
    hooks: &mut Hooks<'_>,
) -> Result<CvSummary, JobError> {
    let cv = &setup.cv;
    cv.validate()
        .map_err(|e| JobError::CrossValidation(format!("bad [cv] settings: {e}")))?;
    (hooks.stage)(&format!(
        "cross-validation ({} folds by conversation)",
        cv.folds
    ));
    let outer = Folds {
        k: cv.folds,
        seed: cv.seed,
    };
    let (folds, _) = aggregate_folds(
        setup.open_log()?,
        &setup.vocab(),
        setup.aggregate.clone(),
        read_options(setup),
        outer,
    )?;
    let mut fold_setup = setup.clone();
    match cv.algorithm {
        Algorithm::Ppo => fold_setup.ppo.run.total_steps = cv.steps,
        Algorithm::Dqn => fold_setup.dqn.run.total_steps = cv.steps,
    }
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    for (i, fold) in folds.into_iter().enumerate() {
        let fold = match fold {
            Ok(f) => f,
            Err(e) => {
                skipped.push(format!("fold {}: {e}", i + 1));
                continue;
            }
        };
        (hooks.stage)(&format!("cross-validation: fold {}/{}", i + 1, cv.folds));
        match run_fold((outer, i), &fold, &fold_setup, tpl, hooks) {
            Ok(f) => results.push(f),
            Err(JobError::Sim(e)) => skipped.push(format!(
                "fold {}: too little publishable data to build a simulator: {e}",
                i + 1
            )),
            Err(JobError::DeadStart(e)) => skipped.push(format!(
                "fold {}: no track is allowed in the start state: {e}",
                i + 1
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(CvSummary {
        folds: cv.folds,
        seed: cv.seed,
        algorithm: cv.algorithm.name().into(),
        steps: cv.steps,
        results,
        skipped,
    })
}

/// One fold: trains on its training part, evaluates on its held-out simulator.
fn run_fold(
    (outer, i): (Folds, usize),
    fold: &FoldAggregates,
    setup: &SimSetup,
    tpl: &BundleTemplate,
    hooks: &mut Hooks<'_>,
) -> Result<FoldSummary, JobError> {
    // Chosen on the training part only: the fold's figures never saw the choice.
    let pessimism = super::pessimism::choose(setup, tpl, false, Some((outer, i)))?;
    let (train_sim, _) = Simulator::build_training(
        &fold.train,
        setup,
        tpl,
        pessimism.shrink_scale,
        pessimism.strength,
    )?;
    let raw_train_sim = Simulator::build(&fold.train, setup, tpl)?;
    let held_sim = Simulator::build(&fold.held, setup, tpl)?;
    let out = train(setup.cv.algorithm, setup, &train_sim, hooks)?;
    let policy = out.greedy();
    let best_train = train_sim.baselines(&fold.train).best_single.0;
    let best_ix = fold
        .train
        .tracks
        .iter()
        .position(|t| *t == best_train)
        .unwrap_or(0);
    let held_base = held_sim.baselines(&fold.held);
    let vi_raw_held = raw_train_sim
        .exact_mdp()
        .map(|m| held_sim.evaluate(&QPolicy::optimal(m)).0);
    let (held_pairs, held_backed_off) = held_sim.backoff_counts();
    Ok(FoldSummary {
        fold: i,
        train_conversations: fold.train.conversations.round().max(0.0) as u64,
        held_conversations: fold.held.conversations.round().max(0.0) as u64,
        value_train: train_sim.evaluate(&policy).0,
        uniform_train: train_sim.uniform(),
        optimum_train: train_sim.optimum(),
        value_held: held_sim.evaluate(&policy).0,
        optimum_held: held_base.optimum,
        uniform_held: held_base.uniform,
        best_single_track: best_train,
        best_single_held: held_sim.evaluate(&SingleTrack(best_ix)).0,
        behaviour_held: held_base.behaviour,
        vi_raw_held,
        held_pairs,
        held_backed_off,
        pessimism: pessimism.strength,
        shrink_scale: pessimism.shrink_scale,
    })
}
