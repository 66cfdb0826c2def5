//! Decisions as a host sees them: ranking, masking with reasons, boosts, the
//! fallback, a masked fallback, non-finite policy scores, bad requests, hot swap.

mod common;

use std::sync::Arc;

use common::*;
use ndarray::{Array1, Array2};
use talktrack::Bundle;
use talktrack::Context;
use talktrack::{DecideError, Engine, PolicyUse, Request};

const RULES: &str = r#"
rule minors
  because "no credit under 18"
  ref "CCA §12"
  when customer.age < 18
  forbid tracks tagged credit

rule vip-boost
  because "VIPs hear about C first"
  when has customer.vip and customer.vip
  boost track c by 10

rule closing
  because "last turn: close"
  when turns_left <= 1
  only tracks tagged closing

rule angry
  because "no selling to an angry customer"
  when last_reply == angry
  forbid tracks tagged sales, closing
"#;

fn bundle(dir: &std::path::Path, bias: [f32; 4], rules: &str) -> Arc<Bundle> {
    write_bundle(
        dir,
        SMALL_MANIFEST,
        &[("main.rules", rules)],
        &constant_policy(bias),
    );
    Arc::new(Bundle::load(dir).unwrap_or_else(|e| panic!("{}", talktrack::render(&e.problems))))
}

fn req(age: i64) -> Request {
    let mut r = Request::new("conv-1", 1_767_225_600_000);
    r.context = Context::new().with("age", age).with("name", "Ada");
    r
}

#[test]
fn ranks_allowed_tracks_by_policy_score_and_explains_masks() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), [1.0, 3.0, 2.0, 0.0], RULES);
    let d = decide(&b, &req(16)).unwrap();
    assert_eq!(d.chosen_id(), Some("c"));
    let ids: Vec<_> = d
        .ranked()
        .iter()
        .map(|r| b.catalog().track(r.track as usize).unwrap().id.as_str())
        .collect();
    assert_eq!(ids, ["c", "a", "human"]);
    assert!(!d.is_allowed(1));
    let masked = d.masked();
    assert_eq!(masked.len(), 1);
    assert_eq!(masked[0].id, "b");
    assert_eq!(masked[0].by[0].rule.id, "minors");
    insta::assert_snapshot!("minor_explained", d.explain());
    insta::assert_json_snapshot!("minor_json", d, {".bundle.digest" => "[digest]"});
}

#[test]
fn adult_gets_the_best_track_and_text_is_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), [5.0, 3.0, 2.0, 0.0], RULES);
    let d = decide(&b, &req(30)).unwrap();
    assert_eq!(d.chosen_id(), Some("a"));
    assert_eq!(d.text(), Some("Hello Ada"));
    assert_eq!(d.ranked()[0].probability, 1.0);
    assert!(d.masked().is_empty());
}

#[test]
fn boosts_add_to_policy_scores() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), [5.0, 3.0, 2.0, 0.0], RULES);
    let mut r = req(30);
    r.context.set("vip", true);
    let d = decide(&b, &r).unwrap();
    assert_eq!(d.chosen_id(), Some("c"));
    assert_eq!(d.ranked()[0].score, 12.0);
    let boosts = d.boosts();
    assert_eq!(boosts.len(), 1);
    assert_eq!(boosts[0].0.id, "vip-boost");
    assert_eq!(boosts[0].2, vec!["c"]);
}

