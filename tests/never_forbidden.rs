//! The compliance invariant, as a property: whatever the rules, the context and the
//! policy's scores (NaN and infinities included), a forbidden track is never chosen,
//! an `only` restriction is respected, and the fallback is used exactly when nothing
//! else is allowed — checked against an independent oracle of the rule semantics.

mod common;

use std::sync::Arc;

use common::*;
use ndarray::{Array1, Array2};
use proptest::prelude::*;
use talktrack::bundle::Bundle;
use talktrack::context::Context;
use talktrack::engine::{decide, Request};
use talktrack::policy::onnx_writer::{write_mlp, Activation, Dense, Head, MlpSpec};

const N: usize = 6;
const FALLBACK: usize = 5;
const TAGS: [&[&str]; N] = [&["x"], &["x", "y"], &["y"], &["z"], &["x", "z"], &["h"]];
const OBS: usize = 4 + 3;

fn manifest() -> String {
    let mut m = String::from(
        "format = 1\nname = \"prop\"\nversion = \"1\"\nmax_turns = 4\nfallback = \"t5\"\nreplies = [\"r0\", \"r1\"]\nrules = [\"p.rules\"]\n\n[policy]\nfile = \"policy.onnx\"\nsha256 = \"{sha256}\"\ninput = \"obs\"\noutput = \"scores\"\nscores = \"logits\"\n\n[context]\na0 = \"int\"\na1 = \"int\"\nflag = { type = \"bool\", optional = true }\n\n[[features]]\nkind = \"turn_one_hot\"\n\n[[features]]\nkind = \"last_reply_one_hot\"\n\n",
    );
    for (i, tags) in TAGS.iter().enumerate() {
        let tags: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
        m.push_str(&format!(
            "[[tracks]]\nid = \"t{i}\"\ntags = [{}]\n\n",
            tags.join(", ")
        ));
    }
    m
}

#[derive(Clone, Debug)]
enum Cond {
    Always,
    Lt(usize, i64),
    Ge(usize, i64),
    TurnGe(u32),
    Used(usize),
    Flag,
}

#[derive(Clone, Debug)]
enum Target {
    Ids(Vec<usize>),
    Tag(&'static str),
}

#[derive(Clone, Debug)]
enum Effect {
    Forbid(Target),
    Only(Target),
    Boost(Target, i32),
}

#[derive(Clone, Debug)]
struct Rule {
    cond: Cond,
    effect: Effect,
}

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        Just(Cond::Always),
        (0..2usize, 0..10i64).prop_map(|(a, k)| Cond::Lt(a, k)),
        (0..2usize, 0..10i64).prop_map(|(a, k)| Cond::Ge(a, k)),
        (0..4u32).prop_map(Cond::TurnGe),
        (0..N).prop_map(Cond::Used),
        Just(Cond::Flag),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        proptest::collection::vec(0..N, 1..3).prop_map(Target::Ids),
        prop_oneof![Just("x"), Just("y"), Just("z"), Just("h")].prop_map(Target::Tag),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    let effect = prop_oneof![
        3 => target().prop_map(Effect::Forbid),
        1 => target().prop_map(Effect::Only),
        2 => (target(), -50..50i32).prop_map(|(t, b)| Effect::Boost(t, b)),
    ];
    (cond(), effect).prop_map(|(cond, effect)| Rule { cond, effect })
}

fn render(rules: &[Rule]) -> String {
    let mut s = String::new();
    for (i, r) in rules.iter().enumerate() {
        s.push_str(&format!("rule r{i}\n  because \"generated\"\n"));
        let c = match &r.cond {
            Cond::Always => None,
            Cond::Lt(a, k) => Some(format!("customer.a{a} < {k}")),
            Cond::Ge(a, k) => Some(format!("customer.a{a} >= {k}")),
            Cond::TurnGe(k) => Some(format!("turn >= {k}")),
            Cond::Used(t) => Some(format!("used(t{t})")),
            Cond::Flag => Some("customer.flag".to_owned()),
        };
        if let Some(c) = c {
            s.push_str(&format!("  when {c}\n"));
        }
        let tgt = |t: &Target| match t {
            Target::Ids(ids) => {
                let ids: Vec<String> = ids.iter().map(|i| format!("t{i}")).collect();
                format!("tracks {}", ids.join(", "))
            }
            Target::Tag(tag) => format!("tracks tagged {tag}"),
        };
        match &r.effect {
            Effect::Forbid(t) => s.push_str(&format!("  forbid {}\n\n", tgt(t))),
            Effect::Only(t) => s.push_str(&format!("  only {}\n\n", tgt(t))),
            Effect::Boost(t, b) => s.push_str(&format!("  boost {} by {b}\n\n", tgt(t))),
        }
    }
    s
}

