//! Versions in service: identity, rollback with its pin, the decision-log hook, and
//! a stress test swapping versions (a tenth of them corrupt) under deciding threads.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use common::*;
use talktrack::serving::{DecisionRecord, DecisionSink, Outcome, Reloaded, RollbackError};
use talktrack::{Context, Engine, Request};

/// Version `m`'s policy prefers track `a` (m = 0) or `b` (m = 1), and its rules
/// forbid `c` (m = 0) or `human` (m = 1): a decision made with policy of one and rules
/// of the other would show a mismatch.
fn marked(dir: &std::path::Path, m: usize) {
    let (bias, rules) = if m == 0 {
        (
            [5.0, 0.0, 0.0, 0.0],
            "rule marker-0\n  when customer.age >= 0\n  forbid track c\n",
        )
    } else {
        (
            [0.0, 5.0, 0.0, 0.0],
            "rule marker-1\n  when customer.age >= 0\n  forbid track human\n",
        )
    };
    write_bundle(
        dir,
        SMALL_MANIFEST,
        &[("main.rules", rules)],
        &constant_policy(bias),
    );
}

fn req() -> Request {
    let mut r = Request::new("conv-1", 1_767_225_600_000);
    r.context = Context::new().with("age", 30);
    r
}

#[test]
fn identity_rollback_and_pin() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    marked(a.path(), 0);
    marked(b.path(), 1);
    let engine = Engine::load(a.path()).unwrap();
    let v1 = engine.version();
    assert_eq!((v1.name.as_str(), v1.version.as_str()), ("small", "1.0.0"));
    assert_eq!(v1.digest, engine.bundle().digest());
    assert_eq!(v1.source, a.path());
    assert_eq!(v1.serial, 1);
    assert_eq!(engine.rollback(), Err(RollbackError::NoPrevious));

    // The same bundle again is not republished.
    assert_eq!(engine.reload_from(a.path()).unwrap(), Reloaded::Unchanged);
    assert_eq!(engine.version().serial, 1);

    assert_eq!(engine.reload_from(b.path()).unwrap(), Reloaded::Published);
    let v2 = engine.version();
    assert_ne!(v2.digest, v1.digest);
    assert_eq!(engine.decide(&req()).unwrap().chosen_id(), Some("b"));

    // Rollback serves the first version again and pins it against the bundle on disk.
    let back = engine.rollback().unwrap();
    assert_eq!(back.digest, v1.digest);
    assert_eq!(engine.decide(&req()).unwrap().chosen_id(), Some("a"));
    let st = engine.status();
    assert!(st.pinned);
    assert_eq!(st.previous.unwrap().digest, v2.digest);
    assert_eq!(engine.reload_from(b.path()).unwrap(), Reloaded::Pinned);
    assert_eq!(engine.version().digest, v1.digest);

    // Unpinning lets the bundle on disk back in.
    engine.unpin();
    assert_eq!(engine.reload_from(b.path()).unwrap(), Reloaded::Published);
    assert_eq!(engine.version().digest, v2.digest);

    // A pin ends with any different bundle on disk.
    engine.rollback().unwrap();
    let c = tempfile::tempdir().unwrap();
    marked(c.path(), 0);
    std::fs::write(
        c.path().join("main.rules"),
        "rule marker-2\n  when customer.age >= 0\n  forbid track b\n",
    )
    .unwrap();
    assert_eq!(engine.reload_from(c.path()).unwrap(), Reloaded::Published);
    assert!(!engine.status().pinned);
}

#[test]
fn a_failed_reload_is_recorded_and_cleared_by_the_next_good_one() {
    let a = tempfile::tempdir().unwrap();
    marked(a.path(), 0);
    let engine = Engine::load(a.path()).unwrap();
    std::fs::write(a.path().join("main.rules"), "rule broken\n  when\n").unwrap();
    let err = engine.reload_from(a.path()).unwrap_err();
    let st = engine.status();
    let fail = st.last_error.unwrap();
    assert_eq!(fail.source, a.path());
    assert_eq!(fail.problems.len(), err.problems.len());
    assert_eq!(st.reloads_failed, 1);
    marked(a.path(), 1);
    assert_eq!(engine.reload_from(a.path()).unwrap(), Reloaded::Published);
    let st = engine.status();
    assert!(st.last_error.is_none());
    assert_eq!((st.reloads_ok, st.reloads_failed), (1, 1));
}

#[derive(Default)]
struct Collect {
    decisions: Mutex<Vec<(String, String, String)>>,
    outcomes: Mutex<Vec<Outcome>>,
}

struct Shared(Arc<Collect>);

impl DecisionSink for Shared {
    fn decision(&self, r: &DecisionRecord<'_>) {
        self.0.decisions.lock().unwrap().push((
            r.id.to_string(),
            r.version.digest.clone(),
            r.decision.chosen_id().unwrap_or("").to_owned(),
        ));
    }
    fn outcome(&self, o: &Outcome) {
        self.0.outcomes.lock().unwrap().push(o.clone());
    }
}

