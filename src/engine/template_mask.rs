//! The mask alone for one request, with a bundle template (no policy): the
//! request resolved and checked as `decide` does it, the rules evaluated, the
//! allowed set and how it came about. Tools use it to compare rule sets that
//! have no trained policy yet; serving always goes through `decide`.

use super::mask::{mask, MaskOutcome};
use super::request::{DecideError, Request};
use super::resolve::resolve;
use crate::bundle::BundleTemplate;
use crate::context::Resolved;
use crate::rules::Verdict;
use crate::trackset::TrackSet;
use crate::turn_view::ContactLog;

/// Resolves `req` against `t` exactly as a decision does (the same errors for
/// the same request) and masks it: the tracks allowed, and how.
pub fn mask_request(
    t: &BundleTemplate,
    req: &Request,
) -> Result<(TrackSet, MaskOutcome), DecideError> {
    let n = t.catalog().len();
    let mut values = Resolved::new();
    let mut used = vec![0u16; n];
    let mut contacts = ContactLog::new();
    let turn = resolve(t, req, &mut values, &mut used, &mut contacts)?;
    let view = turn.view(t, req, &values, &used, &contacts);
    let mut verdict = Verdict::new(n);
    let mut allowed = TrackSet::empty(n);
    let outcome = mask(t.rules(), &view, t.fallback(), &mut verdict, &mut allowed);
    Ok((allowed, outcome))
}
