//! The report stage: what every stage produced, assembled into the report and written
//! into the report directory (`report.md`, `report.json`, `curves.svg`).

use std::path::Path;

use super::aggregate::TrainingData;
use super::simulator::Simulator;
use super::JobError;
use crate::config::SimSetup;
use crate::report::{
    BaselineSummary, CvSummary, DataSummary, ExportSummary, NoiseSummary, Report, RunSummary,
};
use talktrack::tooling::BundleTemplate;

/// What the stages before the report produced.
pub(super) struct Outcomes {
    pub base: BaselineSummary,
    pub runs: Vec<RunSummary>,
    pub cv: Option<CvSummary>,
    /// The prior strengths the training simulator's cells were shrunk with, per level.
    pub shrinkage: Vec<Option<crate::aggregate::shrink::Strengths>>,
    /// The pessimism of the training simulator.
    pub pessimism: super::PessimismChoice,
    pub noise: Option<NoiseSummary>,
    pub exported: Option<ExportSummary>,
    pub notes: Vec<String>,
    /// Conversations the aggregates count.
    pub conversations: u64,
    /// Whether the template reads track usage.
    pub usage: bool,
}

/// The stage: assembles the report and writes it into `report_dir`.
pub(super) fn stage(
    setup: &SimSetup,
    tpl: &BundleTemplate,
    data: TrainingData,
    sim: &Simulator,
    o: Outcomes,
    report_dir: &Path,
) -> Result<Report, JobError> {
    let TrainingData {
        agg,
        stats,
        from_file,
    } = data;
    let report = Report {
        bundle: tpl.manifest().name.clone(),
        objective: setup.job.objective.clone(),
        data: DataSummary {
            log: if from_file.is_some() {
                String::new()
            } else {
                setup.data.log.display().to_string()
            },
            aggregates: from_file,
            conversations: o.conversations,
            bad_lines: stats.as_ref().map_or(0, |s| s.bad),
            bad_line_examples: stats.map(|s| s.examples).unwrap_or_default(),
            k: agg.config.k,
            cells_published: agg.levels.iter().map(|l| l.cells.len()).sum(),
            epsilon: agg.config.epsilon,
            noise: o.noise,
        },
        mdp: crate::report::MdpSummary {
            shrinkage: o.shrinkage,
            pessimism: Some(o.pessimism),
            ..sim.summary(&agg, o.usage)
        },
        baselines: o.base,
        runs: o.runs,
        cv: o.cv,
        exported: o.exported,
        notes: o.notes,
    };
    report
        .write(report_dir)
        .map_err(|source| JobError::Report {
            path: report_dir.to_owned(),
            source,
        })?;
    Ok(report)
}
