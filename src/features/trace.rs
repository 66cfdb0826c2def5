//! `decide --trace`: the observation slot by slot, with the feature block that
//! wrote each slot, and the policy's raw score for every track (masked ones
//! too), before boosts.
//!
//! A trace is built after a decision from the same request: the decision has
//! already validated it and fixed the allowed set, so the trace re-encodes the
//! same turn and scores it with the same mask, off the hot path.

use std::fmt;

use crate::context::Resolved;
use crate::engine::{resolve, DecideError, Decision, Request};
use crate::turn_view::ContactLog;

/// One slot of the observation.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TraceSlot {
    /// The feature block that wrote it, e.g. `attr_one_hot segment`.
    pub block: String,
    /// What the slot means within the block, e.g. `young_family`.
    pub slot: String,
    /// The value the policy saw.
    pub value: f32,
}

/// One track's raw policy score.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TraceScore {
    /// Track id.
    pub track: String,
    /// Whether the rules allowed it.
    pub allowed: bool,
    /// The policy's score, before boosts.
    pub score: f32,
}

/// What the policy saw and said for one decision.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Trace {
    /// The observation, slot by slot.
    pub observation: Vec<TraceSlot>,
    /// The raw scores, in catalog order (empty if the policy failed).
    pub scores: Vec<TraceScore>,
    /// Why the policy could not score, if it could not.
    pub policy_error: Option<String>,
}

impl Trace {
    /// Re-encodes the turn `decision` was made for and scores it with the
    /// decision's allowed set.
    pub fn of(decision: &Decision, req: &Request) -> Result<Trace, DecideError> {
        let b = &decision.bundle;
        let catalog = b.catalog();
        // The same resolution and turn view `decide` built for this request.
        let mut values = Resolved::new();
        let mut used = vec![0u16; catalog.len()];
        let mut contacts = ContactLog::new();
        let turn = resolve(b.as_template(), req, &mut values, &mut used, &mut contacts)?;
        let view = turn.view(b.as_template(), req, &values, &used, &contacts);
        let mut obs = vec![0.0; b.features().dim()];
        b.features().encode(&view, &mut obs);
        let ids: Vec<&str> = catalog.tracks().iter().map(|t| t.id.as_str()).collect();
        let observation = b
            .features()
            .slot_labels(b.schema(), &b.manifest().replies, &ids)
            .into_iter()
            .zip(&obs)
            .map(|((block, slot), value)| TraceSlot {
                block,
                slot,
                value: *value,
            })
            .collect();
        let mut raw = vec![0.0; catalog.len()];
        let (scores, policy_error) =
            match b.policy().scores_masked(&obs, &decision.allowed, &mut raw) {
                Ok(()) => (
                    ids.iter()
                        .zip(&raw)
                        .enumerate()
                        .map(|(i, (id, s))| TraceScore {
                            track: (*id).to_owned(),
                            allowed: decision.allowed.contains(i),
                            score: *s,
                        })
                        .collect(),
                    None,
                ),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
        Ok(Trace {
            observation,
            scores,
            policy_error,
        })
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "observation ({} slots):", self.observation.len())?;
        let width = self
            .observation
            .iter()
            .map(|s| s.block.chars().count())
            .max()
            .unwrap_or(0);
        for (i, s) in self.observation.iter().enumerate() {
            writeln!(
                f,
                "  [{i:>3}] {:<width$}  {:<24} {}",
                s.block, s.slot, s.value
            )?;
        }
        writeln!(f, "policy scores (raw, before boosts):")?;
        if let Some(e) = &self.policy_error {
            writeln!(f, "  the policy failed: {e}")?;
        }
        let width = self
            .scores
            .iter()
            .map(|s| s.track.chars().count())
            .max()
            .unwrap_or(0);
        for s in &self.scores {
            let masked = if s.allowed { "" } else { "  (masked)" };
            writeln!(f, "  {:<width$}  {:>12.6}{masked}", s.track, s.score)?;
        }
        Ok(())
    }
}
