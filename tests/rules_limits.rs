//! Conditions at and over the documented size limits (nesting, depth counting
//! every operator of a chain, nodes, list items), each on a thread with a 2 MB
//! stack as a host loading bundles on a worker thread has: over a limit is a
//! clear error with file, line and column; at a limit everything works.

#[path = "support/rules_env.rs"]
mod support;

mod common;

use std::path::Path;

use support::{Fixture, Turn};
use talktrack::tooling::format_rules;
use talktrack::{render, Bundle};

/// Runs `f` on a thread with a 2 MB stack (the size many hosts give worker threads).
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// The reproduction: `levels` nested parentheses, each holding a chain of `chain` operators.
fn nested_chains(levels: usize, chain: usize, op: &str) -> String {
    let mut e = "customer.age".to_owned();
    for _ in 0..levels {
        e = format!("({e}{})", format!(" {op} 1").repeat(chain));
    }
    e
}

fn rule(cond: &str) -> String {
    format!("rule deep\n  because \"x\"\n  when {cond}\n  forbid tracks tagged credit\n")
}

/// Compiles on a small stack and returns the problems' codes and locations.
fn compile_errors(text: String) -> Vec<String> {
    on_small_stack(move || match Fixture::new().compile(&text) {
        Ok(_) => Vec::new(),
        Err(p) => p
            .iter()
            .map(|p| format!("{} {}", p.code, p.location()))
            .collect(),
    })
}

/// Formats on a small stack and returns the problems' codes.
fn format_errors(text: String) -> Vec<String> {
    on_small_stack(move || match format_rules(&text, Path::new("test.rules")) {
        Ok(_) => Vec::new(),
        Err(p) => p.iter().map(|p| p.code.to_string()).collect(),
    })
}

#[test]
fn the_reported_reproduction_is_an_error_not_a_crash() {
    // 35 levels of parentheses, each with a chain of 255 `+ 0`: a 36 KB file.
    let text = rule(&format!("{} < 18", nested_chains(35, 255, "+")));
    // The innermost chain gets too deep at its 129th `+`, on line 3.
    let col = "  when ".len() + 35 + "customer.age".len() + 2 + 128 * " + 1".len();
    assert_eq!(
        compile_errors(text.clone()),
        vec![format!("rules::too-deep test.rules:3:{col}")]
    );
    assert_eq!(format_errors(text), vec!["rules::too-deep"]);
}

#[test]
fn over_deep_conditions_are_errors_through_bundle_load() {
    let dir = tempfile::tempdir().unwrap();
    let text = rule(&format!("{} < 18", nested_chains(35, 255, "+")));
    common::write_bundle(
        dir.path(),
        common::SMALL_MANIFEST,
        &[("main.rules", &text)],
        &common::constant_policy([1., 2., 3., 4.]),
    );
    let path = dir.path().to_owned();
    let out = on_small_stack(move || {
        let e = Bundle::load(&path).expect_err("too deep");
        render(&e.problems)
    });
    assert!(out.contains("rules::too-deep"), "{out}");
    assert!(out.contains("main.rules:3:"), "{out}");
    assert!(out.contains("more than 128 operators deep"), "{out}");
}

#[test]
fn chains_count_towards_the_depth() {
    for op in ["+", "-", "*", "/"] {
        // One chain of 127 operators compared with a number: 128 levels, the limit.
        let at_limit = rule(&format!("{} < 18", nested_chains(1, 127, op)));
        assert_eq!(
            compile_errors(at_limit.clone()),
            Vec::<String>::new(),
            "{op}"
        );
        assert_eq!(format_errors(at_limit), Vec::<String>::new(), "{op}");
        // 129 operators: too deep at the last one.
        let over = rule(&format!("{} < 18", nested_chains(1, 129, op)));
        assert_eq!(
            compile_errors(over.clone()),
            vec![format!("rules::too-deep test.rules:3:{}", 22 + 128 * 4)],
            "{op}"
        );
        assert_eq!(format_errors(over), vec!["rules::too-deep"], "{op}");
        // Short chains nested in parentheses add up.
        let nested = rule(&format!("{} < 18", nested_chains(8, 20, op)));
        assert_eq!(compile_errors(nested).len(), 1, "{op}");
    }
}

#[test]
fn long_and_or_chains_are_flat_up_to_the_node_limit() {
    for sep in [" and ", " or "] {
        let fine = rule(&vec!["customer.age < 18"; 4000].join(sep));
        assert_eq!(compile_errors(fine.clone()), Vec::<String>::new());
        assert_eq!(format_errors(fine), Vec::<String>::new());
        // 6,000 comparisons are 18,001 values and operators.
        let over = rule(&vec!["customer.age < 18"; 6000].join(sep));
        let e = compile_errors(over.clone());
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("rules::condition-too-large test.rules:3:"),
            "{e:?}"
        );
        assert_eq!(format_errors(over), vec!["rules::condition-too-large"]);
    }
}

