//! The findings' queries (can track t be allowed? can rule r fire? can every
//! track be masked?), each a search with its own budget, and the check every
//! witness passes before it is reported: the witness request goes through JSON,
//! the schema and the real mask (and `Engine::decide` when there is an engine),
//! and must show what the search found.

use std::collections::BTreeSet;

use talktrack::tooling::typed::TTargets;
use talktrack::tooling::{mask, EffectKind, MaskOutcome, TrackSet, TurnView, Verdict};
use talktrack::{Engine, Request};

use crate::findings::{Claim, Finding, Kind, RuleRef};
use crate::search::{fires, search, End, Eval, Node, Step};
use crate::space::{Point, Space};
use crate::{Options, Subject};

pub(crate) fn run(s: &Subject<'_>, engine: Option<&Engine>, o: &Options) -> Vec<Finding> {
    let space = Space::new(s);
    space.left.set(o.total_budget);
    // Questions: a track each, three per rule at most, two about masking.
    let n_rules = s.rules.len();
    let mut remaining = (s.catalog.len() + 3 * n_rules + 2) as u64;
    let next = |remaining: &mut u64| {
        let q = share(o, space.left.get(), *remaining);
        *remaining = remaining.saturating_sub(1);
        q
    };
    let mut out = Vec::new();
    // Whether every track can be masked is asked first, with the full budget of
    // a question (it reads every rule, and a rule set where it happens is the
    // one most worth hearing about), and reported last.
    let mut masked = Vec::new();
    all_masked(s, &space, engine, o, false, &mut masked);
    all_masked(s, &space, engine, o, true, &mut masked);
    remaining -= 2;
    for t in 0..s.catalog.len() {
        track_allowed(s, &space, engine, &next(&mut remaining), t, &mut out);
    }
    for r in 0..n_rules {
        rule_fires(s, &space, engine, &next(&mut remaining), r, &mut out);
    }
    for r in 0..n_rules {
        crate::redundant::redundant(s, &space, &next(&mut remaining), r, &mut out);
    }
    for r in 0..n_rules {
        crate::shadowed::shadowed(s, &space, &next(&mut remaining), r, &mut out);
    }
    out.append(&mut masked);
    for f in &mut out {
        f.suppressed = acknowledged(s, f);
    }
    out
}

/// A question's limits: its budget, but no more than 64 times an even share
/// of what the analysis has left among the questions left, so that the first
/// hard questions do not leave nothing for the rest.
fn share(o: &Options, left: u64, remaining: u64) -> Options {
    Options {
        budget: o.budget.min(left.saturating_mul(64) / remaining.max(1)),
        ..*o
    }
}

/// Whether the finding's rule acknowledges it: metadata `allow "<code>"`, the
/// code with or without its `analyze::` prefix.
fn acknowledged(s: &Subject<'_>, f: &Finding) -> bool {
    let Some(r) = &f.rule else {
        return false;
    };
    let short = f.code.trim_start_matches("analyze::");
    s.rules.rules().iter().filter(|i| i.id == r.id).any(|i| {
        i.meta
            .iter()
            .any(|(k, v)| k == "allow" && (v == short || v == f.code))
    })
}

/// Whether rule `r`'s targets may include track `t` on some request.
fn may_target(s: &Subject<'_>, r: usize, t: usize) -> bool {
    match s.rules.targets(r) {
        Some(TTargets::Set(set)) => set.contains(t),
        Some(TTargets::Pred(base, _)) => base.as_ref().is_none_or(|b| b.contains(t)),
        None => false,
    }
}

pub(crate) fn is_effect(s: &Subject<'_>, r: usize, e: EffectKind) -> bool {
    s.rules.rules().get(r).is_some_and(|i| i.effect == e)
}

/// Rules that can keep track `t` out of the allowed set.
fn blockers(s: &Subject<'_>, t: usize) -> Vec<usize> {
    (0..s.rules.len())
        .filter(|&r| {
            (is_effect(s, r, EffectKind::Forbid) && may_target(s, r, t))
                || is_effect(s, r, EffectKind::Only)
        })
        .collect()
}

