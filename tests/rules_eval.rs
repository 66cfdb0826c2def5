//! The rules' run-time contracts: what each feature of the language does to one
//! turn, deny-overrides, fail-closed, and the track-predicate index agreeing with
//! a plain per-track evaluation.

#[path = "support/rules_env.rs"]
mod support;

use support::{names, Fixture, Turn};
use talktrack::tooling::TrackSet;
use talktrack::tooling::{EffectKind, EvalError, Verdict};

const CREDIT: &str = include_str!("fixtures/rules/consumer_credit.rules");

fn forbidden(fx: &Fixture, v: &Verdict) -> Vec<&'static str> {
    names(fx, v.forbidden.iter())
}

fn fired_ids(rules: &talktrack::tooling::RuleSet, v: &Verdict) -> Vec<String> {
    v.fired
        .iter()
        .map(|f| rules.rule(f.rule as usize).id.clone())
        .collect()
}

#[test]
fn the_consumer_credit_example_compiles_without_problems() {
    let fx = Fixture::new();
    let (rules, warnings) = fx.compile(CREDIT).unwrap();
    assert!(warnings.is_empty(), "{}", talktrack::render(&warnings));
    assert_eq!(rules.len(), 8);
    assert_eq!(rules.n_tracks(), 12);
    let r = rules.rule(0);
    assert_eq!(r.id, "no-credit-to-minors");
    assert_eq!(r.meta[0], ("ref".into(), "CCA-2026-§12".into()));
    assert_eq!((r.line, r.column), (2, 1));
    assert_eq!(rules.rule(7).effect, EffectKind::Boost);
}

#[test]
fn minors_get_no_credit_and_adults_do() {
    let fx = Fixture::new();
    let rules = fx.rules(CREDIT);
    let adult = Turn::adult().used(&fx, "fee_disclosure", 1);
    let v = adult.eval(&fx, &rules);
    assert!(!v.forbidden.contains(fx.track("credit_card")));
    let minor = Turn::adult().used(&fx, "fee_disclosure", 1).with("age", 16);
    let v = minor.eval(&fx, &rules);
    assert_eq!(
        forbidden(&fx, &v),
        vec!["credit_card", "loan", "family_plan"],
        "credit by tag, family_plan by its min_age; offer_5g (16) stays"
    );
    assert_eq!(
        fired_ids(&rules, &v),
        vec!["no-credit-to-minors", "age-limit-per-product"]
    );
}

#[test]
fn history_conditions_read_used_counts() {
    let fx = Fixture::new();
    let rules = fx.rules(CREDIT);
    let v = Turn::adult().eval(&fx, &rules);
    assert!(
        v.forbidden.contains(fx.track("price_quote")),
        "price before disclosure"
    );
    let v = Turn::adult()
        .used(&fx, "fee_disclosure", 1)
        .eval(&fx, &rules);
    assert!(!v.forbidden.contains(fx.track("price_quote")));
    let v = Turn::adult().used(&fx, "offer_5g", 2).eval(&fx, &rules);
    assert_eq!(v.boosts[fx.track("offer_5g")], -1.5);
    let v = Turn::adult().used(&fx, "offer_5g", 1).eval(&fx, &rules);
    assert_eq!(v.boosts[fx.track("offer_5g")], 0.0);
    let r = fx.rules(
        "rule r because \"x\" when used(tagged upsell) and count(tagged upsell) == 3 forbid track greeting",
    );
    let v = Turn::adult()
        .used(&fx, "upsell_tv", 1)
        .used(&fx, "offer_5g", 2)
        .eval(&fx, &r);
    assert!(v.forbidden.contains(0));
    let v = Turn::adult().used(&fx, "upsell_tv", 1).eval(&fx, &r);
    assert!(!v.forbidden.contains(0));
}

