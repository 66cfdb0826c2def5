//! Champion, challenger and shadow in the engine: the sticky split by the named
//! hash of the conversation id, shadow decisions handed to the sink and never
//! served, promotion with its pin, and a rejected challenger leaving the arms as
//! they were.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use talktrack::serving::{
    bucket, Arm, ArmMode, DecisionRecord, DecisionSink, Outcome, PromoteError, Reloaded, Split,
    SPLIT_HASH,
};
use talktrack::{Context, Engine, Request};

/// Version `m`'s policy prefers track `a` (m = 0) or `b` (m = 1).
fn marked(dir: &std::path::Path, m: usize) {
    let bias = if m == 0 {
        [5.0, 0.0, 0.0, 0.0]
    } else {
        [0.0, 5.0, 0.0, 0.0]
    };
    write_bundle(
        dir,
        SMALL_MANIFEST,
        &[("main.rules", "")],
        &constant_policy(bias),
    );
}

fn req(conv: &str) -> Request {
    let mut r = Request::new(conv, 1_767_225_600_000);
    r.context = Context::new().with("age", 30);
    r
}

fn two_versions() -> (tempfile::TempDir, tempfile::TempDir, Engine) {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    marked(a.path(), 0);
    marked(b.path(), 1);
    let engine = Engine::load(a.path()).unwrap();
    (a, b, engine)
}

#[test]
fn the_split_hash_is_sha256_of_the_id_mod_10000() {
    assert_eq!(SPLIT_HASH, "sha256-mod-10000");
    // The first eight bytes of SHA-256("c-1"), big-endian, mod 10,000.
    let h = u64::from_str_radix(&hex_sha256("c-1")[..16], 16).unwrap();
    assert_eq!(u64::from(bucket("c-1")), h % 10_000);
    assert_eq!(bucket("c-1"), 5_146); // computed independently
    assert!((0..1_000).all(|i| bucket(&format!("conv-{i}")) < 10_000));
    assert!(Split::new(ArmMode::Split, 100.5).is_err());
    assert!(Split::new(ArmMode::Split, -1.0).is_err());
    assert_eq!(
        Split::new(ArmMode::Split, 12.34).unwrap().basis_points,
        1234
    );
}

