//! Small rule sets built in code, each finding checked against what the rules
//! plainly say.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use talktrack::tooling::{compile_str, AttrDecl, AttrType, Catalog, RuleEnv, Schema, Track};
use talktrack::Value;
use talktrack_analyze::{analyze, Finding, Kind, Options, Subject};

fn decl(name: &str, ty: AttrType, optional: bool) -> AttrDecl {
    AttrDecl {
        name: name.into(),
        ty,
        optional,
        protected: false,
        range: None,
    }
}

fn track(id: &str, tags: &[&str], min_age: i64) -> Track {
    let mut attrs = BTreeMap::new();
    attrs.insert("min_age".to_owned(), Value::Int(min_age));
    Track {
        id: id.into(),
        text: id.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        product: None,
        attrs,
    }
}

fn run(rules: &str) -> Vec<Finding> {
    let schema = Schema::new(vec![
        decl("age", AttrType::Int, false),
        decl("vip", AttrType::Bool, false),
        decl("score", AttrType::Int, true),
        decl("n", AttrType::Int, false),
    ])
    .unwrap();
    let catalog = Catalog::new(
        vec![
            track("a", &["sales"], 18),
            track("b", &["sales"], 0),
            track("fb", &["handover"], 0),
        ],
        vec![decl("min_age", AttrType::Int, false)],
    )
    .unwrap();
    let replies = vec!["yes".to_owned(), "no".to_owned()];
    let env = RuleEnv {
        schema: &schema,
        catalog: &catalog,
        replies: &replies,
        max_turns: 5,
        outcomes: &[],
    };
    let (set, _) = compile_str(rules, Path::new("t.rules"), &env).unwrap();
    let s = Subject {
        rules: &set,
        schema: &schema,
        catalog: &catalog,
        replies: &replies,
        max_turns: 5,
        fallback: 2,
    };
    analyze(&s, &Options::default())
}

fn kinds(fs: &[Finding]) -> Vec<(Kind, String)> {
    fs.iter()
        .map(|f| {
            let what = f
                .track
                .clone()
                .or_else(|| f.rule.as_ref().map(|r| r.id.clone()))
                .unwrap_or_default();
            (f.kind, what)
        })
        .collect()
}

#[test]
fn contradictory_condition_never_fires() {
    let fs =
        run("rule x because \"r\" when customer.age > 30 and customer.age < 20 forbid track a\n");
    assert_eq!(kinds(&fs), vec![(Kind::NeverFires, "x".to_owned())]);
}

#[test]
fn fail_closed_counts_as_firing() {
    // `score` may be absent: the comparison cannot be evaluated and the forbid fires.
    let fs =
        run("rule x because \"r\" when customer.score > 5 and customer.score < 3 forbid track a\n");
    assert!(kinds(&fs).is_empty(), "{fs:?}");
}

#[test]
fn fallback_only_with_witness() {
    let fs = run(concat!(
        "rule o because \"r\" only tracks tagged sales\n",
        "rule f because \"r\" when customer.vip forbid tracks tagged sales\n",
    ));
    let f = fs.iter().find(|f| f.kind == Kind::FallbackOnly).unwrap();
    assert_eq!(f.track.as_deref(), Some("fb"));
    assert_eq!(f.witnesses[0]["context"]["vip"], serde_json::json!(true));
    assert!(fs.iter().any(|f| f.kind == Kind::AllMaskedFallback));
    assert!(!fs.iter().any(|f| f.kind == Kind::AllMaskedNoChoice));
}

#[test]
fn track_predicates_substituted_per_track() {
    // `a` needs age >= 18; the rule below forbids it from 10 on: never allowed.
    let fs = run(concat!(
        "rule m because \"r\" forbid tracks where track.min_age > customer.age\n",
        "rule k because \"r\" when customer.age >= 10 forbid track a\n",
    ));
    let k = kinds(&fs);
    assert!(k.contains(&(Kind::NeverAllowed, "a".to_owned())), "{k:?}");
    assert!(!k.contains(&(Kind::NeverAllowed, "b".to_owned())), "{k:?}");
}

#[test]
fn outside_the_fragment_is_undecided() {
    let fs = run("rule x because \"r\" when customer.age + customer.n > 3 and customer.age < 0 and customer.n < 0 forbid track a\n");
    let f = fs.iter().find(|f| f.kind == Kind::Undecided).unwrap();
    assert!(f.reasons.iter().any(|r| r.contains("rule `x`")), "{f:?}");
    assert!(!fs.iter().any(|f| f.kind == Kind::NeverFires));
}

#[test]
fn allow_in_rule_metadata_acknowledges_its_finding() {
    let text = "rule x because \"r\" allow \"never-fires\" when customer.age > 30 and customer.age < 20 forbid track a\nrule y because \"r\" when customer.age > 30 and customer.age < 20 forbid track b\n";
    let fs = run(text);
    let x = fs
        .iter()
        .find(|f| f.rule.as_ref().unwrap().id == "x")
        .unwrap();
    let y = fs
        .iter()
        .find(|f| f.rule.as_ref().unwrap().id == "y")
        .unwrap();
    assert!(x.suppressed && !x.fails());
    assert!(!y.suppressed && y.fails());
}

#[test]
fn a_baseline_keeps_known_findings_from_failing() {
    let fs =
        run("rule y because \"r\" when customer.age > 30 and customer.age < 20 forbid track b\n");
    let report = talktrack_analyze::Report {
        bundle: "t".into(),
        version: "1".into(),
        digest: "d".into(),
        findings: fs,
    };
    let none = Default::default();
    assert_eq!(report.failing(&none).count(), 1);
    let json = serde_json::to_string(&report).unwrap();
    let keys = talktrack_analyze::Report::baseline_keys(&json).unwrap();
    assert_eq!(report.failing(&keys).count(), 0);
    assert!(talktrack_analyze::Report::baseline_keys("{}").is_err());
}

