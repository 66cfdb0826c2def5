//! Where the simulator gets its rule masks: a [`MaskSource`] is asked once per
//! enumerable state, with the same [`TurnView`] the runtime builds for a request.
//!
//! The trainer masks with the runtime's rules engine through [`RulesMask`].
//! [`P4gReferenceRules`] is a hand-written transcription of the reference MDP's
//! rules, kept so a test can check that the rules written in the DSL and compiled by
//! the engine give exactly the same masks.

use std::cell::RefCell;

use talktrack::tooling::mask;
use talktrack::tooling::TrackSet;
use talktrack::tooling::TurnView;
use talktrack::tooling::{RuleSet, Verdict};

/// Decides which tracks the rules allow in a turn.
pub trait MaskSource {
    /// Clears `allowed[a]` for every track `a` the rules forbid in `view` (leaves the
    /// others untouched).
    fn restrict(&self, view: &TurnView<'_>, allowed: &mut [bool]);
}

/// No rules: every track with data is allowed.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl MaskSource for AllowAll {
    fn restrict(&self, _view: &TurnView<'_>, _allowed: &mut [bool]) {}
}

impl<F: Fn(&TurnView<'_>, &mut [bool])> MaskSource for F {
    fn restrict(&self, view: &TurnView<'_>, allowed: &mut [bool]) {
        self(view, allowed)
    }
}

/// The rules of the PersuasionForGood reference MDP:
/// `ask-*` tracks are forbidden at turns 0 and 1 and right after an objection, and
/// `ask-confirm-donation` is always forbidden (confirming needs an agreement, and
/// agreement ends the episode).
#[derive(Clone, Debug)]
pub struct P4gReferenceRules {
    ask: Vec<bool>,
    confirm: Option<usize>,
    objection: Option<u32>,
}

impl P4gReferenceRules {
    /// The rules over a catalog's track ids and reply categories.
    pub fn new(tracks: &[String], replies: &[String]) -> Self {
        Self {
            ask: tracks.iter().map(|t| t.starts_with("ask-")).collect(),
            confirm: tracks.iter().position(|t| t == "ask-confirm-donation"),
            objection: replies
                .iter()
                .position(|r| r == "objection")
                .map(|i| i as u32),
        }
    }
}

impl MaskSource for P4gReferenceRules {
    fn restrict(&self, view: &TurnView<'_>, allowed: &mut [bool]) {
        let no_ask =
            view.turn < 2 || (view.last_reply.is_some() && view.last_reply == self.objection);
        for (a, ok) in allowed.iter_mut().enumerate() {
            let is_ask = self.ask.get(a).copied().unwrap_or(false);
            if (no_ask && is_ask) || Some(a) == self.confirm {
                *ok = false;
            }
        }
    }
}

/// The runtime's rules engine as a mask source: the same [`RuleSet`] and the same
/// [`mask`] function (fallback included) that `decide` uses in production.
#[derive(Debug)]
pub struct RulesMask<'r> {
    rules: &'r RuleSet,
    fallback: usize,
    scratch: RefCell<(Verdict, TrackSet)>,
}

impl<'r> RulesMask<'r> {
    /// Masks with `rules`; `fallback` is the bundle's fallback track.
    pub fn new(rules: &'r RuleSet, fallback: usize) -> Self {
        let n = rules.n_tracks();
        Self {
            rules,
            fallback,
            scratch: RefCell::new((Verdict::new(n), TrackSet::empty(n))),
        }
    }
}

impl MaskSource for RulesMask<'_> {
    fn restrict(&self, view: &TurnView<'_>, allowed: &mut [bool]) {
        let mut guard = self.scratch.borrow_mut();
        let (verdict, set) = &mut *guard;
        mask(self.rules, view, self.fallback, verdict, set);
        for (a, ok) in allowed.iter_mut().enumerate() {
            if !set.contains(a) {
                *ok = false;
            }
        }
    }
}
