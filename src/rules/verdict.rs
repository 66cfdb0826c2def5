//! The outcome of evaluating a rule set for one turn, and the scratch the
//! evaluation reuses: the caller keeps one [`Verdict`] per thread, so that after
//! the first turn evaluation allocates nothing.

use super::compiled::RuleSet;
use super::{EvalError, Fired};
use crate::trackset::TrackSet;

/// What a rule set decided for one turn; reusable scratch owned by the caller.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Union of the targets of matched (or failed-closed) forbid rules.
    pub forbidden: TrackSet,
    /// Intersection of the targets of matched `only` rules; meaningful iff `any_only`.
    pub restricted: TrackSet,
    /// Whether any `only` rule matched.
    pub any_only: bool,
    /// Per track: the sum of the boosts of matched boost rules (0 otherwise).
    pub boosts: Vec<f32>,
    /// Every rule that matched or failed closed, in rule order (a matched forbid or
    /// boost whose targets came out empty, e.g. `tracks where ...` with no track
    /// passing, is left out: it changed nothing).
    pub fired: Vec<Fired>,
    /// Arena of target sets: each `Fired` owns one [`TrackSet`]-sized run of words.
    pub target_words: Vec<u64>,
    pub(super) scratch: Vec<u64>,
    /// Per leaf literal (`2 * leaf + negated`): bit 0 known true, bit 1 known false.
    pub(super) lit_state: Vec<u8>,
    /// Per leaf: why it is unknown (meaningful only where its state is unknown).
    pub(super) leaf_err: Vec<EvalError>,
    /// Rules whose condition is not known false, as a bitset over rule ids.
    pub(super) live: Vec<u64>,
    /// Per rule in `long`: its condition's state (bit 0 true, bit 1 false).
    pub(super) rule_state: Vec<u8>,
    /// Per distinct target predicate: its true and undecided sets, back to back.
    pub(super) pred_words: Vec<u64>,
    pub(super) pred_err: Vec<Option<EvalError>>,
    /// Whether the predicate was evaluated this turn.
    pub(super) pred_done: Vec<bool>,
    /// Per distinct predicate and kind of effect (forbid, other): the offset of
    /// the target run that rules over all tracks share, or [`NO_RUN`].
    pub(super) pred_runs: Vec<u32>,
    /// This evaluation's number; a class whose `class_gen` equals it was applied.
    pub(super) generation: u32,
    /// Per rule class: the evaluation that last applied it, and what its rule
    /// recorded then (`None`: it changed nothing).
    pub(super) class_gen: Vec<u32>,
    pub(super) class_fired: Vec<Option<Fired>>,
}

/// No shared target run yet.
pub(super) const NO_RUN: u32 = u32::MAX;

impl Verdict {
    /// Empty scratch for a catalog of `n_tracks` tracks.
    pub fn new(n_tracks: usize) -> Self {
        Self {
            forbidden: TrackSet::empty(n_tracks),
            restricted: TrackSet::full(n_tracks),
            any_only: false,
            boosts: vec![0.0; n_tracks],
            fired: Vec::new(),
            target_words: Vec::new(),
            scratch: Vec::new(),
            lit_state: Vec::new(),
            leaf_err: Vec::new(),
            live: Vec::new(),
            rule_state: Vec::new(),
            pred_words: Vec::new(),
            pred_err: Vec::new(),
            pred_done: Vec::new(),
            pred_runs: Vec::new(),
            generation: 0,
            class_gen: Vec::new(),
            class_fired: Vec::new(),
        }
    }

    /// The tracks a fired rule targeted; `rules` is the rule set that produced this verdict.
    pub fn targets<'a>(
        &'a self,
        rules: &'a RuleSet,
        f: &Fired,
    ) -> impl Iterator<Item = usize> + 'a {
        crate::trackset::members(rules.target_run(&self.target_words, f.targets))
    }

    /// `(restricted if any_only else all tracks) minus forbidden`, into `out`.
    pub fn allowed_into(&self, out: &mut TrackSet) {
        if self.any_only {
            out.copy_from(&self.restricted);
        } else {
            out.copy_from(&self.forbidden);
            out.fill();
        }
        out.subtract(&self.forbidden);
    }

    pub(super) fn reset_classes(&mut self, classes: usize) {
        if self.class_gen.len() != classes {
            self.class_gen = vec![0; classes];
            self.class_fired = vec![None; classes];
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.class_gen.iter_mut().for_each(|g| *g = 0);
            self.generation = 1;
        }
    }

    pub(super) fn reset(
        &mut self,
        n: usize,
        scratch: usize,
        leaves: usize,
        rules: usize,
        preds: usize,
    ) {
        if self.forbidden.universe() != n || self.boosts.len() != n {
            *self = Verdict::new(n);
        }
        self.forbidden.clear();
        self.restricted.fill();
        self.any_only = false;
        self.boosts.iter_mut().for_each(|b| *b = 0.0);
        self.fired.clear();
        self.target_words.clear();
        if self.scratch.len() < scratch {
            self.scratch.resize(scratch, 0);
        }
        if self.lit_state.len() < 2 * leaves {
            self.lit_state.resize(2 * leaves, 0);
        }
        if self.leaf_err.len() < leaves {
            self.leaf_err.resize(leaves, EvalError::Overflow);
        }
        if self.live.len() != rules.div_ceil(64) {
            self.live.resize(rules.div_ceil(64), 0);
        }
        if self.rule_state.len() < rules {
            self.rule_state.resize(rules, 0);
        }
        let w = n.div_ceil(64);
        if self.pred_words.len() < preds * 2 * w {
            self.pred_words.resize(preds * 2 * w, 0);
        }
        if self.pred_err.len() < preds {
            self.pred_err.resize(preds, None);
        }
        if self.pred_done.len() < preds {
            self.pred_done.resize(preds, false);
        }
        self.pred_done.iter_mut().for_each(|d| *d = false);
        if self.pred_runs.len() < 2 * preds {
            self.pred_runs.resize(2 * preds, NO_RUN);
        }
    }
}
