//! What a rules author sees for realistic mistakes: rendered diagnostics
//! (file:line:column, source line, caret, hint), snapshotted.

#[path = "support/rules_env.rs"]
mod support;

use std::path::PathBuf;

use support::Fixture;
use talktrack::tooling::{compile, RuleSource};
use talktrack::{render, Severity};

/// Compiles one file and renders every problem (errors and warnings).
fn diagnose(text: &str) -> String {
    let fx = Fixture::new();
    let problems = match fx.compile(text) {
        Ok((_, w)) => w,
        Err(p) => p,
    };
    assert!(!problems.is_empty(), "expected a problem for:\n{text}");
    render(&problems)
}

#[test]
fn misspelt_attribute() {
    insta::assert_snapshot!(diagnose(
        "rule minors\n  because \"no credit under 18\"\n  when customer.agee < 18\n  forbid tracks tagged credit\n"
    ));
}

#[test]
fn attribute_without_customer_prefix() {
    insta::assert_snapshot!(diagnose(
        "rule minors\n  because \"no credit under 18\"\n  when age < 18\n  forbid tracks tagged credit\n"
    ));
}

#[test]
fn comparing_a_number_with_a_string() {
    insta::assert_snapshot!(diagnose(
        "rule minors\n  because \"x\"\n  when customer.age == \"18\"\n  forbid tracks tagged credit\n"
    ));
}

#[test]
fn ordering_an_enum() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n  when customer.segment < 3\n  forbid tracks tagged credit\n"
    ));
}

#[test]
fn unknown_enum_variant() {
    insta::assert_snapshot!(diagnose(
        "rule spring-campaign\n  because \"campaign Q2\"\n  when customer.segment == young_familly\n  boost tracks family_plan, family_bundle by 0.5\n"
    ));
}

#[test]
fn unknown_track_tag_and_reply() {
    insta::assert_snapshot!(diagnose(
        "rule a\n  because \"x\"\n  when last_reply in [complain, angry]\n  forbid tracks tagged upsel\n\nrule b\n  because \"x\"\n  forbid track famly_plan\n"
    ));
}

#[test]
fn unknown_track_attribute() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n  forbid tracks where track.minage > customer.age\n"
    ));
}

#[test]
fn misspelt_effect_keyword() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n  when customer.age < 18\n  forbd tracks tagged credit\n"
    ));
}

#[test]
fn missing_effect() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n  when customer.age < 18\n\nrule s\n  because \"y\"\n  forbid track loan\n"
    ));
}

#[test]
fn two_effects() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n  forbid track loan\n  boost track greeting by 1\n"
    ));
}

#[test]
fn incomplete_condition() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n  when customer.age <\n  forbid track loan\n"
    ));
}

#[test]
fn optional_attribute_without_has_guard() {
    insta::assert_snapshot!(diagnose(
        "rule cooling-off\n  because \"14-day cooling-off\"\n  when now - customer.last_purchase < 14d\n  forbid tracks tagged upsell\n"
    ));
}

/// Whether a rule can ever fire is the static analysis' question
/// (`analyze::never-fires`, tested in `talktrack-analyze`): loading reports only
/// what is wrong in the text itself, here the comparison of a value with itself.
#[test]
fn contradictory_conditions_are_left_to_the_analysis() {
    insta::assert_snapshot!(diagnose(
        "rule a\n  because \"x\"\n  when customer.age < 18 and customer.age > 65\n  forbid track loan\n\nrule b\n  because \"x\"\n  when turns_left < 0\n  forbid track loan\n\nrule c\n  because \"x\"\n  when turn >= max_turns\n  forbid track loan\n\nrule d\n  because \"x\"\n  when customer.age < customer.age\n  forbid track loan\n\nrule e\n  because \"x\"\n  when max_turns * 2 < 3\n  forbid track loan\n\nrule f\n  because \"x\"\n  when turn < 0\n  forbid track loan\n\nrule g\n  because \"x\"\n  when turns_left > max_turns\n  forbid track loan\n"
    ));
}

#[test]
fn hard_stop_at_max_turns_is_reachable() {
    // A host may call past the last planned turn; these rules end the conversation then.
    let fx = Fixture::new();
    for text in [
        "rule stop\n  because \"x\"\n  when turn >= max_turns\n  forbid all tracks\n",
        "rule stop\n  because \"x\"\n  when turns_left == 0\n  only tracks tagged closing\n",
        "rule stop\n  because \"x\"\n  when turn > 1000 and turns_left <= 0\n  forbid all tracks\n",
    ] {
        let (_, warnings) = fx.compile(text).unwrap();
        assert!(warnings.is_empty(), "{}", render(&warnings));
    }
}

#[test]
fn missing_because_and_empty_only() {
    insta::assert_snapshot!(diagnose(
        "rule closing\n  when turns_left <= 1\n  only tracks where track.min_age > 200\n"
    ));
}

#[test]
fn timestamp_compared_with_duration() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n  when has customer.last_purchase and customer.last_purchase < 14d\n  forbid track loan\n"
    ));
}

