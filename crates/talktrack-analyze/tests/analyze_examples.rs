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
    // Its contact-policy rules read the contact history, which the analysis
    // leaves free: nothing about the whole rule set is claimed, each item says why.
    assert!(!r.findings.is_empty());
    for f in &r.findings {
        assert_eq!(f.kind, Kind::Undecided, "{f:?}");
        assert!(
            f.reasons.iter().any(|w| w.contains("`contacts(..)`")),
            "{f:?}"
        );
    }
}

#[test]
fn telecom_findings_without_its_contact_policy() {
    // The same bundle with `rules/contact-policy.rules` left out of the manifest.
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/telecom-upsell");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("telecom");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    for f in [
        "policy.onnx",
        "cases.toml",
        "rules/compliance.rules",
        "rules/business.rules",
    ] {
        std::fs::copy(format!("{src}/{f}"), dir.join(f)).unwrap();
    }
    let manifest = std::fs::read_to_string(format!("{src}/bundle.toml")).unwrap();
    let manifest = manifest.replacen(", \"rules/contact-policy.rules\"", "", 1);
    std::fs::write(dir.join("bundle.toml"), manifest).unwrap();
    let b = Bundle::load(&dir).unwrap();
    let r = analyze_bundle(Arc::new(b), &Options::default());
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
    // Ages are declared 0 to 130: no request masks every track, the fallback
    // included, any more (a negative age used to).
    assert!(r
        .findings
        .iter()
        .all(|f| f.kind != Kind::AllMaskedNoChoice && f.kind != Kind::Undecided));
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