#[test]
fn only_restricts_but_not_the_fallback_and_forbid_masks_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), [5.0, 3.0, 2.0, 9.0], RULES);
    // Last turn: only closing tracks; `c` is allowed and chosen, `human` is restricted away.
    let mut r = req(30);
    r.history.turn = Some(4);
    let d = decide(&b, &r).unwrap();
    assert_eq!(d.chosen_id(), Some("c"));
    assert!(!d.fallback_used());
    // Last turn and angry: closing forbidden too → nothing allowed → fallback.
    r.history.replies = vec!["angry".into()];
    r.history.tracks = vec!["a".into()];
    let d = decide(&b, &r).unwrap();
    assert_eq!(d.chosen_id(), Some("human"));
    assert!(d.fallback_used());
    insta::assert_snapshot!("fallback_explained", d.explain());

    // A forbid rule that masks the fallback too: no choice, and the decision says why.
    let dir2 = tempfile::tempdir().unwrap();
    let rules = format!(
        "{RULES}\nrule no-handover\n  because \"no staff on duty\"\n  when turns_left <= 1\n  forbid tracks tagged handover\n"
    );
    let b2 = bundle(dir2.path(), [5.0, 3.0, 2.0, 9.0], &rules);
    let d = decide(&b2, &r).unwrap();
    assert_eq!(d.chosen(), None);
    assert!(d.ranked().is_empty());
    assert!(d
        .no_choice()
        .unwrap()
        .contains("hand the conversation to a person"));
    insta::assert_snapshot!("no_choice_explained", d.explain());
}

#[test]
fn missing_optional_attribute_fails_closed_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let rules = "rule needs-vip\n  because \"only VIPs hear about A\"\n  when not customer.vip\n  forbid track a\n";
    let b = bundle(dir.path(), [5.0, 3.0, 2.0, 0.0], rules);
    let d = decide(&b, &req(30)).unwrap();
    assert!(
        !d.is_allowed(0),
        "a must be forbidden when `vip` is unknown"
    );
    let errors = d.rule_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0.id, "needs-vip");
    let mut r = req(30);
    r.context.set("vip", true);
    let d = decide(&b, &r).unwrap();
    assert!(d.is_allowed(0));
    assert!(d.rule_errors().is_empty());
}

#[test]
fn nan_scores_never_crash_and_rank_without_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    // Finite weights whose forward pass overflows: inf - inf = NaN for every track.
    let mut w = Array2::<f32>::zeros((SMALL_OBS, 4));
    w.row_mut(0).fill(3e38);
    let policy = talktrack::tooling::write_mlp(&talktrack::tooling::MlpSpec {
        layers: vec![
            talktrack::tooling::Dense {
                weights: Array2::from_elem((SMALL_OBS, 2), 3e38),
                bias: Array1::from(vec![3e38, 3e38]),
            },
            talktrack::tooling::Dense {
                weights: Array2::from_shape_vec((2, 4), vec![1., 1., 1., 1., -1., -1., -1., -1.])
                    .unwrap(),
                bias: Array1::zeros(4),
            },
        ],
        hidden: talktrack::tooling::Activation::Relu,
        head: talktrack::tooling::Head::Identity,
        input: "obs".into(),
        output: "scores".into(),
        opset: 17,
        doc: String::new(),
    })
    .unwrap();
    write_bundle(
        dir.path(),
        SMALL_MANIFEST,
        &[("main.rules", RULES)],
        &policy,
    );
    let b = Arc::new(Bundle::load(dir.path()).unwrap());
    let d = decide(&b, &req(16)).unwrap();
    assert!(
        matches!(d.policy_use(), PolicyUse::NonFinite { .. }),
        "{:?}",
        d.policy_use()
    );
    let chosen = d.chosen().unwrap();
    assert_ne!(chosen, 1, "the forbidden credit track must never be chosen");
    assert!(d.ranked().iter().all(|r| r.score.is_finite()));
}