#[test]
fn last_reply_before_the_first_reply_matches_nothing() {
    let fx = Fixture::new();
    let rules = fx.rules(
        "rule a because \"x\" when last_reply in [complaint, angry] forbid track upsell_tv
         rule b because \"x\" when last_reply == \"neutral\" forbid track offer_5g
         rule c because \"x\" when not has last_reply forbid track cross_fiber
         rule d because \"x\" when last_reply != complaint forbid track loan",
    );
    let mut t = Turn::adult();
    let v = t.eval(&fx, &rules);
    assert_eq!(forbidden(&fx, &v), vec!["loan", "cross_fiber"]);
    assert!(v.fired.iter().all(|f| f.error.is_none()));
    t.last_reply = Some(1); // angry
    let v = t.eval(&fx, &rules);
    assert_eq!(forbidden(&fx, &v), vec!["loan", "upsell_tv"]);
    t.last_reply = Some(3); // neutral
    let v = t.eval(&fx, &rules);
    assert_eq!(forbidden(&fx, &v), vec!["loan", "offer_5g"]);
}

#[test]
fn deny_overrides_whatever_the_order() {
    let fx = Fixture::new();
    let a = "rule allow-upsell because \"x\" boost tracks tagged upsell by 2\n";
    let b =
        "rule no-upsell because \"x\" when customer.open_complaint forbid tracks tagged upsell\n";
    let c = "rule closing because \"x\" when turn >= 0 only tracks upsell_tv, closing_thanks\n";
    let d = "rule closing2 because \"x\" only tracks tagged closing, upsell\n";
    let t = Turn::adult().with("open_complaint", true);
    let mut results = Vec::new();
    for order in [[a, b, c, d], [d, c, b, a], [b, d, a, c]] {
        let rules = fx.rules(&order.concat());
        let v = t.eval(&fx, &rules);
        let mut allowed = TrackSet::empty(12);
        v.allowed_into(&mut allowed);
        results.push((
            forbidden(&fx, &v),
            names(&fx, v.restricted.iter()),
            names(&fx, allowed.iter()),
            v.boosts.clone(),
        ));
    }
    assert_eq!(
        results[0].2,
        vec!["closing_thanks"],
        "upsell_tv forbidden, only-sets intersect"
    );
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
}

#[test]
fn identical_rules_each_fire_and_boosts_still_add_up() {
    let fx = Fixture::new();
    let rules = fx.rules(
        "rule a because \"x\" when customer.age >= 18 forbid tracks tagged family
         rule b because \"y\" when customer.age >= 18 forbid tracks tagged family
         rule c because \"x\" when customer.age >= 18 boost track loan by 0.5
         rule d because \"x\" when customer.age >= 18 boost track loan by 0.5
         rule e because \"x\" when customer.age >= 18 only tracks loan, family_plan
         rule f because \"x\" when customer.age >= 18 only tracks loan, family_plan",
    );
    // (Reusing one scratch across turns is covered by `rules_fastpath`.)
    let v = Turn::adult().eval(&fx, &rules);
    assert_eq!(fired_ids(&rules, &v), ["a", "b", "c", "d", "e", "f"]);
    assert_eq!(v.boosts[fx.track("loan")], 1.0);
    let a: Vec<usize> = v.targets(&rules, &v.fired[0]).collect();
    let b: Vec<usize> = v.targets(&rules, &v.fired[1]).collect();
    assert_eq!(a, b);
    assert!(a.contains(&fx.track("family_plan")));
    assert!(v.any_only && v.restricted.contains(fx.track("loan")));
    let young = Turn::adult().with("age", 16).eval(&fx, &rules);
    assert!(young.fired.is_empty());
}