fn targets(t: &Target) -> Vec<usize> {
    match t {
        Target::Ids(ids) => ids.clone(),
        Target::Tag(tag) => (0..N).filter(|&i| TAGS[i].contains(tag)).collect(),
    }
}

struct World {
    a: [i64; 2],
    flag: Option<bool>,
    turn: u32,
    used: Vec<usize>,
}

/// The oracle: `Some(true/false)` when the condition evaluates, `None` when it cannot.
fn holds(c: &Cond, w: &World) -> Option<bool> {
    Some(match c {
        Cond::Always => true,
        Cond::Lt(a, k) => w.a[*a] < *k,
        Cond::Ge(a, k) => w.a[*a] >= *k,
        Cond::TurnGe(k) => w.turn >= *k,
        Cond::Used(t) => w.used.contains(t),
        Cond::Flag => w.flag?,
    })
}

fn policies() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut seed = 7u64;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    for scale in [1.0f32, 100.0, 1e30] {
        let w = Array2::from_shape_fn((OBS, N), |_| rnd() * scale);
        let b = Array1::from_shape_fn(N, |_| rnd() * scale);
        out.push(linear_policy(w, b));
    }
    // Overflows to inf - inf = NaN on every track.
    out.push(
        write_mlp(&MlpSpec {
            layers: vec![
                Dense {
                    weights: Array2::from_elem((OBS, 2), 3e38),
                    bias: Array1::from(vec![3e38, 3e38]),
                },
                Dense {
                    weights: Array2::from_shape_fn(
                        (2, N),
                        |(i, _)| if i == 0 { 1.0 } else { -1.0 },
                    ),
                    bias: Array1::zeros(N),
                },
            ],
            hidden: Activation::Relu,
            head: Head::Identity,
            input: "obs".into(),
            output: "scores".into(),
            opset: 17,
            doc: String::new(),
        })
        .unwrap(),
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_forbidden_track_is_never_chosen(
        rules in proptest::collection::vec(rule(), 0..8),
        a in [0..10i64, 0..10i64],
        flag in proptest::option::of(any::<bool>()),
        turn in 0..4u32,
        used in proptest::collection::vec(0..N, 0..3),
        reply in proptest::option::of(0..2usize),
        policy in 0..4usize,
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_bundle(dir.path(), &manifest(), &[("p.rules", &render(&rules))], &policies()[policy]);
        let b = Arc::new(Bundle::load(dir.path()).map_err(|e| talktrack::diag::render(&e.problems)).unwrap());

        let mut req = Request::new("prop", 0);
        let mut ctx = Context::new().with("a0", a[0]).with("a1", a[1]);
        if let Some(f) = flag { ctx.set("flag", f); }
        req.context = ctx;
        req.history.turn = Some(turn);
        req.history.tracks = used.iter().map(|t| format!("t{t}")).collect();
        req.history.replies = reply.map(|r| vec![format!("r{r}")]).unwrap_or_default();
        let d = decide(&b, &req).unwrap();

        let w = World { a, flag, turn, used: used.clone() };
        let mut forbidden = [false; N];
        let mut allowed_by_only = [true; N];
        for r in &rules {
            let fires = holds(&r.cond, &w).unwrap_or(true); // fail closed
            let evaluable = holds(&r.cond, &w).is_some();
            match &r.effect {
                Effect::Forbid(t) if fires => for i in targets(t) { forbidden[i] = true },
                Effect::Only(t) if fires => {
                    let keep = targets(t);
                    for (i, a) in allowed_by_only.iter_mut().enumerate() { if !keep.contains(&i) { *a = false } }
                }
                Effect::Boost(..) => { let _ = evaluable; }
                _ => {}
            }
        }
        let allowed: Vec<usize> = (0..N).filter(|&i| allowed_by_only[i] && !forbidden[i]).collect();
        for i in 0..N {
            prop_assert_eq!(d.is_allowed(i), allowed.contains(&i) || (allowed.is_empty() && i == FALLBACK && !forbidden[FALLBACK]),
                "track t{} allowed mismatch\nrules:\n{}", i, render(&rules));
        }
        match d.chosen() {
            Some(c) => {
                prop_assert!(!forbidden[c], "chose forbidden t{}", c);
                if allowed.is_empty() {
                    prop_assert_eq!(c, FALLBACK);
                    prop_assert!(d.fallback_used());
                } else {
                    prop_assert!(allowed.contains(&c), "chose t{} outside {:?}", c, allowed);
                }
            }
            None => {
                prop_assert!(allowed.is_empty() && forbidden[FALLBACK]);
                prop_assert!(d.no_choice().is_some());
            }
        }
        for r in d.ranked() {
            prop_assert!(!forbidden[r.track as usize]);
            prop_assert!(r.probability.is_finite());
        }
    }
}
