//! The aggregate stage: the tables the job trains on, from the aggregate file of
//! `[data] aggregates` or from the log; and `talktrack-train aggregate`, which writes
//! them to a file.

use std::path::Path;

use super::JobError;
use crate::aggregate::{aggregate_log, AggregateConfig, AggregateError, Aggregates};
use crate::config::SimSetup;
use crate::log::{ReadOptions, ReadStats};

/// How many bad log lines the report and stderr show (line number and reason); the
/// report counts all of them.
pub const BAD_LINES_SHOWN: usize = 10;

/// The read options of the setup (`[data] strict`, `max_line_bytes`).
pub(super) fn read_options(setup: &SimSetup) -> ReadOptions {
    ReadOptions {
        max_examples: BAD_LINES_SHOWN,
        ..setup.data.read_options()
    }
}

/// Aggregates the setup's log with `cfg`.
pub(super) fn aggregate(
    setup: &SimSetup,
    cfg: AggregateConfig,
) -> Result<(Aggregates, ReadStats), JobError> {
    aggregate_log(setup.open_log()?, &setup.vocab(), cfg, read_options(setup))
        .map_err(|e| empty_log(setup, e))
}

/// The aggregates the job trains on: the aggregate file of `[data] aggregates` when set
/// (with no log statistics), the log's aggregation otherwise.
pub(super) fn load_aggregates(
    setup: &SimSetup,
) -> Result<(Aggregates, Option<ReadStats>), JobError> {
    match setup.read_aggregates()? {
        Some(agg) => Ok((agg, None)),
        None => {
            let (agg, stats) = aggregate(setup, setup.aggregate.clone())?;
            Ok((agg, Some(stats)))
        }
    }
}

/// What the job trains on: the aggregates, the log's reading statistics (`None` when
/// they come from an aggregate file) and that file.
pub(super) struct TrainingData {
    pub agg: Aggregates,
    pub stats: Option<ReadStats>,
    /// The aggregate file of `[data] aggregates`, when the job trains from it.
    pub from_file: Option<String>,
}

/// The stage: reads or aggregates what the job trains on.
pub(super) fn stage(
    setup: &SimSetup,
    hooks: &mut super::Hooks<'_>,
) -> Result<TrainingData, JobError> {
    (hooks.stage)(if setup.data.aggregates.is_some() {
        "reading the aggregate file"
    } else {
        "aggregating the log"
    });
    let (agg, stats) = load_aggregates(setup)?;
    let from_file = setup
        .data
        .aggregates
        .as_ref()
        .map(|p| p.display().to_string());
    Ok(TrainingData {
        agg,
        stats,
        from_file,
    })
}

/// Aggregates the log of `setup` (`strict` on top of `[data] strict`) into the
/// privacy-thresholded tables and writes them as JSON to `out` (creating its
/// directory): what `talktrack-train aggregate` does.
pub fn aggregate_to_file(
    setup: &SimSetup,
    strict: bool,
    out: &Path,
) -> Result<(Aggregates, ReadStats), JobError> {
    let opts = ReadOptions {
        strict: strict || setup.data.strict,
        ..setup.data.read_options()
    };
    let (agg, stats) = aggregate_log(
        setup.open_log()?,
        &setup.vocab(),
        setup.aggregate.clone(),
        opts,
    )
    .map_err(|e| empty_log(setup, e))?;
    let io = |source| JobError::Write {
        path: out.to_owned(),
        source,
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(out, agg.to_json()).map_err(io)?;
    Ok((agg, stats))
}

/// An empty log names its file.
fn empty_log(setup: &SimSetup, e: AggregateError) -> JobError {
    match e {
        AggregateError::Empty { bad } => JobError::EmptyLog {
            path: setup.data.log.clone(),
            bad,
        },
        e => e.into(),
    }
}
