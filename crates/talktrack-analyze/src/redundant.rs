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
use crate::queries::{is_effect, open_reasons, quantities_of, rule_id, rule_ref, undecided};
use crate::search::{search, Node, Step};
use crate::space::Space;
use crate::{Options, Subject};

/// Whether removing rule `r` would change what `n` allows: a track r blocks
/// that no other fired rule blocks (the fallback's case included).
fn unique_block(
    s: &Subject<'_>,
    n: &Node<'_>,
    r: usize,
    only_decided: Option<&Space>,
) -> Option<usize> {
    let mine = n.blocks.get(r).and_then(Option::as_ref)?;
    let n_tracks = s.catalog.len();
    (0..n_tracks).filter(|&t| mine.contains(t)).find(|&t| {
        !(0..s.rules.len()).any(|o| {
            o != r
                && n.blocks(o, t)
                && only_decided.is_none_or(|sp| n.decided(sp, o))
                // A forbid on the fallback also decides "fallback" against "no
                // choice": only another forbid stands in for it there.
                && (t != s.fallback
                    || !is_effect(s, r, EffectKind::Forbid)
                    || is_effect(s, o, EffectKind::Forbid))
        })
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
    let rules: Vec<usize> = (0..s.rules.len())
        .filter(|&x| !is_effect(s, x, EffectKind::Boost))
        .collect();
    let mut qs = space.rule_q.get(r).cloned().unwrap_or_default();
    for q in quantities_of(space, &rules) {
        if !qs.contains(&q) {
            qs.push(q);
        }
    }
    let mut budget = o.budget;
    let mut counter = false;
    let fired_somewhere = std::cell::Cell::new(false);
    let implying: std::cell::RefCell<Option<BTreeSet<usize>>> = std::cell::RefCell::new(None);
    let end = search(
        s,
        space,
        &qs,
        &mut budget,
        &mut |n: &Node<'_>| {
            if !n.decided(space, r) {
                return Step::Go;
            }
            if n.blocks.get(r).and_then(Option::as_ref).is_none() {
                return Step::Cut;
            }
            if unique_block(s, n, r, Some(space)).is_none() {
                // Every track r blocks is blocked by a settled rule: nothing below changes.
                note_implying(s, space, n, r, &mut implying.borrow_mut());
                fired_somewhere.set(true);
                return Step::Cut;
            }
            Step::Go
        },
        &mut |n: &Node<'_>| {
            if n.blocks.get(r).and_then(Option::as_ref).is_none() {
                return Step::Go;
            }
            fired_somewhere.set(true);
            if mask_without(s, n, None) != mask_without(s, n, Some(r)) {
                counter = true;
                return Step::Stop;
            }
            note_implying(s, space, n, r, &mut implying.borrow_mut());
            Step::Go
        },
    );
    if counter || !fired_somewhere.get() {
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
fn note_implying(
    s: &Subject<'_>,
    space: &Space,
    n: &Node<'_>,
    r: usize,
    implying: &mut Option<BTreeSet<usize>>,
) {
    let Some(mine) = n.blocks.get(r).and_then(Option::as_ref) else {
        return;
    };
    let here: BTreeSet<usize> = (0..s.rules.len())
        .filter(|&o| {
            o != r
                && n.decided(space, o)
                && overlaps(n.blocks.get(o).and_then(Option::as_ref), mine)
        })
        .collect();
    *implying = Some(match implying.take() {
        None => here,
        Some(prev) => prev.intersection(&here).copied().collect(),
    });
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