/// The rules that mask (forbid and `only`), and the quantities a search about
/// rule `r` against them assigns: `r`'s own first, then the others' in quantity order.
pub(crate) fn masking_search(s: &Subject<'_>, space: &Space, r: usize) -> (Vec<usize>, Vec<usize>) {
    let masking: Vec<usize> = (0..s.rules.len())
        .filter(|&x| !is_effect(s, x, EffectKind::Boost))
        .collect();
    let mut qs = space.rule_q.get(r).cloned().unwrap_or_default();
    for q in quantities_of(space, &masking) {
        if !qs.contains(&q) {
            qs.push(q);
        }
    }
    (masking, qs)
}

/// The quantities `rules` read, those most of its rules with fixed targets
/// read first (the three-valued evaluation settles those rules as their
/// quantities are set, so branches are cut higher), ties in quantity order.
fn by_readers(space: &Space, rules: &[usize]) -> Vec<usize> {
    let mut count = vec![0usize; space.quantities.len()];
    for q in rules
        .iter()
        .filter(|r| space.static_targets.get(**r).copied().unwrap_or(false))
        .filter_map(|r| space.rule_q.get(*r))
        .flatten()
    {
        if let Some(c) = count.get_mut(*q) {
            *c += 1;
        }
    }
    let mut qs = quantities_of(space, rules);
    qs.sort_by_key(|q| std::cmp::Reverse(count.get(*q).copied().unwrap_or(0)));
    qs
}

/// The quantities `rules` read, in quantity order.
pub(crate) fn quantities_of(space: &Space, rules: &[usize]) -> Vec<usize> {
    let set: BTreeSet<usize> = rules
        .iter()
        .filter_map(|r| space.rule_q.get(*r))
        .flatten()
        .copied()
        .collect();
    set.into_iter().collect()
}

/// Why a search over `rules` that found nothing proves nothing, if it does not.
pub(crate) fn open_reasons(
    s: &Subject<'_>,
    space: &Space,
    rules: &[usize],
    end: &End,
) -> Vec<String> {
    let mut why = Vec::new();
    if *end == End::Budget {
        why.push("the search budget ran out before every case was covered".to_owned());
    }
    for &r in rules {
        for f in space.rule_free.get(r).into_iter().flatten() {
            why.push(format!("rule `{}`: {f}", rule_id(s, r)));
        }
    }
    for q in quantities_of(space, rules) {
        if let Some(Some(w)) = space.inexact.get(q) {
            why.push(w.clone());
        }
    }
    why.dedup();
    why
}

pub(crate) fn rule_id(s: &Subject<'_>, r: usize) -> String {
    s.rules.rule(r).id.clone()
}

pub(crate) fn rule_ref(s: &Subject<'_>, r: usize) -> RuleRef {
    let i = s.rules.rule(r);
    RuleRef {
        id: i.id.clone(),
        file: i.file.display().to_string(),
        line: i.line,
        column: i.column,
    }
}

fn track_id(s: &Subject<'_>, t: usize) -> String {
    s.catalog.track(t).map(|x| x.id.clone()).unwrap_or_default()
}

pub(crate) fn undecided(claim: Claim, message: String, reasons: Vec<String>) -> Finding {
    let mut f = Finding::new(Kind::Undecided, message);
    f.claim = Some(claim);
    f.reasons = reasons;
    f
}

