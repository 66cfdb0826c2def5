//! The example bundles' findings, snapshot-tested: what the README explains.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use talktrack::Bundle;
use talktrack_analyze::{analyze_bundle, Kind, Options};

fn report(dir: &str) -> talktrack_analyze::Report {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/");
    let b = Bundle::load(format!("{root}{dir}")).unwrap();
    analyze_bundle(Arc::new(b), &Options::default())
}

#[test]
fn telecom_findings() {
    let r = report("telecom-upsell");
    insta::assert_json_snapshot!(r);
    // `summarize_and_close` is masked only where the fallback is too (both have
    // min_age 0), so the fallback is never needed and never allowed.
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind == Kind::NeverAllowed && f.track.as_deref() == Some("handover_to_human")));
    // The flagship regulatory rule is implied by the product-level one: a note.
    let red = r
        .findings
        .iter()
        .find(|f| f.kind == Kind::Redundant)
        .unwrap();
    assert_eq!(red.rule.as_ref().unwrap().id, "no-credit-to-minors");
    assert_eq!(red.implied_by, vec!["product-minimum-age".to_owned()]);
    // A negative age masks every track, the fallback included.
    let nc = r
        .findings
        .iter()
        .find(|f| f.kind == Kind::AllMaskedNoChoice)
        .unwrap();
    assert!(nc
        .witnesses
        .iter()
        .all(|w| w["context"]["age"].as_i64().unwrap() < 0));
}

#[test]
fn persuasion_findings() {
    insta::assert_json_snapshot!(report("persuasion"));
}

#[test]
fn deterministic() {
    let a = serde_json::to_string(&report("telecom-upsell")).unwrap();
    let b = serde_json::to_string(&report("telecom-upsell")).unwrap();
    assert_eq!(a, b);
}
