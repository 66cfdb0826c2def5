//! The `talktrack` command line as a compliance officer or an integrator uses it:
//! exit codes, diagnostics on stderr, decisions and explanations on stdout. The
//! commands that write a bundle's files, and the files refused, are in
//! `bundle_files.rs`.

mod run;

use run::talktrack;

/// These tests read the example bundles, configs and data by their paths from the
/// workspace root, as the README's commands do; cargo runs them from this crate.
fn at_root() {
    std::env::set_current_dir(run::root()).expect("the workspace root exists");
}

#[test]
fn check_accepts_the_examples_and_rejects_a_broken_bundle() {
    at_root();
    // The third is sb3-contrib MaskablePPO's policy exported by torch.onnx.export
    // (examples/python/maskable_ppo_p4g.py, run once outside CI).
    for b in [
        "policies/telecom-upsell",
        "policies/persuasion",
        "policies/persuasion-maskable-ppo",
    ] {
        let (code, out, err) = talktrack(&["check", b]);
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("ok: "), "{out}");
    }
    let dir = tempfile::tempdir().unwrap();
    for f in ["bundle.toml", "policy.onnx", "cases.toml"] {
        std::fs::copy(format!("policies/telecom-upsell/{f}"), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    for f in ["business.rules", "contact-policy.rules"] {
        std::fs::copy(
            format!("policies/telecom-upsell/rules/{f}"),
            dir.path().join("rules").join(f),
        )
        .unwrap();
    }
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
    assert!(out.contains("22 passed, 0 failed"), "{out}");

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
fn decide_shows_control_characters_from_the_request_as_escapes() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let req = std::fs::read_to_string("examples/requests/minor.json").unwrap();
    let v: serde_json::Value = serde_json::from_str(&req).unwrap();
    let id = v["conversation_id"].as_str().unwrap().to_owned();
    let hostile = req.replace(
        &format!("\"{id}\""),
        r#""\u001b]0;PWNED\u0007\u001b[2J\nfake line: chosen: credit_card_offer""#,
    );
    let path = dir.path().join("hostile.json");
    std::fs::write(&path, &hostile).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "decide",
            "policies/telecom-upsell",
            "--request",
            path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        talktrack(&args)
    };
    let (code, out, err) = run(&["--explain"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out}");
    assert!(
        out.contains("conversation \\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\\u{a}fake line"),
        "{out}"
    );
    assert!(!out.lines().any(|l| l.starts_with("fake line")), "{out}");
    // JSON stays standard JSON: the id comes back exactly as sent.
    let (code, out, _) = run(&[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["conversation_id"],
        "\u{1b}]0;PWNED\u{7}\u{1b}[2J\nfake line: chosen: credit_card_offer"
    );
    // An error quoting the request's text escapes it too.
    std::fs::write(&path, hostile.replace("[\"greet\",", "[\"x\\u001b[2J\",")).unwrap();
    let (code, _, err) = run(&[]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown track `x\\u{1b}[2J`"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
}

#[test]
fn decide_names_the_first_byte_of_a_request_that_is_not_utf8() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.json");
    std::fs::write(&path, b"{\"conversation_id\": \"caf\xe9\"}").unwrap();
    let (code, _, err) = talktrack(&[
        "decide",
        "policies/telecom-upsell",
        "--request",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the request is not UTF-8: byte 24 (counting from 0)"),
        "{err}"
    );
}

#[test]
fn decide_trace_shows_the_observation_and_every_raw_score() {
    at_root();
    let (code, out, err) = talktrack(&[
        "decide",
        "policies/telecom-upsell",
        "--request",
        "examples/requests/minor.json",
        "--trace",
        "--explain",
    ]);
    assert_eq!(code, 0, "{err}");
    let trace = out.split("policy scores").collect::<Vec<_>>();
    assert_eq!(trace.len(), 2, "{out}");
    // Masked tracks are listed too, marked.
    assert!(out.contains("credit_card_offer"), "{out}");
    assert!(out.contains("(masked)"), "{out}");
    let until_explanation = out.split("\nbundle ").next().unwrap_or(&out).to_owned();
    insta::assert_snapshot!(until_explanation);
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

#[test]
fn analyze_reports_findings_deterministically_and_fails_on_warnings() {
    at_root();
    // The telecom bundle's contact-policy rules read the contact history, which
    // the analysis leaves free: its findings are undecided notes, and notes do
    // not fail the command.
    let (code, out, _) = talktrack(&["analyze", "policies/telecom-upsell"]);
    assert_eq!(code, 0, "{out}");
    insta::assert_snapshot!("analyze_telecom_human", out);
    assert!(
        out.contains("`contacts(..)` reads the contact history"),
        "{out}"
    );
    let (_, json1, _) = talktrack(&["analyze", "policies/telecom-upsell", "--format", "json"]);
    let (_, json2, _) = talktrack(&["analyze", "policies/telecom-upsell", "--format", "json"]);
    assert_eq!(
        json1, json2,
        "the report is byte-identical for the same bundle"
    );
    let report: serde_json::Value = serde_json::from_str(&json1).unwrap();
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["code"] == "analyze::undecided"));
    // `persuasion` has warnings (two tracks its rules always forbid): exit 1.
    let (code, out, _) = talktrack(&["analyze", "policies/persuasion"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("no request allows track `ask-confirm-donation`"),
        "{out}"
    );
}

#[test]
fn test_coverage_reports_rules_and_atoms_and_fails_under_a_threshold() {
    at_root();
    let (code, out, err) = talktrack(&["test", "--coverage", "policies/telecom-upsell"]);
    assert_eq!(code, 0, "{out}{err}");
    let report = &out[out.find("coverage over").expect("a coverage report")..];
    insta::assert_snapshot!("test_coverage_telecom", report);

    // A copy with one rule no case reaches: its items are listed by place, and a
    // threshold compares covered × 100 with P × total exactly.
    let dir = tempfile::tempdir().unwrap();
    for f in ["bundle.toml", "policy.onnx", "cases.toml"] {
        std::fs::copy(format!("policies/telecom-upsell/{f}"), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    for f in ["business.rules", "compliance.rules", "contact-policy.rules"] {
        std::fs::copy(
            format!("policies/telecom-upsell/rules/{f}"),
            dir.path().join("rules").join(f),
        )
        .unwrap();
    }
    let mut rules = std::fs::read_to_string(dir.path().join("rules/business.rules")).unwrap();
    rules.push_str(
        "\nrule seniors-no-unlimited\n  because \"no case sends a senior\"\n  when customer.segment == senior and customer.tenure_months > 120\n  forbid track offer_unlimited\n",
    );
    std::fs::write(dir.path().join("rules/business.rules"), rules).unwrap();
    let bundle = dir.path().to_str().unwrap();
    let (code, out, _) = talktrack(&["test", "--coverage", bundle]);
    assert_eq!(code, 0, "{out}");
    let report = &out[out.find("coverage over").expect("a coverage report")..];
    insta::assert_snapshot!("test_coverage_uncovered", report);
    // covered / total from the report's total line.
    let total = report
        .lines()
        .find(|l| l.trim_start().starts_with("total"))
        .unwrap();
    let ratio = total.split_whitespace().nth(1).unwrap();
    let (c, n) = ratio.split_once('/').unwrap();
    let (c, n): (u64, u64) = (c.parse().unwrap(), n.parse().unwrap());
    assert!(c < n, "{total}");
    // The largest threshold met and the smallest one missed, by the exact comparison.
    let met = (c * 100 / n) as u32;
    let (code, _, _) = talktrack(&["test", "--fail-under", &met.to_string(), bundle]);
    assert_eq!(code, 0, "{met}% of {c}/{n} is met");
    let (code, _, err) = talktrack(&["test", "--fail-under", &(met + 1).to_string(), bundle]);
    assert_eq!(code, 1, "{}% of {c}/{n} is not met", met + 1);
    assert!(
        err.contains(&format!("coverage {c}/{n} is below {}%", met + 1)),
        "{err}"
    );
    let (code, _, _) = talktrack(&["test", "--fail-under", "100", bundle]);
    assert_eq!(code, 1);
    let (code, _, err) = talktrack(&["test", "--fail-under", "101", bundle]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn test_runs_a_templates_cases_and_skips_what_needs_the_policy() {
    at_root();
    // The telecom bundle without its policy file: a template.
    let dir = tempfile::tempdir().unwrap();
    for f in ["bundle.toml", "cases.toml"] {
        std::fs::copy(format!("policies/telecom-upsell/{f}"), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    for f in ["business.rules", "compliance.rules", "contact-policy.rules"] {
        std::fs::copy(
            format!("policies/telecom-upsell/rules/{f}"),
            dir.path().join("rules").join(f),
        )
        .unwrap();
    }
    let bundle = dir.path().to_str().unwrap();
    let (code, out, err) = talktrack(&["test", bundle]);
    assert_eq!(code, 0, "{out}{err}");
    insta::assert_snapshot!("test_template", out);

    // Expectations about masks still fail in a template.
    let mut cases = std::fs::read_to_string(dir.path().join("cases.toml")).unwrap();
    cases.push_str(
        "\n[[case]]\nname = \"a minor is offered credit (wrong on purpose)\"\ncontext = { age = 16, region = \"north\", segment = \"student\", plan = \"basic\", tenure_months = 3, monthly_spend = 15.0, open_complaint = false, marketing_consent = true, credit_score = 700, products = [] }\nallowed = [\"credit_card_offer\"]\nchosen = \"credit_card_offer\"\n",
    );
    std::fs::write(dir.path().join("cases.toml"), cases).unwrap();
    let (code, out, _) = talktrack(&["test", bundle]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("allowed: expected `credit_card_offer` to be allowed, but it is masked by no-credit-to-minors"),
        "{out}"
    );
    assert!(out.contains("skipped: chosen `credit_card_offer`"), "{out}");
    // Coverage needs no policy either.
    let (code, out, _) = talktrack(&["test", "--coverage", bundle]);
    assert_eq!(code, 1);
    assert!(out.contains("coverage over 23 case(s)"), "{out}");
}
