//! Redundant forbid and `only` rules: removing rule r changes neither the
//! allowed set nor the mask outcome on any request. The search looks for a
//! counterexample — a request where r fires and blocks a track that no other
//! fired rule blocks — and cuts every branch where r cannot fire or where each
//! track r blocks is already blocked by another rule whose inputs are all set.
//! The rules that blocked r's tracks on every request where r fired are named
//! as implying it.

use std::collections::BTreeSet;

use talktrack::tooling::{EffectKind, TrackSet};

use crate::findings::{Claim, Finding, Kind};
use crate::queries::{is_effect, masking_search, open_reasons, rule_id, rule_ref, undecided};
use crate::search::{search, Eval, Node, Step};
use crate::space::Space;
use crate::{Options, Subject};

/// Whether removing rule `r` would change what `n` allows, whatever the
/// quantities not yet set: a track r blocks that no other fired rule whose
/// effect is settled blocks (the fallback's case included); the first such track.
fn unique_block(s: &Subject<'_>, n: &Node<'_>, r: usize) -> Option<usize> {
    let mine = n.blocked(r)?;
    let len = s.catalog.len();
    // What the other settled rules block, and what the forbid rules among them do.
    let (mut others, mut forbids) = (TrackSet::empty(len), TrackSet::empty(len));
    for o in (0..s.rules.len()).filter(|&o| o != r) {
        let Some(b) = n.blocked(o) else {
            continue;
        };
        // Only rules blocking some track of r's that is still uncovered matter.
        if !b.intersects(mine) || !n.decided(o) {
            continue;
        }
        others.union_with(b);
        if is_effect(s, o, EffectKind::Forbid) {
            forbids.union_with(b);
        }
    }
    // A forbid on the fallback also decides "fallback" against "no choice":
    // only another forbid stands in for it there.
    let forbid = is_effect(s, r, EffectKind::Forbid);
    mine.iter().find(|&t| {
        if t == s.fallback && forbid {
            !forbids.contains(t)
        } else {
            !others.contains(t)
        }
    })
}

pub(crate) fn redundant(
    s: &Subject<'_>,
    space: &Space,
    o: &Options,
    r: usize,
    out: &mut Vec<Finding>,
) {
    if is_effect(s, r, EffectKind::Boost) {
        return;
    }
    let (rules, qs) = masking_search(s, space, r);
    let counter = std::cell::Cell::new(false);
    let fired_somewhere = std::cell::Cell::new(false);
    let implying: std::cell::RefCell<Option<BTreeSet<usize>>> = std::cell::RefCell::new(None);
    let end = search(
        s,
        space,
        &qs,
        o.budget,
        // Only what the forbid and `only` rules block is read.
        Eval::Rules(&rules),
        &mut |n: &Node<'_>| {
            // Every node's point is a request: one where r alone blocks a track
            // is a counterexample, whatever lies below.
            if frees_a_track(s, n, r) {
                counter.set(true);
                return Step::Stop;
            }
            if !n.decided(r) {
                return Step::Go;
            }
            if n.blocked(r).is_none() {
                return Step::Cut;
            }
            if unique_block(s, n, r).is_none() {
                // Every track r blocks is blocked by a settled rule: nothing below changes.
                note_implying(s, n, r, &mut implying.borrow_mut());
                fired_somewhere.set(true);
                return Step::Cut;
            }
            Step::Go
        },
        &mut |n: &Node<'_>| {
            if n.blocked(r).is_none() {
                return Step::Go;
            }
            fired_somewhere.set(true);
            if mask_without(s, n, None) != mask_without(s, n, Some(r)) {
                counter.set(true);
                return Step::Stop;
            }
            note_implying(s, n, r, &mut implying.borrow_mut());
            Step::Go
        },
    );
    if counter.get() || !fired_somewhere.get() {
        // Not redundant, or never fires (reported as such).
        return;
    }
    let open = open_reasons(s, space, &rules, &end);
    let mut f = if open.is_empty() {
        let names: Vec<String> = implying
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .map(|x| rule_id(s, x))
            .collect();
        let mut f = Finding::new(
            Kind::Redundant,
            format!(
                "removing rule `{}` changes nothing on any request{}",
                rule_id(s, r),
                if names.is_empty() {
                    String::new()
                } else {
                    let quoted: Vec<String> = names.iter().map(|x| format!("`{x}`")).collect();
                    format!(": implied by {}", quoted.join(", "))
                }
            ),
        );
        f.implied_by = names;
        f
    } else {
        undecided(
            Claim::Redundant,
            format!(
                "could not prove or refute that rule `{}` is redundant",
                rule_id(s, r)
            ),
            open,
        )
    };
    f.rule = Some(rule_ref(s, r));
    out.push(f);
}

/// Narrows the rules that implied `r`: the settled rules that blocked some of
/// r's tracks here, intersected over every place r fired.
fn note_implying(s: &Subject<'_>, n: &Node<'_>, r: usize, implying: &mut Option<BTreeSet<usize>>) {
    let Some(mine) = n.blocked(r) else {
        return;
    };
    let here: BTreeSet<usize> = (0..s.rules.len())
        .filter(|&o| o != r && overlaps(n.blocked(o), mine) && n.decided(o))
        .collect();
    *implying = Some(match implying.take() {
        None => here,
        Some(prev) => prev.intersection(&here).copied().collect(),
    });
}

/// Whether rule `r` fired at `n` and blocks a track no other fired rule
/// blocks: removing r then adds that track to the allowed set (a sufficient
/// condition for a counterexample, cheap enough to test at every node).
fn frees_a_track(s: &Subject<'_>, n: &Node<'_>, r: usize) -> bool {
    let Some(mine) = n.blocked(r) else {
        return false;
    };
    let mut left = mine.clone();
    for o in (0..s.rules.len()).filter(|&o| o != r) {
        if let Some(b) = n.blocked(o) {
            left.subtract(b);
            if left.is_empty() {
                return false;
            }
        }
    }
    !left.is_empty()
}

fn overlaps(a: Option<&TrackSet>, b: &TrackSet) -> bool {
    a.is_some_and(|a| a.intersects(b))
}

/// The mask outcome and allowed set at `n` with rule `excl` left out: the
/// tracks no other fired rule blocks, else the fallback unless a forbid blocks it.
fn mask_without(s: &Subject<'_>, n: &Node<'_>, excl: Option<usize>) -> (u8, Vec<usize>) {
    let others = |t: usize, forbid_only: bool| {
        (0..s.rules.len()).any(|o| {
            Some(o) != excl
                && n.blocks(o, t)
                && (!forbid_only || is_effect(s, o, EffectKind::Forbid))
        })
    };
    let regular: Vec<usize> = (0..s.catalog.len())
        .filter(|&t| !others(t, false))
        .collect();
    if !regular.is_empty() {
        (0, regular)
    } else if others(s.fallback, true) {
        (2, Vec::new())
    } else {
        (1, vec![s.fallback])
    }
}
