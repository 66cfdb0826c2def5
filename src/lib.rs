//! talktrack decides which talk track a contact-center agent should use next.
//!
//! A learned policy (ONNX, run with tract) ranks the tracks of a catalog; compliance
//! and business rules written as plain text decide which ones are permitted. Both
//! ship as one versioned [`Bundle`] (a directory) that an [`Engine`] serves and can
//! swap while serving.
//!
//! # Embedding
//!
//! ```no_run
//! use talktrack::{Context, Engine, Request};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Load and validate a bundle once; an invalid one is refused with every problem.
//! let engine = Engine::load("policies/telecom-upsell")?;
//!
//! // Per turn: the conversation's context and history (or `Request::from_json`).
//! let mut req = Request::new("c-1042", 1_795_000_000_000); // ms since the epoch
//! req.context = Context::new()
//!     .with("age", 34).with("region", "north").with("segment", "young_family")
//!     .with("plan", "basic").with("tenure_months", 30).with("monthly_spend", 25.0)
//!     .with("open_complaint", false).with("marketing_consent", true)
//!     .with("credit_score", 700).with("products", Vec::<String>::new());
//! req.history.tracks = vec!["greet".into(), "fee_disclosure".into()];
//! req.history.replies = vec!["positive".into(), "neutral".into()];
//!
//! let decision = engine.decide(&req)?;
//! println!("{:?} {}", decision.chosen_id(), decision.explain());
//!
//! // Hot swap: validated off the hot path, published atomically; an invalid
//! // bundle never replaces the one in service.
//! if let Err(e) = engine.reload("policies/telecom-upsell") {
//!     eprintln!("{}", talktrack::render(&e.problems));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Three doors
//!
//! The root re-exports what a host needs to decide. [`serving`] holds what running
//! the engine in production adds: versions, reload and rollback, the decision log,
//! champion and challenger arms, signed bundles and load limits. [`tooling`] holds what talktrack's own
//! tools (the CLI, the trainer, the server) build on: masks and the turn view, the
//! feature encoder, the rules AST and formatter, rule test cases, the ONNX writer.
//! The synthetic-bundle kit for benchmarks and tests is `talktrack::synth`, behind the
//! `testkit` feature.
//!
//! Inside, one module per stage: `context` + `catalog` (what a bundle declares) →
//! `rules` (text → AST → checked → compiled → evaluated) and `features` + `policy`
//! (observation → scores) → `engine` (ranked, explained decision).

mod bundle;
mod cases;
mod catalog;
mod context;
mod engine;
mod features;
mod name_table;
mod policy;
mod problem;
mod rules;
pub mod serving;
#[cfg(feature = "testkit")]
pub mod synth;
pub mod tooling;
mod trackset;
mod turn_view;

pub use bundle::{Bundle, LoadError};
pub use context::{Context, Value};
pub use engine::{
    Contact, DecideError, Decision, Engine, History, MaskReason, Masked, PolicyUse, Ranked,
    Request, MAX_CONTACTS, MAX_HISTORY, MAX_REQUEST_BYTES,
};
pub use problem::{render, Code, Position, Problem, Related, Severity, TextRange};
