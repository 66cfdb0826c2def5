//! `--format json` of `check`, `test` and `fmt --check`, as CI and editors read it:
//! one versioned document that follows `docs/diagnostics.schema.json`, with the
//! places of the human diagnostics (columns in characters) and the same exit codes.

mod run;
mod schema;

use std::path::Path;

use run::{root, talktrack};

/// A copy of the telecom bundle in `dir`, with its compliance rules replaced by `compliance`.
fn telecom_with(dir: &Path, compliance: &str) {
    let from = root().join("policies/telecom-upsell");
    for f in ["bundle.toml", "policy.onnx", "cases.toml"] {
        std::fs::copy(from.join(f), dir.join(f)).unwrap();
    }
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    for f in ["business.rules", "contact-policy.rules"] {
        std::fs::copy(from.join("rules").join(f), dir.join("rules").join(f)).unwrap();
    }
    std::fs::write(dir.join("rules/compliance.rules"), compliance).unwrap();
}

fn json(out: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    schema::assert_valid(&v);
    v
}

#[test]
fn check_places_a_problem_after_non_ascii_text_in_characters_as_the_human_diagnostic_does() {
    let dir = tempfile::tempdir().unwrap();
    // `é` is two bytes and `≥` three: the byte column of `agee` is 3 more than its character column.
    let line =
        r#"rule minors because "crédit ≥ 18" when customer.agee < 18 forbid tracks tagged credit"#;
    telecom_with(dir.path(), &format!("{line}\n"));
    let d = dir.path().to_str().unwrap();
    let column = line[..line.find("agee").unwrap()].chars().count() + 1;
    assert_eq!(line.find("agee").unwrap() + 1, column + 3);

    let (code, out, err) = talktrack(&["check", "--format", "json", d]);
    assert_eq!(code, 1, "{err}");
    assert!(err.is_empty(), "JSON mode writes only stdout: {err}");
    let v = json(&out);
    assert_eq!(v["version"], 1);
    assert_eq!(v["command"], "check");
    assert_eq!(v["ok"], false);
    assert!(v["result"].is_null());
    let diags = v["diagnostics"].as_array().unwrap();
    let p = diags
        .iter()
        .find(|p| p["code"] == "rules::unknown-attribute")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(p["severity"], "error");
    assert_eq!(p["message"], "unknown context attribute `agee`");
    assert_eq!(p["help"], "did you mean `age`?");
    assert_eq!(
        p["file"],
        dir.path()
            .join("rules/compliance.rules")
            .display()
            .to_string()
    );
    assert_eq!(
        (p["line"].as_u64(), p["column"].as_u64()),
        (Some(1), Some(column as u64))
    );
    assert_eq!(
        (p["end_line"].as_u64(), p["end_column"].as_u64()),
        (Some(1), Some(column as u64 + 4))
    );

    // The human diagnostic names the same place.
    let (code, _, human) = talktrack(&["check", d]);
    assert_eq!(code, 1);
    assert!(
        human.contains(&format!("rules/compliance.rules:1:{column}]")),
        "{human}"
    );
    insta::assert_snapshot!("check_non_ascii_line_human", human.replace(d, "[bundle]"));
}

