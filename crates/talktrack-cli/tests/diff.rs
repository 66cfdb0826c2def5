//! `talktrack diff OLD NEW` as a reviewer uses it before a rule change ships:
//! copies of the telecom bundle, edited here, compared for a person and as JSON.

mod run;
mod schema;

use std::path::Path;

use run::{root, talktrack};

/// A copy of the telecom bundle at `dir`.
fn copy_telecom(dir: &Path) {
    let from = root().join("policies/telecom-upsell");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    for f in ["bundle.toml", "policy.onnx", "cases.toml"] {
        std::fs::copy(from.join(f), dir.join(f)).unwrap();
    }
    for f in ["compliance.rules", "business.rules", "contact-policy.rules"] {
        std::fs::copy(from.join("rules").join(f), dir.join("rules").join(f)).unwrap();
    }
}

/// Replaces `from` by `to` in `file`, which must contain it.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// OLD: the telecom bundle; NEW: the same with a change of every kind.
fn old_and_new(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (old, new) = (dir.join("old"), dir.join("new"));
    copy_telecom(&old);
    copy_telecom(&new);
    // Two rules on both sides whose targets the catalog's attributes decide.
    for side in [&old, &new] {
        let business = side.join("rules/business.rules");
        let text = std::fs::read_to_string(&business).unwrap();
        std::fs::write(
            &business,
            format!("{text}\nrule adult-products-need-consent\n  because \"adult products are offered with marketing consent only\"\n  when not customer.marketing_consent\n  forbid tracks where track.min_age >= 18\n\nrule no-premium-on-prepaid\n  because \"premium products are not sold to prepaid customers\"\n  when customer.plan == prepaid\n  forbid tracks where track.price > 50\n"),
        )
        .unwrap();
    }
    let manifest = new.join("bundle.toml");
    // The insurance is now for 16-year-olds; Unlimited is cheaper.
    edit(
        &manifest,
        "attrs = { min_age = 18, price = 6.0 }",
        "attrs = { min_age = 16, price = 6.0 }",
    );
    edit(
        &manifest,
        "attrs = { min_age = 16, price = 55.0 }",
        "attrs = { min_age = 16, price = 45.0 }",
    );
    edit(&manifest, "version = \"0.1.0\"", "version = \"0.2.0\"");
    // (`max_turns` and replies shape the policy's observation: a template changes them below.)
    edit(
        &manifest,
        "\"no_answer\"]",
        "\"no_answer\", \"callback_requested\"]",
    );
    edit(&manifest, "min = 0, max = 130", "min = 0, max = 120");
    // Device financing is no longer tagged `credit`: every rule on `tracks tagged credit`
    // now targets one track fewer, though its text did not change.
    edit(
        &manifest,
        "tags = [\"sales\", \"price\", \"credit\"]",
        "tags = [\"sales\", \"price\"]",
    );
    let compliance = new.join("rules/compliance.rules");
    // Reason only.
    edit(
        &compliance,
        "because \"Consumer Credit Act: no credit offers",
        "because \"Consumer Credit Act 2026: no credit offers",
    );
    // Logic: a refusal no longer stops selling, only a complaint does.
    edit(
        &compliance,
        "when last_reply in [complaint, refuse] or customer.open_complaint",
        "when last_reply in [complaint] or customer.open_complaint",
    );
    let text = std::fs::read_to_string(&compliance).unwrap();
    std::fs::write(
        &compliance,
        format!("{text}\nrule no-insurance-for-students\n  because \"students are covered by their parents' policy\"\n  when customer.segment == student\n  forbid track insurance_addon\n"),
    )
    .unwrap();
    edit(
        &new.join("rules/business.rules"),
        "rule already-unlimited\n  because \"customers on the unlimited plan cannot be upgraded further\"\n  owner \"sales-ops\"\n  when customer.plan == unlimited\n  forbid tracks offer_unlimited, offer_5g_upgrade\n",
        "",
    );
    // A case only the new bundle can read (its contact outcome `callback_requested` is new).
    let cases = std::fs::read_to_string(new.join("cases.toml")).unwrap();
    std::fs::write(
        new.join("cases.toml"),
        format!("{cases}\n[[case]]\nname = \"a refusal after a callback\"\ncontext = {{ age = 40, region = \"north\", segment = \"student\", plan = \"basic\", tenure_months = 30, monthly_spend = 25.0, open_complaint = false, marketing_consent = true, credit_score = 720, products = [] }}\ntime = \"2026-11-26T10:00:00Z\"\nhistory = {{ tracks = [\"greet\", \"fee_disclosure\"], replies = [\"positive\", \"refuse\"] }}\ncontacts = [{{ time = \"2026-11-24T09:00:00Z\", track = \"greet\", outcome = \"callback_requested\" }}]\nallowed = [\"offer_5g_upgrade\"]\n"),
    )
    .unwrap();
    (old, new)
}

