//! What each fired forbid or `only` rule blocks at one point of a search: a
//! forbid masks its targets, an `only` rule leaves out every track but its
//! targets. Filled from the real mask's verdict, or rule by rule for rules
//! with fixed targets (recorded as the mask records them); shared by the
//! searches over one rule set and over two versions of it.

use talktrack::tooling::typed::TTargets;
use talktrack::tooling::{EffectKind, TrackSet, Verdict};

use crate::Subject;

/// Per rule: the tracks it blocks when it fired.
pub(crate) struct Blocks {
    sets: Vec<TrackSet>,
    fired: Vec<bool>,
    /// Per rule: whether it is an `only` rule.
    only: Vec<bool>,
    /// Per forbid or `only` rule with fixed targets: what it blocks when it
    /// fires (`None`: a boost, or targets chosen by a predicate).
    fixed: Vec<Option<TrackSet>>,
}

impl Blocks {
    pub(crate) fn new(s: &Subject<'_>) -> Self {
        let n = s.catalog.len();
        let effect = |r: usize| s.rules.rules().get(r).map(|i| i.effect);
        let fixed = (0..s.rules.len())
            .map(|r| {
                let Some(TTargets::Set(set)) = s.rules.targets(r) else {
                    return None;
                };
                match effect(r) {
                    Some(EffectKind::Forbid) => Some(set.clone()),
                    Some(EffectKind::Only) => {
                        let mut b = TrackSet::full(n);
                        b.subtract(set);
                        Some(b)
                    }
                    _ => None,
                }
            })
            .collect();
        Self {
            sets: vec![TrackSet::empty(n); s.rules.len()],
            fired: vec![false; s.rules.len()],
            only: (0..s.rules.len())
                .map(|r| effect(r) == Some(EffectKind::Only))
                .collect(),
            fixed,
        }
    }

    /// Whether rule `r` is a forbid or `only` rule with fixed targets.
    pub(crate) fn is_fixed(&self, r: usize) -> bool {
        self.fixed.get(r).is_some_and(Option::is_some)
    }

    /// Records what every fired forbid and `only` rule of `verdict` blocks.
    pub(crate) fn read_verdict(&mut self, s: &Subject<'_>, verdict: &Verdict) {
        self.fired.fill(false);
        for f in &verdict.fired {
            let r = f.rule as usize;
            let only = self.only.get(r).copied().unwrap_or(false);
            let forbid = s.rules.rules().get(r).map(|i| i.effect) == Some(EffectKind::Forbid);
            let (Some(set), Some(fixed), Some(fired)) = (
                self.sets.get_mut(r),
                self.fixed.get(r),
                self.fired.get_mut(r),
            ) else {
                continue;
            };
            match fixed {
                Some(b) => set.copy_from(b),
                None if forbid => {
                    set.clear();
                    verdict.targets(s.rules, f).for_each(|t| set.insert(t));
                }
                None if only => {
                    set.fill();
                    verdict.targets(s.rules, f).for_each(|t| set.remove(t));
                }
                None => continue,
            }
            *fired = true;
        }
    }

    /// Records rule `r` (fixed targets) as the mask would: `fires` is whether its
    /// condition is true or cannot be evaluated (`unknown`). A forbid whose
    /// targets are empty is recorded only when its condition is unknown, as in
    /// the mask (it blocks nothing either way).
    pub(crate) fn set_fixed(&mut self, r: usize, fires: bool, unknown: bool) {
        let only = self.only.get(r).copied().unwrap_or(false);
        let (Some(Some(b)), Some(set), Some(f)) = (
            self.fixed.get(r),
            self.sets.get_mut(r),
            self.fired.get_mut(r),
        ) else {
            return;
        };
        *f = fires && (only || unknown || !b.is_empty());
        if *f {
            set.copy_from(b);
        }
    }

    /// What rule `r` blocks, when it fired.
    pub(crate) fn get(&self, r: usize) -> Option<&TrackSet> {
        if self.fired.get(r).copied().unwrap_or(false) {
            self.sets.get(r)
        } else {
            None
        }
    }

    /// Whether rule `r` fired and blocks track `t`.
    pub(crate) fn blocks(&self, r: usize, t: usize) -> bool {
        self.get(r).is_some_and(|b| b.contains(t))
    }
}
