//! The oracle for `compare`: on 200 generated pairs of small rule sets (a set
//! and a mutation of it: a rule dropped, a constant moved, a rule added, in a
//! third of the pairs reading an optional attribute only the new schema
//! declares), every request valid for both in a box that meets every cell is
//! run through both real masks. A track is reported newly allowed (or newly
//! forbidden) with a witness exactly when such a request exists, proven not
//! to be otherwise, nothing in this exact fragment is undecided, and every
//! witness, read back from its JSON, shows the change through both masks.
#![allow(clippy::unwrap_used, clippy::panic)]

mod gen;

use std::path::Path;

use talktrack::tooling::{
    compile_str, mask, AttrType, Catalog, RuleEnv, RuleSet, Schema, TrackSet, TurnView, Val,
    Verdict,
};
use talktrack::Request;
use talktrack_analyze::{compare, Direction, Options, Status, Subject};

use gen::{decl, each_request, rules, track, Gen, MAX_TURNS};

/// `text` with one or two changes: a rule dropped, a constant moved, a rule added.
fn mutate(g: &mut Gen, text: &str, extra: bool) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for _ in 0..(1 + g.next(2)) {
        match g.next(3) {
            0 if !lines.is_empty() => {
                let i = g.next(lines.len() as u64) as usize;
                lines.remove(i);
            }
            1 if !lines.is_empty() => {
                let i = g.next(lines.len() as u64) as usize;
                // The first constant compared with an attribute or the turn, moved
                // (use counts stay where the enumeration's box covers them).
                let mut words: Vec<String> = lines[i].split(' ').map(str::to_owned).collect();
                let at = (2..words.len()).find(|&w| {
                    words[w].parse::<i64>().is_ok()
                        && ["<", "<=", ">", ">=", "==", "!="].contains(&words[w - 1].as_str())
                        && !words[w - 2].starts_with("count")
                });
                if let Some(w) = at {
                    words[w] = (g.next(7) as i64 - 1).to_string();
                    lines[i] = words.join(" ");
                }
            }
            _ => {
                let cond = if extra && g.next(2) == 0 {
                    format!("customer.extra > {}", g.next(5))
                } else {
                    gen::cond(g)
                };
                let effect = match g.next(3) {
                    0 => format!("forbid track {}", g.pick(&["t0", "t1", "t2", "fb"])),
                    1 => "only tracks tagged s".to_owned(),
                    _ => "forbid tracks where track.lvl > customer.a".to_owned(),
                };
                lines.push(format!(
                    "rule m{} because \"x\" when {cond} {effect}",
                    lines.len()
                ));
            }
        }
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// What the rules of one side allow for the request given by its parts.
#[allow(clippy::too_many_arguments)]
fn allowed_at(
    set: &RuleSet,
    values: &[Option<Val<'_>>],
    turn: u32,
    reply: Option<u32>,
    used: &[u16],
    verdict: &mut Verdict,
    allowed: &mut TrackSet,
) {
    let view = TurnView {
        values,
        now_ms: 0,
        turn,
        max_turns: MAX_TURNS,
        used,
        last_reply: reply,
        embedding: None,
        contacts: talktrack::tooling::ContactLog::empty(),
    };
    mask(set, &view, 3, verdict, allowed);
}

/// The witness read back from its JSON, resolved against `s` and masked.
fn allowed_by_witness(s: &Subject<'_>, w: &serde_json::Value) -> TrackSet {
    let req = Request::from_json(&serde_json::to_string(w).unwrap()).unwrap();
    let mut values = Vec::new();
    s.schema.resolve(&req.context, &mut values).unwrap();
    let mut used = vec![0u16; s.catalog.len()];
    for id in &req.history.tracks {
        used[s.catalog.index(id).unwrap()] += 1;
    }
    let reply = req
        .history
        .replies
        .last()
        .map(|r| s.replies.iter().position(|x| x == r).unwrap() as u32);
    let mut verdict = Verdict::new(s.catalog.len());
    let mut allowed = TrackSet::empty(s.catalog.len());
    allowed_at(
        s.rules,
        &values,
        req.history.turn.unwrap(),
        reply,
        &used,
        &mut verdict,
        &mut allowed,
    );
    allowed
}

#[test]
fn exhaustive_enumeration_agrees_with_every_change() {
    let base = vec![
        decl("a", AttrType::Int, false),
        decl("b", AttrType::Int, false),
        decl("flag", AttrType::Bool, false),
        decl("opt", AttrType::Int, true),
    ];
    let old_schema = Schema::new(base.clone()).unwrap();
    let mut with_extra = base;
    with_extra.push(decl("extra", AttrType::Int, true));
    let extra_schema = Schema::new(with_extra).unwrap();
    let replies = vec!["yes".to_owned(), "no".to_owned()];
    let mut tally = std::collections::BTreeMap::new();
    for seed in 0..200u64 {
        let mut g = Gen(seed * 104_729 + 3);
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
        let extra = seed % 3 == 1;
        let new_schema = if extra { &extra_schema } else { &old_schema };
        let old_text = rules(&mut g);
        let new_text = mutate(&mut g, &old_text, extra);
        let env = |schema| RuleEnv {
            schema,
            catalog: &catalog,
            replies: &replies,
            max_turns: MAX_TURNS,
            outcomes: &[],
        };
        let compile =
            |text: &str, schema| match compile_str(text, Path::new("g.rules"), &env(schema)) {
                Ok((set, _)) => set,
                Err(e) => panic!("seed {seed}: generated rules do not compile:\n{text}\n{e:?}"),
            };
        let old_set = compile(&old_text, &old_schema);
        let new_set = compile(&new_text, new_schema);
        let subject = |rules, schema| Subject {
            rules,
            schema,
            catalog: &catalog,
            replies: &replies,
            max_turns: MAX_TURNS,
            fallback: 3,
        };
        let (so, sn) = (
            subject(&old_set, &old_schema),
            subject(&new_set, new_schema),
        );
        let changes = compare(&so, &sn, &Options::default());

        let n = catalog.len();
        let mut gained = vec![false; n];
        let mut lost = vec![false; n];
        let (mut vo, mut vn) = (Verdict::new(n), Verdict::new(n));
        let (mut ao, mut an) = (TrackSet::empty(n), TrackSet::empty(n));
        each_request(|ctx, flag, turn, reply, used| {
            let mut values: Vec<Option<Val<'_>>> = ctx.iter().map(|v| v.map(Val::Int)).collect();
            values[2] = Some(Val::Bool(flag));
            allowed_at(&old_set, &values, turn, reply, &used, &mut vo, &mut ao);
            if extra {
                values.push(None);
            }
            allowed_at(&new_set, &values, turn, reply, &used, &mut vn, &mut an);
            for t in 0..n {
                gained[t] |= an.contains(t) && !ao.contains(t);
                lost[t] |= ao.contains(t) && !an.contains(t);
            }
        });
        let ctx = format!("seed {seed}\nold:\n{old_text}new:\n{new_text}\n{changes:#?}");
        assert_eq!(changes.len(), 2 * n, "{ctx}");
        for c in &changes {
            let t = catalog.index(&c.track).unwrap();
            let exists = match c.direction {
                Direction::NewlyAllowed => gained[t],
                Direction::NewlyForbidden => lost[t],
            };
            assert_ne!(c.status, Status::Undecided, "{ctx}");
            assert_eq!(
                c.status == Status::Witnessed,
                exists,
                "track {}: {ctx}",
                c.track
            );
            if let Some(w) = &c.witness {
                let (a, d) = (allowed_by_witness(&so, w), allowed_by_witness(&sn, w));
                let (allows, denies) = match c.direction {
                    Direction::NewlyAllowed => (d, a),
                    Direction::NewlyForbidden => (a, d),
                };
                assert!(allows.contains(t) && !denies.contains(t), "witness: {ctx}");
            }
            *tally
                .entry(format!("{:?} {:?}", c.direction, c.status))
                .or_insert(0) += 1;
        }
    }
    // Both directions come up both ways, not only the easy answer.
    for k in [
        "NewlyAllowed Witnessed",
        "NewlyAllowed None",
        "NewlyForbidden Witnessed",
        "NewlyForbidden None",
    ] {
        assert!(
            tally.get(k).copied().unwrap_or(0) > 0,
            "{k} never came up: {tally:?}"
        );
    }
    eprintln!("changes over the generated pairs: {tally:?}");
}