#[test]
fn duplicate_rule_ids_across_files_and_problems_from_all_files() {
    let fx = Fixture::new();
    let sources = vec![
        RuleSource {
            path: PathBuf::from("credit.rules"),
            text: "rule no-credit\n  because \"x\"\n  when customer.age < 18\n  forbid tracks tagged credit\n".into(),
        },
        RuleSource {
            path: PathBuf::from("campaign.rules"),
            text: "rule no-credit\n  because \"y\"\n  forbid track loan\n\nrule broken\n  because \"z\"\n  when customer.nope\n  forbid track loan\n".into(),
        },
        RuleSource {
            path: PathBuf::from("syntax.rules"),
            text: "rule\n".into(),
        },
    ];
    let problems = compile(&sources, &fx.env()).unwrap_err();
    assert!(problems.iter().all(|p| p.severity == Severity::Error));
    assert_eq!(problems.len(), 3);
    insta::assert_snapshot!(render(&problems));
}

#[test]
fn too_deep_and_too_large() {
    let deep = format!(
        "rule r\n  when {}customer.vip{}\n  forbid track loan\n",
        "(".repeat(70),
        ")".repeat(70)
    );
    insta::assert_snapshot!(diagnose(&deep));
}

#[test]
fn string_value_without_quotes() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n  when customer.region == north\n  forbid track loan\n"
    ));
}

#[test]
fn optional_track_attribute_without_has_guard() {
    // `price` is optional: greeting, loan, fee_disclosure, closing_thanks and
    // handover do not set it.
    insta::assert_snapshot!(diagnose(
        "rule pricey\n  because \"nothing over 30 today\"\n  forbid tracks where track.price > 30.0\n\nrule cheap-credit\n  because \"x\"\n  when customer.age < 25\n  boost tracks tagged credit where track.price < 5.0 by 1\n"
    ));
}

#[test]
fn guarded_optional_track_attribute_is_not_warned() {
    let fx = Fixture::new();
    for text in [
        "rule r\n  because \"x\"\n  forbid tracks where has track.price and track.price > 30.0\n",
        "rule r\n  because \"x\"\n  forbid tracks where not has track.price or track.price > 30.0\n",
        // Every upsell track sets `price`.
        "rule r\n  because \"x\"\n  forbid tracks tagged upsell where track.price > 30.0\n",
    ] {
        let (_, warnings) = fx.compile(text).unwrap();
        assert!(warnings.is_empty(), "{}", render(&warnings));
    }
}

#[test]
fn byte_order_mark_at_the_start_is_accepted() {
    let fx = Fixture::new();
    let text = "\u{feff}rule minors\n  because \"no credit under 18\"\n  when customer.age < 18\n  forbid tracks tagged credit\n";
    let (rules, warnings) = fx.compile(text).unwrap();
    assert!(warnings.is_empty(), "{}", render(&warnings));
    assert_eq!(rules.rule(0).line, 1);
    let formatted = talktrack::tooling::format_rules(text, std::path::Path::new("x")).unwrap();
    assert_eq!(formatted, text.trim_start_matches('\u{feff}'));
}

#[test]
fn byte_order_mark_after_the_start() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n\u{feff}  forbid track loan\n"
    ));
}

#[test]
fn numbers_too_large() {
    insta::assert_snapshot!(diagnose(
        "rule a\n  because \"x\"\n  when now - customer.last_purchase < 99999999999999999999d\n  forbid track loan\n\nrule b\n  because \"x\"\n  when customer.tenure > 20000000000w\n  forbid track loan\n\nrule c\n  because \"x\"\n  when customer.age > 99999999999999999999\n  forbid track loan\n"
    ));
}

#[test]
fn division_by_zero() {
    insta::assert_snapshot!(diagnose(
        "rule r\n  because \"x\"\n  when customer.age / 0 > 3\n  forbid track loan\n"
    ));
}

#[test]
fn echoed_input_is_clipped() {
    // Four 200 KB names: the file stays within the 1 MiB limit.
    let word = "x".repeat(200_000);
    let long = format!(
        "rule r\n  because \"x\"\n  when customer.{word} > 3 and {word} and customer.segment == {word}\n  forbid tracks tagged {word}\n"
    );
    let fx = Fixture::new();
    let problems = fx.compile(&long).unwrap_err();
    assert_eq!(
        problems.len(),
        4,
        "{:?}",
        problems.iter().map(|p| &p.code).collect::<Vec<_>>()
    );
    for p in &problems {
        assert!(p.message.len() < 120, "{}", p.message);
        assert!(p.message.contains("xxx…`"), "{}", p.message);
        assert!(
            p.help.as_ref().is_none_or(|h| h.len() < 300),
            "{:?}",
            p.help
        );
    }
    // A syntax error echoes a short piece of what it found.
    let e = fx
        .compile(&format!(
            "rule r\n  because \"x\"\n  when customer.age <\n  {word}\n"
        ))
        .unwrap_err();
    assert!(e[0].message.len() < 200, "{}", e[0].message);
    // Rendered: the message names the first 40 characters.
    insta::assert_snapshot!(diagnose(&format!(
        "rule r\n  because \"x\"\n  forbid track credit_card_offer_for_customers_who_have_been_with_us_for_years\n"
    )));
}

#[test]
fn a_megabyte_long_line_makes_a_short_diagnostic() {
    // One unknown identifier of a million characters: the message names its
    // first 40 and the source line is not echoed.
    let word = "x".repeat(1_000_000);
    let out = diagnose(&format!(
        "rule r\n  because \"x\"\n  when {word} < 3\n  forbid track loan\n"
    ));
    assert!(out.len() < 1000, "{} bytes", out.len());
    insta::assert_snapshot!(out);
}
