//! The bad-input matrix: each class of hostile or careless input, against the
//! library as a host uses it — an [`Engine`] serving the telecom example, asked to
//! reload a damaged copy or to decide a damaged request — on a thread with a 2 MB
//! stack. Every case must give a clear error that names its code and where it is,
//! and the engine must keep serving its old bundle, unchanged.

mod common;

use std::path::Path;

use common::copy_dir;
use talktrack::{Engine, Request};

const TELECOM: &str = "policies/telecom-upsell";

/// Runs `f` on a thread with a 2 MB stack, as a host's worker thread may be.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("the library must not panic or overflow its stack on bad input")
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR")))
}

fn minor() -> Request {
    let text = std::fs::read_to_string(root().join("examples/requests/minor.json")).unwrap();
    Request::from_json(&text).unwrap()
}

/// One damaged bundle: what to change in a copy of the telecom bundle, the code the
/// refusal must carry, and a fragment of where it must point.
struct Case {
    name: &'static str,
    damage: fn(&Path),
    code: &'static str,
    at: &'static str,
}

fn append_rule(dir: &Path, rule: &str) {
    let p = dir.join("rules/business.rules");
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push('\n');
    text.push_str(rule);
    std::fs::write(p, text).unwrap();
}

fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let p = dir.join("bundle.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "the example manifest has `{from}`");
    std::fs::write(p, text.replacen(from, to, 1)).unwrap();
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "malformed rule",
            damage: |d| {
                append_rule(
                    d,
                    "rule broken\n  when customer.age <\n  forbid all tracks\n",
                )
            },
            code: "rules::",
            at: "rules/business.rules:",
        },
        Case {
            name: "expression deeper than the limit (chains count)",
            damage: |d| {
                let mut e = String::from("customer.age");
                for _ in 0..35 {
                    e = format!("({e}{})", " + 0".repeat(255));
                }
                append_rule(
                    d,
                    &format!("rule deep\n  because \"x\"\n  when {e} < 18\n  forbid tracks tagged credit\n"),
                );
            },
            code: "rules::too-deep",
            at: "rules/business.rules:",
        },
        Case {
            name: "rule file outside the bundle",
            damage: |d| edit_manifest(d, "\"rules/business.rules\"", "\"../../../../etc/passwd\""),
            code: "bundle::outside",
            at: "bundle.toml:",
        },
        Case {
            name: "typo in a track key",
            damage: |d| edit_manifest(d, "tags = ", "tag = "),
            code: "bundle::manifest",
            at: "bundle.toml:",
        },
        Case {
            name: "unknown track in a rule",
            damage: |d| {
                append_rule(
                    d,
                    "rule typo\n  because \"x\"\n  forbid track no_such_track\n",
                )
            },
            code: "rules::",
            at: "rules/business.rules:",
        },
        Case {
            name: "corrupt policy",
            damage: |d| {
                let p = d.join("policy.onnx");
                let mut bytes = std::fs::read(&p).unwrap();
                bytes.truncate(bytes.len() / 2);
                std::fs::write(p, bytes).unwrap();
            },
            code: "bundle::",
            at: "policy.onnx",
        },
        Case {
            // Found by the `onnx` fuzz target: a string initializer stored as raw
            // bytes, which tract's importer cannot read (the loader refuses it
            // before tract sees it).
            name: "policy whose tensor data the onnx runtime cannot load",
            damage: |d| {
                std::fs::copy(
                    root().join("tests/fixtures/onnx/fuzz_raw_tensor_data.onnx"),
                    d.join("policy.onnx"),
                )
                .unwrap();
                edit_manifest(
                    d,
                    "a766aabbeca97f47f914fc70774960fc8b3011595c581382b2083fbb3b10a30f",
                    "8152d3e8e2b020c58f3056f6bba03dd7150de5ff5f3383ea8277c71685c24242",
                );
            },
            code: "bundle::policy",
            at: "policy.onnx",
        },
        Case {
            name: "manifest that is not TOML",
            damage: |d| edit_manifest(d, "[", "[[[ "),
            code: "bundle::manifest",
            at: "bundle.toml:",
        },
    ]
}

