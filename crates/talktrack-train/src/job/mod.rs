//! The trainer's job, end to end, as a row of stages, one file each:
//! `config` (template and checks) → `aggregate` (log → aggregates) →
//! `simulator` → `train` (PPO / DQN) → `evaluate` (against the optimum and
//! baselines) → `cv` (k-fold cross-validation by conversation) → `noise` (the cost of the privacy
//! noise) → `export` (the bundle; its `generated_rules`) → `report`.
//!
//! `talktrack-train train` is a thin wrapper around [`run`]; progress reporting is
//! the caller's (see [`Hooks`]).

mod aggregate;
mod config;
#[cfg(feature = "learn")]
mod cv;
mod environment;
mod error;
#[cfg(feature = "learn")]
mod evaluate;
#[cfg(feature = "learn")]
mod export;
mod generated_rules;
#[cfg(feature = "learn")]
mod noise;
mod pessimism;
#[cfg(feature = "learn")]
mod report;
mod simulator;
#[cfg(feature = "learn")]
mod train;

#[cfg(feature = "learn")]
use std::path::{Path, PathBuf};

#[cfg(feature = "learn")]
use crate::config::SimSetup;
#[cfg(feature = "learn")]
use crate::report::Report;
use crate::train::curve::TrainObserver;

pub use aggregate::{aggregate_to_file, BAD_LINES_SHOWN};
#[cfg(feature = "learn")]
pub use cv::cross_validate;
pub use environment::environment;
pub use error::JobError;
#[cfg(feature = "learn")]
pub use evaluate::{evaluate_bundle, BundleEvaluation};
#[cfg(feature = "learn")]
pub use export::{dense_layers, score_tolerance};
pub use generated_rules::{no_data_rules, NoDataRules};
pub use pessimism::{CandidateScore, ChosenBy, PessimismChoice};
pub use simulator::check_simulable;

/// How the caller follows the job.
pub struct Hooks<'a> {
    /// A stage message ("aggregating the log", ...).
    pub stage: &'a mut dyn FnMut(&str),
    /// An observer for one training run: (algorithm, step budget).
    pub observer: &'a mut dyn FnMut(&str, u64) -> Box<dyn TrainObserver>,
}

/// What [`run`] produced.
#[cfg(feature = "learn")]
#[derive(Debug)]
pub struct JobOutput {
    /// The report (also written into the output directory).
    pub report: Report,
    /// The exported bundle directory.
    pub bundle_dir: PathBuf,
    /// The report directory.
    pub report_dir: PathBuf,
}

#[cfg(feature = "learn")]
/// Runs the whole job; writes the bundle to `bundle_dir` and the report to `report_dir`.
pub fn run(
    setup: &SimSetup,
    bundle_dir: &Path,
    report_dir: &Path,
    hooks: &mut Hooks<'_>,
) -> Result<JobOutput, JobError> {
    let tpl = config::stage(setup)?;
    let usage = simulator::reads_usage(&tpl);
    let data = aggregate::stage(setup, hooks)?;
    (hooks.stage)("choosing the pessimism");
    let pessimism = pessimism::choose(setup, &tpl, data.from_file.is_some(), None)?;
    (hooks.stage)("building the simulator");
    let (sim, shrinkage) = simulator::Simulator::build_training(
        &data.agg,
        setup,
        &tpl,
        pessimism.shrink_scale,
        pessimism.strength,
    )?;
    let base = sim.baselines(&data.agg);
    let trained = train::stage(setup, &sim, &base, hooks)?;
    let mut notes: Vec<String> = config::clock_note(setup, &tpl).into_iter().collect();
    notes.extend(config::contacts_note(setup, &tpl));
    let cv = cv::stage(setup, &tpl, &data, hooks, &mut notes)?;
    let noise = noise::stage(
        setup,
        &tpl,
        &data,
        trained.export_net.as_ref(),
        hooks,
        &mut notes,
    )?;
    let conversations = match &data.stats {
        Some(st) => st.conversations,
        None => data.agg.conversations.round().max(0.0) as u64,
    };
    let exported = export::stage(
        &export::ExportInput {
            setup,
            tpl: &tpl,
            data: &data,
            sim: &sim,
            base: &base,
            runs: &trained.runs,
            conversations,
            usage,
        },
        trained.export_net,
        bundle_dir,
        hooks,
    )?;
    let report = report::stage(
        setup,
        &tpl,
        data,
        &sim,
        report::Outcomes {
            base,
            runs: trained.runs,
            cv,
            shrinkage,
            pessimism,
            noise,
            exported,
            notes,
            conversations,
            usage,
        },
        report_dir,
    )?;
    Ok(JobOutput {
        report,
        bundle_dir: bundle_dir.to_owned(),
        report_dir: report_dir.to_owned(),
    })
}
