//! Short structure-aware fuzzing in the test suite: inputs built from the
//! grammar's vocabulary and from mutations of the repository's own bundles,
//! requests and logs, through the same targets `fuzz/` runs coverage-guided for
//! hours. Every input runs on a thread with a 2 MB stack, as a host's worker
//! thread may be; a panic or a stack overflow fails the test.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use talktrack_fuzz::{log, manifest, onnx, request, rules, seed_corpus, RULES_DICTIONARY};

/// Runs `f(data)` on a fresh thread with a 2 MB stack and reports a panic as an error.
fn on_small_stack(f: fn(&[u8]), data: Vec<u8>) -> Result<(), TestCaseError> {
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || f(&data))
        .map_err(|e| TestCaseError::fail(format!("cannot spawn: {e}")))?;
    handle
        .join()
        .map_err(|_| TestCaseError::fail("the target panicked"))
}

fn dictionary() -> Vec<String> {
    RULES_DICTIONARY
        .lines()
        .filter_map(|l| l.strip_prefix('"').and_then(|l| l.strip_suffix('"')))
        .map(|w| w.replace("\\x0a", "\n").replace("\\\"", "\""))
        .chain(["r1", "x", "7", "-3", "2.5", "\"s\"", "greet", "loan"].map(String::from))
        .collect()
}

/// Rule text made of the language's own words: mostly plausible, often broken.
fn rule_text() -> impl Strategy<Value = Vec<u8>> {
    let words = dictionary();
    prop::collection::vec(prop::sample::select(words), 0..80)
        .prop_map(|ws| ws.join(" ").into_bytes())
}

/// A seed with a few bytes changed, removed, duplicated or inserted.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let ops = prop::collection::vec(
        (
            0usize..4,
            any::<prop::sample::Index>(),
            any::<u8>(),
            1usize..64,
        ),
        1..8,
    );
    (prop::sample::select(seeds), ops).prop_map(|(mut s, ops)| {
        for (op, at, byte, len) in ops {
            if s.is_empty() {
                s.push(byte);
                continue;
            }
            let i = at.index(s.len());
            match op {
                0 => s[i] = byte,
                1 => {
                    let end = (i + len).min(s.len());
                    s.drain(i..end);
                }
                2 => {
                    let end = (i + len).min(s.len());
                    let chunk = s[i..end].to_vec();
                    s.splice(i..i, chunk);
                }
                _ => s.insert(i, byte),
            }
        }
        s
    })
}

fn run(cases: u32, strategy: impl Strategy<Value = Vec<u8>>, target: fn(&[u8])) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&strategy, |data| on_small_stack(target, data));
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

#[test]
fn rules_from_the_grammars_words() {
    run(400, rule_text(), rules);
}

#[test]
fn rules_mutated_from_the_example_rule_files() {
    run(300, mutated(seed_corpus("rules")), rules);
}

#[test]
fn manifests_mutated_from_the_example_bundles() {
    run(60, mutated(seed_corpus("manifest")), manifest);
}

#[test]
fn requests_mutated_from_the_example_requests() {
    run(300, mutated(seed_corpus("request")), request);
}

#[test]
fn onnx_policies_mutated_from_the_example_policy() {
    run(40, mutated(seed_corpus("onnx")), onnx);
}

#[test]
fn trainer_logs_mutated_from_the_shipped_logs() {
    run(150, mutated(seed_corpus("log")), log);
}

#[test]
fn every_target_has_seeds() {
    for t in ["rules", "manifest", "request", "onnx", "log"] {
        assert!(!seed_corpus(t).is_empty(), "no seeds for {t}");
    }
}
