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

pub mod catalog;
pub mod context;
pub mod diag;
pub mod features;
pub mod rules;
pub mod trackset;
#[cfg(feature = "train")]
pub mod train;
pub mod turn;
