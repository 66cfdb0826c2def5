//! The compliance invariant, as a property: whatever the rules, the context and the
//! policy's scores (NaN and infinities included), a forbidden track is never chosen,
//! an `only` restriction is respected, and the fallback is used exactly when nothing
//! else is allowed — checked against an independent oracle of the rule semantics.
//!
//! The first property uses greedy selection and one-atom conditions; the second
//! adds softmax and epsilon selection with sampling seeds, `and` / `or` / `not`
//! conditions (three-valued, failing closed) and `where` predicates on an optional
//! track attribute that some tracks do not set.

mod common;

use std::sync::Arc;

use common::*;
use ndarray::{Array1, Array2};
use proptest::prelude::*;
use talktrack::tooling::{write_mlp, Activation, Dense, Head, MlpSpec};
use talktrack::Bundle;
use talktrack::Context;
use talktrack::Request;

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
        let b = Arc::new(Bundle::load(dir.path()).map_err(|e| talktrack::render(&e.problems)).unwrap());

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

/// Track prices for the second property: `None` where the track does not set `price`.
const PRICES: [Option<i64>; N] = [Some(10), None, Some(40), Some(25), None, None];

fn manifest_with(mode: &str, temperature: f32, epsilon: f32) -> String {
    let mut m = manifest()
        .replace(
            "[policy]",
            &format!(
                "[selection]\nmode = \"{mode}\"\ntemperature = {temperature:?}\nepsilon = {epsilon:?}\n\n[policy]"
            ),
        )
        .replace(
            "[[features]]\nkind = \"turn_one_hot\"",
            "[track_attributes]\nprice = { type = \"float\", optional = true }\n\n[[features]]\nkind = \"turn_one_hot\"",
        );
    for (i, p) in PRICES.iter().enumerate() {
        if let Some(p) = p {
            m = m.replace(
                &format!("id = \"t{i}\"\n"),
                &format!("id = \"t{i}\"\nattrs = {{ price = {p}.0 }}\n"),
            );
        }
    }
    m
}

/// A condition tree: atoms combined with `and`, `or`, `not`.
#[derive(Clone, Debug)]
enum Tree {
    Atom(Cond),
    And(Vec<Tree>),
    Or(Vec<Tree>),
    Not(Box<Tree>),
}

/// A predicate on the track's optional `price`.
#[derive(Clone, Debug)]
enum Pred {
    Gt(i64),
    Lt(i64),
    HasAndGt(i64),
    NotHasOrGt(i64),
}

#[derive(Clone, Debug)]
enum Target2 {
    Plain(Target),
    Where(Option<&'static str>, Pred),
}

#[derive(Clone, Debug)]
enum Effect2 {
    Forbid(Target2),
    Only(Target2),
    Boost(Target2, i32),
}

#[derive(Clone, Debug)]
struct Rule2 {
    cond: Option<Tree>,
    effect: Effect2,
}

fn tree() -> impl Strategy<Value = Tree> {
    cond()
        .prop_map(Tree::Atom)
        .prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Tree::And),
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Tree::Or),
                inner.prop_map(|t| Tree::Not(Box::new(t))),
            ]
        })
}

fn pred() -> impl Strategy<Value = Pred> {
    prop_oneof![
        (0..50i64).prop_map(Pred::Gt),
        (0..50i64).prop_map(Pred::Lt),
        (0..50i64).prop_map(Pred::HasAndGt),
        (0..50i64).prop_map(Pred::NotHasOrGt),
    ]
}

fn target2() -> impl Strategy<Value = Target2> {
    let tag = prop_oneof![Just("x"), Just("y"), Just("z")];
    prop_oneof![
        target().prop_map(Target2::Plain),
        (proptest::option::of(tag), pred()).prop_map(|(t, p)| Target2::Where(t, p)),
    ]
}

fn rule2() -> impl Strategy<Value = Rule2> {
    let effect = prop_oneof![
        3 => target2().prop_map(Effect2::Forbid),
        1 => target2().prop_map(Effect2::Only),
        2 => (target2(), -50..50i32).prop_map(|(t, b)| Effect2::Boost(t, b)),
    ];
    (proptest::option::of(tree()), effect).prop_map(|(cond, effect)| Rule2 { cond, effect })
}