#[test]
fn bad_requests_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), [1.0, 3.0, 2.0, 0.0], RULES);
    let mut r = req(30);
    r.context.set("zip", "12345");
    assert_eq!(
        decide(&b, &r).unwrap_err().to_string(),
        "unknown context attribute `zip`"
    );
    let mut r = Request::new("x", 0);
    r.context = Context::new().with("age", "thirty");
    assert_eq!(
        decide(&b, &r).unwrap_err().to_string(),
        "context attribute `age` must be int, found string"
    );
    let r = Request::new("x", 0);
    assert_eq!(
        decide(&b, &r).unwrap_err().to_string(),
        "missing required context attribute `age`"
    );
    let mut r = req(30);
    r.history.tracks = vec!["a".into(), "zzz".into()];
    assert!(matches!(
        decide(&b, &r),
        Err(DecideError::UnknownTrack { index: 1, .. })
    ));
    let mut r = req(30);
    r.history.replies = vec!["meh".into()];
    assert_eq!(
        decide(&b, &r).unwrap_err().to_string(),
        "`history.replies[0]`: unknown reply category `meh`"
    );
    let e = Request::from_json(
        r#"{"conversation_id": "x", "time": "2026-01-01T00:00:00Z", "contxt": {}}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `contxt`"), "{e}");
    let e = Request::from_json(r#"{"conversation_id": "x", "time": "yesterday"}"#).unwrap_err();
    assert!(e.to_string().contains("RFC 3339"), "{e}");
}

#[test]
fn hot_swap_keeps_serving_when_the_new_bundle_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let _ = bundle(dir.path(), [5.0, 3.0, 2.0, 0.0], RULES);
    let engine = Arc::new(Engine::load(dir.path()).unwrap());
    let digest = engine.bundle().digest().to_owned();

    // In-flight decisions on other threads keep working across swaps.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let e = engine.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let d = e.decide(&req(16)).unwrap();
                    assert_ne!(d.chosen_id(), Some("b"));
                }
            })
        })
        .collect();

    // A broken rules file: rejected, the old bundle keeps serving.
    std::fs::write(
        dir.path().join("main.rules"),
        "rule broken\n  when customer.agee < 3\n  forbid track a\n",
    )
    .unwrap();
    let err = engine.reload(dir.path()).unwrap_err();
    assert!(err.problems.iter().any(|p| p.message.contains("agee")));
    assert_eq!(engine.bundle().digest(), digest);

    // A valid new version is published and changes the digest.
    std::fs::write(dir.path().join("main.rules"), RULES.replace("< 18", "< 21")).unwrap();
    let b = engine.reload(dir.path()).unwrap();
    assert_ne!(b.digest(), digest);
    let d = engine.decide(&req(19)).unwrap();
    assert!(!d.is_allowed(1));
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn a_track_without_an_optional_track_attribute_is_named_in_the_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SMALL_MANIFEST
        .replace(
            "min_age = \"int\"",
            "min_age = \"int\"\nprice = { type = \"float\", optional = true }",
        )
        .replace(
            "attrs = { min_age = 18 }",
            "attrs = { min_age = 18, price = 40.0 }",
        );
    let rules = "rule pricey\n  because \"nothing over 30 today\"\n  forbid tracks tagged sales where track.price > 30.0\n";
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", rules)],
        &constant_policy([5.0, 3.0, 2.0, 0.0]),
    );
    let b = Arc::new(Bundle::load(dir.path()).unwrap());
    // Loading warns that `a` has no price.
    let warnings = talktrack::render(b.warnings());
    assert!(
        warnings.contains("1 track has no `price` (`a`)"),
        "{warnings}"
    );
    let d = decide(&b, &req(30)).unwrap();
    assert!(!d.is_allowed(0) && !d.is_allowed(1));
    let explained = d.explain();
    assert!(
        explained.contains("failed closed: track `a` has no `price`"),
        "{explained}"
    );
    insta::assert_snapshot!("missing_track_attribute_explained", explained);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(
        json["rule_errors"][0]["error"],
        "a targeted track has no `price`"
    );
}

