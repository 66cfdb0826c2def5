//! `contacts(..)` in rules: what parses and formats, what the checker refuses and
//! how, and how contacts in a window are counted — both ends of the window
//! included, retired tracks failing closed, the fast path agreeing with the tree
//! walk.

#[path = "support/rules_env.rs"]
mod support;

use std::path::Path;

use proptest::prelude::*;
use support::{Fixture, Turn};
use talktrack::tooling::ast::ExprKind;
use talktrack::tooling::{format_rules, parse, Catalog};

const DAY: i64 = 86_400_000;

fn diagnostics(fx: &Fixture, text: &str) -> String {
    match fx.compile(text) {
        Ok((_, w)) => panic!("compiled, warnings: {}", talktrack::render(&w)),
        Err(p) => talktrack::render(&p),
    }
}

#[test]
fn every_form_of_the_call_parses_and_formats_back_to_itself() {
    let text = r#"rule a
  because "x"
  when contacts(tagged credit, offered, within 30d) >= 2
  forbid tracks tagged credit

rule b
  because "x"
  when contacts(track loan, [declined, no_answer], within 7d) > 0 and contacts(product "home loan", within 12h) == 0
  forbid track loan

rule c
  because "x"
  forbid tracks where contacts(tagged upsell, "within", within 2w) + count(tagged upsell) >= 3 and track tagged upsell
"#;
    let f = parse(text, Path::new("t.rules")).unwrap();
    let formatted = format_rules(text, Path::new("t.rules")).unwrap();
    assert_eq!(formatted, text);
    assert_eq!(parse(&formatted, Path::new("t.rules")).unwrap(), f);
    let messy = "rule a because \"x\" when contacts ( tagged   credit ,offered,within 30d )>=2 forbid tracks tagged credit";
    let formatted = format_rules(messy, Path::new("t.rules")).unwrap();
    assert!(
        formatted.contains("when contacts(tagged credit, offered, within 30d) >= 2"),
        "{formatted}"
    );
}

#[test]
fn the_new_words_stay_free_outside_the_call() {
    // `contacts`, `within` and `product` are keywords only inside `contacts(..)`.
    let f = parse(
        "rule r when customer.contacts > 1 and customer.within in [within, product, contacts] and contacts == 2 forbid track contacts",
        Path::new("t.rules"),
    )
    .unwrap();
    let mut calls = 0;
    f.rules[0].when.as_ref().unwrap().walk(&mut |e| {
        if matches!(e.kind, ExprKind::Contacts(_)) {
            calls += 1;
        }
    });
    assert_eq!(calls, 0);
}

#[test]
fn contact_conditions_are_checked_when_the_rules_load() {
    let fx = Fixture::new();
    insta::assert_snapshot!(
        "contact_condition_errors",
        diagnostics(
            &fx,
            r#"rule outcome because "x" when contacts(tagged credit, offerd, within 30d) >= 2 forbid tracks tagged credit
rule product because "x" when contacts(product mortgage, within 30d) >= 2 forbid tracks tagged credit
rule tag because "x" when contacts(tagged credits, within 30d) >= 2 forbid tracks tagged credit
rule track because "x" when contacts(track lone, within 30d) >= 2 forbid tracks tagged credit
rule compared because "x" when contacts(track loan, within 30d) == "two" forbid tracks tagged credit
rule bare because "x" when contacts(track loan, within 30d) forbid tracks tagged credit
"#
        )
    );
    // Without `within`, the error names the missing window, spans the call and
    // shows the call with one; whether or not the call lists outcomes.
    let no_window = |text: &str| talktrack::render(&parse(text, Path::new("t.rules")).unwrap_err());
    insta::assert_snapshot!(
        "contact_call_without_a_window",
        no_window("rule r when contacts(tagged credit, offered) >= 2 forbid tracks tagged credit")
    );
    insta::assert_snapshot!(
        "contact_call_without_a_window_or_outcomes",
        no_window("rule r\n  when customer.contacts > 1 and contacts(product \"home loan\") >= 2\n  forbid tracks tagged credit")
    );
    // A call with its window keeps the usual syntax errors (here: no duration).
    let missing_duration =
        no_window("rule r when contacts(tagged credit, within) >= 2 forbid tracks tagged credit");
    assert!(
        missing_duration.contains("expected a duration"),
        "{missing_duration}"
    );
}

fn forbidden(fx: &Fixture, rules: &talktrack::tooling::RuleSet, t: &Turn) -> Vec<usize> {
    let fast = t.eval(fx, rules);
    let slow = t.eval_reference(fx, rules);
    assert_eq!(fast.forbidden, slow.forbidden);
    fast.forbidden.iter().collect()
}

#[test]
fn the_window_ends_now_and_includes_both_ends() {
    let fx = Fixture::new();
    let rules = fx.rules(
        "rule limit because \"x\" when contacts(tagged credit, offered, within 30d) >= 2 forbid tracks tagged credit",
    );
    let loan = fx.track("loan");
    let two = |first: i64, second: i64| {
        Turn::adult()
            .contact(&fx, first, Some("credit_card"), Some("offered"))
            .contact(&fx, second, Some("loan"), Some("offered"))
    };
    // Exactly 30 days ago counts; one millisecond more does not.
    assert!(forbidden(&fx, &rules, &two(DAY, 30 * DAY)).contains(&loan));
    assert!(!forbidden(&fx, &rules, &two(DAY, 30 * DAY + 1)).contains(&loan));
    // A contact at this very moment counts.
    assert!(forbidden(&fx, &rules, &two(0, 0)).contains(&loan));
    // Other outcomes and other tracks do not count.
    let t = Turn::adult()
        .contact(&fx, DAY, Some("loan"), Some("declined"))
        .contact(&fx, DAY, Some("loan"), None)
        .contact(&fx, DAY, Some("offer_5g"), Some("offered"))
        .contact(&fx, DAY, Some("loan"), Some("offered"));
    assert!(!forbidden(&fx, &rules, &t).contains(&loan));
}

