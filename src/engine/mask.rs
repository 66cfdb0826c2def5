//! The mask: which tracks may be used this turn, given the rules' verdict and the
//! bundle's fallback.
//!
//! This is the one place that turns a verdict into the allowed set. The runtime's
//! `decide` and the trainer's simulator both call [`mask`], so a policy is trained
//! under exactly the permissions it is served under.

use crate::rules::{RuleSet, Verdict};
use crate::trackset::TrackSet;
use crate::turn_view::TurnView;

/// How the allowed set came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskOutcome {
    /// The rules allow at least one track; `allowed` holds them.
    Allowed,
    /// The rules allow none; the fallback is the only allowed track.
    Fallback,
    /// The rules allow none and a forbid rule masks the fallback too: nothing is allowed.
    Nothing,
}

/// Evaluates `rules` for `view` into `verdict` and writes the allowed tracks into `allowed`.
///
/// The fallback ranks like any track the rules allow; when the rules allow none, it
/// is allowed anyway unless a forbid rule masks it (`only` does not apply to it).
pub fn mask(
    rules: &RuleSet,
    view: &TurnView<'_>,
    fallback: usize,
    verdict: &mut Verdict,
    allowed: &mut TrackSet,
) -> MaskOutcome {
    rules.evaluate(view, verdict);
    verdict.allowed_into(allowed);
    if !allowed.is_empty() {
        MaskOutcome::Allowed
    } else if verdict.forbidden.contains(fallback) {
        MaskOutcome::Nothing
    } else {
        allowed.insert(fallback);
        MaskOutcome::Fallback
    }
}