#[test]
fn rule_errors_are_explained_with_rule_location_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let rules = "rule vip-boost\n  because \"VIPs hear about C first\"\n  when customer.vip\n  boost track c by 10\n\nrule vip-only\n  because \"A is for VIPs\"\n  when not customer.vip\n  forbid track a\n";
    let b = bundle(dir.path(), [5.0, 3.0, 2.0, 0.0], rules);
    // `vip` is optional and not sent: both rules fail, the boost is not applied.
    let d = decide(&b, &req(30)).unwrap();
    assert_eq!(d.rule_errors().len(), 2);
    let explained = d.explain();
    assert!(
        explained.contains("vip-boost (main.rules:1:1) — not applied: `vip` was not sent"),
        "{explained}"
    );
    insta::assert_snapshot!("rule_errors_explained", explained);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["rule_errors"][0]["rule"], "vip-boost");
    assert_eq!(json["rule_errors"][0]["at"], "main.rules:1:1");
    assert_eq!(json["rule_errors"][0]["error"], "`vip` was not sent");
}

#[test]
fn mistyped_context_values_name_the_attribute() {
    let json = |ctx: &str| {
        format!(r#"{{"conversation_id": "x", "time": "2026-01-01T00:00:00Z", "context": {ctx}}}"#)
    };
    let e = Request::from_json(&json(r#"{"age": 30, "name": {"first": "Ada"}}"#)).unwrap_err();
    assert!(e.to_string().contains("`context.name`"), "{e}");
    let e = Request::from_json(&json(r#"{"age": 30, "tags": ["a", 2]}"#)).unwrap_err();
    assert!(e.to_string().contains("`context.tags[1]`"), "{e}");
    let e = Request::from_json(&json(r#"{"age": 30, "age": 31}"#)).unwrap_err();
    assert!(e.to_string().contains("`age` is given twice"), "{e}");
}

#[test]
fn null_means_absent_for_optional_attributes_and_is_refused_for_required_ones() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), [1.0, 3.0, 2.0, 0.0], RULES);
    let json = |ctx: &str| {
        Request::from_json(&format!(
            r#"{{"conversation_id": "x", "time": "2026-01-01T00:00:00Z", "context": {ctx}}}"#
        ))
        .unwrap()
    };
    // `vip` and `name` are optional: null is the same as leaving them out.
    let with_null = decide(&b, &json(r#"{"age": 30, "vip": null, "name": null}"#)).unwrap();
    let without = decide(&b, &json(r#"{"age": 30}"#)).unwrap();
    assert_eq!(with_null.chosen_id(), without.chosen_id());
    assert_eq!(with_null.rule_errors().len(), without.rule_errors().len());
    // `age` is required.
    assert_eq!(
        decide(&b, &json(r#"{"age": null}"#))
            .unwrap_err()
            .to_string(),
        "context attribute `age` must be int, found null (it is required)"
    );
    // An unknown attribute is refused even when null.
    assert_eq!(
        decide(&b, &json(r#"{"age": 30, "zip": null}"#))
            .unwrap_err()
            .to_string(),
        "unknown context attribute `zip`"
    );
}

#[test]
fn oversized_requests_are_refused_before_parsing() {
    let padding = " ".repeat(talktrack::MAX_REQUEST_BYTES);
    let text = format!(r#"{{"conversation_id": "x", "time": "2026-01-01T00:00:00Z"}}{padding}"#);
    let e = Request::from_json(&text).unwrap_err();
    assert!(matches!(e, DecideError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("1048576 allowed"), "{e}");
}

#[test]
fn a_turn_past_the_history_limit_is_refused_and_one_past_max_turns_still_decides() {
    let dir = tempfile::tempdir().unwrap();
    let rules = format!(
        "{RULES}\nrule hard-stop\n  because \"the conversation is over\"\n  when turn >= max_turns\n  forbid tracks tagged sales\n"
    );
    let b = bundle(dir.path(), [5.0, 3.0, 2.0, 0.0], &rules);
    let mut r = req(30);
    r.history.turn = Some(u32::MAX);
    let e = decide(&b, &r).unwrap_err();
    assert_eq!(e, DecideError::TurnTooLarge(u32::MAX));
    assert_eq!(
        e.to_string(),
        "`history.turn` is 4294967295, more than the 10000 allowed"
    );
    let json = r#"{"conversation_id": "x", "time": "2026-01-01T00:00:00Z",
        "context": {"age": 30}, "history": {"turn": 4294967295}}"#;
    let e = decide(&b, &Request::from_json(json).unwrap()).unwrap_err();
    assert!(matches!(e, DecideError::TurnTooLarge(4_294_967_295)), "{e}");
    r.history.turn = Some(talktrack::MAX_HISTORY as u32 + 1);
    assert!(matches!(
        decide(&b, &r),
        Err(DecideError::TurnTooLarge(10_001))
    ));

    // The last turn allowed: far past `max_turns`, rules reading `turn` still apply.
    r.history.turn = Some(talktrack::MAX_HISTORY as u32);
    let d = decide(&b, &r).unwrap();
    assert_eq!(d.turn(), 10_000);
    assert!(
        !d.is_allowed(0) && !d.is_allowed(1),
        "hard-stop forbids sales"
    );
    assert_eq!(d.chosen_id(), Some("c"));
    let explained = d.explain();
    assert!(explained.contains("turn 10001 of 5"), "{explained}");
}

#[test]
fn an_integer_beyond_the_int_range_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), [1.0, 3.0, 2.0, 0.0], RULES);
    for age in ["9223372036854775808", "-9223372036854775809", "1e19"] {
        let r = Request::from_json(&format!(
            r#"{{"conversation_id": "x", "time": "2026-01-01T00:00:00Z", "context": {{"age": {age}}}}}"#
        ))
        .unwrap();
        assert_eq!(
            decide(&b, &r).unwrap_err().to_string(),
            "context attribute `age` must be int, found a whole number outside the int range (-9223372036854775808 to 9223372036854775807)",
            "{age}"
        );
    }
    let r = Request::from_json(
        r#"{"conversation_id": "x", "time": "2026-01-01T00:00:00Z", "context": {"age": 9223372036854775807}}"#,
    )
    .unwrap();
    assert!(decide(&b, &r).is_ok());
}

#[test]
fn a_request_that_is_not_utf8_names_the_bad_byte() {
    let mut bytes = br#"{"conversation_id": "caf"#.to_vec();
    bytes.push(0xe9); // Latin-1 `é`
    bytes.extend_from_slice(br#"", "time": "2026-01-01T00:00:00Z"}"#);
    let e = Request::from_json_bytes(&bytes).unwrap_err();
    assert_eq!(e, DecideError::NotUtf8 { offset: 24 });
    assert_eq!(
        e.to_string(),
        "the request is not UTF-8: byte 24 (counting from 0) starts an invalid sequence"
    );
    let ok =
        Request::from_json_bytes(br#"{"conversation_id": "x", "time": "2026-01-01T00:00:00Z"}"#)
            .unwrap();
    assert_eq!(ok.conversation_id, "x");
    let big = vec![b' '; talktrack::MAX_REQUEST_BYTES + 1];
    assert!(matches!(
        Request::from_json_bytes(&big),
        Err(DecideError::TooLarge { .. })
    ));
}

#[test]
fn an_embedding_no_feature_reads_is_reported_not_silently_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path(), [5.0, 3.0, 2.0, 0.0], RULES);
    let plain = decide(&b, &req(30)).unwrap();
    assert_eq!(plain.embedding_ignored(), None);
    assert!(!plain.explain().contains("embedding"));
    assert_eq!(
        serde_json::to_value(&plain).unwrap()["embedding_ignored"],
        false
    );

    let mut r = req(30);
    r.embedding = Some(vec![0.5; 8]);
    let d = decide(&b, &r).unwrap();
    assert_eq!(d.chosen_id(), plain.chosen_id());
    assert_eq!(d.embedding_ignored(), Some(8));
    assert_eq!(serde_json::to_value(&d).unwrap()["embedding_ignored"], true);
    insta::assert_snapshot!("embedding_ignored_explained", d.explain());
}
