//! The learned policy: an ONNX network that maps an observation to one score per
//! track.
//!
//! [`load`] turns ONNX bytes into a bounded, optimised tract plan ([`limits`]
//! says what a network may cost, [`wording`] puts tract's errors in the user's
//! words, [`probe`] checks the declared score kind, [`tensors`] checks the weights the
//! file stores before tract reads them); [`runner`] serves it
//! (per-thread state on the hot path), [`batch`] many observations per forward
//! pass; [`onnx_writer`] writes the networks our
//! trainer produces. All speak the same contract, [`PolicyIo`]: input `f32
//! [batch, obs_dim]` (and optionally the allowed-track mask), output `[batch,
//! n_tracks]`, names taken from the bundle manifest.

pub(crate) mod batch;
pub mod error;
pub(crate) mod limits;
pub(crate) mod load;
pub mod onnx_writer;
pub(crate) mod probe;
pub mod runner;
pub(crate) mod shape_constants;
pub(crate) mod tensors;
pub(crate) mod wording;

pub use error::PolicyError;
pub use limits::PolicyLimits;
pub use onnx_writer::{write_mlp, Activation, Dense, Head, MlpSpec};
pub use runner::{Policy, PolicyIo, ScoreKind, MAX_POLICY_BYTES};
