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

/// Resolves `req` against `t` exactly as a decision does (the same errors for
/// the same request) and masks it: the tracks allowed, and how.
pub fn mask_request(
    t: &BundleTemplate,
    req: &Request,
) -> Result<(TrackSet, MaskOutcome), DecideError> {
    let n = t.catalog().len();
    let mut values = Resolved::new();
    let mut used = vec![0u16; n];
    let mut contacts = Vec::new();
    let turn = resolve(t, req, &mut values, &mut used, &mut contacts)?;
    let view = turn.view(t, req, &values, &used, &contacts);
    let mut verdict = Verdict::new(n);
    let mut allowed = TrackSet::empty(n);
    let outcome = mask(t.rules(), &view, t.fallback(), &mut verdict, &mut allowed);
    Ok((allowed, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Bundle;
    use crate::engine::decide;
    use std::sync::Arc;

    #[test]
    fn a_template_masks_like_the_decision_of_its_bundle() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/telecom-upsell");
        let b = Arc::new(Bundle::load(dir).unwrap());
        let t = BundleTemplate::load(dir).unwrap();
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/requests/minor.json"
        ))
        .unwrap();
        let req = Request::from_json(&text).unwrap();
        let d = decide(&b, &req).unwrap();
        let (allowed, outcome) = mask_request(&t, &req).unwrap();
        assert_eq!(outcome, MaskOutcome::Allowed);
        let n = b.catalog().len();
        let from_decision: Vec<usize> = (0..n).filter(|&i| d.is_allowed(i)).collect();
        assert_eq!(allowed.iter().collect::<Vec<_>>(), from_decision);
        assert!(
            from_decision.len() < n,
            "the minor's request masks something"
        );
        // A request the bundle refuses is refused the same way.
        let mut bad = req.clone();
        bad.history.replies.push("shrug".into());
        assert_eq!(
            mask_request(&t, &bad).unwrap_err().to_string(),
            decide(&b, &bad).unwrap_err().to_string()
        );
    }
}
