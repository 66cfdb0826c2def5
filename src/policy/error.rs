//! The one error type of the policy module.
//!
//! tract reports failures as `anyhow` errors; they are turned into these typed
//! variants at the boundary (`reason` carries tract's own text) so that the bundle
//! loader can tell a missing file from a shape mismatch and say what to fix.

use std::path::PathBuf;

/// Why a policy could not be loaded, run or written.
///
/// `origin` names where the model came from: the file path, or `<bytes>` when it
/// was given in memory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file does not exist.
    #[error("policy file `{}` not found", path.display())]
    NotFound {
        /// The path that was looked up.
        path: PathBuf,
    },
    /// The policy file exists but could not be read.
    #[error("cannot read policy file `{}`", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The policy file is larger than the loader accepts.
    #[error("policy file `{}` is {size} bytes, more than the {limit} bytes allowed", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The bytes are not an ONNX model (not protobuf, truncated, no graph, or
    /// rejected by tract's ONNX importer).
    #[error("`{origin}` is not a valid onnx model: {reason}")]
    NotOnnx {
        /// Where the model came from.
        origin: String,
        /// What the decoder or importer said.
        reason: String,
    },
    /// The manifest's `obs_dim` or `n_tracks` is zero.
    #[error("policy io for `{origin}` is invalid: {reason}")]
    InvalidIo {
        /// Where the model came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The manifest names an input the model does not have.
    #[error(
        "`{origin}` has no input named `{name}`; its inputs are {}",
        list(available)
    )]
    UnknownInput {
        /// Where the model came from.
        origin: String,
        /// The name asked for.
        name: String,
        /// The model's graph inputs (initializers excluded).
        available: Vec<String>,
    },
    /// The manifest names an output the model does not have.
    #[error(
        "`{origin}` has no output named `{name}`; its outputs are {}",
        list(available)
    )]
    UnknownOutput {
        /// Where the model came from.
        origin: String,
        /// The name asked for.
        name: String,
        /// The model's graph outputs.
        available: Vec<String>,
    },
    /// The model's declared input does not accept `f32 [batch, obs_dim]`.
    #[error(
        "`{origin}` input `{name}`: expected f32 [batch, {obs_dim}], the model declares {found}"
    )]
    InputShape {
        /// Where the model came from.
        origin: String,
        /// The input name.
        name: String,
        /// The manifest's observation width.
        obs_dim: usize,
        /// The model's declared type and shape, e.g. `f32 [batch, 12]`.
        found: String,
    },
    /// The probe run produced an output that is not `[batch, n_tracks]` (or
    /// `[n_tracks]`) of f32.
    #[error(
        "`{origin}` output `{name}`: expected f32 [batch, {n_tracks}], got {found} at batch 1"
    )]
    OutputShape {
        /// Where the model came from.
        origin: String,
        /// The output name.
        name: String,
        /// The manifest's number of tracks.
        n_tracks: usize,
        /// What the model produced, e.g. `f32 [1, 5]`.
        found: String,
    },
    /// The model has graph inputs the manifest maps to nothing.
    #[error(
        "`{origin}` has inputs the manifest does not map: {}; talktrack feeds the observation (`input`) and, optionally, the allowed-track mask (`mask_input`)",
        list(names)
    )]
    UnmappedInputs {
        /// Where the model came from.
        origin: String,
        /// The inputs nobody feeds.
        names: Vec<String>,
    },
    /// The mask input is not `[batch, n_tracks]` of bool, float or int64.
    #[error("`{origin}` mask input `{name}`: expected bool, float or int64 [batch, {n_tracks}], the model declares {found}")]
    MaskShape {
        /// Where the model came from.
        origin: String,
        /// The input name.
        name: String,
        /// The manifest's number of tracks.
        n_tracks: usize,
        /// The model's declared type and shape.
        found: String,
    },
    /// The model uses operators the runtime does not implement.
    #[error("`{origin}` uses operators talktrack cannot run: {}", operators.join(", "))]
    UnsupportedOperators {
        /// Where the model came from.
        origin: String,
        /// Each as `` `Op` (domain `d`) ``.
        operators: Vec<String>,
    },
    /// A tensor of the graph has no concrete shape at batch 1, or the graph
    /// needs more memory than [`super::PolicyLimits`] allows.
    #[error("`{origin}` is refused: {reason}")]
    TooCostly {
        /// Where the model came from.
        origin: String,
        /// Which node, what shape, which bound.
        reason: String,
    },
    /// A batched plan was asked for, but a row of a batch does not score as that
    /// observation alone: the model's rows influence each other.
    #[error("`{origin}` cannot score batches of {rows}: row {row}'s score for track {track} is {batched} in a batch and {alone} alone (its rows are not scored independently); load it with `max_batch = 1`")]
    BatchMismatch {
        /// Where the model came from.
        origin: String,
        /// The batch asked for.
        rows: usize,
        /// The first row that differs.
        row: usize,
        /// The first track whose score differs.
        track: usize,
        /// Its score in the batch.
        batched: f32,
        /// Its score alone.
        alone: f32,
    },
    /// tract panicked; the policy (or this thread's state of it) was dropped.
    #[error("`{origin}`: the onnx runtime failed unexpectedly while {stage}")]
    Panicked {
        /// Where the model came from.
        origin: String,
        /// What was being done.
        stage: &'static str,
    },
    /// The probe's scores do not look like the declared `scores` kind.
    #[error("`{origin}` does not produce `scores = \"{declared}\"`: {reason}")]
    ScoreKind {
        /// Where the model came from.
        origin: String,
        /// The kind the manifest declares.
        declared: &'static str,
        /// What the scores look like and which kind to declare.
        reason: String,
    },
    /// tract could not type, declutter or optimise the graph.
    #[error("`{origin}` cannot be prepared for inference: {reason}")]
    Optimize {
        /// Where the model came from.
        origin: String,
        /// tract's explanation.
        reason: String,
    },
    /// Running the model failed.
    #[error("running policy `{origin}` failed: {reason}")]
    Runtime {
        /// Where the model came from.
        origin: String,
        /// tract's explanation.
        reason: String,
    },
    /// `scores` was called with buffers of the wrong length.
    #[error("{what} has length {found}, the policy expects {expected}")]
    BufferLength {
        /// `observation` or `scores buffer`.
        what: &'static str,
        /// The length the policy needs.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// An MLP given to the ONNX writer is inconsistent.
    #[error("cannot write mlp: {reason}")]
    InvalidMlp {
        /// What is wrong.
        reason: String,
    },
}