#[test]
fn every_damaged_bundle_is_refused_with_its_location_and_the_old_one_keeps_serving() {
    on_small_stack(|| {
        let engine = Engine::load(root().join(TELECOM)).unwrap();
        let digest = engine.bundle().digest().to_owned();
        let before = engine.decide(&minor()).unwrap();
        for case in cases() {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("a/b/c/bundle");
            copy_dir(&root().join(TELECOM), &dir);
            (case.damage)(&dir);
            let err = match engine.reload(&dir) {
                Ok(_) => panic!("{}: the damaged bundle was accepted", case.name),
                Err(e) => e,
            };
            let shown = talktrack::render(&err.problems);
            assert!(
                err.problems
                    .iter()
                    .any(|p| p.is_error() && p.code.to_string().starts_with(case.code)),
                "{}: no `{}` error in\n{shown}",
                case.name,
                case.code
            );
            assert!(
                shown.contains(case.at),
                "{}: `{}` not named in\n{shown}",
                case.name,
                case.at
            );
            assert!(
                !shown.contains("root:x:0:0"),
                "{}: a file outside was echoed",
                case.name
            );
            assert_eq!(
                engine.bundle().digest(),
                digest,
                "{}: the bundle in service changed",
                case.name
            );
            let after = engine.decide(&minor()).unwrap();
            assert_eq!(after.chosen_id(), before.chosen_id(), "{}", case.name);
        }
    });
}

#[test]
fn every_damaged_request_is_refused_by_name_and_the_engine_keeps_deciding() {
    on_small_stack(|| {
        let engine = Engine::load(root().join(TELECOM)).unwrap();
        let good = std::fs::read_to_string(root().join("examples/requests/minor.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&good).unwrap();
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut w = v.clone();
            f(&mut w);
            w.to_string()
        };
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let cases: Vec<(&str, String, &str)> = vec![
            ("not JSON", "{\"context\": ".to_owned(), "line 1"),
            ("deeply nested", deep, ""),
            (
                "unknown track in the history",
                with(&|w| w["history"]["tracks"] = serde_json::json!(["no_such_track"])),
                "no_such_track",
            ),
            (
                "mistyped attribute",
                with(&|w| w["context"]["age"] = serde_json::json!("old")),
                "age",
            ),
            (
                "missing required attribute",
                with(&|w| {
                    w["context"].as_object_mut().unwrap().remove("age");
                }),
                "age",
            ),
            (
                "turn past the history limit",
                with(&|w| w["history"]["turn"] = serde_json::json!(4_294_967_295u64)),
                "history.turn",
            ),
            (
                "unknown contact outcome",
                with(&|w| {
                    w["contacts"] = serde_json::json!([
                        {"time": "2026-11-20T10:00:00Z", "track": "greet", "outcome": "offered"},
                        {"time": "2026-11-21T10:00:00Z", "track": "greet", "outcome": "maybe"},
                    ])
                }),
                "`contacts[1].outcome`: unknown contact outcome `maybe`",
            ),
            (
                "contact after the request time",
                with(&|w| {
                    w["contacts"] = serde_json::json!([
                        {"time": "2026-11-26T10:00:00.001Z", "track": "greet"},
                    ])
                }),
                "`contacts[0].time` is 2026-11-26T10:00:00.001Z, after the request time 2026-11-26T10:00:00Z",
            ),
            (
                "more contacts than allowed",
                with(&|w| {
                    let one = serde_json::json!({"time": "2026-11-20T10:00:00Z", "track": "greet"});
                    w["contacts"] = serde_json::Value::Array(vec![one; 1_001]);
                }),
                "`contacts` has 1001 entries, more than the 1000 allowed",
            ),
            (
                "contact with an unknown field",
                with(&|w| {
                    w["contacts"] = serde_json::json!([
                        {"time": "2026-11-20T10:00:00Z", "track": "greet", "result": "offered"},
                    ])
                }),
                "unknown field `result`",
            ),
            (
                "attribute below its declared range",
                with(&|w| w["context"]["age"] = serde_json::json!(-1)),
                "context attribute `age` is -1, outside its range (0 to 130)",
            ),
            (
                "float below its declared range",
                with(&|w| w["context"]["monthly_spend"] = serde_json::json!(-0.5)),
                "`monthly_spend` is -0.5, outside its range (at least 0)",
            ),
            (
                "integer beyond the int range",
                with(&|w| w["context"]["age"] = serde_json::json!(9_223_372_036_854_775_808u64)),
                "age",
            ),
        ];
        for (name, text, names) in cases {
            let refused = Request::from_json(&text)
                .map_err(|e| e.to_string())
                .and_then(|r| engine.decide(&r).map(|_| ()).map_err(|e| e.to_string()));
            let msg = refused.expect_err(name);
            assert!(msg.contains(names), "{name}: `{names}` not named in: {msg}");
        }
        assert!(engine.decide(&minor()).is_ok());
    });
}