fn render_atom(c: &Cond) -> String {
    match c {
        Cond::Always => "true".to_owned(),
        Cond::Lt(a, k) => format!("customer.a{a} < {k}"),
        Cond::Ge(a, k) => format!("customer.a{a} >= {k}"),
        Cond::TurnGe(k) => format!("turn >= {k}"),
        Cond::Used(t) => format!("used(t{t})"),
        Cond::Flag => "customer.flag".to_owned(),
    }
}

fn render_tree(t: &Tree) -> String {
    let join = |v: &[Tree], op: &str| {
        let parts: Vec<String> = v.iter().map(render_tree).collect();
        format!("({})", parts.join(op))
    };
    match t {
        Tree::Atom(c) => render_atom(c),
        Tree::And(v) => join(v, " and "),
        Tree::Or(v) => join(v, " or "),
        Tree::Not(t) => format!("not ({})", render_tree(t)),
    }
}

fn render_pred(p: &Pred) -> String {
    match p {
        Pred::Gt(k) => format!("track.price > {k}.0"),
        Pred::Lt(k) => format!("track.price < {k}.0"),
        Pred::HasAndGt(k) => format!("has track.price and track.price > {k}.0"),
        Pred::NotHasOrGt(k) => format!("not has track.price or track.price > {k}.0"),
    }
}

fn render2(rules: &[Rule2]) -> String {
    let mut s = String::new();
    for (i, r) in rules.iter().enumerate() {
        s.push_str(&format!("rule r{i}\n  because \"generated\"\n"));
        if let Some(c) = &r.cond {
            s.push_str(&format!("  when {}\n", render_tree(c)));
        }
        let tgt = |t: &Target2| match t {
            Target2::Plain(Target::Ids(ids)) => {
                let ids: Vec<String> = ids.iter().map(|i| format!("t{i}")).collect();
                format!("tracks {}", ids.join(", "))
            }
            Target2::Plain(Target::Tag(tag)) => format!("tracks tagged {tag}"),
            Target2::Where(None, p) => format!("tracks where {}", render_pred(p)),
            Target2::Where(Some(tag), p) => {
                format!("tracks tagged {tag} where {}", render_pred(p))
            }
        };
        match &r.effect {
            Effect2::Forbid(t) => s.push_str(&format!("  forbid {}\n\n", tgt(t))),
            Effect2::Only(t) => s.push_str(&format!("  only {}\n\n", tgt(t))),
            Effect2::Boost(t, b) => s.push_str(&format!("  boost {} by {b}\n\n", tgt(t))),
        }
    }
    s
}

/// Three-valued oracle: `None` when the condition cannot be evaluated.
fn holds2(t: &Tree, w: &World) -> Option<bool> {
    match t {
        Tree::Atom(c) => holds(c, w),
        Tree::And(v) => {
            let r: Vec<Option<bool>> = v.iter().map(|t| holds2(t, w)).collect();
            if r.contains(&Some(false)) {
                Some(false)
            } else if r.contains(&None) {
                None
            } else {
                Some(true)
            }
        }
        Tree::Or(v) => {
            let r: Vec<Option<bool>> = v.iter().map(|t| holds2(t, w)).collect();
            if r.contains(&Some(true)) {
                Some(true)
            } else if r.contains(&None) {
                None
            } else {
                Some(false)
            }
        }
        Tree::Not(t) => holds2(t, w).map(|b| !b),
    }
}

/// The predicate on track `i`: `None` when it cannot be evaluated (no price).
fn pred_holds(p: &Pred, i: usize) -> Option<bool> {
    let price = PRICES[i];
    match p {
        Pred::Gt(k) => price.map(|x| x > *k),
        Pred::Lt(k) => price.map(|x| x < *k),
        Pred::HasAndGt(k) => Some(price.is_some_and(|x| x > *k)),
        Pred::NotHasOrGt(k) => Some(price.is_none_or(|x| x > *k)),
    }
}

