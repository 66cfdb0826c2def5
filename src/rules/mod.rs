//! The compliance and business rules language: text → AST → checked → compiled →
//! evaluated.
//!
//! INTERFACE (filled in by the rules work): see the public items below.

use std::path::PathBuf;

use crate::catalog::Catalog;
use crate::context::Schema;
use crate::diag::Problem;
use crate::trackset::TrackSet;
use crate::turn::TurnView;

/// One rules file as read from a bundle.
#[derive(Clone, Debug)]
pub struct RuleSource {
    /// Path shown in diagnostics (relative to the bundle directory).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
}

/// What rules are checked against.
#[derive(Clone, Copy, Debug)]
pub struct RuleEnv<'s> {
    /// The context schema (`customer.<name>` reads these).
    pub schema: &'s Schema,
    /// Tracks, tags and track attributes.
    pub catalog: &'s Catalog,
    /// The user reply vocabulary (`last_reply == complaint`).
    pub replies: &'s [String],
    /// Maximum agent turns.
    pub max_turns: u32,
}

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EffectKind {
    /// Masks its target tracks.
    Forbid,
    /// Allows only its target tracks (intersected across matching rules).
    Only,
    /// Adds a number to its targets' scores.
    Boost,
}

/// Where a rule stands and what it says, for explanations.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RuleInfo {
    /// Rule id (unique across all files of a bundle).
    pub id: String,
    /// The human-readable reason (`because "..."`); empty when absent.
    pub reason: String,
    /// Metadata such as `ref` or `owner`, in source order.
    pub meta: Vec<(String, String)>,
    /// File the rule is in.
    pub file: PathBuf,
    /// 1-based line of the `rule` keyword.
    pub line: u32,
    /// 1-based column of the `rule` keyword.
    pub column: u32,
    /// Its effect.
    pub effect: EffectKind,
}

/// Why a rule's condition could not be evaluated; the rule then fails closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum EvalError {
    /// The condition reads an optional attribute the request did not send, without a `has` guard.
    MissingAttribute {
        /// Context schema slot.
        slot: u32,
    },
    /// A value did not have the type the rule was checked against.
    TypeMismatch {
        /// Context schema slot.
        slot: u32,
    },
    /// Arithmetic overflowed (e.g. a timestamp minus a duration).
    Overflow,
}

/// A rule that matched or failed closed during one evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Fired {
    /// Index into the rule set ([`RuleSet::rule`]).
    pub rule: u32,
    /// `Some` when the condition failed to evaluate and the rule failed closed.
    pub error: Option<EvalError>,
    /// Offset of its target tracks in [`Verdict::target_words`] (one [`TrackSet`] worth of words).
    pub targets: u32,
    /// The boost it adds (boost rules only; 0 when failed closed).
    pub boost: f32,
}