#[test]
fn nested_not_and_parentheses_stop_at_the_nesting_limit() {
    let nots = rule(&format!("{}customer.vip", "not ".repeat(64)));
    assert_eq!(compile_errors(nots), Vec::<String>::new());
    let nots = rule(&format!("{}customer.vip", "not ".repeat(100_000)));
    assert_eq!(compile_errors(nots.clone()).len(), 1);
    assert_eq!(format_errors(nots), vec!["rules::too-deep"]);
    let parens = rule(&format!("{}customer.vip{}", "(".repeat(64), ")".repeat(64)));
    assert_eq!(compile_errors(parens.clone()), Vec::<String>::new());
    assert_eq!(format_errors(parens), Vec::<String>::new());
    let parens = rule(&format!(
        "{}customer.vip{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    ));
    assert_eq!(
        compile_errors(parens),
        vec!["rules::too-deep test.rules:3:72".to_owned()]
    );
}

#[test]
fn long_and_nested_lists() {
    let items = |n: usize| vec!["young_family, senior"; n / 2].join(", ");
    let fine = rule(&format!("customer.segment in [{}]", items(4096)));
    assert_eq!(compile_errors(fine.clone()), Vec::<String>::new());
    assert_eq!(format_errors(fine), Vec::<String>::new());
    let over = rule(&format!("customer.segment in [{}]", items(4098)));
    assert_eq!(
        compile_errors(over),
        vec!["rules::list-too-long test.rules:3:28".to_owned()]
    );
    // Lists hold values, not lists: deep brackets are a syntax error at the second one.
    let deep = rule(&format!("customer.segment in {}", "[".repeat(100_000)));
    assert_eq!(
        compile_errors(deep.clone()),
        vec!["rules::syntax test.rules:3:29".to_owned()]
    );
    assert_eq!(format_errors(deep), vec!["rules::syntax"]);
}

/// The deepest and largest conditions allowed, mixing every kind of operator.
fn at_the_limits() -> String {
    // `not (...) == customer.vip` is three levels per pair of parentheses.
    let mut mix = "customer.vip".to_owned();
    for _ in 0..30 {
        mix = format!("not ({mix} or customer.vip) == customer.vip");
    }
    format!(
        "{}\n\
         rule deep-where\n  because \"x\"\n  forbid tracks where track.min_age < {}\n\n\
         rule mixed\n  because \"x\"\n  when {mix}\n  boost tracks where {mix} or track.min_age > 3 by 1\n\n\
         rule wide\n  because \"x\"\n  when {}\n  only tracks where {}\n",
        rule(&format!("{} > 18", nested_chains(1, 127, "*"))),
        nested_chains(1, 126, "+"),
        vec!["customer.age < 18"; 4000].join(" or "),
        vec!["track.min_age < customer.age + 1"; 2000].join(" and "),
    )
}

#[test]
fn conditions_at_the_limits_compile_evaluate_and_format_on_a_small_stack() {
    on_small_stack(|| {
        let fx = Fixture::new();
        let text = at_the_limits();
        let rules = fx.rules(&text);
        assert_eq!(rules.len(), 4);
        let turn = Turn::adult().with("vip", true);
        let fast = turn.eval(&fx, &rules);
        let reference = turn.eval_reference(&fx, &rules);
        assert_eq!(fast.forbidden, reference.forbidden);
        assert_eq!(fast.boosts, reference.boosts);
        // `40 * 1 * ... > 18` holds: credit is forbidden.
        assert!(fast.forbidden.contains(fx.track("loan")));
        let once = format_rules(&text, Path::new("x.rules")).unwrap();
        assert_eq!(format_rules(&once, Path::new("x.rules")).unwrap(), once);
        assert_eq!(fx.rules(&once).len(), 4);
    });
}

#[test]
fn too_deep_chain_diagnostic() {
    let chain = format!("customer.age{}", "\n    + 1".repeat(130));
    let text = rule(&format!("{chain} < 18"));
    insta::assert_snapshot!(on_small_stack(move || render(
        &Fixture::new().compile(&text).unwrap_err()
    )));
}

#[test]
fn too_large_condition_diagnostic() {
    let text = rule(&vec!["customer.age < 18"; 6000].join("\n    or "));
    insta::assert_snapshot!(on_small_stack(move || render(
        &Fixture::new().compile(&text).unwrap_err()
    )));
}
