//! talktrack decides which talk track a contact-center agent should use next.
//!
//! A learned policy (ONNX, run with tract) ranks the tracks of a catalog; compliance
//! and business rules written as plain text decide which ones are permitted. Both
//! ship as one versioned [`bundle`] that an [`engine::Engine`] serves and can swap
//! while serving.
//!
//! The pipeline, one module per stage:
//! `context` + `catalog` (what a bundle declares) → `rules` (text → AST → checked →
//! compiled → evaluated) and `features` + `policy` (observation → scores) →
//! `engine` (ranked, explained decision).

#[cfg(feature = "train")]
pub mod aggregate;
pub mod bundle;
pub mod cases;
pub mod catalog;
pub mod context;
pub mod diag;
pub mod engine;
#[cfg(feature = "train")]
pub mod eval;
#[cfg(feature = "train")]
pub mod export;
pub mod features;
#[cfg(feature = "train")]
pub mod log;
pub mod names;
#[cfg(feature = "train")]
pub mod pipeline;
pub mod policy;
#[cfg(feature = "train")]
pub mod report;
pub mod rules;
#[cfg(feature = "train")]
pub mod sim;
pub mod synth;
pub mod trackset;
#[cfg(feature = "train")]
pub mod train;
pub mod turn;
