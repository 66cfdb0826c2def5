//! The fast rule evaluation (leaves once, conditions as literal conjunctions,
//! shared target predicates) against the plain tree walk over the checked
//! condition, on random `and`/`or`/`not` combinations and random turns,
//! including optional attributes not sent (unknown, fail closed).

#[path = "support/rules_env.rs"]
mod support;

use proptest::prelude::*;
use support::{Fixture, Turn};
use talktrack::tooling::TurnView;
use talktrack::tooling::Val;
use talktrack::tooling::{RuleSet, Verdict};

const LEAVES: &[&str] = &[
    "customer.age < 18",
    "customer.age >= 40",
    "customer.age == 40",
    "customer.budget > 12.5",
    "customer.budget <= 50",
    "customer.vip",
    "not customer.vip",
    "customer.open_complaint",
    "customer.segment in [senior, student]",
    "customer.segment == senior",
    "customer.segment != student",
    "used(loan)",
    "not used(upsell_tv)",
    "count(tagged upsell) >= 2",
    "count(offer_5g) > 0",
    "turn > 3",
    "turns_left <= 1",
    "last_reply == angry",
    "last_reply in [complaint, interested]",
    "last_reply != neutral",
    "has customer.vip",
    "has customer.budget",
    "has last_reply",
    "customer.age + 1 > 30",
    "customer.budget * 2 > customer.age",
    "customer.region == \"south\"",
];

const TARGETS: &[&str] = &[
    "tracks tagged credit",
    "tracks loan, upsell_tv",
    "tracks where track.price > customer.budget",
    "tracks where track.min_age > customer.age",
    "tracks tagged upsell where track.price < customer.age",
];

fn cond() -> impl Strategy<Value = String> {
    let leaf = (0..LEAVES.len()).prop_map(|i| LEAVES[i].to_string());
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| format!("({})", v.join(" and "))),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| format!("({})", v.join(" or "))),
            inner.prop_map(|c| format!("not ({c})")),
        ]
    })
}

fn rule() -> impl Strategy<Value = (Option<String>, usize, usize)> {
    (
        prop::option::weighted(0.9, cond()),
        0..3usize,
        0..TARGETS.len(),
    )
}

fn turn() -> impl Strategy<
    Value = (
        i64,
        usize,
        bool,
        Option<f64>,
        Option<bool>,
        Vec<u16>,
        u32,
        Option<u32>,
    ),
> {
    (
        0..100i64,
        0..3usize,
        any::<bool>(),
        prop::option::of(0.0..100.0f64),
        prop::option::of(any::<bool>()),
        prop::collection::vec(0..3u16, 12),
        0..12u32,
        prop::option::of(0..4u32),
    )
}

fn fired(rules: &RuleSet, v: &Verdict) -> Vec<(u32, Option<String>, Vec<usize>, f32)> {
    v.fired
        .iter()
        .map(|f| {
            (
                f.rule,
                f.error.map(|e| format!("{e:?}")),
                v.targets(rules, f).collect(),
                f.boost,
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fast_evaluation_agrees_with_the_tree_walk(
        rules in prop::collection::vec(rule(), 1..12),
        turns in prop::collection::vec(turn(), 1..6),
    ) {
        let fx = Fixture::new();
        let mut text = String::new();
        for (i, (c, eff, t)) in rules.iter().enumerate() {
            text.push_str(&format!("rule r{i} because \"x\"\n"));
            if let Some(c) = c {
                text.push_str(&format!("  when {c}\n"));
            }
            let target = TARGETS[*t];
            match eff {
                0 => text.push_str(&format!("  forbid {target}\n")),
                1 => text.push_str(&format!("  only {target}\n")),
                _ => text.push_str(&format!("  boost {target} by 1.5\n")),
            }
        }
        let compiled = fx.compile(&text);
        prop_assume!(compiled.is_ok());
        let (set, _) = compiled.unwrap();
        let segments = ["young_family", "senior", "student"];
        let mut fast = Verdict::new(set.n_tracks());
        let mut slow = Verdict::new(set.n_tracks());
        for (age, seg, complaint, budget, vip, used, turn_no, reply) in turns {
            let mut t = Turn::adult()
                .with("age", age)
                .with("segment", segments[seg])
                .with("open_complaint", complaint);
            if let Some(b) = budget {
                t = t.with("budget", b);
            }
            if let Some(b) = vip {
                t = t.with("vip", b);
            }
            let mut values: Vec<Option<Val>> = Vec::new();
            fx.schema.resolve(&t.ctx, &mut values).unwrap();
            let view = TurnView {
                values: &values,
                now_ms: t.now_ms,
                turn: turn_no,
                max_turns: 10,
                used: &used,
                last_reply: reply,
                embedding: None,
                contacts: talktrack::tooling::ContactLog::empty(),
            };
            // The same scratch across turns, as the engine uses it.
            set.evaluate(&view, &mut fast);
            set.evaluate_reference(&view, &mut slow);
            prop_assert_eq!(&fast.forbidden, &slow.forbidden, "{}", text);
            prop_assert_eq!(fast.any_only, slow.any_only);
            if fast.any_only {
                prop_assert_eq!(&fast.restricted, &slow.restricted);
            }
            prop_assert_eq!(&fast.boosts, &slow.boosts);
            prop_assert_eq!(fired(&set, &fast), fired(&set, &slow), "{}", text);
        }
    }
}