fn track_allowed(
    s: &Subject<'_>,
    space: &Space,
    engine: Option<&Engine>,
    o: &Options,
    t: usize,
    out: &mut Vec<Finding>,
) {
    let rules = blockers(s, t);
    let qs = by_readers(space, &rules);
    let found: std::cell::RefCell<Option<Point>> = std::cell::RefCell::new(None);
    // The mask allows `t` (as a regular track) exactly when none of its blockers
    // blocks it: the search evaluates those rules only.
    let allows = |n: &Node<'_>| !rules.iter().any(|&r| n.blocks(r, t));
    let end = search(
        s,
        space,
        &qs,
        o.budget,
        Eval::Rules(&rules),
        &mut |n: &Node<'_>| {
            if rules.iter().any(|&r| n.decided(r) && n.blocks(r, t)) {
                Step::Cut
            } else if allows(n) {
                // Every node's point is a request: this one allows the track.
                *found.borrow_mut() = Some(n.point.clone());
                Step::Stop
            } else {
                Step::Go
            }
        },
        &mut |n: &Node<'_>| {
            if allows(n) {
                *found.borrow_mut() = Some(n.point.clone());
                Step::Stop
            } else {
                Step::Go
            }
        },
    );
    if let Some(p) = found.into_inner() {
        // Allowed on some request: nothing to report, once the real engine agrees.
        if let Err(why) = check(s, space, engine, &p, Expect::Allowed(t)) {
            out.push(undecided(
                Claim::TrackAllowed,
                format!("whether track `{}` can be allowed", track_id(s, t)),
                vec![why],
            ));
        }
        return;
    }
    let open = open_reasons(s, space, &rules, &end);
    if !open.is_empty() {
        let mut f = undecided(
            Claim::TrackAllowed,
            format!(
                "could not prove or refute that track `{}` is never allowed",
                track_id(s, t)
            ),
            open,
        );
        f.track = Some(track_id(s, t));
        out.push(f);
        return;
    }
    if t == s.fallback {
        // The fallback: allowed whenever the rules allow nothing else (and do not forbid it).
        match masked_witnesses(s, space, engine, o, false, 1) {
            Err(why) => {
                let mut f = undecided(
                    Claim::TrackAllowed,
                    format!(
                        "could not prove or refute that track `{}` is never allowed, even as the fallback",
                        track_id(s, t)
                    ),
                    why,
                );
                f.track = Some(track_id(s, t));
                out.push(f);
                return;
            }
            Ok((ws, fired)) if !ws.is_empty() => {
                let mut f = Finding::new(
                    Kind::FallbackOnly,
                    format!(
                        "track `{}` is allowed only as the fallback, when the rules allow no other track",
                        track_id(s, t)
                    ),
                );
                f.track = Some(track_id(s, t));
                f.witnesses = ws;
                f.fired = fired;
                out.push(f);
                return;
            }
            Ok(_) => {}
        }
    }
    let mut f = Finding::new(
        Kind::NeverAllowed,
        format!("no request allows track `{}`", track_id(s, t)),
    );
    f.track = Some(track_id(s, t));
    out.push(f);
}

fn rule_fires(
    s: &Subject<'_>,
    space: &Space,
    engine: Option<&Engine>,
    o: &Options,
    r: usize,
    out: &mut Vec<Finding>,
) {
    let qs = space.rule_q.get(r).cloned().unwrap_or_default();
    let found: std::cell::RefCell<Option<Point>> = std::cell::RefCell::new(None);
    // Only the rule's own condition is read: the search evaluates nothing else.
    let end = search(
        s,
        space,
        &qs,
        o.budget,
        Eval::Nothing,
        &mut |n: &Node<'_>| {
            // Every node's point is a request; once the quantities set settle
            // whether the rule fires, nothing below changes it.
            if n.fires(r) {
                *found.borrow_mut() = Some(n.point.clone());
                Step::Stop
            } else if n.decided(r) {
                Step::Cut
            } else {
                Step::Go
            }
        },
        &mut |n: &Node<'_>| {
            if n.fires(r) {
                *found.borrow_mut() = Some(n.point.clone());
                Step::Stop
            } else {
                Step::Go
            }
        },
    );
    if let Some(p) = found.into_inner() {
        if let Err(why) = check(s, space, engine, &p, Expect::Fires(r)) {
            let mut f = undecided(
                Claim::RuleFires,
                format!("whether rule `{}` can fire", rule_id(s, r)),
                vec![why],
            );
            f.rule = Some(rule_ref(s, r));
            out.push(f);
        }
        return;
    }
    let open = open_reasons(s, space, &[r], &end);
    let mut f = if open.is_empty() {
        Finding::new(
            Kind::NeverFires,
            format!("no request makes rule `{}` fire", rule_id(s, r)),
        )
    } else {
        undecided(
            Claim::RuleFires,
            format!(
                "could not prove or refute that rule `{}` never fires",
                rule_id(s, r)
            ),
            open,
        )
    };
    f.rule = Some(rule_ref(s, r));
    out.push(f);
}

type Witnesses = (Vec<serde_json::Value>, Vec<Vec<String>>);

