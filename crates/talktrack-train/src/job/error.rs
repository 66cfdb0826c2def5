//! Why the job stops: one error type for every stage, each variant saying what to
//! change.

use std::path::PathBuf;

use crate::config::SetupError;
use crate::train::TrainError;

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
    /// Cross-validation cannot run on this setup (says why and what to change).
    #[error("{0}")]
    CrossValidation(String),
    /// Writing the aggregate file failed.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
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