#[test]
fn diff_tells_every_kind_of_change_for_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(dir.path());
    let (code, out, err) = talktrack(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let out = out.replace(dir.path().to_str().unwrap(), "[dir]");
    insta::assert_snapshot!("diff_telecom_human", out);
}

#[test]
fn diff_as_json_follows_the_schema_and_says_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(dir.path());
    let (code, out, err) = talktrack(&[
        "diff",
        "--format",
        "json",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    schema::assert_valid(&v);
    assert_eq!(v["command"], "diff");
    assert_eq!(v["ok"], true);
    let r = &v["result"];
    assert_eq!(r["old"]["kind"], "bundle");
    assert_eq!(r["new"]["version"], "0.2.0");
    let s = &r["settings"];
    assert!(s.get("max_turns").is_none(), "{s}");
    assert_eq!(
        s["contact_outcomes"]["added"],
        serde_json::json!(["callback_requested"])
    );
    assert_eq!(s["replies"]["added"], serde_json::json!([]));
    assert_eq!(s["context"][0]["name"], "age");
    assert_eq!(s["context"][0]["new"]["max"], 120);
    let changed = s["tracks"]["changed"].as_array().unwrap();
    let device = changed
        .iter()
        .find(|t| t["id"] == "device_financing")
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(device["tags"]["removed"], serde_json::json!(["credit"]));
    let unlimited = changed
        .iter()
        .find(|t| t["id"] == "offer_unlimited")
        .unwrap();
    assert_eq!(
        unlimited["attrs"],
        serde_json::json!([{ "name": "price", "old": 55.0, "new": 45.0 }])
    );

    let ids = |k: &str| -> Vec<String> {
        r["rules"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("added"), ["no-insurance-for-students"]);
    assert_eq!(ids("removed"), ["already-unlimited"]);
    assert_eq!(ids("logic"), ["calm-down-first"]);
    assert_eq!(
        r["rules"]["logic"][0]["parts"],
        serde_json::json!(["condition"])
    );
    assert_eq!(ids("reason_or_metadata"), ["no-credit-to-minors"]);
    assert_eq!(
        r["rules"]["reason_or_metadata"][0]["fields"],
        serde_json::json!(["because"])
    );
    let retargeted: std::collections::BTreeMap<String, (serde_json::Value, serde_json::Value)> = r
        ["rules"]["targets_through_catalog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                (t["added"].clone(), t["removed"].clone()),
            )
        })
        .collect();
    let none = serde_json::json!([]);
    for id in [
        "no-credit-to-minors",
        "credit-needs-score",
        "credit-offer-frequency",
    ] {
        // `tracks tagged credit`, a set known at load time.
        assert_eq!(
            retargeted.get(id),
            Some(&(none.clone(), serde_json::json!(["device_financing"]))),
            "{id}: {retargeted:?}"
        );
    }
    // `tracks where track.min_age >= 18`: decided by the catalog when it loads.
    assert_eq!(
        retargeted.get("adult-products-need-consent"),
        Some(&(none.clone(), serde_json::json!(["insurance_addon"])))
    );
    // `tracks where track.price > 50`: tracks without a price fail closed, on both sides.
    assert_eq!(
        retargeted.get("no-premium-on-prepaid"),
        Some(&(none.clone(), serde_json::json!(["offer_unlimited"])))
    );
    assert_eq!(retargeted.len(), 5, "{retargeted:?}");
    // `product-minimum-age` targets `tracks where track.min_age > customer.age`: the
    // request decides them.
    assert!(r["rules"]["targets_not_compared"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("product-minimum-age")));

    let c = &r["cases"];
    assert_eq!(c["chosen_compared"], true);
    assert_eq!(c["invalid_in_old"], 1, "{c}");
    assert_eq!(c["invalid_in_new"], 0);
    assert_eq!(c["invalid"][0]["case"], "a refusal after a callback");
    assert_eq!(c["invalid"][0]["from"], "new");
    assert!(
        c["invalid"][0]["old"]
            .as_str()
            .unwrap()
            .contains("callback_requested"),
        "{c}"
    );
    assert!(c["invalid"][0]["new"].is_null());
    assert_eq!(
        c["total"].as_u64().unwrap(),
        c["compared"].as_u64().unwrap() + 1
    );
}

