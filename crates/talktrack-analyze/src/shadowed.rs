//! Shadowed rules: a boost whose targets are masked on every request where it
//! fires (it never raises the score of a track that can be chosen), and an
//! `only` rule whose targets, the fallback aside, are all blocked by other
//! fired rules whenever it fires (it then leaves nothing but the fallback).
//!
//! The search looks for a counterexample — a request where the rule fires and
//! one of its targets stays allowed (boost) or is blocked by no other fired
//! rule (`only`) — and cuts every branch where the rule cannot fire, or where
//! each of its targets is already blocked by a rule whose inputs are all set.
//! A rule that never fires is not shadowed (it is reported as never firing).

use talktrack::tooling::{EffectKind, TrackSet};

use crate::findings::{Claim, Finding, Kind};
use crate::queries::{is_effect, masking_search, open_reasons, rule_id, rule_ref, undecided};
use crate::search::{search, Eval, Node, Step};
use crate::space::Space;
use crate::{Options, Subject};

/// Whether rule `r` (a boost or an `only` rule) is shadowed; pushes the finding
/// (or the undecided claim) to `out`.
pub(crate) fn shadowed(
    s: &Subject<'_>,
    space: &Space,
    o: &Options,
    r: usize,
    out: &mut Vec<Finding>,
) {
    let boost = is_effect(s, r, EffectKind::Boost);
    if !boost && !is_effect(s, r, EffectKind::Only) {
        return;
    }
    // An `only` rule that can name no track but the fallback forces the
    // fallback on purpose: nothing to shadow.
    if !boost && !(0..s.catalog.len()).any(|t| t != s.fallback && may_name(s, r, t)) {
        return;
    }
    let (masking, qs) = masking_search(s, space, r);
    let counter = std::cell::Cell::new(false);
    let fired = std::cell::Cell::new(false);
    let has_target = std::cell::Cell::new(false);
    let end = search(
        s,
        space,
        &qs,
        o.budget,
        Eval::Mask,
        &mut |n: &Node<'_>| {
            let here = targets(s, n, r, boost);
            // Every node's point is a request: a counterexample here is one.
            if here.as_ref().is_some_and(|t| open(s, n, r, t, boost)) {
                counter.set(true);
                return Step::Stop;
            }
            if !n.decided(r) {
                return Step::Go;
            }
            let Some(targets) = here else {
                return Step::Cut;
            };
            if targets.iter().all(|t| surely_masked(s, n, r, t, boost)) {
                fired.set(true);
                has_target.set(has_target.get() || targets.iter().any(|t| t != s.fallback));
                return Step::Cut;
            }
            Step::Go
        },
        &mut |n: &Node<'_>| {
            let Some(targets) = targets(s, n, r, boost) else {
                return Step::Go;
            };
            fired.set(true);
            has_target.set(has_target.get() || targets.iter().any(|t| t != s.fallback));
            if open(s, n, r, &targets, boost) {
                counter.set(true);
                return Step::Stop;
            }
            Step::Go
        },
    );
    if counter.get() || !fired.get() || (!boost && !has_target.get()) {
        // Not shadowed, never fires (reported as such), or forces the fallback.
        return;
    }
    let mut rules = masking;
    if boost {
        rules.push(r);
    }
    let open = open_reasons(s, space, &rules, &end);
    let mut f = if open.is_empty() {
        Finding::new(
            Kind::Shadowed,
            if boost {
                format!(
                    "boost rule `{}` never reaches a track that can be chosen: its targets are masked on every request where it fires",
                    rule_id(s, r)
                )
            } else {
                format!(
                    "`only` rule `{}` leaves nothing but the fallback: its targets are blocked by other rules on every request where it fires",
                    rule_id(s, r)
                )
            },
        )
    } else {
        undecided(
            Claim::Shadowed,
            format!(
                "could not prove or refute that rule `{}` is shadowed",
                rule_id(s, r)
            ),
            open,
        )
    };
    f.rule = Some(rule_ref(s, r));
    out.push(f);
}

/// Whether one of rule `r`'s `targets` at `n` is left open: allowed (a
/// boost's), or blocked by no other fired rule (an `only` rule's, the fallback aside).
fn open(s: &Subject<'_>, n: &Node<'_>, r: usize, targets: &TrackSet, boost: bool) -> bool {
    if boost {
        targets.iter().any(|t| n.allowed.contains(t))
    } else {
        targets
            .iter()
            .any(|t| t != s.fallback && !blocked_by_other(s, n, r, t, None))
    }
}

/// Whether rule `r` may name track `t` among its targets on some request.
fn may_name(s: &Subject<'_>, r: usize, t: usize) -> bool {
    use talktrack::tooling::typed::TTargets;
    match s.rules.targets(r) {
        Some(TTargets::Set(set)) => set.contains(t),
        Some(TTargets::Pred(base, _)) => base.as_ref().is_none_or(|b| b.contains(t)),
        None => false,
    }
}

/// The tracks rule `r` targets at `n`, when it fires there (`None`: it does
/// not fire). A boost fires when its condition is true.
fn targets(s: &Subject<'_>, n: &Node<'_>, r: usize, boost: bool) -> Option<TrackSet> {
    let len = s.catalog.len();
    if boost {
        if !n.fires(r) {
            return None;
        }
        // Not recorded though it held: it matched no track.
        let f = n.verdict.fired.iter().find(|f| f.rule as usize == r);
        return Some(f.map_or_else(
            || TrackSet::empty(len),
            |f| TrackSet::from_indices(len, n.verdict.targets(s.rules, f)),
        ));
    }
    let blocked = n.blocked(r)?;
    let mut t = TrackSet::full(len);
    t.subtract(blocked);
    Some(t)
}

/// Whether track `t` is blocked at `n` by a fired rule other than `r` (and, with
/// `settled`, one whose effect is settled; `Some(true)`: by a forbid rule).
fn blocked_by_other(
    s: &Subject<'_>,
    n: &Node<'_>,
    r: usize,
    t: usize,
    settled: Option<bool>,
) -> bool {
    (0..s.rules.len()).any(|o| {
        o != r
            && n.blocks(o, t)
            && settled.is_none_or(|forbid_only| {
                n.decided(o) && (!forbid_only || is_effect(s, o, EffectKind::Forbid))
            })
    })
}

/// Whether target `t` of rule `r` is blocked at `n` whatever the quantities not
/// yet set: a boost's target is masked once a settled rule blocks it (the
/// fallback only by a forbid, since it is allowed when nothing else is); an
/// `only` rule's target once another settled rule blocks it (the fallback aside).
fn surely_masked(s: &Subject<'_>, n: &Node<'_>, r: usize, t: usize, boost: bool) -> bool {
    if t == s.fallback {
        return !boost || blocked_by_other(s, n, r, t, Some(true));
    }
    blocked_by_other(s, n, r, t, Some(false))
}
