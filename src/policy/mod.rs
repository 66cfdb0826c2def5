//! The learned policy: an ONNX network that maps an observation to one score per
//! track.
//!
//! [`runner`] loads and serves a network with tract (optimised once, per-thread
//! state on the hot path); [`onnx_writer`] writes the networks our trainer
//! produces. Both speak the same contract, [`PolicyIo`]: input `f32 [batch,
//! obs_dim]`, output `[batch, n_tracks]`, names taken from the bundle manifest.

pub mod error;
pub mod onnx_writer;
pub mod runner;

pub use error::PolicyError;
pub use onnx_writer::{write_mlp, Activation, Dense, Head, MlpSpec};
pub use runner::{Policy, PolicyIo, ScoreKind, MAX_POLICY_BYTES};
