//! The oracle: on 240 generated small rule sets whose constants lie in a small
//! range, every request in a box that meets every cell of the analysis's split
//! is run through the real mask, and the analysis must agree with what that
//! exhaustive enumeration sees: a track is reported never allowed exactly when
//! no request allows it, a rule never fires exactly when none fires it, the
//! masking findings appear exactly when such a request exists, a rule is
//! shadowed exactly when no request where it fires leaves one of its targets
//! open, and nothing in this exact fragment is undecided.
#![allow(clippy::unwrap_used, clippy::panic)]

mod gen;

use std::collections::BTreeMap;
use std::path::Path;

use talktrack::tooling::{
    compile_str, mask, AttrType, Catalog, EffectKind, MaskOutcome, RuleEnv, Schema, TrackSet,
    TurnView, Val, Verdict,
};
use talktrack_analyze::{analyze, Kind, Options, Subject};

use gen::{decl, rules, track, Gen, MAX_TURNS};

#[test]
fn exhaustive_enumeration_agrees_with_every_claim() {
    let schema = Schema::new(vec![
        decl("a", AttrType::Int, false),
        decl("b", AttrType::Int, false),
        decl("flag", AttrType::Bool, false),
        decl("opt", AttrType::Int, true),
    ])
    .unwrap();
    let replies = vec!["yes".to_owned(), "no".to_owned()];
    let mut checked = 0;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for seed in 0..240u64 {
        let mut g = Gen(seed * 7919 + 1);
        let lv = [g.next(5) as i64, g.next(5) as i64, g.next(5) as i64, 0];
        let catalog = Catalog::new(
            vec![
                track("t0", &["s"], lv[0]),
                track("t1", &["s"], lv[1]),
                track("t2", &[], lv[2]),
                track("fb", &[], lv[3]),
            ],
            vec![decl("lvl", AttrType::Int, false)],
        )
        .unwrap();
        let text = rules(&mut g);
        let env = RuleEnv {
            schema: &schema,
            catalog: &catalog,
            replies: &replies,
            max_turns: MAX_TURNS,
            outcomes: &[],
        };
        let Ok((set, _)) = compile_str(&text, Path::new("g.rules"), &env) else {
            panic!("seed {seed}: generated rules do not compile:\n{text}");
        };
        let s = Subject {
            rules: &set,
            schema: &schema,
            catalog: &catalog,
            replies: &replies,
            max_turns: MAX_TURNS,
            fallback: 3,
        };
        let findings = analyze(&s, &Options::default());
        // Every third set: the rule set without each forbid / `only` rule, compiled
        // for real, to check redundancy against.
        let lines: Vec<&str> = text.lines().collect();
        let without: Vec<Option<talktrack::tooling::RuleSet>> = (0..set.len())
            .map(|r| {
                (seed % 3 == 0 && set.rules()[r].effect != EffectKind::Boost).then(|| {
                    let rest: String = lines
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != r)
                        .map(|(_, l)| format!("{l}\n"))
                        .collect();
                    compile_str(&rest, Path::new("g.rules"), &env).unwrap().0
                })
            })
            .collect();
        let mut changes = vec![false; set.len()];
        let mut verdict2 = Verdict::new(4);
        let mut allowed2 = TrackSet::empty(4);

        // Exhaustive enumeration over a box meeting every cell (constants in -1..=5).
        let n = catalog.len();
        let mut regular = vec![false; n];
        let mut fires = vec![false; set.len()];
        // Shadowed: a firing request with a target left open; an `only` rule
        // firing with some target besides the fallback.
        let mut unshadowed = vec![false; set.len()];
        let mut names_target = vec![false; set.len()];
        let (mut fallback, mut nothing) = (false, false);
        let mut verdict = Verdict::new(n);
        let mut allowed = TrackSet::empty(n);
        for a in -3..=7i64 {
            for b in -3..=7i64 {
                for flag in [false, true] {
                    for opt in [
                        None,
                        Some(-2),
                        Some(-1),
                        Some(0),
                        Some(1),
                        Some(2),
                        Some(3),
                        Some(4),
                        Some(5),
                        Some(6),
                    ] {
                        for turn in 0..=7u32 {
                            for reply in [None, Some(0), Some(1)] {
                                for (u0, u1) in [(0, 0), (1, 0), (0, 1), (0, 2), (1, 3)] {
                                    let values = [
                                        Some(Val::Int(a)),
                                        Some(Val::Int(b)),
                                        Some(Val::Bool(flag)),
                                        opt.map(Val::Int),
                                    ];
                                    let used = [u0, u1, 0, 0];
                                    let view = TurnView {
                                        values: &values,
                                        now_ms: 0,
                                        turn,
                                        max_turns: MAX_TURNS,
                                        used: &used,
                                        last_reply: reply,
                                        embedding: None,
                                        contacts: talktrack::tooling::ContactLog::empty(),
                                    };
                                    let outcome = mask(&set, &view, 3, &mut verdict, &mut allowed);
                                    match outcome {
                                        MaskOutcome::Allowed => {
                                            allowed.iter().for_each(|t| regular[t] = true)
                                        }
                                        MaskOutcome::Fallback => fallback = true,
                                        MaskOutcome::Nothing => nothing = true,
                                    }
                                    for (r, w) in without.iter().enumerate() {
                                        if let Some(w) = w {
                                            let o2 =
                                                mask(w, &view, 3, &mut verdict2, &mut allowed2);
                                            changes[r] |= o2 != outcome || allowed2 != allowed;
                                        }
                                    }
                                    shadow_step(
                                        &set,
                                        &view,
                                        &verdict,
                                        &allowed,
                                        &mut unshadowed,
                                        &mut names_target,
                                    );
                                    for (r, f) in fires.iter_mut().enumerate() {
                                        let boost = set.rules()[r].effect == EffectKind::Boost;
                                        *f |= match set.condition_holds(r, &view) {
                                            Ok(x) => x,
                                            Err(_) => !boost,
                                        };
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let has = |k: Kind, what: &str| {
            findings.iter().any(|f| {
                f.kind == k
                    && (f.track.as_deref() == Some(what)
                        || f.rule.as_ref().is_some_and(|r| r.id == what)
                        || what.is_empty())
            })
        };
        let ctx = format!("seed {seed}\n{text}\n{findings:#?}");
        assert!(
            !has(Kind::Undecided, ""),
            "undecided inside the fragment: {ctx}"
        );
        for t in 0..n {
            let id = &catalog.tracks()[t].id;
            let never = !regular[t] && !(t == 3 && fallback);
            assert_eq!(has(Kind::NeverAllowed, id), never, "track {id}: {ctx}");
            let fb_only = t == 3 && !regular[t] && fallback;
            assert_eq!(has(Kind::FallbackOnly, id), fb_only, "track {id}: {ctx}");
        }
        for (r, f) in fires.iter().enumerate() {
            let id = &set.rules()[r].id;
            assert_eq!(has(Kind::NeverFires, id), !f, "rule {id}: {ctx}");
        }
        for (r, w) in without.iter().enumerate() {
            if w.is_some() {
                let id = &set.rules()[r].id;
                let redundant = fires[r] && !changes[r];
                assert_eq!(has(Kind::Redundant, id), redundant, "rule {id}: {ctx}");
            }
        }
        for r in 0..set.len() {
            let id = &set.rules()[r].id;
            let shadowed = match set.rules()[r].effect {
                EffectKind::Boost => fires[r] && !unshadowed[r],
                EffectKind::Only => fires[r] && !unshadowed[r] && names_target[r],
                EffectKind::Forbid => false,
            };
            assert_eq!(has(Kind::Shadowed, id), shadowed, "rule {id}: {ctx}");
        }
        assert_eq!(has(Kind::AllMaskedFallback, ""), fallback, "{ctx}");
        assert_eq!(has(Kind::AllMaskedNoChoice, ""), nothing, "{ctx}");
        for f in &findings {
            *seen.entry(f.code.to_owned()).or_default() += 1;
        }
        checked += 1;
    }
    assert_eq!(checked, 240);
    // The generated sets exercise every kind of finding, not only the easy answer.
    for code in [
        "analyze::never-allowed",
        "analyze::fallback-only",
        "analyze::never-fires",
        "analyze::all-masked",
        "analyze::no-choice",
        "analyze::redundant",
        "analyze::shadowed",
    ] {
        assert!(
            seen.get(code).copied().unwrap_or(0) > 0,
            "{code} never came up: {seen:?}"
        );
    }
    eprintln!("findings over the generated sets: {seen:?}");
}

/// One request's part of the shadowed oracle, straight from the definitions: a
/// boost that fires (condition true) with a target in the allowed set is not
/// shadowed; an `only` rule that fires with a target other than the fallback
/// (index 3) that no other fired rule blocks is not shadowed.
fn shadow_step(
    set: &talktrack::tooling::RuleSet,
    view: &TurnView<'_>,
    verdict: &Verdict,
    allowed: &TrackSet,
    unshadowed: &mut [bool],
    names_target: &mut [bool],
) {
    let n = allowed.universe();
    let fired_targets = |r: usize| {
        verdict
            .fired
            .iter()
            .find(|f| f.rule as usize == r)
            .map(|f| TrackSet::from_indices(n, verdict.targets(set, f)))
    };
    // What each other fired forbid / `only` rule blocks.
    let blocked_by = |t: usize, except: usize| {
        verdict.fired.iter().any(|f| {
            let o = f.rule as usize;
            let ts = TrackSet::from_indices(n, verdict.targets(set, f));
            o != except
                && match set.rules()[o].effect {
                    EffectKind::Forbid => ts.contains(t),
                    EffectKind::Only => !ts.contains(t),
                    EffectKind::Boost => false,
                }
        })
    };
    for r in 0..set.len() {
        match set.rules()[r].effect {
            EffectKind::Boost => {
                if set.condition_holds(r, view) == Ok(true) {
                    let ts = fired_targets(r).unwrap_or_else(|| TrackSet::empty(n));
                    unshadowed[r] |= ts.iter().any(|t| allowed.contains(t));
                }
            }
            EffectKind::Only => {
                if let Some(ts) = fired_targets(r) {
                    let named: Vec<usize> = ts.iter().filter(|&t| t != 3).collect();
                    names_target[r] |= !named.is_empty();
                    unshadowed[r] |= named.iter().any(|&t| !blocked_by(t, r));
                }
            }
            EffectKind::Forbid => {}
        }
    }
}
