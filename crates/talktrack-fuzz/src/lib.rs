//! Fuzz targets for everything talktrack parses, shared by the coverage-guided
//! runners in `fuzz/` (libFuzzer through `cargo fuzz`) and by the short
//! structure-aware runs of this crate's tests, so both exercise the same code.
//!
//! Each target takes arbitrary bytes and drives one parser the way a host or a
//! tool does, through the public API: [`rules`] (parser, checker, compiler,
//! evaluator, formatter), [`manifest`] (the whole bundle loader with the example
//! bundle's rules and policy), [`request`] (request decoder and `decide`),
//! [`onnx`] (policy loader and one forward pass) and [`log`] (the trainer's log
//! reader and aggregation).
//!
//! A target returns normally on every input, valid or not: an error is the right
//! answer to bad input. It panics only when an invariant the product promises is
//! broken (a formatted rule file that does not format to itself, a chosen track
//! that is masked), which is how a fuzzer records a finding; that is why this
//! crate, a test harness, allows `panic!` and `expect`.
#![allow(clippy::panic, clippy::expect_used)]

mod fixtures;
mod log;
mod manifest;
mod onnx;
mod request;
mod rules;

pub use fixtures::{seed_corpus, RULES_DICTIONARY};
pub use log::log;
pub use manifest::manifest;
pub use onnx::onnx;
pub use request::request;
pub use rules::rules;