#[test]
fn boosts_add_up_and_penalties_subtract() {
    let fx = Fixture::new();
    let rules = fx.rules(
        "rule a because \"x\" boost tracks tagged family by 0.5
         rule b because \"x\" boost track family_plan by 0.25
         rule c because \"x\" penalise tracks family_plan, loan by 1",
    );
    let v = Turn::adult().eval(&fx, &rules);
    assert_eq!(v.boosts[fx.track("family_plan")], -0.25);
    assert_eq!(v.boosts[fx.track("family_bundle")], 0.5);
    assert_eq!(v.boosts[fx.track("loan")], -1.0);
    assert_eq!(v.fired.len(), 3);
    assert_eq!(v.fired[2].boost, -1.0);
    let t: Vec<usize> = v.targets(&rules, &v.fired[2]).collect();
    assert_eq!(t, vec![fx.track("loan"), fx.track("family_plan")]);
}

#[test]
fn a_missing_optional_attribute_fails_closed() {
    let fx = Fixture::new();
    let rules = fx.rules(
        "rule f because \"x\" when customer.budget < 10 forbid track upsell_tv
         rule o because \"x\" when customer.budget < 10 only track greeting
         rule b because \"x\" when customer.budget < 10 boost track loan by 3",
    );
    let v = Turn::adult().eval(&fx, &rules);
    assert_eq!(forbidden(&fx, &v), vec!["upsell_tv"]);
    assert!(v.any_only);
    assert_eq!(names(&fx, v.restricted.iter()), vec!["greeting"]);
    assert_eq!(
        v.boosts[fx.track("loan")],
        0.0,
        "a failed boost is not applied"
    );
    assert_eq!(v.fired.len(), 3);
    let budget = fx.schema.slot("budget").unwrap() as u32;
    for f in &v.fired {
        assert_eq!(f.error, Some(EvalError::MissingAttribute { slot: budget }));
        assert_eq!(f.boost, 0.0);
    }
    // With the attribute present and large, nothing fires.
    let v = Turn::adult().with("budget", 100.0).eval(&fx, &rules);
    assert!(v.fired.is_empty());
}

#[test]
fn has_guards_make_optional_reads_safe_in_either_order() {
    let fx = Fixture::new();
    for cond in [
        "has customer.budget and customer.budget < 10",
        "customer.budget < 10 and has customer.budget",
    ] {
        let rules = fx.rules(&format!(
            "rule r because \"x\" when {cond} forbid track loan"
        ));
        let v = Turn::adult().eval(&fx, &rules);
        assert!(v.fired.is_empty(), "{cond}: false and unknown is false");
        let v = Turn::adult().with("budget", 5.0).eval(&fx, &rules);
        assert_eq!(forbidden(&fx, &v), vec!["loan"]);
    }
    let rules = fx
        .rules("rule r because \"x\" when not has customer.vip or customer.vip forbid track loan");
    assert_eq!(Turn::adult().eval(&fx, &rules).fired[0].error, None);
    assert!(Turn::adult()
        .with("vip", false)
        .eval(&fx, &rules)
        .fired
        .is_empty());
}

#[test]
fn timestamps_and_durations() {
    let fx = Fixture::new();
    let rules = fx.rules(CREDIT);
    let now = Turn::adult().now_ms;
    let day = 86_400_000;
    let t = Turn::adult().with("last_purchase", talktrack::Value::Timestamp(now - 3 * day));
    let v = t.eval(&fx, &rules);
    assert!(v.forbidden.contains(fx.track("cross_fiber")));
    let t = Turn::adult().with("last_purchase", talktrack::Value::Timestamp(now - 20 * day));
    assert!(!t
        .eval(&fx, &rules)
        .forbidden
        .contains(fx.track("cross_fiber")));
    let r = fx.rules(
        "rule r because \"x\" when has customer.tenure and customer.tenure + 1d >= 2w forbid track loan",
    );
    let t = Turn::adult().with("tenure", "13d");
    assert!(t.eval(&fx, &r).forbidden.contains(fx.track("loan")));
    let t = Turn::adult().with("tenure", "12d");
    assert!(!t.eval(&fx, &r).forbidden.contains(fx.track("loan")));
}