/// Up to `max` requests whose mask outcome is the fallback (`no_choice`: nothing),
/// distinct by the rules that fired, in search order; `Err` with the reasons when
/// none was found and none is not proven.
fn masked_witnesses(
    s: &Subject<'_>,
    space: &Space,
    engine: Option<&Engine>,
    o: &Options,
    no_choice: bool,
    max: usize,
) -> Result<Witnesses, Vec<String>> {
    let n_tracks = s.catalog.len();
    let per_track: Vec<Vec<usize>> = (0..n_tracks).map(|t| blockers(s, t)).collect();
    let fallback_forbids: Vec<usize> = (0..s.rules.len())
        .filter(|&r| is_effect(s, r, EffectKind::Forbid) && may_target(s, r, s.fallback))
        .collect();
    let rules: Vec<usize> = (0..s.rules.len())
        .filter(|&r| !is_effect(s, r, EffectKind::Boost))
        .collect();
    // Tracks with the fewest blocking quantities first: once those are set,
    // a track that stays allowed cuts the branch early.
    let mut groups: Vec<Vec<usize>> = per_track
        .iter()
        .map(|rs| quantities_of(space, rs))
        .collect();
    groups.sort_by_key(Vec::len);
    let mut qs: Vec<usize> = Vec::new();
    for q in groups
        .into_iter()
        .flatten()
        .chain(quantities_of(space, &rules))
    {
        if !qs.contains(&q) {
            qs.push(q);
        }
    }
    let want = if no_choice {
        MaskOutcome::Nothing
    } else {
        MaskOutcome::Fallback
    };
    let mut seen: BTreeSet<Vec<u32>> = BTreeSet::new();
    let mut points: Vec<Point> = Vec::new();
    let end = search(
        s,
        space,
        &qs,
        o.budget,
        Eval::Mask,
        &mut |n: &Node<'_>| {
            // Some track is surely allowed here: no fallback below this node.
            let open_track = (0..n_tracks).filter(|&t| t != s.fallback).any(|t| {
                per_track[t]
                    .iter()
                    .all(|&r| n.decided(r) && !n.blocks(r, t))
            });
            let fallback_free = no_choice
                && fallback_forbids
                    .iter()
                    .all(|&r| n.decided(r) && !n.blocks(r, s.fallback));
            // The fallback surely forbidden here: no fallback outcome below this node.
            let fallback_gone = !no_choice
                && fallback_forbids
                    .iter()
                    .any(|&r| n.decided(r) && n.blocks(r, s.fallback));
            if open_track || fallback_free || fallback_gone {
                Step::Cut
            } else {
                Step::Go
            }
        },
        &mut |n: &Node<'_>| {
            if n.outcome == want {
                // Distinct by the masking rules that fired (boosts change no mask).
                let fired: Vec<u32> = n
                    .verdict
                    .fired
                    .iter()
                    .map(|f| f.rule)
                    .filter(|&r| !is_effect(s, r as usize, EffectKind::Boost))
                    .collect();
                if seen.insert(fired) {
                    points.push(n.point.clone());
                    if points.len() >= max {
                        return Step::Stop;
                    }
                }
            }
            Step::Go
        },
    );
    if points.is_empty() {
        let open = open_reasons(s, space, &rules, &end);
        return if open.is_empty() {
            Ok((Vec::new(), Vec::new()))
        } else {
            Err(open)
        };
    }
    let mut ws = Vec::new();
    let mut fired = Vec::new();
    for p in &points {
        match check(s, space, engine, p, Expect::Outcome(want)) {
            Ok((json, f)) => {
                ws.push(json);
                fired.push(f);
            }
            Err(why) => return Err(vec![why]),
        }
    }
    Ok((ws, fired))
}

fn all_masked(
    s: &Subject<'_>,
    space: &Space,
    engine: Option<&Engine>,
    o: &Options,
    no_choice: bool,
    out: &mut Vec<Finding>,
) {
    let (kind, claim, what) = if no_choice {
        (
            Kind::AllMaskedNoChoice,
            Claim::NoChoice,
            "the rules forbid every track, the fallback included: no choice",
        )
    } else {
        (
            Kind::AllMaskedFallback,
            Claim::AllMasked,
            "the rules allow no track but the fallback",
        )
    };
    match masked_witnesses(s, space, engine, o, no_choice, o.witnesses) {
        Ok((ws, fired)) if !ws.is_empty() => {
            let mut f = Finding::new(kind, format!("some requests: {what}"));
            f.witnesses = ws;
            f.fired = fired;
            out.push(f);
        }
        Ok(_) => {}
        Err(why) => out.push(undecided(
            claim,
            format!("could not prove or refute that no request has {what}"),
            why,
        )),
    }
}