/// The tracks a rule acts on: for a forbid, those where the predicate holds or
/// cannot be evaluated (fail closed); for an only, those where it holds.
fn targets2(t: &Target2, forbid: bool) -> Vec<usize> {
    match t {
        Target2::Plain(t) => targets(t),
        Target2::Where(tag, p) => (0..N)
            .filter(|&i| tag.is_none_or(|tag| TAGS[i].contains(&tag)))
            .filter(|&i| match pred_holds(p, i) {
                Some(b) => b,
                None => forbid,
            })
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn sampling_never_chooses_a_masked_track(
        rules in proptest::collection::vec(rule2(), 0..8),
        a in [0..10i64, 0..10i64],
        flag in proptest::option::of(any::<bool>()),
        turn in 0..4u32,
        used in proptest::collection::vec(0..N, 0..3),
        policy in 0..4usize,
        softmax in any::<bool>(),
        temperature in prop_oneof![Just(0.05f32), Just(1.0f32), Just(20.0f32)],
        epsilon in prop_oneof![Just(0.0f32), Just(0.3f32), Just(1.0f32)],
        seeds in proptest::collection::vec(any::<u64>(), 1..6),
    ) {
        let mode = if softmax { "softmax" } else { "greedy" };
        let dir = tempfile::tempdir().unwrap();
        write_bundle(
            dir.path(),
            &manifest_with(mode, temperature, epsilon),
            &[("p.rules", &render2(&rules))],
            &policies()[policy],
        );
        let b = Arc::new(Bundle::load(dir.path()).map_err(|e| talktrack::render(&e.problems)).unwrap());

        let w = World { a, flag, turn, used: used.clone() };
        let mut forbidden = [false; N];
        let mut allowed_by_only = [true; N];
        for r in &rules {
            let fires = r.cond.as_ref().is_none_or(|c| holds2(c, &w).unwrap_or(true)); // fail closed
            match &r.effect {
                Effect2::Forbid(t) if fires => for i in targets2(t, true) { forbidden[i] = true },
                Effect2::Only(t) if fires => {
                    let keep = targets2(t, false);
                    for (i, a) in allowed_by_only.iter_mut().enumerate() { if !keep.contains(&i) { *a = false } }
                }
                _ => {}
            }
        }
        let allowed: Vec<usize> = (0..N).filter(|&i| allowed_by_only[i] && !forbidden[i]).collect();
        let fallback_only = allowed.is_empty() && !forbidden[FALLBACK];

        for seed in seeds {
            let mut req = Request::new("prop", 0);
            let mut ctx = Context::new().with("a0", a[0]).with("a1", a[1]);
            if let Some(f) = flag { ctx.set("flag", f); }
            req.context = ctx;
            req.history.turn = Some(turn);
            req.history.tracks = used.iter().map(|t| format!("t{t}")).collect();
            req.seed = Some(seed);
            let d = decide(&b, &req).unwrap();
            for i in 0..N {
                prop_assert_eq!(d.is_allowed(i), allowed.contains(&i) || (fallback_only && i == FALLBACK),
                    "track t{} allowed mismatch\nrules:\n{}", i, render2(&rules));
            }
            let ranked: Vec<usize> = d.ranked().iter().map(|r| r.track as usize).collect();
            for &t in &ranked {
                prop_assert!(d.is_allowed(t), "ranked masked t{}\nrules:\n{}", t, render2(&rules));
                prop_assert!(!forbidden[t]);
            }
            for r in d.ranked() {
                prop_assert!(r.probability.is_finite() && (0.0..=1.0 + 1e-5).contains(&r.probability));
            }
            match d.chosen() {
                Some(c) => {
                    prop_assert!(!forbidden[c], "chose forbidden t{}\nrules:\n{}", c, render2(&rules));
                    prop_assert!(d.is_allowed(c));
                    prop_assert!(ranked.contains(&c), "chose t{} outside ranked {:?}", c, ranked);
                    if fallback_only {
                        prop_assert_eq!(c, FALLBACK);
                    } else {
                        prop_assert!(allowed.contains(&c), "chose t{} outside {:?}\nrules:\n{}", c, allowed, render2(&rules));
                    }
                }
                None => {
                    prop_assert!(allowed.is_empty() && forbidden[FALLBACK]);
                    prop_assert!(ranked.is_empty());
                }
            }
        }
    }
}
