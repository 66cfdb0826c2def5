//! The holdout stage: the 80/20 held-out diagnostic, run when `[job] holdout` is set
//! and the job reads the log (the split needs individual conversations). Too little
//! data on one side skips it with a note rather than failing the job.

use super::aggregate::{read_options, TrainingData};
use super::simulator::Simulator;
use super::train::train;
use super::{Hooks, JobError};
use crate::aggregate::split::{aggregate_split, Split, DEFAULT_SPLIT_SEED};
use crate::config::SimSetup;
use crate::report::HoldoutSummary;
use talktrack::tooling::BundleTemplate;

/// The stage: the diagnostic, or `None` with the reason in `notes`.
pub(super) fn stage(
    setup: &SimSetup,
    tpl: &BundleTemplate,
    data: &TrainingData,
    hooks: &mut Hooks<'_>,
    notes: &mut Vec<String>,
) -> Result<Option<HoldoutSummary>, JobError> {
    match (&data.from_file, setup.job.holdout) {
        (_, false) => Ok(None),
        (Some(f), true) => {
            notes.push(format!(
                "held-out diagnostic skipped: the job trained from the aggregate file `{f}`, and the 80/20 split needs the individual conversations of the log (train from the log to run it, or pass `--no-holdout`)"
            ));
            Ok(None)
        }
        (None, true) => {
            (hooks.stage)("held-out diagnostic (80/20 split by conversation)");
            match holdout_diagnostic(setup, tpl, hooks) {
                Ok(h) => Ok(Some(h)),
                Err(JobError::Aggregate(e)) => {
                    notes.push(format!(
                        "held-out diagnostic skipped: one side of the 80/20 split has too little publishable data: {e}; or pass `--no-holdout` (`[job] holdout = false`) to leave the diagnostic out"
                    ));
                    Ok(None)
                }
                Err(JobError::Sim(e)) => {
                    notes.push(format!(
                        "held-out diagnostic skipped: one side of the 80/20 split has too little publishable data to build a simulator: {e}; lower `k` in [aggregate], aggregate more conversations, or pass `--no-holdout` (`[job] holdout = false`) to leave the diagnostic out"
                    ));
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        }
    }
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