#[test]
fn an_exhausted_total_budget_leaves_questions_undecided_not_claimed() {
    let schema = Schema::new(vec![decl("age", AttrType::Int, false)]).unwrap();
    let catalog = Catalog::new(
        vec![track("a", &["sales"], 18), track("fb", &[], 0)],
        vec![decl("min_age", AttrType::Int, false)],
    )
    .unwrap();
    let env = RuleEnv {
        schema: &schema,
        catalog: &catalog,
        replies: &[],
        max_turns: 5,
        outcomes: &[],
    };
    let text = "rule x because \"r\" when customer.age > 30 and customer.age < 20 forbid track a\n";
    let (set, _) = compile_str(text, Path::new("t.rules"), &env).unwrap();
    let s = Subject {
        rules: &set,
        schema: &schema,
        catalog: &catalog,
        replies: &[],
        max_turns: 5,
        fallback: 1,
    };
    let starved = Options {
        total_budget: 1,
        ..Options::default()
    };
    let fs = analyze(&s, &starved);
    assert!(!fs.iter().any(|f| f.kind == Kind::NeverFires), "{fs:?}");
    assert!(fs
        .iter()
        .any(|f| f.kind == Kind::Undecided && f.reasons.iter().any(|r| r.contains("budget"))));
    // With the default budget the same question is settled.
    let fs = analyze(&s, &Options::default());
    assert!(fs.iter().any(|f| f.kind == Kind::NeverFires));
}

#[test]
fn what_the_load_time_lint_caught_is_never_fires() {
    // The conditions the former `rules::never-matches` lint flagged at load time:
    // contradictory bounds, `turns_left` and `turn` out of their range, a
    // condition false whatever the request. `turn >= max_turns` stays reachable
    // (a host may call past the last planned turn).
    let fs = run(concat!(
        "rule a because \"x\" when customer.age < 18 and customer.age > 65 forbid track a\n",
        "rule b because \"x\" when turns_left < 0 forbid track a\n",
        "rule c because \"x\" when turn >= max_turns forbid track a\n",
        "rule e because \"x\" when max_turns * 2 < 3 forbid track a\n",
        "rule f because \"x\" when turn < 0 forbid track a\n",
        "rule g because \"x\" when turns_left > max_turns forbid track a\n",
    ));
    let never: Vec<String> = kinds(&fs)
        .into_iter()
        .filter(|(k, _)| *k == Kind::NeverFires)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(never, ["a", "b", "e", "f", "g"], "{fs:#?}");
    assert!(!fs.iter().any(|f| f.kind == Kind::Undecided), "{fs:#?}");
}

#[test]
fn a_boost_on_masked_tracks_is_shadowed() {
    // `a` is masked for customers under 18 (`min_age` 18): a boost for minors never reaches it.
    let fs = run(concat!(
        "rule m because \"r\" forbid tracks where track.min_age > customer.age\n",
        "rule kids because \"r\" when customer.age < 16 boost track a by 1\n",
        "rule vip because \"r\" when customer.vip boost track a by 1\n",
    ));
    let k = kinds(&fs);
    assert!(k.contains(&(Kind::Shadowed, "kids".to_owned())), "{k:?}");
    assert!(!k.contains(&(Kind::Shadowed, "vip".to_owned())), "{k:?}");
    let f = fs.iter().find(|f| f.kind == Kind::Shadowed).unwrap();
    assert_eq!(f.code, "analyze::shadowed");
    assert_eq!(f.severity, talktrack_analyze::Severity::Warning);
}

#[test]
fn an_only_rule_whose_targets_are_forbidden_is_shadowed() {
    // Whenever `vip-only` fires, `sales-stop` forbids both of its targets: only the
    // fallback is left. `handover` names only the fallback: forcing it is its purpose.
    let fs = run(concat!(
        "rule sales-stop because \"r\" when customer.n > 3 forbid tracks tagged sales\n",
        "rule vip-only because \"r\" when customer.vip and customer.n > 5 only tracks tagged sales\n",
        "rule handover because \"r\" when customer.n > 9 only track fb\n",
    ));
    let k = kinds(&fs);
    assert!(
        k.contains(&(Kind::Shadowed, "vip-only".to_owned())),
        "{k:?}"
    );
    assert!(
        !k.contains(&(Kind::Shadowed, "handover".to_owned())),
        "{k:?}"
    );
    assert!(
        !k.contains(&(Kind::Shadowed, "sales-stop".to_owned())),
        "{k:?}"
    );
}

#[test]
fn shadowed_needs_a_proof() {
    // `s` forbids `a` exactly when the age is negative, which is when `kids`
    // fires; but `s` compares a sum with an attribute, outside the exact
    // fragment: the claim is undecided, not made.
    let fs = run(concat!(
        "rule s because \"r\" when customer.age + customer.n < customer.n forbid track a\n",
        "rule kids because \"r\" when customer.age < 0 boost track a by 1\n",
    ));
    assert!(!fs.iter().any(|f| f.kind == Kind::Shadowed), "{fs:#?}");
    assert!(fs.iter().any(|f| f.kind == Kind::Undecided
        && f.claim == Some(talktrack_analyze::Claim::Shadowed)
        && f.rule.as_ref().is_some_and(|r| r.id == "kids")));
}
