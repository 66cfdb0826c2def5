//! The example bundles in `policies/` load, pass their own rule test cases, carry
//! exactly the rule sets kept in `rules/`, and decide the example requests.

use std::path::Path;
use std::sync::Arc;

use talktrack::Bundle;
use talktrack::{DecideError, Decision, Engine, Request};

fn load(dir: &str) -> Arc<Bundle> {
    Arc::new(
        Bundle::load(dir).unwrap_or_else(|e| panic!("{dir}: {}", talktrack::render(&e.problems))),
    )
}

#[test]
fn example_bundles_load_without_warnings_and_pass_their_cases() {
    for dir in [
        "policies/telecom-upsell",
        "policies/persuasion",
        "policies/persuasion-maskable-ppo",
    ] {
        let b = load(dir);
        assert!(
            b.warnings().is_empty(),
            "{dir}: {}",
            talktrack::render(b.warnings())
        );
        let (report, passed, failed) = talktrack::tooling::run_all(&b).unwrap();
        assert_eq!(failed, 0, "{report}");
        assert!(passed >= 3, "{report}");
    }
}

#[test]
fn bundled_rule_files_are_the_sources_in_rules() {
    for (bundle, source) in [
        ("policies/telecom-upsell", "rules/telecom"),
        ("policies/persuasion", "rules/persuasion"),
        ("policies/persuasion-maskable-ppo", "rules/persuasion"),
    ] {
        let b = load(bundle);
        for rel in &b.manifest().rules {
            if rel.starts_with("rules/generated-") {
                continue; // written by talktrack-train, no source in rules/
            }
            let name = Path::new(rel).file_name().unwrap();
            let shipped = std::fs::read_to_string(Path::new(bundle).join(rel)).unwrap();
            let src = std::fs::read_to_string(Path::new(source).join(name)).unwrap();
            assert_eq!(
                shipped, src,
                "{bundle}/{rel} differs from {source}: run `cargo run --example build_bundles`"
            );
        }
    }
}

#[test]
fn example_requests_decide_and_explain() {
    let b = load("policies/telecom-upsell");
    let req = Request::from_json(&std::fs::read_to_string("examples/requests/minor.json").unwrap())
        .unwrap();
    let d = decide(&b, &req).unwrap();
    for t in ["device_financing", "credit_card_offer"] {
        let i = b.catalog().index(t).unwrap();
        assert!(!d.is_allowed(i), "{t} must be masked for a 16-year-old");
    }
    insta::assert_snapshot!("telecom_minor", d.explain());

    let req =
        Request::from_json(&std::fs::read_to_string("examples/requests/complaint.json").unwrap())
            .unwrap();
    let d = decide(&b, &req).unwrap();
    let chosen = d.chosen_id().unwrap();
    let track = b.catalog().track(d.chosen().unwrap()).unwrap();
    assert!(
        !track
            .tags
            .iter()
            .any(|t| t == "upsell" || t == "cross_sell"),
        "chose {chosen}"
    );
    if chosen == "greet" {
        // The complaint request carries no `first_name`: the template's fallback.
        assert_eq!(
            d.text(),
            Some("Hello there, thanks for calling. How can I help you today?")
        );
    }
    insta::assert_snapshot!("telecom_complaint", d.explain());
}

#[test]
fn contact_policies_mask_with_their_evidence() {
    let b = load("policies/telecom-upsell");
    let text = std::fs::read_to_string("examples/requests/returning.json").unwrap();
    let req = Request::from_json(&text).unwrap();
    let d = decide(&b, &req).unwrap();
    for t in [
        "device_financing",
        "credit_card_offer",
        "offer_5g_upgrade",
        "quote_plus_plan",
    ] {
        let i = b.catalog().index(t).unwrap();
        assert!(!d.is_allowed(i), "{t} must be masked by a contact policy");
    }
    let explained = d.explain();
    assert!(explained.contains("contacts(tagged credit, offered, within 30d) = 2, counted from 2026-10-27T10:00:00Z to 2026-11-26T10:00:00Z"), "{explained}");
    insta::assert_snapshot!("telecom_returning", explained);
    let json = serde_json::to_value(&d).unwrap();
    insta::assert_json_snapshot!("telecom_returning_evidence_json", json["contact_evidence"]);

    // A track the catalog no longer has is not an error: the rules that could
    // count it fail closed, and the decision says so.
    let mut retired = req.clone();
    retired.contacts[2].track = "offer_4g_upgrade".into();
    let d = decide(&b, &retired).unwrap();
    assert!(!d.is_allowed(b.catalog().index("offer_5g_upgrade").unwrap()));
    let explained = d.explain();
    assert!(
        explained.contains("upgrade-pause-after-refusal (rules/contact-policy.rules:12:1) — failed closed, forbids: `contacts[2]` is about a track the catalog no longer has"),
        "{explained}"
    );
}

#[test]
fn rule_files_are_canonically_formatted() {
    for dir in ["rules/telecom", "rules/persuasion"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            let formatted = talktrack::tooling::format_rules(&text, &p).unwrap();
            assert_eq!(
                formatted,
                text,
                "{} is not formatted: run `talktrack fmt`",
                p.display()
            );
        }
    }
}

/// Decides with an engine serving `b`.
fn decide(b: &Arc<Bundle>, req: &Request) -> Result<Decision, DecideError> {
    Engine::with_bundle(Arc::clone(b)).decide(req)
}
