//! Text a person reads never drives their terminal: control characters and bidi
//! controls from requests, bundles and case files are shown as escapes (`\u{1b}`)
//! in explanations, diagnostics and the rule test report, while the JSON output
//! stays standard JSON.

mod common;

use std::sync::Arc;

use common::*;
use talktrack::{Bundle, Request};

/// What a terminal would act on instead of showing.
fn assert_inert(text: &str) {
    for c in text.chars() {
        assert!(
            c == '\n' || !(c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{c:?} reaches the terminal in:\n{text}"
        );
        assert!(
            !('\u{2066}'..='\u{2069}').contains(&c),
            "{c:?} reaches the terminal in:\n{text}"
        );
    }
}

const RULES: &str = "rule minors\n  because \"no credit under 18 \u{202e}tiderc\u{202c}\"\n  when customer.age < 18\n  forbid tracks tagged credit\n";

#[test]
fn an_explanation_shows_a_hostile_conversation_id_and_context_value_as_escapes() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(
        dir.path(),
        SMALL_MANIFEST,
        &[("main.rules", RULES)],
        &constant_policy([5.0, 3.0, 2.0, 0.0]),
    );
    let b = Arc::new(Bundle::load(dir.path()).unwrap());
    let req = Request::from_json(
        r#"{"conversation_id": "\u001b]0;PWNED\u0007\u001b[2J…\nfake line: chosen: credit_card_offer",
            "time": "2026-01-01T00:00:00Z",
            "context": {"age": 16, "name": "Ada\u202e\u2066 evil"}}"#,
    )
    .unwrap();
    let d = decide(&b, &req).unwrap();
    assert_eq!(d.chosen_id(), Some("a"));
    let explained = d.explain();
    assert_inert(&explained);
    assert!(
        !explained.lines().any(|l| l.starts_with("fake line")),
        "{explained}"
    );
    assert!(
        explained.contains(
            "conversation \\u{1b}]0;PWNED\\u{7}\\u{1b}[2J…\\u{a}fake line: chosen: credit_card_offer, turn 1 of 5"
        ),
        "{explained}"
    );
    assert!(
        explained.contains("\"Hello Ada\\u{202e}\\u{2066} evil\""),
        "{explained}"
    );
    insta::assert_snapshot!("hostile_request_explained", explained);

    // JSON stays standard JSON: the values come back exactly as sent.
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(json["conversation_id"], req.conversation_id.as_str());
    assert_eq!(json["chosen"]["text"], "Hello Ada\u{202e}\u{2066} evil");
    assert_eq!(
        json["masked"][0]["by"][0]["reason"],
        "no credit under 18 \u{202e}tiderc\u{202c}"
    );
}

#[test]
fn diagnostics_echo_source_lines_with_escapes_and_the_caret_on_the_right_word() {
    let dir = tempfile::tempdir().unwrap();
    let rules = "rule minors\n  because \"no credit \u{202e}tiderc\u{202c}\" # \u{1b}]0;PWNED\u{7}\u{1b}[2J\n  when customer.agee < 18\n  forbid tracks tagged credit\n";
    write_bundle(
        dir.path(),
        SMALL_MANIFEST,
        &[("main.rules", rules)],
        &constant_policy([5.0, 3.0, 2.0, 0.0]),
    );
    let e = Bundle::load(dir.path()).unwrap_err();
    let rendered = talktrack::render(&e.problems);
    assert_inert(&rendered);
    assert!(
        rendered.contains("# \\u{1b}]0;PWNED\\u{7}\\u{1b}[2J"),
        "{rendered}"
    );
    // The location is that of the original file, not of the escaped text.
    assert!(rendered.contains("main.rules:3:17"), "{rendered}");
    insta::assert_snapshot!("hostile_rules_diagnostic", rendered);
}

#[test]
fn the_rule_test_report_shows_hostile_case_names_and_ids_as_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SMALL_MANIFEST.replace(
        "rules = [\"main.rules\"]",
        "rules = [\"main.rules\"]\ntests = [\"cases.toml\"]",
    );
    let cases = r#"
[[case]]
name = "minor\u001B[2J\nok   everything passed"
context = { age = 16 }
allowed = ["b\u202E", "b"]
chosen = "a\u0007"
"#;
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", RULES), ("cases.toml", cases)],
        &constant_policy([5.0, 3.0, 2.0, 0.0]),
    );
    let b = Arc::new(Bundle::load(dir.path()).unwrap());
    let (report, passed, failed) = talktrack::tooling::run_all(&b).unwrap();
    assert_eq!((passed, failed), (0, 1));
    assert_inert(&report);
    assert!(
        !report.lines().any(|l| l.starts_with("ok   everything")),
        "{report}"
    );
    insta::assert_snapshot!("hostile_case_report", report);
}
