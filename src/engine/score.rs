//! Stage 3 of the hot path: the allowed tracks scored — the policy's score (in
//! log space for probabilities) plus the rules' boosts — or, when the policy
//! fails or returns NaN or infinite scores, the boosts alone.
//!
//! Only tracks the mask allows are ever scored: a forbidden track cannot reach
//! the ranking whatever the policy returns.

use super::decision::{PolicyUse, Ranked};
use super::mask::MaskOutcome;
use crate::bundle::Bundle;
use crate::policy::ScoreKind;
use crate::rules::Verdict;
use crate::trackset::TrackSet;
use crate::turn_view::TurnView;

/// The allowed tracks with their scores.
pub(super) struct Scored {
    /// Allowed tracks in catalog order (the fallback alone when it stands in).
    pub(super) ranked: Vec<Ranked>,
    /// Index in `ranked` of the best entry (highest score, lowest track on ties).
    pub(super) best: Option<usize>,
    /// How the policy's scores were used.
    pub(super) policy: PolicyUse,
}

/// Scores the tracks `allowed` holds, after the mask came out as `outcome`.
pub(super) fn score(
    b: &Bundle,
    view: &TurnView<'_>,
    outcome: MaskOutcome,
    verdict: &Verdict,
    allowed: &TrackSet,
    obs: &mut [f32],
    scores: &mut [f32],
) -> Scored {
    let mut ranked: Vec<Ranked> = Vec::with_capacity(allowed.count().max(1));
    match outcome {
        MaskOutcome::Allowed => {}
        MaskOutcome::Fallback => {
            let fallback = b.fallback();
            ranked.push(Ranked {
                track: fallback as u32,
                score: verdict.boosts.get(fallback).copied().unwrap_or(0.0),
                probability: 1.0,
            });
            return Scored {
                ranked,
                best: Some(0),
                policy: PolicyUse::NotNeeded,
            };
        }
        MaskOutcome::Nothing => {
            return Scored {
                ranked,
                best: None,
                policy: PolicyUse::NotNeeded,
            }
        }
    }
    b.features().encode(view, obs);
    let kind = b.manifest().policy.scores;
    let boosts = &verdict.boosts[..];
    let boost = |t: usize| boosts.get(t).copied().unwrap_or(0.0);
    let mut best = None;
    let policy = match b.policy().scores_masked(obs, allowed, scores) {
        Err(e) => PolicyUse::Failed {
            error: e.to_string(),
        },
        Ok(()) => {
            // One pass: the final scores and the best of them (highest score,
            // lowest track on ties), counting the allowed tracks whose policy
            // score is unusable.
            let mut bad = 0usize;
            let scores = &scores[..];
            let (mut top_i, mut top_s) = (None, f32::NEG_INFINITY);
            ranked.extend(allowed.iter().enumerate().map(|(i, t)| {
                let x = scores.get(t).copied().unwrap_or(f32::NAN);
                let (base, ok) = match kind {
                    ScoreKind::Probabilities => (x.ln(), x.is_finite() && x >= 0.0),
                    _ => (x, x.is_finite()),
                };
                bad += usize::from(!ok);
                let score = base + boost(t);
                if top_i.is_none() || score.total_cmp(&top_s).is_gt() {
                    (top_i, top_s) = (Some(i), score);
                }
                Ranked {
                    track: t as u32,
                    score,
                    probability: 0.0,
                }
            }));
            best = top_i;
            if bad == 0 {
                PolicyUse::Used
            } else {
                PolicyUse::NonFinite { tracks: bad }
            }
        }
    };
    if policy != PolicyUse::Used {
        // Rank the allowed tracks by their boosts alone.
        ranked.clear();
        ranked.extend(allowed.iter().map(|t| Ranked {
            track: t as u32,
            score: boost(t),
            probability: 0.0,
        }));
        best = top(&ranked);
    }
    Scored {
        ranked,
        best,
        policy,
    }
}

/// Index of the best entry: highest score, lowest track index among ties.
fn top(ranked: &[Ranked]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, r) in ranked.iter().enumerate() {
        match best {
            Some(j) if ranked[j].score.total_cmp(&r.score).is_ge() => {}
            _ => best = Some(i),
        }
    }
    best
}