#[test]
fn overflow_fails_closed() {
    let fx = Fixture::new();
    let r = fx.rules(
        "rule r because \"x\" when customer.age * 9223372036854775807 > 3 forbid track loan",
    );
    let v = Turn::adult().eval(&fx, &r);
    assert_eq!(v.fired[0].error, Some(EvalError::Overflow));
    assert!(v.forbidden.contains(fx.track("loan")));
}

#[test]
fn division_by_zero_fails_closed_and_says_so() {
    let fx = Fixture::new();
    for cond in [
        "customer.age / (customer.age - 40) > 3",
        "customer.budget / (customer.budget - 2.5) > 3",
    ] {
        let r = fx.rules(&format!(
            "rule r because \"x\" when {cond} forbid track loan"
        ));
        let t = Turn::adult().with("budget", 2.5);
        let v = t.eval(&fx, &r);
        assert_eq!(v.fired[0].error, Some(EvalError::DivisionByZero), "{cond}");
        assert!(v.forbidden.contains(fx.track("loan")));
        let v = t.eval_reference(&fx, &r);
        assert_eq!(v.fired[0].error, Some(EvalError::DivisionByZero), "{cond}");
    }
}

#[test]
fn enums_strings_sets_and_lists() {
    let fx = Fixture::new();
    let rules = fx.rules(CREDIT);
    let t = Turn::adult()
        .with("segment", "young_family")
        .with("region", "north");
    let v = t.eval(&fx, &rules);
    assert_eq!(v.boosts[fx.track("family_plan")], 0.5);
    assert_eq!(v.boosts[fx.track("family_bundle")], 0.5);
    let t = Turn::adult()
        .with("segment", "young_family")
        .with("region", "west");
    assert_eq!(t.eval(&fx, &rules).boosts[fx.track("family_plan")], 0.0);
    let r = fx.rules(
        "rule r because \"x\" when customer.products contains \"fiber\" or customer.segment not in [senior] forbid track cross_fiber",
    );
    assert!(!Turn::adult()
        .eval(&fx, &r)
        .forbidden
        .contains(fx.track("cross_fiber")));
    let t = Turn::adult().with("products", vec!["fiber".to_string()]);
    assert!(t.eval(&fx, &r).forbidden.contains(fx.track("cross_fiber")));
    let t = Turn::adult().with("segment", "student");
    assert!(t.eval(&fx, &r).forbidden.contains(fx.track("cross_fiber")));
    // Single-attribute enum tests take a fast path; both spellings agree.
    for (cond, matching) in [
        ("customer.segment == senior", "senior"),
        ("senior == customer.segment", "senior"),
        ("customer.segment != senior", "student"),
        (
            "customer.segment in [student, young_family]",
            "young_family",
        ),
        ("customer.segment not in [student, young_family]", "senior"),
    ] {
        let r = fx.rules(&format!(
            "rule r because \"x\" when {cond} forbid track loan"
        ));
        for seg in ["senior", "student", "young_family"] {
            let hit = Turn::adult()
                .with("segment", seg)
                .eval(&fx, &r)
                .forbidden
                .contains(fx.track("loan"));
            let expect = match cond {
                c if c.contains("!=") => seg != "senior",
                c if c.contains("not in") => seg == "senior",
                c if c.contains(" in ") => seg != "senior",
                _ => seg == matching,
            };
            assert_eq!(hit, expect, "{cond} with {seg}");
        }
    }
}

#[test]
fn int_and_float_compare_with_each_other() {
    let fx = Fixture::new();
    let r = fx.rules(
        "rule r because \"x\" when customer.age > 39.5 and has customer.budget and customer.budget >= 40 forbid track loan",
    );
    assert!(Turn::adult()
        .with("budget", 40.0)
        .eval(&fx, &r)
        .forbidden
        .contains(fx.track("loan")));
    assert!(!Turn::adult()
        .with("budget", 39.9)
        .eval(&fx, &r)
        .forbidden
        .contains(fx.track("loan")));
}