#[test]
fn the_sink_sees_every_decision_with_its_id_and_version() {
    let a = tempfile::tempdir().unwrap();
    marked(a.path(), 0);
    let engine = Engine::load(a.path()).unwrap();
    let _ = engine.decide(&req()).unwrap(); // no sink yet: nothing recorded
    let sink = Arc::new(Collect::default());
    engine.set_sink(Some(Box::new(Shared(Arc::clone(&sink)))));
    let (id, d) = engine.decide_with_id(&req()).unwrap();
    let _ = engine.decide(&req()).unwrap();
    let outcome = Outcome {
        conversation_id: "conv-1".into(),
        decision_id: Some(id.clone()),
        converted: true,
        value: 12.5,
        final_reply: Some("yes".into()),
    };
    engine.record_outcome(&outcome);
    let got = sink.decisions.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, id.to_string());
    assert_ne!(got[0].0, got[1].0);
    assert_eq!(got[0].1, d.bundle().digest());
    assert_eq!(got[0].2, "a");
    assert_eq!(*sink.outcomes.lock().unwrap(), vec![outcome]);

    // UUIDv7: version nibble 7, variant 10, time-ordered prefix.
    let s = id.as_str();
    assert_eq!(s.len(), 36);
    assert_eq!(&s[14..15], "7");
    assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "{s}");
    engine.set_sink(None);
    let _ = engine.decide(&req()).unwrap();
    assert_eq!(sink.decisions.lock().unwrap().len(), 2);
}

/// Threads decide without pause while the main thread swaps between two marked
/// versions, every tenth swap attempt a corrupt bundle (bad rule, truncated ONNX,
/// policy of the wrong shape): no decision fails, each matches exactly one version,
/// every corrupt bundle is rejected, and replaced versions are freed.
#[test]
fn decisions_stay_consistent_while_versions_swap() {
    const SWAPS: usize = 2_000;
    let dirs: Vec<_> = (0..2)
        .map(|m| {
            let d = tempfile::tempdir().unwrap();
            marked(d.path(), m);
            d
        })
        .collect();
    let bad: Vec<_> = (0..3)
        .map(|k| {
            let d = tempfile::tempdir().unwrap();
            marked(d.path(), 0);
            match k {
                0 => std::fs::write(
                    d.path().join("main.rules"),
                    "rule x\n  when customer.agee > 1\n  forbid track a\n",
                )
                .unwrap(),
                1 => {
                    let p = constant_policy([1.0, 2.0, 3.0, 4.0]);
                    write_bundle(
                        d.path(),
                        SMALL_MANIFEST,
                        &[("main.rules", "")],
                        &p[..p.len() / 2],
                    );
                }
                _ => {
                    let w = ndarray::Array2::<f32>::zeros((SMALL_OBS, 3));
                    let p = linear_policy(w, ndarray::Array1::zeros(3));
                    write_bundle(d.path(), SMALL_MANIFEST, &[("main.rules", "")], &p);
                }
            }
            assert!(
                talktrack::Bundle::load(d.path()).is_err(),
                "corrupt bundle {k} loads"
            );
            d
        })
        .collect();

    let engine = Arc::new(Engine::load(dirs[0].path()).unwrap());
    let digests: Vec<String> = dirs
        .iter()
        .map(|d| {
            talktrack::Bundle::load(d.path())
                .unwrap()
                .digest()
                .to_owned()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let decided = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (e, stop, decided, digests) = (
                engine.clone(),
                stop.clone(),
                decided.clone(),
                digests.clone(),
            );
            std::thread::spawn(move || {
                let r = req();
                let mut seen = [0u64; 2];
                while !stop.load(Ordering::Relaxed) {
                    let d = e.decide(&r).expect("a decision never fails while swapping");
                    let m = digests
                        .iter()
                        .position(|x| x == d.bundle().digest())
                        .expect("decided by one of the two versions");
                    let masked: Vec<_> = d.masked().iter().map(|x| x.id.to_owned()).collect();
                    let (track, forbidden) = if m == 0 { ("a", "c") } else { ("b", "human") };
                    assert_eq!(d.chosen_id(), Some(track));
                    assert_eq!(masked, vec![forbidden.to_owned()]);
                    seen[m] += 1;
                    decided.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();

    let mut weak: Vec<Weak<talktrack::Bundle>> = Vec::new();
    let (mut published, mut rejected) = (0, 0);
    for i in 0..SWAPS {
        if i % 10 == 9 {
            let e = engine.reload_from(bad[i / 10 % 3].path()).unwrap_err();
            assert!(e.problems.iter().any(|p| p.is_error()), "{i}: {e}");
            rejected += 1;
        } else {
            assert_eq!(
                engine
                    .reload_from(dirs[(published + 1) % 2].path())
                    .unwrap(),
                Reloaded::Published
            );
            published += 1;
            weak.push(Arc::downgrade(&engine.bundle()));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<[u64; 2]> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(rejected, SWAPS / 10);
    assert_eq!(engine.status().reloads_failed, rejected as u64);
    assert!(decided.load(Ordering::Relaxed) > 0);
    assert!(seen.iter().map(|s| s[0] + s[1]).sum::<u64>() > 0);
    // Only the version in service and the one a rollback would restore are alive.
    let alive = weak.iter().filter(|w| w.upgrade().is_some()).count();
    assert_eq!(
        alive, 2,
        "{published} versions published, {alive} still held"
    );
}
