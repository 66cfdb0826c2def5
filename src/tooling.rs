//! What talktrack's own tools build on, on purpose: the CLI, the trainer and the
//! server use these; a host embedding the engine needs only the crate root.
//!
//! - the turn view and masks: [`TurnView`], [`mask`], [`MaskOutcome`], [`TrackSet`];
//! - the bundle's parts: [`BundleTemplate`], [`Manifest`], [`Catalog`], [`Track`],
//!   the typed context schema ([`Schema`], [`AttrDecl`], [`AttrType`], [`Val`],
//!   [`Resolved`]);
//! - the feature encoder: [`FeatureEncoder`], [`Feature`], [`FeatureEnv`], and the
//!   [`Trace`] of what the policy saw and said (`decide --trace`);
//! - the rules: [`parse`] into the [`ast`], [`format_rules`], [`compile`] into a
//!   [`RuleSet`] evaluated into a [`Verdict`];
//! - rule test cases: [`run_all`];
//! - the policy: [`Policy`], [`PolicyIo`], [`PolicyLimits`], [`ScoreKind`], and the ONNX writer
//!   ([`write_mlp`], [`MlpSpec`]) the trainer exports with.

pub use crate::bundle::{
    read_manifest, read_text, BundleTemplate, Manifest, GENERATED_RULES_FILE,
    GENERATED_RULES_HEADER,
};
pub use crate::cases::run_all;
pub use crate::catalog::{Catalog, Track};
pub use crate::context::{AttrDecl, AttrType, Resolved, Schema, Val};
pub use crate::engine::{mask, MaskOutcome};
pub use crate::features::trace::{Trace, TraceScore, TraceSlot};
pub use crate::features::{Feature, FeatureEncoder, FeatureEnv};
pub use crate::policy::{
    write_mlp, Activation, Dense, Head, MlpSpec, Policy, PolicyError, PolicyIo, PolicyLimits,
    ScoreKind, MAX_POLICY_BYTES,
};
pub use crate::rules::{
    compile, compile_str, format_rules, parse, EffectKind, EvalError, RuleEnv, RuleSet, RuleSource,
    Verdict, MAX_RULES,
};
pub use crate::trackset::TrackSet;
pub use crate::turn::TurnView;

/// The rules language's syntax tree, as [`parse`] returns it and the formatter
/// prints it.
pub mod ast {
    pub use crate::rules::ast::*;
}