#[test]
fn a_retired_track_fails_closed_only_where_it_could_count() {
    let fx = Fixture::new();
    let rules = fx.rules(concat!(
        "rule tagged because \"x\" when contacts(tagged credit, declined, within 7d) >= 1 forbid tracks tagged credit\n",
        "rule track because \"x\" when contacts(track offer_5g, declined, within 7d) >= 1 forbid track offer_5g\n",
    ));
    // A retired track declined yesterday: `tagged credit` cannot tell whether it
    // was a credit track, so it fails closed; `track offer_5g` knows it was not.
    let t = Turn::adult().contact(&fx, DAY, None, Some("declined"));
    let v = t.eval(&fx, &rules);
    assert!(v.forbidden.contains(fx.track("loan")));
    assert!(!v.forbidden.contains(fx.track("offer_5g")));
    assert_eq!(v.fired.len(), 1);
    assert!(
        format!("{:?}", v.fired[0].error).contains("RetiredTrack { contact: 0 }"),
        "{:?}",
        v.fired[0]
    );
    // Outside the window, or with an outcome the call does not count, it is no matter.
    for t in [
        Turn::adult().contact(&fx, 8 * DAY, None, Some("declined")),
        Turn::adult().contact(&fx, DAY, None, Some("accepted")),
    ] {
        let v = t.eval(&fx, &rules);
        assert!(v.fired.is_empty(), "{:?}", v.fired);
    }
}

#[test]
fn a_product_counts_the_contacts_of_its_tracks() {
    let mut fx = Fixture::new();
    let mut tracks = fx.catalog.tracks().to_vec();
    tracks[fx.track("loan")].product = Some("home loan".into());
    tracks[fx.track("credit_card")].product = Some("home loan".into());
    fx.catalog = Catalog::new(tracks, fx.catalog.attr_schema().attrs().to_vec()).unwrap();
    let rules = fx.rules(
        "rule p because \"x\" when contacts(product \"home loan\", within 1d) > 1 forbid tracks tagged credit",
    );
    let t = Turn::adult().contact(&fx, 1, Some("loan"), None).contact(
        &fx,
        2,
        Some("credit_card"),
        Some("accepted"),
    );
    assert!(forbidden(&fx, &rules, &t).contains(&fx.track("loan")));
    let t = Turn::adult().contact(&fx, 1, Some("loan"), None).contact(
        &fx,
        2,
        Some("offer_5g"),
        Some("accepted"),
    );
    assert!(forbidden(&fx, &rules, &t).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// At the window's edges: a contact exactly `dur` ago counts, one
    /// millisecond (the resolution of request times) earlier does not, and the
    /// fast path agrees with the tree walk whatever the contacts.
    #[test]
    fn window_edges_and_the_fast_path(
        dur in 0i64..(60 * DAY),
        ages in proptest::collection::vec((0i64..(90 * DAY), 0usize..12, 0usize..5, any::<bool>()), 0..40),
        k in 0i64..4,
    ) {
        let fx = Fixture::new();
        let rules = fx.rules(&format!(
            "rule w because \"x\" when contacts(tagged credit, [offered, declined], within {dur}ms) >= {k} forbid track offer_5g\n\
             rule v because \"x\" when contacts(track loan, within {dur}ms) < {k} boost track loan by 1\n"
        ));
        let at_edge = Turn::adult().contact(&fx, dur, Some("loan"), Some("offered"));
        let past_edge = Turn::adult().contact(&fx, dur + 1, Some("loan"), Some("offered"));
        let offer_5g = fx.track("offer_5g");
        if k == 1 {
            prop_assert!(at_edge.eval(&fx, &rules).forbidden.contains(offer_5g));
            prop_assert!(!past_edge.eval(&fx, &rules).forbidden.contains(offer_5g));
        }
        let outcomes = ["offered", "accepted", "declined", "no_answer"];
        let mut t = Turn::adult();
        let mut expected = 0;
        for (ago, track, outcome, retired) in &ages {
            let id = support::TRACKS[*track];
            let outcome = outcomes.get(*outcome).copied();
            let in_window = *ago <= dur;
            if in_window && matches!(outcome, Some("offered" | "declined")) && ["credit_card", "loan"].contains(&id) && !retired {
                expected += 1;
            }
            t = t.contact(&fx, *ago, (!retired).then_some(id), outcome);
        }
        let retired_counts = ages.iter().any(|(ago, _, o, r)| *r && *ago <= dur && matches!(o, 0 | 2));
        let fast = t.eval(&fx, &rules);
        let slow = t.eval_reference(&fx, &rules);
        prop_assert_eq!(&fast.forbidden, &slow.forbidden);
        prop_assert_eq!(&fast.boosts, &slow.boosts);
        let masked = fast.forbidden.contains(offer_5g);
        prop_assert_eq!(masked, retired_counts || expected >= k);
    }
}