#[test]
fn turn_builtins() {
    let fx = Fixture::new();
    let rules = fx.rules(CREDIT);
    let mut t = Turn::adult();
    t.turn = 9;
    let v = t.eval(&fx, &rules);
    assert!(v.any_only);
    assert_eq!(
        names(&fx, v.restricted.iter()),
        vec!["closing_thanks", "handover"]
    );
    t.turn = 8;
    assert!(!t.eval(&fx, &rules).any_only);
    let r = fx.rules("rule r because \"x\" when turn * 2 >= max_turns forbid track loan");
    t.turn = 5;
    assert_eq!(t.eval(&fx, &r).fired.len(), 1);
    t.turn = 4;
    assert_eq!(t.eval(&fx, &r).fired.len(), 0);
}

#[test]
fn track_predicates_with_missing_attributes_error_per_track() {
    let fx = Fixture::new();
    let r = fx.rules(
        "rule f because \"x\" forbid tracks where track.price > customer.budget
         rule o because \"x\" only tracks where track.price <= customer.budget
         rule b because \"x\" boost tracks where track.price <= customer.budget by 1",
    );
    let v = Turn::adult().with("budget", 22.0).eval(&fx, &r);
    // Tracks without a price: greeting, loan, fee_disclosure, closing_thanks, handover.
    assert_eq!(
        forbidden(&fx, &v),
        vec![
            "greeting",
            "loan",
            "fee_disclosure",
            "cross_fiber",
            "family_plan",
            "family_bundle",
            "offer_5g",
            "closing_thanks",
            "handover"
        ]
    );
    assert_eq!(
        names(&fx, v.restricted.iter()),
        vec!["credit_card", "price_quote", "upsell_tv"]
    );
    assert_eq!(
        v.boosts[fx.track("upsell_tv")],
        0.0,
        "a rule with per-track errors does not boost"
    );
    let price = fx.catalog.attr_schema().slot("price").unwrap() as u32;
    assert_eq!(
        v.fired[0].error,
        Some(EvalError::MissingTrackAttribute { slot: price })
    );
}

#[test]
fn track_predicates_guarded_by_has_and_tags() {
    let fx = Fixture::new();
    let r = fx.rules(
        "rule r because \"x\"
           forbid tracks where has track.price and track.price > customer.budget and not track tagged promo",
    );
    let v = Turn::adult().with("budget", 22.0).eval(&fx, &r);
    assert_eq!(
        forbidden(&fx, &v),
        vec!["cross_fiber", "family_plan", "offer_5g"]
    );
    assert_eq!(v.fired[0].error, None);
    // The budget is missing: every track fails closed.
    let v = Turn::adult().eval(&fx, &r);
    assert!(v.fired[0].error.is_some());
    assert!(v.forbidden.contains(fx.track("family_plan")));
    // Tagged targets with a filter stay inside the tags.
    let r = fx.rules(
        "rule r because \"x\" forbid tracks tagged upsell, family where has track.price and track.price >= 25",
    );
    let v = Turn::adult().eval(&fx, &r);
    assert_eq!(
        forbidden(&fx, &v),
        vec!["family_plan", "family_bundle", "offer_5g"]
    );
}

#[test]
fn indexed_track_predicates_agree_with_per_track_evaluation() {
    // `track.price + 0 <op> x` is evaluated track by track; `track.price <op> x` uses the index.
    let fx = Fixture::new();
    for op in ["<", "<=", ">", ">=", "==", "!="] {
        for budget in [-1.0, 0.0, 10.0, 20.0, 22.5, 25.0, 70.0, 99.0] {
            let fast = fx.rules(&format!(
                "rule r because \"x\" forbid tracks where track.price {op} customer.budget"
            ));
            let slow = fx.rules(&format!(
                "rule r because \"x\" forbid tracks where track.price + 0 {op} customer.budget"
            ));
            let flipped = fx.rules(&format!(
                "rule r because \"x\" forbid tracks where customer.budget {} track.price",
                match op {
                    "<" => ">",
                    "<=" => ">=",
                    ">" => "<",
                    ">=" => "<=",
                    o => o,
                }
            ));
            let t = Turn::adult().with("budget", budget);
            let a = t.eval(&fx, &fast);
            let b = t.eval(&fx, &slow);
            let c = t.eval(&fx, &flipped);
            assert_eq!(forbidden(&fx, &a), forbidden(&fx, &b), "{op} {budget}");
            assert_eq!(
                forbidden(&fx, &a),
                forbidden(&fx, &c),
                "{op} {budget} flipped"
            );
        }
    }
}