#[test]
fn a_duplicate_rule_id_points_at_the_first_use_as_a_related_place() {
    let dir = tempfile::tempdir().unwrap();
    let compliance =
        std::fs::read_to_string(root().join("policies/telecom-upsell/rules/compliance.rules"))
            .unwrap();
    telecom_with(
        dir.path(),
        &format!(
            "{compliance}\nrule no-credit-to-minors\n  because \"again\"\n  forbid track greet\n"
        ),
    );
    let (code, out, _) = talktrack(&["check", "--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    let v = json(&out);
    let p = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "rules::duplicate-id")
        .unwrap_or_else(|| panic!("{out}"));
    let second = compliance.lines().count() + 2;
    assert_eq!(p["line"].as_u64(), Some(second as u64));
    assert_eq!(p["column"], 6);
    let related = p["related"].as_array().unwrap();
    assert_eq!(related.len(), 1, "{p}");
    let first = compliance
        .lines()
        .position(|l| l == "rule no-credit-to-minors")
        .unwrap()
        + 1;
    assert_eq!(related[0]["message"], "first use");
    assert_eq!(related[0]["file"], p["file"]);
    assert_eq!(related[0]["line"].as_u64(), Some(first as u64));
    assert_eq!(related[0]["column"], 6);
    assert_eq!(related[0]["end_column"], 6 + "no-credit-to-minors".len());
}

#[test]
fn check_of_a_good_bundle_reports_its_summary_and_the_analysis_findings() {
    let (code, out, err) = talktrack(&["check", "--format", "json", "policies/telecom-upsell"]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["result"]["bundle"], "telecom-upsell");
    assert_eq!(v["result"]["tracks"], 16);
    let diags = v["diagnostics"].as_array().unwrap();
    // The analysis, as notes: its contact-policy rules read `contacts(..)`, which the
    // analysis leaves free, so whether they ever fire is undecided.
    let undecided = diags
        .iter()
        .find(|d| {
            d["code"] == "analyze::undecided"
                && d["message"]
                    .as_str()
                    .unwrap()
                    .contains("`credit-offer-frequency` never fires")
        })
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(undecided["severity"], "note");
    assert_eq!(
        undecided["file"],
        "policies/telecom-upsell/rules/contact-policy.rules"
    );
    assert_eq!(
        (undecided["line"].as_u64(), undecided["column"].as_u64()),
        (Some(5), Some(1))
    );
    assert!(undecided["help"]
        .as_str()
        .unwrap()
        .contains("`contacts(..)` reads the contact history"));
}

#[test]
fn test_reports_every_case_and_each_failure_as_a_diagnostic() {
    let (code, out, _) = talktrack(&["test", "--format", "json", "policies/telecom-upsell"]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["ok"], true);
    let passed = v["result"]["passed"].as_u64().unwrap();
    assert!(passed > 10, "{out}");
    assert_eq!(v["result"]["failed"], 0);
    assert_eq!(
        v["result"]["cases"].as_array().unwrap().len() as u64,
        passed
    );

    let dir = tempfile::tempdir().unwrap();
    let compliance =
        std::fs::read_to_string(root().join("policies/telecom-upsell/rules/compliance.rules"))
            .unwrap();
    telecom_with(dir.path(), &compliance);
    let cases = std::fs::read_to_string(dir.path().join("cases.toml")).unwrap();
    std::fs::write(
        dir.path().join("cases.toml"),
        format!("{cases}\n[[case]]\nname = \"greeting is forbidden (wrong on purpose)\"\nforbidden = [\"greet\"]\ncontext = {{ age = 40, region = \"east\", segment = \"standard\", plan = \"basic\", tenure_months = 30, monthly_spend = 25.0, open_complaint = false, marketing_consent = true, products = [] }}\n"),
    )
    .unwrap();
    let (code, out, _) = talktrack(&["test", "--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "exit code as without --format");
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert_eq!(v["result"]["failed"], 1);
    let failed: Vec<&serde_json::Value> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "cases::failed")
        .collect();
    assert_eq!(failed.len(), 1, "{out}");
    let d = failed[0];
    assert_eq!(d["severity"], "error");
    assert_eq!(
        d["message"],
        "case `greeting is forbidden (wrong on purpose)` failed"
    );
    assert_eq!(
        d["help"],
        "forbidden: expected `greet` to be masked, but it is allowed"
    );
    assert_eq!(
        d["file"],
        dir.path().join("cases.toml").display().to_string()
    );
}

#[test]
fn fmt_check_reports_each_unformatted_file_at_its_first_unformatted_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.rules");
    std::fs::write(&good, "rule a\n  because \"x\"\n  forbid track b\n").unwrap();
    let messy = dir.path().join("messy.rules");
    std::fs::write(
        &messy,
        "rule a\n  because \"é\"\nwhen customer.age<18\n  forbid track b\n",
    )
    .unwrap();
    let (code, out, _) = talktrack(&[
        "fmt",
        "--check",
        "--format",
        "json",
        good.to_str().unwrap(),
        messy.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["command"], "fmt");
    assert_eq!(v["ok"], false);
    assert_eq!(v["result"]["checked"], 2);
    assert_eq!(
        v["result"]["unformatted"],
        serde_json::json!([messy.display().to_string()])
    );
    let d = &v["diagnostics"].as_array().unwrap()[..];
    assert_eq!(d.len(), 1, "{out}");
    assert_eq!(d[0]["code"], "rules::unformatted");
    assert_eq!(d[0]["file"], messy.display().to_string());
    assert_eq!(
        (d[0]["line"].as_u64(), d[0]["column"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(d[0]["end_column"], "when customer.age<18".len() + 1);

    // Formatted files: ok, exit 0.
    let (code, out, _) = talktrack(&["fmt", "--check", "--format", "json", good.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert!(v["diagnostics"].as_array().unwrap().is_empty());

    // A syntax error is a diagnostic with its place; `--format` needs `--check`.
    std::fs::write(&messy, "rule a\n  forbid\n").unwrap();
    let (code, out, _) = talktrack(&[
        "fmt",
        "--check",
        "--format",
        "json",
        messy.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["diagnostics"][0]["code"], "rules::syntax");
    assert!(v["diagnostics"][0]["line"].as_u64().is_some(), "{out}");
    let (code, _, err) = talktrack(&["fmt", "--format", "json", messy.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}
