//! The `talktrack` command line as a compliance officer or an integrator uses it:
//! exit codes, diagnostics on stderr, decisions and explanations on stdout.

use std::process::Command;

/// These tests read the example bundles, configs and data by their paths from the
/// workspace root, as the README's commands do; cargo runs them from this crate.
fn at_root() {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .expect("the workspace root exists");
}

fn talktrack(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_talktrack"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_examples_and_rejects_a_broken_bundle() {
    at_root();
    for b in ["policies/telecom-upsell", "policies/persuasion"] {
        let (code, out, err) = talktrack(&["check", b]);
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("ok: "), "{out}");
    }
    let dir = tempfile::tempdir().unwrap();
    for f in ["bundle.toml", "policy.onnx", "cases.toml"] {
        std::fs::copy(format!("policies/telecom-upsell/{f}"), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::copy(
        "policies/telecom-upsell/rules/business.rules",
        dir.path().join("rules/business.rules"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules/compliance.rules"),
        "rule minors\n  because \"no credit under 18\"\n  when customer.agee < 18\n  forbid tracks tagged credti\n",
    )
    .unwrap();
    let (code, out, err) = talktrack(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    let err = err.replace(dir.path().to_str().unwrap(), "[bundle]");
    insta::assert_snapshot!("check_broken_bundle", err);
}

#[test]
fn decide_prints_json_and_explanations() {
    at_root();
    let (code, out, err) = talktrack(&[
        "decide",
        "policies/telecom-upsell",
        "--request",
        "examples/requests/minor.json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["bundle"]["name"], "telecom-upsell");
    assert!(v["masked"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["track"] == "credit_card_offer"));

    let (code, out, _) = talktrack(&[
        "decide",
        "policies/persuasion",
        "--request",
        "examples/requests/persuasion.json",
        "--explain",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("chosen: "), "{out}");
    assert!(out.contains("by no-unagreed-confirmation"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"conversation_id": "x", "time": "2026-01-01T00:00:00Z", "context": {"age": "old"}}"#,
    )
    .unwrap();
    let (code, _, err) = talktrack(&[
        "decide",
        "policies/telecom-upsell",
        "--request",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("context attribute `age` must be int, found string"),
        "{err}"
    );
}

#[test]
fn test_runs_cases_and_shows_failures_as_diffs() {
    at_root();
    let (code, out, _) = talktrack(&["test", "policies/telecom-upsell"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("7 passed, 0 failed"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    for f in ["bundle.toml", "policy.onnx"] {
        std::fs::copy(format!("policies/persuasion/{f}"), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    for f in ["persuasion.rules", "generated-no-data.rules"] {
        std::fs::copy(
            format!("policies/persuasion/rules/{f}"),
            dir.path().join("rules").join(f),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("cases.toml"),
        "[[case]]\nname = \"asks on the first turn (wrong on purpose)\"\nallowed = [\"ask-donation\"]\nchosen = \"emotion-appeal\"\n",
    )
    .unwrap();
    let (code, out, _) = talktrack(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("test_failure_diff", out);
}

#[test]
fn fmt_check_passes_on_formatted_rules_and_fixes_others() {
    at_root();
    let (code, out, err) = talktrack(&[
        "fmt",
        "--check",
        "policies/telecom-upsell",
        "policies/persuasion",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("messy.rules");
    std::fs::write(
        &f,
        "rule   a\nbecause   \"x\"\nwhen customer.age<18\nforbid   track b\n",
    )
    .unwrap();
    let (code, out, _) = talktrack(&["fmt", "--check", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("not formatted"), "{out}");
    let (code, _, _) = talktrack(&["fmt", f.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, _, _) = talktrack(&["fmt", "--check", f.to_str().unwrap()]);
    assert_eq!(code, 0);
}

#[test]
fn fmt_check_fails_when_it_cannot_find_what_to_check() {
    at_root();
    // No path at all: nothing would be checked.
    let (code, out, err) = talktrack(&["fmt", "--check"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("<PATHS>"), "{err}");

    // A bundle whose manifest does not parse, with an unformatted rule file: the
    // manifest is reported (file, line and column) and the check fails.
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b9");
    std::fs::create_dir_all(b.join("rules")).unwrap();
    let manifest = std::fs::read_to_string("policies/telecom-upsell/bundle.toml").unwrap();
    std::fs::write(b.join("bundle.toml"), format!("bogus = = 1\n{manifest}")).unwrap();
    for f in ["compliance.rules", "business.rules"] {
        std::fs::copy(
            format!("policies/telecom-upsell/rules/{f}"),
            b.join("rules").join(f),
        )
        .unwrap();
    }
    let messy = "rule   a\nbecause   \"x\"\nwhen customer.age<18\nforbid   track b\n";
    let compliance = b.join("rules/compliance.rules");
    let text = std::fs::read_to_string(&compliance).unwrap();
    std::fs::write(&compliance, format!("{text}\n{messy}")).unwrap();
    let (code, out, err) = talktrack(&["fmt", "--check", b.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("bundle.toml:1:"), "{err}");
    assert!(
        err.contains(&format!(
            "`{}` could not be read",
            b.join("bundle.toml").display()
        )),
        "{err}"
    );

    // A directory with neither a manifest nor rule files.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = talktrack(&["fmt", "--check", empty.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("neither a bundle.toml nor any `.rules` file"),
        "{err}"
    );

    // A directory of rule files without a manifest is still checked file by file.
    let loose = dir.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    std::fs::write(loose.join("messy.rules"), messy).unwrap();
    let (code, out, _) = talktrack(&["fmt", "--check", loose.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("not formatted"), "{out}");
}

#[test]
fn decide_refuses_an_oversized_request_file() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let req = std::fs::read_to_string("examples/requests/minor.json").unwrap();
    let big = format!("{req}{}", " ".repeat(2 << 20));
    let path = dir.path().join("big.json");
    std::fs::write(&path, big).unwrap();
    let (code, out, err) = talktrack(&[
        "decide",
        "policies/telecom-upsell",
        "--request",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("1048576 bytes allowed"), "{err}");
}

#[test]
fn decide_names_a_mistyped_context_attribute() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let req = std::fs::read_to_string("examples/requests/minor.json").unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        req.replace("\"products\": []", "\"products\": [1, 2]"),
    )
    .unwrap();
    let (code, _, err) = talktrack(&[
        "decide",
        "policies/telecom-upsell",
        "--request",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("`context.products[0]`"), "{err}");
    // `credit_score` is optional: null means not sent.
    std::fs::write(
        &path,
        req.replace("\"credit_score\": 700", "\"credit_score\": null"),
    )
    .unwrap();
    let (code, _, err) = talktrack(&[
        "decide",
        "policies/telecom-upsell",
        "--request",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // `age` is required.
    std::fs::write(&path, req.replace("\"age\": 16", "\"age\": null")).unwrap();
    let (code, _, err) = talktrack(&[
        "decide",
        "policies/telecom-upsell",
        "--request",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("`age` must be int, found null"), "{err}");
}

#[test]
fn serve_exits_non_zero_with_every_problem_of_a_bad_start_bundle() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    for f in ["bundle.toml", "policy.onnx", "cases.toml"] {
        std::fs::copy(format!("policies/telecom-upsell/{f}"), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/business.rules"),
        "rule a\n  when customer.agee > 3\n  forbid track greet\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules/compliance.rules"),
        "rule b\n  when customer.regio == north\n  forbid track greet\n",
    )
    .unwrap();
    let bundle = dir.path().to_str().unwrap();
    let (code, _, err) = talktrack(&["serve", "--bundle", bundle, "--addr", "127.0.0.1:0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("agee") && err.contains("regio"), "{err}");
    assert!(err.contains("was rejected"), "{err}");

    let (code, _, err) = talktrack(&[
        "serve",
        "--bundle",
        "policies/telecom-upsell",
        "--addr",
        "127.0.0.1:0",
        "--log-protected",
        "everything",
        "--decision-log",
        dir.path().join("d.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("`everything` is not a protected-attribute mode"),
        "{err}"
    );
}
