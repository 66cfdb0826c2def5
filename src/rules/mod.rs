//! The compliance and business rules language: text → AST → typed → compiled →
//! evaluated, one stage per file:
//!
//! - [`parse`] (`parse.rs`, grammar in `grammar/rules.pest`): text → [`ast`];
//!   the limits in `limits.rs`, syntax errors put into words in
//!   `syntax_error.rs`;
//! - `check/`: names resolved against the context schema and the catalog, types
//!   checked, into the typed form (`typed.rs`); did-you-mean hints and short
//!   echoes of the input in `suggest.rs`;
//! - `lints.rs`: likely mistakes in rules that check, as warnings, a pass of
//!   its own;
//! - `compile.rs`: typed rules → the compiled [`RuleSet`] (`compiled.rs`: slots,
//!   variant indices, precomputed target sets, sorted indexes for track
//!   predicates);
//! - `eval.rs`: [`RuleSet::evaluate`] for one turn into a reusable [`Verdict`]
//!   (`verdict.rs`), with the three-valued logic of one condition in `truth.rs`
//!   and of one track predicate in `predicate.rs`;
//! - `probe.rs`: the instrumented evaluation behind rule coverage (off the hot
//!   path): what each rule and each condition atom came out as;
//! - `fmt.rs`: [`format_rules`], the canonical layout.
//!
//! # The language
//!
//! ```text
//! # comment to the end of the line
//! rule no-credit-to-minors                 # id: letters, digits, `_`, `-`; unique per bundle
//!   because "no credit offers under 18"    # the reason (a warning when missing)
//!   ref "CCA-2026-§12"                     # any `key "text"` metadata
//!   when customer.age < 18                 # optional; absent means always
//!   forbid tracks tagged credit            # exactly one effect
//! ```
//!
//! Effects: `forbid <targets>`, `only <targets>`, `boost <targets> by <n>`,
//! `penalize <targets> by <n>` (also `penalise`; a negative boost). Targets:
//! `track a`, `tracks a, b`, `tracks tagged t1, t2` (any of the tags),
//! `tracks where <track predicate>`, `tracks tagged t where <pred>`, `all tracks`.
//!
//! Values: `customer.<attr>` (or `context.<attr>`), `turn`, `turns_left`,
//! `max_turns`, `now`, `last_reply`, `count(<track>)`, `count(tagged <tag>)`,
//! `contacts(<track x | tagged t | product p> [, <outcome | [o1, o2]>], within
//! <duration>)` (past contacts of other conversations in the window `now −
//! duration ≤ time ≤ now`; `contacts`, `product` and `within` are keywords only
//! inside the call);
//! inside `tracks where` also `track.<attr>`, `track.id`, `track.product`.
//! Literals: ints, floats, `"strings"`, `true`/`false`, durations (`500ms 30s 15m
//! 36h 14d 2w`), lists `[a, "b", 3]`. Enum attributes, `last_reply` and `track.id`
//! compare with bare words or strings.
//!
//! Operators, loosest first: `or`; `and`; `not`; `== != < <= > >=`, `in [..]`,
//! `not in [..]`, `contains`; `+ -`; `* /`. Conditions also use `has <attr>`,
//! `used(<track>)`, `used(tagged <tag>)` and (in track predicates) `track tagged t`.
//!
//! # Semantics
//!
//! Deny-overrides and order-independent: forbidden tracks are the union of the
//! targets of all matched forbid rules; several matched `only` rules intersect;
//! boosts add up. A condition that cannot be evaluated fails closed (see
//! `truth.rs` for the three-valued logic): forbid forbids, only restricts, boost is
//! skipped, and the [`Fired`] entry carries the error. In a track predicate, a
//! track that does not set an optional track attribute the predicate reads cannot
//! be evaluated: a forbid masks it, an only leaves it out, and a boost is skipped
//! altogether. The checker warns about such reads unless `has track.<attr>` guards
//! them, naming the targeted tracks that lack the attribute. A `contacts(tagged
//! ..)` or `contacts(product ..)` count that meets, in its window and with a
//! counted outcome, a contact about a track the catalog no longer has is unknown
//! (its tags and product are): the rule fails closed.
//!
//! `turn` counts up from 0 and may go past `max_turns` (a host may keep a
//! conversation going; `turns_left` is then 0), so `when turn >= max_turns` is a
//! legitimate hard stop.
//!
//! # Limits
//!
//! Every stage walks a condition's tree recursively, so the parser bounds each
//! condition (`when ...`, `tracks where ...`) before any other stage sees it, and
//! reports the first limit exceeded with its file, line and column:
//!
//! - at most 64 levels of parentheses and `not` (`rules::too-deep`, checked on
//!   the text before parsing);
//! - at most 128 operators on any path from the condition down to a value; every
//!   operator of a chain `a + b + c` counts, since the tree is left-deep
//!   (`rules::too-deep`);
//! - at most 16,384 values and operators in all, each list item counted
//!   (`rules::condition-too-large`), and at most 4,096 items in one list
//!   (`rules::list-too-long`).
//!
//! Parsing, checking, compiling and formatting run on a stack of their own (16
//! MiB, see `on_own_stack`), whatever the stack of the calling thread; within
//! these limits evaluation, which runs on the caller's stack, needs well under
//! 200 KB even in an unoptimised build.

