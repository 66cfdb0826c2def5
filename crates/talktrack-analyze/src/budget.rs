//! The search budget, counted in work done rather than in search nodes: 1 per
//! node; a whole mask, 1 per rule plus 1 per atom of its condition and target
//! predicate (`Space::mask_weight`); a condition the search evaluates itself
//! (`search.rs`, three-valued or not), 1 plus [`EVALUATED`] per atom the real
//! evaluator runs and [`KEPT`] per atom whose kept value is read. A node whose
//! mask evaluates a thousand nested conditions costs about a thousand times
//! what a node evaluating one does, so a budget bounds a question's time, not
//! only its number of nodes.

use std::cell::Cell;

/// The work of an atom the search's own evaluation runs (the real evaluator
/// walking the atom's expression).
pub(crate) const EVALUATED: u64 = 4;

/// The work of reading an atom's kept value (its quantities did not change
/// since it was evaluated).
pub(crate) const KEPT: u64 = 1;

/// The work a question may still do.
pub(crate) struct Meter {
    left: Cell<u64>,
    start: u64,
}

impl Meter {
    /// A meter with `units` to spend.
    pub(crate) fn new(units: u64) -> Self {
        Self {
            left: Cell::new(units),
            start: units,
        }
    }

    /// Spends `units` (at most what is left: the work that overran the budget
    /// was done, but the question is then out of budget).
    pub(crate) fn charge(&self, units: u64) {
        self.left.set(self.left.get().saturating_sub(units));
    }

    /// Whether nothing is left: the search must stop and its question stays undecided.
    pub(crate) fn exhausted(&self) -> bool {
        self.left.get() == 0
    }

    /// The units spent so far.
    pub(crate) fn spent(&self) -> u64 {
        self.start - self.left.get()
    }
}
