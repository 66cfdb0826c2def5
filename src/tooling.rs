//! What talktrack's own tools build on, on purpose: the CLI, the trainer and the
//! server use these; a host embedding the engine needs only the crate root.
//!
//! - the turn view and masks: [`TurnView`] (with its [`ContactLog`] of
//!   [`PastContact`]s, resolved from [`Contact`](crate::Contact)s by
//!   [`past_contacts`]), [`mask`], [`MaskOutcome`], [`TrackSet`];
//!   a request masked with a template alone ([`mask_request`]);
//! - times and durations as rules and requests write them: [`parse_timestamp`],
//!   [`format_timestamp`], [`parse_duration`];
//! - the bundle's parts: [`BundleTemplate`], [`Manifest`] (attributes declared as
//!   [`AttrSpec`]s), [`Catalog`], [`Track`],
//!   the typed context schema ([`Schema`], [`AttrDecl`], [`AttrType`], [`Val`],
//!   [`Resolved`], value ranges [`ValueRange`] of [`Bound`]s);
//! - reading files: [`read_bounded`] (regular files only, never past a limit) and
//!   [`read_text`]; the rule files a bundle lists, inside its directory
//!   ([`listed_rule_files`]); sealing a bundle's policy checksum ([`seal`]) and
//!   signing its digest ([`sign`] with a [`SignKey`], into [`SIGNATURE_FILE`]);
//! - the feature encoder: [`FeatureEncoder`], [`Feature`], [`FeatureEnv`], and the
//!   [`Trace`] of what the policy saw and said (`decide --trace`);
//! - the rules: [`parse`] into the [`ast`], [`format_rules`] (a tree built by a tool:
//!   [`print_rules`]), [`compile`] into a
//!   [`RuleSet`] evaluated into a [`Verdict`]; the checked rules in [`typed`], for
//!   static analysis;
//! - rule test cases: [`run_all`] (a report; a template's: [`run_all_template`]),
//!   [`run_cases`] (each [`CaseResult`]; a template's: [`run_cases_template`]), and for tools that run them their own way
//!   [`load_cases`] (each [`Case`] and its request); what they exercise of the rules:
//!   [`coverage`] into a [`Coverage`] of [`CoverageItem`]s;
//! - text shown to a person: [`escape_controls`], [`escape_controls_in_lines`] (every
//!   human-readable output passes request, bundle and log text through them);
//! - the binaries' stdout: `say!` and `say_raw!` (like `println!`/`print!`, but a
//!   closed pipe is no panic), exported at the crate root for `#[macro_use]`;
//! - the policy: [`Policy`], [`PolicyIo`], [`PolicyLimits`], [`ScoreKind`], and the ONNX writer
//!   ([`write_mlp`], [`MlpSpec`]) the trainer exports with.

pub use crate::bundle::{
    listed_rule_files, read_bounded, read_text, seal, sign, AttrSpec, AttrSpecLong, BundleTemplate,
    Escape, FileKind, Manifest, ReadError, Sealed, SignKey, Signed, GENERATED_RULES_FILE,
    GENERATED_RULES_HEADER, MAX_MANIFEST_BYTES, MAX_TEXT_FILE_BYTES, SIGNATURE_FILE,
};
pub use crate::cases::{
    coverage, load_cases, run_all, run_all_template, run_cases, run_cases_template, Case,
    CaseResult, Coverage, CoverageItem, ItemKind,
};
pub use crate::catalog::{Catalog, Track};
pub use crate::context::{format_timestamp, parse_duration, parse_timestamp};
pub use crate::context::{AttrDecl, AttrType, Bound, Resolved, Schema, Val, ValueRange};
pub use crate::engine::{mask, mask_request, past_contacts, MaskOutcome};
pub use crate::features::trace::{Trace, TraceScore, TraceSlot};
pub use crate::features::{Feature, FeatureEncoder, FeatureEnv};
pub use crate::policy::{
    write_mlp, Activation, Dense, Head, MlpSpec, Policy, PolicyError, PolicyIo, PolicyLimits,
    ScoreKind, MAX_POLICY_BYTES,
};
pub use crate::problem::{escape_controls, escape_controls_in_lines};
pub use crate::rules::{
    compile, compile_str, format_rules, parse, print_rules, EffectKind, EvalError, Fired, RuleEnv,
    RuleInfo, RuleSet, RuleSource, Verdict, MAX_RULES,
};
pub use crate::trackset::TrackSet;
pub use crate::turn_view::{ContactLog, PastContact, TurnView};

/// The checked form of rules ([`RuleSet::condition`], [`RuleSet::targets`]): names
/// resolved to slots and indices, constants typed. Static analysis reads it.
pub mod typed {
    pub use crate::rules::typed::{CVal, ContactQuery, TExpr, TTargets, ValKind};
}

/// The rules language's syntax tree, as [`parse`] returns it and the formatter
/// prints it.
pub mod ast {
    pub use crate::rules::ast::*;
}

/// Writes a line to stdout, as `println!` does, except that a closed pipe (`| head`)
/// is not an error worth a panic. For the project's binaries (`#[macro_use] extern
/// crate talktrack;`).
#[doc(hidden)]
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Writes to stdout without a newline, as `print!` does, ignoring a closed pipe.
#[doc(hidden)]
#[macro_export]
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}