fn hex_sha256(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[test]
fn a_challenger_serves_its_sticky_share_of_conversations() {
    let (_a, b, engine) = two_versions();
    let split = Split::new(ArmMode::Split, 30.0).unwrap();
    assert_eq!(
        engine.load_challenger(b.path(), split).unwrap(),
        Reloaded::Published
    );
    let mut challenger = 0;
    for i in 0..2_000 {
        let conv = format!("conv-{i}");
        let first = engine.decide_assigned(&req(&conv)).unwrap();
        // The arm follows the hash, and the served decision comes from that arm's version.
        let expect = if split.takes(&conv) {
            Arm::Challenger
        } else {
            Arm::Champion
        };
        assert_eq!(first.arm, expect);
        let track = if expect == Arm::Challenger { "b" } else { "a" };
        assert_eq!(first.decision.chosen_id(), Some(track), "{conv}");
        assert!(first.shadow.is_none());
        // Sticky: the same conversation lands on the same arm every turn.
        let again = engine.decide_assigned(&req(&conv)).unwrap();
        assert_eq!(again.arm, first.arm);
        challenger += usize::from(first.arm == Arm::Challenger);
    }
    // 30 % of 2,000 conversations, within sampling noise (sd ≈ 20).
    assert!((500..700).contains(&challenger), "{challenger}");
    let st = engine.status().challenger.unwrap();
    assert_eq!(st.split, split);
    assert_eq!(
        st.version.digest,
        talktrack::Bundle::load(b.path()).unwrap().digest()
    );

    // The same bundle again only changes the split.
    let none = Split::new(ArmMode::Split, 0.0).unwrap();
    assert_eq!(
        engine.load_challenger(b.path(), none).unwrap(),
        Reloaded::Unchanged
    );
    assert!((0..200).all(|i| engine
        .decide_assigned(&req(&format!("conv-{i}")))
        .unwrap()
        .arm
        == Arm::Champion));
    assert!(engine.clear_challenger().is_some());
    assert!(engine.challenger().is_none());
}

#[derive(Default)]
struct Collect(Mutex<Vec<(Arm, String, Option<String>)>>);

struct Shared(Arc<Collect>);

impl DecisionSink for Shared {
    fn decision(&self, r: &DecisionRecord<'_>) {
        let shadow = r.shadow.map(|s| {
            s.result.as_ref().map_or("error".to_owned(), |d| {
                d.chosen_id().unwrap_or("").to_owned()
            })
        });
        self.0 .0.lock().unwrap().push((
            r.arm,
            r.decision.chosen_id().unwrap_or("").to_owned(),
            shadow,
        ));
    }
    fn outcome(&self, _: &Outcome) {}
}

#[test]
fn a_shadow_decides_and_is_logged_but_the_champion_is_served() {
    let (_a, b, engine) = two_versions();
    let sink = Arc::new(Collect::default());
    engine.set_sink(Some(Box::new(Shared(Arc::clone(&sink)))));
    let all = Split::new(ArmMode::Shadow, 100.0).unwrap();
    engine.load_challenger(b.path(), all).unwrap();
    for i in 0..20 {
        let got = engine.decide_assigned(&req(&format!("c-{i}"))).unwrap();
        assert_eq!(got.arm, Arm::Champion);
        assert_eq!(got.decision.chosen_id(), Some("a"));
        let shadow = got.shadow.unwrap();
        assert_eq!(shadow.result.unwrap().chosen_id(), Some("b"));
        assert_eq!(
            shadow.version.digest,
            engine.challenger().unwrap().version.digest
        );
    }
    // `decide` serves the champion too; the sink saw every shadow decision.
    assert_eq!(engine.decide(&req("c-x")).unwrap().chosen_id(), Some("a"));
    let seen = sink.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 21);
    assert!(seen
        .iter()
        .all(|(arm, t, s)| *arm == Arm::Champion && t == "a" && s.as_deref() == Some("b")));
}

#[test]
fn promotion_serves_the_challenger_to_all_and_a_rollback_undoes_it() {
    let (a, b, engine) = two_versions();
    assert_eq!(engine.promote(), Err(PromoteError::NoChallenger));
    let v1 = engine.version();
    engine
        .load_challenger(b.path(), Split::new(ArmMode::Split, 10.0).unwrap())
        .unwrap();
    let promoted = engine.promote().unwrap();
    assert_ne!(promoted.digest, v1.digest);
    assert!(engine.challenger().is_none());
    assert!(
        (0..100).all(|i| engine.decide(&req(&format!("c-{i}"))).unwrap().chosen_id() == Some("b"))
    );
    // The champion on disk is still the old one: the promotion holds against it.
    assert_eq!(engine.reload_from(a.path()).unwrap(), Reloaded::Pinned);
    assert_eq!(engine.version().digest, promoted.digest);
    // A rollback brings the replaced champion back.
    assert_eq!(engine.rollback().unwrap().digest, v1.digest);
    assert_eq!(engine.decide(&req("c-1")).unwrap().chosen_id(), Some("a"));
}

#[test]
fn an_invalid_challenger_is_refused_and_the_arms_keep_serving() {
    let (_a, b, engine) = two_versions();
    let split = Split::new(ArmMode::Split, 50.0).unwrap();
    engine.load_challenger(b.path(), split).unwrap();
    let before = engine.challenger().unwrap().version;
    let bad = tempfile::tempdir().unwrap();
    marked(bad.path(), 1);
    std::fs::write(
        bad.path().join("main.rules"),
        "rule x\n  when customer.agee > 1\n  forbid track a\n",
    )
    .unwrap();
    let err = engine.load_challenger(bad.path(), split).unwrap_err();
    assert!(!err.problems.is_empty());
    assert_eq!(engine.challenger().unwrap().version, before);
    let st = engine.status();
    assert_eq!(st.last_error.unwrap().source, bad.path());
    assert_eq!(st.reloads_failed, 1);
}
