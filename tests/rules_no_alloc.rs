//! `RuleSet::evaluate` reuses its `Verdict` once warm: the buffers keep their
//! address and capacity (the crate forbids `unsafe`, so no counting allocator;
//! evaluation itself owns no heap memory).

#[path = "support/rules_env.rs"]
mod support;

use support::{Fixture, Turn};
use talktrack::tooling::TurnView;
use talktrack::tooling::Verdict;

#[test]
fn evaluate_does_not_allocate_once_warm() {
    let fx = Fixture::new();
    let rules = fx.rules(concat!(
        include_str!("fixtures/rules/consumer_credit.rules"),
        "rule p because \"x\" forbid tracks where has track.price and (track.price > customer.budget or track tagged promo)\n",
        "rule q because \"x\" when customer.budget < 10 boost tracks where track.min_age * 2 < customer.age by 1\n",
        "rule c because \"x\" when contacts(tagged credit, [offered, declined], within 30d) >= 1 forbid tracks tagged credit\n",
        "rule d because \"x\" when contacts(track offer_5g, within 7d) + count(offer_5g) > 2 penalize track offer_5g by 1\n",
        "rule e because \"x\" forbid tracks where contacts(tagged upsell, declined, within 1w) > 0 and track tagged upsell\n",
    ));
    let day = 86_400_000;
    let turns = [
        Turn::adult().with("age", 16).with("budget", 25.0).contact(
            &fx,
            day,
            Some("loan"),
            Some("offered"),
        ),
        Turn::adult()
            .used(&fx, "fee_disclosure", 1)
            .used(&fx, "offer_5g", 3)
            .contact(&fx, 2 * day, Some("offer_5g"), None)
            .contact(&fx, 3 * day, Some("upsell_tv"), Some("declined"))
            .contact(&fx, 4 * day, None, Some("declined")),
        Turn::adult()
            .with("segment", "young_family")
            .with("region", "north"),
    ];
    let mut resolved = Vec::new();
    for t in &turns {
        let mut values = Vec::new();
        fx.schema.resolve(&t.ctx, &mut values).unwrap();
        resolved.push(values);
    }
    let mut out = Verdict::new(rules.n_tracks());
    let view = |i: usize| TurnView {
        values: &resolved[i],
        now_ms: turns[i].now_ms,
        turn: 9,
        max_turns: 10,
        used: &turns[i].used,
        last_reply: Some(1),
        embedding: None,
        contacts: &turns[i].contacts,
    };
    for i in 0..turns.len() {
        rules.evaluate(&view(i), &mut out);
    }
    let buffers = |v: &Verdict| {
        (
            v.fired.as_ptr() as usize,
            v.fired.capacity(),
            v.target_words.as_ptr() as usize,
            v.target_words.capacity(),
            v.boosts.as_ptr() as usize,
            v.forbidden.words().as_ptr() as usize,
        )
    };
    let before = buffers(&out);
    let mut fired = 0;
    for _ in 0..10 {
        for i in 0..turns.len() {
            rules.evaluate(&view(i), &mut out);
            fired += out.fired.len();
        }
    }
    assert_eq!(buffers(&out), before);
    assert!(fired > 0);
    // The contact rules took part: the retired track's contact left `e` unknown
    // (it fails closed) and the loan offer fired `c`.
    rules.evaluate(&view(1), &mut out);
    assert!(out.fired.iter().any(|f| f.error.is_some()));
    rules.evaluate(&view(0), &mut out);
    assert!(out.forbidden.contains(fx.track("loan")));
}
