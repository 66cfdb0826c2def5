//! Rules grammar (what parses, what does not), input limits, and the formatter.

use std::path::Path;

use talktrack::tooling::ast::{EffectAst, ExprKind, Targets};
use talktrack::tooling::{format_rules, parse, print_rules};

fn ok(text: &str) -> talktrack::tooling::ast::RulesFile {
    match parse(text, Path::new("t.rules")) {
        Ok(f) => f,
        Err(p) => panic!("{}", talktrack::render(&p)),
    }
}

fn err(text: &str) -> String {
    match parse(text, Path::new("t.rules")) {
        Ok(f) => panic!("parsed: {f:?}"),
        Err(p) => p
            .iter()
            .map(|p| format!("{}: {}", p.code, p.message))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn parses_every_effect_and_target_form() {
    let f = ok(r#"
rule a forbid track x
rule b only tracks x, y-z, "5g offer"
rule c boost tracks tagged t1, t2 by 0.5
rule d penalize all tracks by 2
rule e penalise tracks where track.price > 3 by 1
rule f forbid tracks tagged t where not track tagged promo
"#);
    assert_eq!(f.rules.len(), 6);
    assert!(
        matches!(&f.rules[1].effect.targets, Targets::Ids(v) if v.len() == 3 && v[2].text == "5g offer")
    );
    assert!(matches!(&f.rules[2].effect.kind, EffectAst::Boost(n) if n.value == 0.5));
    assert!(matches!(&f.rules[3].effect.targets, Targets::All(_)));
    assert!(matches!(&f.rules[4].effect.kind, EffectAst::Penalize(n) if n.value == 1.0));
    assert!(matches!(
        &f.rules[5].effect.targets,
        Targets::Tagged {
            filter: Some(_),
            ..
        }
    ));
}

#[test]
fn operators_bind_in_the_documented_order() {
    let f = ok("rule r when not a == b or c < 1 + 2 * 3 and has customer.x forbid track t");
    let w = f.rules[0].when.as_ref().unwrap();
    let ExprKind::Or(parts) = &w.kind else {
        panic!("{w:?}")
    };
    assert!(matches!(&parts[0].kind, ExprKind::Not(x) if matches!(x.kind, ExprKind::Cmp(..))));
    let ExprKind::And(conj) = &parts[1].kind else {
        panic!()
    };
    let ExprKind::Cmp(_, _, rhs) = &conj[0].kind else {
        panic!()
    };
    let ExprKind::Arith(talktrack::tooling::ast::ArithOp::Add, _, m) = &rhs.kind else {
        panic!()
    };
    assert!(matches!(
        m.kind,
        ExprKind::Arith(talktrack::tooling::ast::ArithOp::Mul, ..)
    ));
    assert!(matches!(conj[1].kind, ExprKind::Has(_)));
}

#[test]
fn literals() {
    let f = ok(
        r#"rule r when x in [a, "b c", 3, -4, 2.5, 14d, 500ms, true] and now - y < 2w forbid track t"#,
    );
    let w = f.rules[0].when.as_ref().unwrap();
    let ExprKind::And(v) = &w.kind else { panic!() };
    let ExprKind::In { list, .. } = &v[0].kind else {
        panic!()
    };
    let ExprKind::List(items) = &list.kind else {
        panic!()
    };
    assert_eq!(items.len(), 8);
    assert!(matches!(items[3].kind, ExprKind::Int(-4)));
    assert!(matches!(items[5].kind, ExprKind::Duration(ms, _) if ms == 14 * 86_400_000));
    assert!(matches!(items[6].kind, ExprKind::Duration(500, _)));
}

#[test]
fn keywords_are_whole_words() {
    let f =
        ok("rule forbidden-topic when customer.order_count > 1 and notice forbid track tracks_x");
    assert_eq!(f.rules[0].id.text, "forbidden-topic");
}

#[test]
fn comments_and_metadata() {
    let f = ok("# head\nrule r # c\n  because \"why # not a comment\"\n  owner \"me\"\n  since \"2026\"\n  forbid track t # end\n");
    assert_eq!(
        f.rules[0].because.as_ref().unwrap().value,
        "why # not a comment"
    );
    assert_eq!(f.rules[0].meta.len(), 2);
}

#[test]
fn syntax_errors_say_what_was_expected() {
    let e = err("rule r\n  because \"x\"\n  when customer.age < 18\n");
    assert!(e.contains("rules::missing-effect"), "{e}");
    let e = err("rule r when forbid track t");
    assert!(e.contains("expected an expression"), "{e}");
    let e = err("rule r forbd tracks tagged credit");
    assert!(e.contains("expected a string"), "{e}");
    let e = err("rule r when a < 1 forbid track t forbid track u");
    assert!(e.contains("rules::two-effects"), "{e}");
    let e = err("rule r boost track t");
    assert!(e.contains("`by <number>`"), "{e}");
    let e = err("rule r forbid tracks");
    assert!(e.contains("expected"), "{e}");
    let e = err("rule r when a < 99999999999999999999 forbid track t");
    assert!(e.contains("64-bit"), "{e}");
    let e = err("rule r when (a < 1 forbid track t");
    assert!(e.starts_with("rules::syntax"), "{e}");
}

#[test]
fn deep_nesting_is_rejected_before_parsing() {
    let deep = format!(
        "rule r when {}a{} forbid track t",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(err(&deep).contains("rules::too-deep"));
    let nots = format!("rule r when {}a forbid track t", "not ".repeat(100_000));
    assert!(err(&nots).contains("rules::too-deep"));
    let fine = format!(
        "rule r when {}a{} forbid track t",
        "(".repeat(60),
        ")".repeat(60)
    );
    ok(&fine);
    // Many `not`s side by side are not nested.
    let flat = format!(
        "rule r when {} forbid track t",
        vec!["not a"; 500].join(" and ")
    );
    ok(&flat);
}

#[test]
fn huge_inputs_are_rejected_with_an_error() {
    let big = "# padding\n".repeat(120_000);
    assert!(err(&big).contains("rules::too-large"));
    let long_sum = format!(
        "rule r when {} > 1 forbid track t",
        vec!["a"; 1000].join(" + ")
    );
    // Each operator of a chain is one level of the tree.
    assert!(err(&long_sum).contains("rules::too-deep"));
    let long_list = format!(
        "rule r when a in [{}] forbid track t",
        vec!["1"; 5000].join(", ")
    );
    assert!(err(&long_list).contains("rules::list-too-long"));
    // A long flat `and` chain is fine (it is not nested), up to the node limit.
    let chain = format!(
        "rule r when {} forbid track t",
        vec!["a < 1"; 5_000].join(" and ")
    );
    ok(&chain);
    let chain = format!(
        "rule r when {} forbid track t",
        vec!["a < 1"; 20_000].join(" and ")
    );
    assert!(err(&chain).contains("rules::condition-too-large"));
}

const EXAMPLES: [&str; 2] = [
    include_str!("fixtures/rules/consumer_credit.rules"),
    include_str!("fixtures/rules/messy.rules"),
];

#[test]
fn formatting_is_idempotent_and_keeps_the_tree() {
    for ex in EXAMPLES {
        let once = format_rules(ex, Path::new("x.rules")).unwrap();
        let twice = format_rules(&once, Path::new("x.rules")).unwrap();
        assert_eq!(once, twice);
        assert_eq!(ok(ex), ok(&once), "formatting changed the meaning");
        let n_comments = |s: &str| s.lines().filter(|l| l.contains('#')).count();
        assert!(n_comments(&once) >= n_comments(ex) - 1);
    }
}

#[test]
fn a_printed_tree_parses_back_to_itself_in_the_formatters_layout() {
    // The shipped rule files (every effect, target and condition form, contact
    // calls included) and the fixtures, printed from their trees without comments.
    let shipped = [
        include_str!("../policies/telecom-upsell/rules/compliance.rules"),
        include_str!("../policies/telecom-upsell/rules/business.rules"),
        include_str!("../policies/telecom-upsell/rules/contact-policy.rules"),
        include_str!("../policies/persuasion/rules/persuasion.rules"),
        include_str!("../policies/persuasion/rules/generated-no-data.rules"),
    ];
    for ex in EXAMPLES.iter().chain(&shipped) {
        let tree = ok(ex);
        let printed = print_rules(&tree);
        assert_eq!(ok(&printed), tree);
        assert_eq!(
            format_rules(&printed, Path::new("x.rules")).unwrap(),
            printed
        );
        assert!(!printed.contains('#'), "{printed}");
    }
}

#[test]
fn the_canonical_example_is_already_canonical() {
    let ex = EXAMPLES[0];
    assert_eq!(format_rules(ex, Path::new("x.rules")).unwrap(), ex);
}

#[test]
fn formatting_a_messy_file() {
    insta::assert_snapshot!(format_rules(EXAMPLES[1], Path::new("messy.rules")).unwrap());
}

#[test]
fn formatting_keeps_needed_parentheses_only() {
    let f = format_rules(
        "rule r when ((a)) and (b or c) and not (d and e) and (x - (y - z)) * 2 > ((1)) forbid track t",
        Path::new("x"),
    )
    .unwrap();
    assert_eq!(
        f,
        "rule r\n  when a and (b or c) and not (d and e) and (x - (y - z)) * 2 > 1\n  forbid track t\n"
    );
}

#[test]
fn formatting_rejects_broken_files() {
    assert!(format_rules("rule", Path::new("x")).is_err());
}

#[test]
fn too_many_rules_in_a_bundle_is_an_error() {
    use talktrack::tooling::{compile, RuleSource, MAX_RULES};
    #[path = "support/rules_env.rs"]
    mod support;
    let fx = support::Fixture::new();
    let per_file = 20_000;
    let mut sources = Vec::new();
    let mut i = 0;
    while i <= MAX_RULES {
        let mut text = String::new();
        for _ in 0..per_file {
            if i > MAX_RULES {
                break;
            }
            text.push_str(&format!("rule r{i} because \"x\" forbid track loan\n"));
            i += 1;
        }
        sources.push(RuleSource {
            path: format!("f{}.rules", sources.len()).into(),
            text,
        });
    }
    let problems = compile(&sources, &fx.env()).unwrap_err();
    assert_eq!(
        problems.len(),
        1,
        "{:?}",
        problems.iter().map(|p| p.one_line()).collect::<Vec<_>>()
    );
    assert_eq!(problems[0].code, "rules::too-many-rules");
}

mod formatter_properties {
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("customer.age < 18".to_owned()),
            Just("has customer.budget".to_owned()),
            Just("used(offer_5g)".to_owned()),
            Just("count(tagged upsell)>=2".to_owned()),
            Just("last_reply in [complaint,\"angry\"]".to_owned()),
            Just("customer.products contains \"fiber\"".to_owned()),
            Just("now-customer.last_purchase<14d".to_owned()),
            Just("customer.segment not in [senior]".to_owned()),
            Just("true".to_owned()),
            (0i64..100, 0i64..100)
                .prop_map(|(a, b)| format!("turn + {a} * (turns_left - {b}) >= -{b}")),
        ]
    }

    fn cond() -> impl Strategy<Value = String> {
        leaf().prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})\n    or {b}")),
                inner.clone().prop_map(|a| format!("not ({a})")),
                inner.prop_map(|a| format!("( {a} )")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn format_is_idempotent_and_keeps_meaning(c in cond(), comment in any::<bool>()) {
            let text = format!(
                "{}rule r{}\n when {c}\n  because \"x\"\nforbid   tracks   where track.price>customer.budget\n",
                if comment { "# head\n" } else { "" },
                if comment { " # why" } else { "" },
            );
            let once = format_rules(&text, Path::new("p.rules")).unwrap();
            let twice = format_rules(&once, Path::new("p.rules")).unwrap();
            prop_assert_eq!(&once, &twice);
            prop_assert_eq!(ok(&text), ok(&once));
            prop_assert_eq!(once.matches('#').count(), text.matches('#').count());
        }
    }
}