impl PolicyError {
    /// A stable machine-readable code, for diagnostics (`policy::...`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "policy::not-found",
            Self::Io { .. } => "policy::io",
            Self::TooLarge { .. } => "policy::too-large",
            Self::NotOnnx { .. } => "policy::not-onnx",
            Self::InvalidIo { .. } => "policy::invalid-io",
            Self::UnknownInput { .. } => "policy::unknown-input",
            Self::UnknownOutput { .. } => "policy::unknown-output",
            Self::InputShape { .. } => "policy::input-shape",
            Self::OutputShape { .. } => "policy::output-shape",
            Self::UnmappedInputs { .. } => "policy::unmapped-inputs",
            Self::MaskShape { .. } => "policy::mask-shape",
            Self::UnsupportedOperators { .. } => "policy::unsupported-operators",
            Self::TooCostly { .. } => "policy::too-costly",
            Self::BatchMismatch { .. } => "policy::batch-mismatch",
            Self::Panicked { .. } => "policy::panicked",
            Self::ScoreKind { .. } => "policy::score-kind",
            Self::Optimize { .. } => "policy::optimize",
            Self::Runtime { .. } => "policy::runtime",
            Self::BufferLength { .. } => "policy::buffer-length",
            Self::InvalidMlp { .. } => "policy::invalid-mlp",
        }
    }
}

/// Renders names as `` `a`, `b` `` (or `none` when the model has none).
fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders an `anyhow` chain on one line, outermost context first.
pub(crate) fn chain(e: &anyhow::Error) -> String {
    format!("{e:#}")
}