use std::path::{Path, PathBuf};

pub mod ast;
mod check;
mod compile;
mod compiled;
#[cfg(test)]
mod count_props;
mod eval;
mod fmt;
mod limits;
mod lints;
mod parse;
mod predicate;
mod probe;
mod suggest;
mod syntax_error;
mod truth;
pub(crate) mod typed;
mod verdict;

pub use check::MAX_RULES;
pub use compiled::RuleSet;
pub use fmt::{format_rules, print_rules};
pub use parse::parse;
pub(crate) use probe::{
    Seen, SEEN_FAILED_CLOSED, SEEN_FALSE, SEEN_FIRED, SEEN_NOT_FIRED, SEEN_TRUE,
};
/// The name closest to a misspelt one (did-you-mean), for the manifest's keys too.
pub(crate) use suggest::closest;
pub(crate) use truth::count_in as count_contacts;
pub use verdict::Verdict;

use crate::catalog::Catalog;
use crate::context::Schema;
use crate::problem::named_source;
use crate::problem::Problem;

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
    /// The contact outcome vocabulary (`contacts(tagged t, declined, within 7d)`).
    pub outcomes: &'s [String],
    /// Maximum agent turns.
    pub max_turns: u32,
}

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
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
        /// Context schema slot (`u32::MAX` when the mismatch is not tied to one attribute).
        slot: u32,
    },
    /// Arithmetic overflowed (e.g. a timestamp minus a duration).
    Overflow,
    /// A division by zero (integer or float).
    DivisionByZero,
    /// A track predicate read a track attribute the track does not set.
    MissingTrackAttribute {
        /// Track attribute slot (`u32::MAX`: the track's product).
        slot: u32,
    },
    /// `contacts(tagged ..)` or `contacts(product ..)` met, in its window, a past
    /// contact about a track the catalog no longer has: whether it counts is unknown.
    RetiredTrack {
        /// Its position in the request's `contacts`.
        contact: u32,
    },
}

/// A rule that matched or failed closed during one evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Fired {
    /// Index into the rule set ([`RuleSet::rule`]).
    pub rule: u32,
    /// `Some` when the condition failed to evaluate and the rule failed closed.
    pub error: Option<EvalError>,
    /// Offset of its target tracks in [`Verdict::target_words`] (one [`TrackSet`](crate::trackset::TrackSet) worth of words).
    pub targets: u32,
    /// The boost it adds (boost rules only; 0 when failed closed).
    pub boost: f32,
}

/// Parses, checks and compiles the rules files of one bundle.
///
/// `Ok` holds the rule set and the warnings; `Err` holds every problem (errors
/// and warnings) from all files, not just the first.
pub fn compile(
    sources: &[RuleSource],
    env: &RuleEnv,
) -> Result<(RuleSet, Vec<Problem>), Vec<Problem>> {
    on_own_stack(|| compile_here(sources, env))
}

/// Size of the stack the load-time stages run on: the limits keep the deepest
/// condition well inside it even in an unoptimised build, and evaluation (on the
/// caller's stack) needs a small fraction of it.
const STAGE_STACK: usize = 16 << 20;

/// Runs `f` on a stack of [`STAGE_STACK`] bytes, so that parsing, checking,
/// compiling and formatting do not depend on the stack of the calling thread
/// (hosts often load bundles on worker threads with 2 MB or less).
pub(crate) fn on_own_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::grow(STAGE_STACK, f)
}

fn compile_here(
    sources: &[RuleSource],
    env: &RuleEnv,
) -> Result<(RuleSet, Vec<Problem>), Vec<Problem>> {
    let mut checker = check::Checker::new(*env);
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for s in sources {
        let src = named_source(&s.path, &s.text);
        match parse::parse_with(&s.text, &s.path, &src) {
            Ok(file) => checked.extend(checker.file(&file, &s.path, &src)),
            Err(p) => problems.extend(p),
        }
    }
    problems.append(&mut checker.problems);
    if problems.iter().any(Problem::is_error) {
        return Err(problems);
    }
    let (set, warnings) = compile::build(checked, env);
    problems.extend(warnings);
    Ok((set, problems))
}

/// Compiles rules given as text (one file named `path`); a convenience for tests and benches.
pub fn compile_str(
    text: &str,
    path: &Path,
    env: &RuleEnv,
) -> Result<(RuleSet, Vec<Problem>), Vec<Problem>> {
    compile(
        &[RuleSource {
            path: path.to_owned(),
            text: text.to_owned(),
        }],
        env,
    )
}
