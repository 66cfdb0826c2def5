//! Rule coverage (`talktrack test --coverage`): the instrumented evaluation
//! decides what the rules decide, the items to cover are the outcomes a request
//! can cause, atoms are placed where they are written, and a threshold compares
//! integers exactly.

use std::path::Path;

use talktrack::tooling::{coverage, BundleTemplate, Coverage, CoverageItem, ItemKind};

fn example(name: &str) -> BundleTemplate {
    BundleTemplate::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("policies")
            .join(name),
    )
    .unwrap()
}

/// A bundle of the telecom example's schema, catalog and cases with other rules.
fn telecom_with_rules(rules: &str) -> (tempfile::TempDir, BundleTemplate) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/telecom-upsell");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("cases.toml"), dir.path().join("cases.toml")).unwrap();
    let manifest = std::fs::read_to_string(src.join("bundle.toml")).unwrap();
    let manifest = manifest.replacen(
        "rules = [\"rules/compliance.rules\", \"rules/business.rules\", \"rules/contact-policy.rules\"]",
        "rules = [\"test.rules\"]",
        1,
    );
    assert!(manifest.contains("\"test.rules\""));
    std::fs::write(dir.path().join("bundle.toml"), manifest).unwrap();
    std::fs::write(dir.path().join("test.rules"), rules).unwrap();
    let tpl = BundleTemplate::load(dir.path()).unwrap();
    (dir, tpl)
}

/// On every case of both example bundles, the instrumented evaluation decides
/// what the rules decide (`coverage` compares the two verdicts on each case) and
/// places every atom it evaluates.
#[test]
fn the_instrumented_verdicts_equal_the_real_ones_on_the_examples() {
    for (name, cases) in [("telecom-upsell", 22), ("persuasion", 3)] {
        let c = coverage(&example(name)).unwrap();
        assert_eq!(c.cases, cases, "{name}");
        assert_eq!(c.invalid_cases, 0, "{name}");
        assert!(c.disagreements.is_empty(), "{name}: {:?}", c.disagreements);
    }
}

/// The telecom cases cover every item of its rules.
#[test]
fn the_telecom_cases_cover_its_rules() {
    let c = coverage(&example("telecom-upsell")).unwrap();
    let missing: Vec<_> = c.items.iter().filter(|i| !i.covered).collect();
    assert!(missing.is_empty(), "{}", c.render());
    assert!(c.meets(100));
}

/// "Failed closed" is an item only where a request can cause it: an optional
/// attribute read without `has`, a `contacts(tagged ..)` count (a retired
/// track), a division by a value that may be zero; "did not fire" only where a
/// rule has a condition or targets tracks through a predicate.
#[test]
fn outcomes_to_cover_are_those_a_request_can_cause() {
    let (_dir, tpl) = telecom_with_rules(
        r#"rule guarded because "x" when has customer.credit_score and customer.credit_score < 600 forbid tracks tagged credit
rule unguarded because "x" when customer.credit_score < 600 forbid tracks tagged credit
rule retired because "x" when contacts(tagged credit, within 30d) >= 1 forbid tracks tagged credit
rule by-track because "x" when contacts(track device_financing, within 30d) >= 1 forbid track device_financing
rule ratio because "x" when customer.monthly_spend / customer.tenure_months > 2.0 boost track loyalty_discount by 1
rule always because "x" only tracks tagged sales, service, closing
rule priced because "x" forbid tracks where track.price > 50.0
"#,
    );
    let c = coverage(&tpl).unwrap();
    let has = |rule: &str, kind: ItemKind| c.items.iter().any(|i| i.rule == rule && i.kind == kind);
    for (rule, fails) in [
        ("guarded", false),
        ("unguarded", true),
        ("retired", true),
        ("by-track", false),
        ("ratio", true),
        ("always", false),
        ("priced", true),
    ] {
        assert_eq!(has(rule, ItemKind::RuleFailsClosed), fails, "{rule}");
    }
    assert!(!has("always", ItemKind::RuleDoesNotFire));
    assert!(has("priced", ItemKind::RuleDoesNotFire));
    assert!(has("priced", ItemKind::PredicateTrue));
    // `unguarded` fails closed on the case without a credit score.
    let failed = |rule: &str| {
        c.items
            .iter()
            .find(|i| i.rule == rule && i.kind == ItemKind::RuleFailsClosed)
            .unwrap()
            .covered
    };
    assert!(failed("unguarded"));
    assert!(c.disagreements.is_empty(), "{:?}", c.disagreements);
}

/// Atoms are placed by line and column (in characters) and written as in the
/// file; `and` stops at a false operand, so an atom after it that no case
/// reaches is neither true nor false.
#[test]
fn atoms_are_placed_where_they_are_written() {
    let (_dir, tpl) = telecom_with_rules(
        "# rules no case reaches\nrule seniors\n  because \"no case sends a senior\"\n  when customer.segment == senior and\n       customer.tenure_months   >   120\n  forbid track offer_unlimited\n",
    );
    let c = coverage(&tpl).unwrap();
    let atoms: Vec<(&str, u32, u32, ItemKind, bool)> = c
        .items
        .iter()
        .filter_map(|i| Some((i.atom.as_deref()?, i.line, i.column, i.kind, i.covered)))
        .collect();
    assert_eq!(
        atoms,
        [
            (
                "customer.segment == senior",
                4,
                8,
                ItemKind::ConditionTrue,
                false
            ),
            (
                "customer.segment == senior",
                4,
                8,
                ItemKind::ConditionFalse,
                true
            ),
            (
                "customer.tenure_months > 120",
                5,
                8,
                ItemKind::ConditionTrue,
                false
            ),
            (
                "customer.tenure_months > 120",
                5,
                8,
                ItemKind::ConditionFalse,
                false
            ),
        ]
    );
    insta::assert_snapshot!("coverage_uncovered_atoms", c.render());
}

/// `--fail-under P` holds when `covered × 100 ≥ P × total`, in integers.
#[test]
fn the_threshold_compares_exactly() {
    let item = |covered| CoverageItem {
        kind: ItemKind::RuleFires,
        rule: "r".into(),
        file: "r.rules".into(),
        line: 1,
        column: 1,
        atom: None,
        covered,
    };
    let c = Coverage {
        cases: 1,
        invalid_cases: 0,
        items: vec![item(true), item(true), item(false)],
        disagreements: Vec::new(),
    };
    assert!(c.meets(66));
    assert!(!c.meets(67));
    assert!(!c.meets(100));
    assert!(c.meets(0));
    assert!(c.render().contains("2/3  (66.6%)"), "{}", c.render());
    let full = Coverage {
        items: vec![item(true); 7],
        ..c
    };
    assert!(full.meets(100));
}