#[test]
fn catalog_only_predicates_are_decided_at_load_time() {
    let fx = Fixture::new();
    let r = fx.rules("rule r because \"x\" when turn >= 0 forbid tracks where track.min_age >= 18 or track.id == greeting");
    let v = Turn::adult().eval(&fx, &r);
    assert!(v.forbidden.contains(fx.track("greeting")));
    assert!(v.forbidden.contains(fx.track("loan")));
    assert!(!v.forbidden.contains(fx.track("offer_5g")));
}

#[test]
fn verdict_is_reused_without_leftovers() {
    let fx = Fixture::new();
    let rules = fx.rules(CREDIT);
    let mut values = Vec::new();
    let minor = Turn::adult().with("age", 10).with("open_complaint", true);
    fx.schema.resolve(&minor.ctx, &mut values).unwrap();
    let used = vec![0u16; 12];
    let view = talktrack::tooling::TurnView {
        values: &values,
        now_ms: 0,
        turn: 9,
        max_turns: 10,
        used: &used,
        last_reply: Some(0),
        embedding: None,
        contacts: talktrack::tooling::ContactLog::empty(),
    };
    let mut v = Verdict::new(3); // wrong size: evaluate fixes it
    rules.evaluate(&view, &mut v);
    assert!(v.fired.len() >= 4);
    let adult = Turn::adult().used(&fx, "fee_disclosure", 1);
    let mut values2 = Vec::new();
    fx.schema.resolve(&adult.ctx, &mut values2).unwrap();
    let view2 = talktrack::tooling::TurnView {
        values: &values2,
        used: &adult.used,
        turn: 0,
        last_reply: None,
        ..view
    };
    rules.evaluate(&view2, &mut v);
    assert!(v.fired.is_empty());
    assert!(v.forbidden.is_empty());
    assert!(!v.any_only);
    assert!(v.boosts.iter().all(|b| *b == 0.0));
    let mut all = TrackSet::empty(12);
    v.allowed_into(&mut all);
    assert_eq!(all.count(), 12);
}

#[test]
fn rule_sets_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<talktrack::tooling::RuleSet>();
}

#[test]
fn a_large_generated_rule_set_evaluates_sanely() {
    // The benchmark's shape, without timing: many rules over context, history and track attributes.
    let fx = Fixture::new();
    let mut text = String::new();
    for i in 0..1000 {
        let rule = match i % 10 {
            0..=6 => format!(
                "rule r{i} because \"x\" when customer.age < {} forbid tracks tagged credit\n",
                i % 90
            ),
            7 | 8 => format!(
                "rule r{i} because \"x\" when count(offer_5g) >= {} boost track loan by 0.1\n",
                i % 5
            ),
            _ => format!(
                "rule r{i} because \"x\" forbid tracks where track.min_age > customer.age + {}\n",
                i % 7
            ),
        };
        text.push_str(&rule);
    }
    let rules = fx.rules(&text);
    assert_eq!(rules.len(), 1000);
    let t = Turn::adult().with("age", 18).used(&fx, "offer_5g", 3);
    let v = t.eval(&fx, &rules);
    assert!(v.forbidden.contains(fx.track("loan")));
    assert!(v.boosts[fx.track("loan")] > 0.0);
    for f in &v.fired {
        assert!(v.targets(&rules, f).all(|x| x < 12));
    }
}