/// What a witness must show.
enum Expect {
    Allowed(usize),
    Fires(usize),
    Outcome(MaskOutcome),
}

/// Runs the witness at `p` through JSON, the schema and the real mask (and the
/// engine, when there is one); returns its JSON and the ids of the rules that
/// fired, or why it did not show what was expected.
fn check(
    s: &Subject<'_>,
    space: &Space,
    engine: Option<&Engine>,
    p: &Point,
    expect: Expect,
) -> Result<(serde_json::Value, Vec<String>), String> {
    let mut req = space.request(p, s);
    // The rules never read the embedding; a bundle whose policy reads one
    // refuses a request without it, so the witness carries zeros.
    if let Some(dim) = engine.and_then(|e| e.bundle().features().embedding_dim()) {
        req.embedding = Some(vec![0.0; dim]);
    }
    let req = reparse(&req)?;
    let (outcome, allowed, verdict, ok) =
        masked(s, &req, |view, outcome, allowed, _| match expect {
            Expect::Allowed(t) => outcome == MaskOutcome::Allowed && allowed.contains(t),
            Expect::Fires(r) => fires(s, r, view),
            Expect::Outcome(o) => outcome == o,
        })?;
    if !ok {
        return Err("a witness the search found did not reproduce through the mask".to_owned());
    }
    if let Some(engine) = engine {
        let d = engine
            .decide(&req)
            .map_err(|e| format!("witness refused by the engine: {e}"))?;
        let same = (0..s.catalog.len()).all(|t| d.is_allowed(t) == allowed.contains(t))
            && d.fallback_used() == (outcome == MaskOutcome::Fallback)
            && d.no_choice().is_some() == (outcome == MaskOutcome::Nothing);
        if !same {
            return Err("a witness's decision differs from its mask".to_owned());
        }
    }
    let fired = verdict
        .fired
        .iter()
        .map(|f| rule_id(s, f.rule as usize))
        .collect();
    let json = serde_json::to_value(&req).map_err(|e| e.to_string())?;
    Ok((json, fired))
}

/// The request as a host would send it: through JSON and back.
pub(crate) fn reparse(req: &Request) -> Result<Request, String> {
    let text = serde_json::to_string(req).map_err(|e| e.to_string())?;
    Request::from_json(&text).map_err(|e| format!("witness refused: {e}"))
}

/// Resolves `req` against `s`'s schema, runs the real mask, and hands the view
/// and the mask's answer to `f`; `Err` when the schema refuses the request.
pub(crate) fn masked<R>(
    s: &Subject<'_>,
    req: &Request,
    f: impl FnOnce(&TurnView<'_>, MaskOutcome, &TrackSet, &Verdict) -> R,
) -> Result<(MaskOutcome, TrackSet, Verdict, R), String> {
    let mut values = Vec::new();
    s.schema
        .resolve(&req.context, &mut values)
        .map_err(|e| format!("witness refused: {e}"))?;
    let mut used = vec![0u16; s.catalog.len()];
    for id in &req.history.tracks {
        match s.catalog.index(id).and_then(|i| used.get_mut(i)) {
            Some(u) => *u = u.saturating_add(1),
            None => {
                return Err(format!(
                    "witness refused: unknown track `{id}` in its history"
                ))
            }
        }
    }
    let last_reply = match req.history.replies.last() {
        None => None,
        Some(r) => match s.replies.iter().position(|x| x == r) {
            Some(i) => Some(i as u32),
            None => return Err(format!("witness refused: unknown reply `{r}`")),
        },
    };
    let view = TurnView {
        values: &values,
        now_ms: req.time,
        turn: req.history.turn.unwrap_or(req.history.tracks.len() as u32),
        max_turns: s.max_turns,
        used: &used,
        last_reply,
        embedding: None,
        contacts: talktrack::tooling::ContactLog::empty(),
    };
    let mut verdict = Verdict::new(s.catalog.len());
    let mut allowed = TrackSet::empty(s.catalog.len());
    let outcome = mask(s.rules, &view, s.fallback, &mut verdict, &mut allowed);
    let r = f(&view, outcome, &allowed, &verdict);
    Ok((outcome, allowed, verdict, r))
}