#[test]
fn a_refusal_no_longer_masking_upsells_shows_as_newly_allowed_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(dir.path());
    // A case that both sides hold: a refusal on the last turn.
    for side in [&old, &new] {
        let cases = std::fs::read_to_string(side.join("cases.toml")).unwrap();
        std::fs::write(
            side.join("cases.toml"),
            format!("{cases}\n[[case]]\nname = \"the customer just refused\"\ncontext = {{ age = 40, region = \"north\", segment = \"standard\", plan = \"basic\", tenure_months = 30, monthly_spend = 25.0, open_complaint = false, marketing_consent = true, credit_score = 720, products = [] }}\nhistory = {{ tracks = [\"greet\", \"fee_disclosure\"], replies = [\"positive\", \"refuse\"] }}\n"),
        )
        .unwrap();
    }
    let (code, out, _) = talktrack(&[
        "diff",
        "--format",
        "json",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = v["result"]["cases"]["mask"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["case"] == "the customer just refused")
        .unwrap_or_else(|| panic!("{out}"))
        .clone();
    assert_eq!(m["from"], "both");
    assert_eq!(m["newly_masked"], serde_json::json!([]));
    let allowed: Vec<&str> = m["newly_allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for t in ["offer_5g_upgrade", "offer_unlimited", "fiber_cross_sell"] {
        assert!(allowed.contains(&t), "{t}: {allowed:?}");
    }
}

#[test]
fn a_template_is_compared_by_its_rules_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(dir.path());
    std::fs::remove_file(new.join("policy.onnx")).unwrap();
    // Without a policy, settings the observation depends on can change too.
    let manifest = new.join("bundle.toml");
    edit(&manifest, "max_turns = 12", "max_turns = 10");
    edit(&manifest, "\"no_reply\"]", "\"no_reply\", \"callback\"]");
    let (code, out, err) = talktrack(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("new: template `telecom-upsell` 0.2.0"),
        "{out}"
    );
    assert!(
        out.contains("chosen track: not compared (a side is a template, with no policy)"),
        "{out}"
    );
    let (code, out, _) = talktrack(&[
        "diff",
        "--format",
        "json",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    schema::assert_valid(&v);
    assert_eq!(v["result"]["new"]["kind"], "template");
    let s = &v["result"]["settings"];
    assert_eq!(s["max_turns"], serde_json::json!({ "old": 12, "new": 10 }));
    assert_eq!(s["replies"]["added"], serde_json::json!(["callback"]));
    assert_eq!(v["result"]["cases"]["chosen_compared"], false);
    assert_eq!(v["result"]["cases"]["chosen"], serde_json::json!([]));
    // The rules part does not need the policy.
    assert_eq!(
        v["result"]["rules"]["added"][0]["id"],
        "no-insurance-for-students"
    );
    // Some case masks differ (the refusal rule changed), found with the template's mask.
    assert!(
        !v["result"]["cases"]["mask"].as_array().unwrap().is_empty(),
        "{out}"
    );
}

#[test]
fn diff_exits_1_only_when_an_input_fails_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new(dir.path());
    // Identical sides: exit 0, nothing changed.
    let (code, out, _) = talktrack(&["diff", old.to_str().unwrap(), old.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("settings: unchanged"), "{out}");
    assert!(
        out.contains("rules: 0 added, 0 removed, 0 changed in logic"),
        "{out}"
    );
    // A policy that exists but does not match its checksum is an error, not a template.
    std::fs::write(new.join("policy.onnx"), b"not onnx").unwrap();
    let (code, out, err) = talktrack(&[
        "diff",
        "--format",
        "json",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(err.is_empty(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    schema::assert_valid(&v);
    assert_eq!(v["ok"], false);
    assert!(v["result"].is_null());
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["bundle::checksum"], "{out}");
    // A rule that does not parse: the human form names it on stderr.
    edit(
        &new.join("rules/compliance.rules"),
        "forbid tracks tagged credit",
        "forbid",
    );
    let (code, _, err) = talktrack(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("rules::syntax"), "{err}");
    // `--help` says so.
    let (_, help, _) = talktrack(&["diff", "--help"]);
    assert!(
        help.contains("1 only when an input fails to load"),
        "{help}"
    );
}

/// OLD: the telecom bundle; NEW: the same with the forbid rule
/// `already-unlimited` removed and the credit score threshold lowered from 620 to 600.
fn old_and_new_rules(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (old, new) = (dir.join("old"), dir.join("new"));
    copy_telecom(&old);
    copy_telecom(&new);
    edit(
        &new.join("rules/business.rules"),
        "rule already-unlimited\n  because \"customers on the unlimited plan cannot be upgraded further\"\n  owner \"sales-ops\"\n  when customer.plan == unlimited\n  forbid tracks offer_unlimited, offer_5g_upgrade\n",
        "",
    );
    edit(
        &new.join("rules/compliance.rules"),
        "customer.credit_score < 620",
        "customer.credit_score < 600",
    );
    (old, new)
}

#[test]
fn diff_analyze_tells_what_the_new_rules_newly_allow_on_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new_rules(dir.path());
    let (code, out, err) = talktrack(&[
        "diff",
        "--analyze",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let out = out.replace(dir.path().to_str().unwrap(), "[dir]");
    insta::assert_snapshot!("diff_analyze_telecom_human", out);
}

#[test]
fn diff_analyze_as_json_gives_witnesses_that_decide_reproduces() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = old_and_new_rules(dir.path());
    let (code, out, err) = talktrack(&[
        "diff",
        "--analyze",
        "--format",
        "json",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    schema::assert_valid(&v);
    let changes = v["result"]["analysis"]["changes"].as_array().unwrap();
    insta::assert_json_snapshot!("diff_analyze_telecom_json", changes);
    // Every witness, through `talktrack decide` on each side, shows its change.
    let mut witnessed = 0;
    for c in changes.iter().filter(|c| c["status"] == "witnessed") {
        let req = dir.path().join("witness.json");
        std::fs::write(&req, c["witness"].to_string()).unwrap();
        let allowed = |side: &Path| -> bool {
            let (code, out, err) = talktrack(&[
                "decide",
                side.to_str().unwrap(),
                "--request",
                req.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{err}");
            // `ranked` lists the allowed tracks, best first.
            let d: serde_json::Value = serde_json::from_str(&out).unwrap();
            d["ranked"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["track"] == c["track"])
        };
        let (by_old, by_new) = (allowed(&old), allowed(&new));
        match c["direction"].as_str().unwrap() {
            "newly-allowed" => assert!(by_new && !by_old, "{c}"),
            _ => assert!(by_old && !by_new, "{c}"),
        }
        witnessed += 1;
    }
    assert!(witnessed > 0, "{changes:?}");
}
