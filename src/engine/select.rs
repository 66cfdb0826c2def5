//! Stage 4 of the hot path: selection — the probability that the bundle's
//! selection rule (greedy or softmax, mixed with epsilon) picks each scored
//! track, and the pick itself, reproducible from the seed.

use super::decision::Ranked;
use super::request::Request;
use crate::bundle::{Bundle, SelectionMode};

/// Sets the selection probabilities of `ranked` (scored by the policy) and picks
/// one; `best` is the index of the top entry. The fallback standing in alone
/// keeps the probability 1 it was given.
pub(super) fn select(
    b: &Bundle,
    req: &Request,
    turn: u32,
    ranked: &mut [Ranked],
    best: Option<usize>,
    scored_by_policy: bool,
) -> Option<u32> {
    if scored_by_policy {
        // Ranked in catalog order here; `Decision::ranked` sorts on first access, so
        // a host that only reads the chosen track never pays for the sort.
        assign_probabilities(b, ranked, best);
    }
    pick(b, req, turn, ranked, best)
}

/// Selection probabilities: greedy or softmax at the configured temperature, mixed with epsilon.
fn assign_probabilities(b: &Bundle, ranked: &mut [Ranked], best: Option<usize>) {
    let sel = &b.manifest().selection;
    let n = ranked.len() as f32;
    let eps = sel.epsilon;
    let Some(t) = best else { return };
    match sel.mode {
        SelectionMode::Greedy => {
            for (i, r) in ranked.iter_mut().enumerate() {
                let p = if i == t { 1.0 } else { 0.0 };
                r.probability = (1.0 - eps) * p + eps / n;
            }
        }
        SelectionMode::Softmax => {
            let max = ranked[t].score;
            let mut sum = 0.0f32;
            for r in ranked.iter_mut() {
                let e = if max.is_finite() {
                    ((r.score - max) / sel.temperature).exp()
                } else {
                    1.0
                };
                r.probability = if e.is_finite() { e } else { 0.0 };
                sum += r.probability;
            }
            for r in ranked.iter_mut() {
                let p = if sum > 0.0 {
                    r.probability / sum
                } else {
                    1.0 / n
                };
                r.probability = (1.0 - eps) * p + eps / n;
            }
        }
    }
}

/// Picks by the probabilities (the top track when greedy without epsilon); the draw
/// walks the catalog order, so a seed always gives the same track.
fn pick(
    b: &Bundle,
    req: &Request,
    turn: u32,
    ranked: &[Ranked],
    best: Option<usize>,
) -> Option<u32> {
    let best = ranked.get(best?)?;
    let sel = &b.manifest().selection;
    if sel.mode == SelectionMode::Greedy && sel.epsilon == 0.0 {
        return Some(best.track);
    }
    let seed = req.seed.unwrap_or_else(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in req.conversation_id.bytes().chain(turn.to_le_bytes()) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    });
    let u = (splitmix64(seed) >> 40) as f32 / (1u64 << 24) as f32;
    let mut acc = 0.0;
    for r in ranked {
        acc += r.probability;
        if u < acc {
            return Some(r.track);
        }
    }
    ranked.last().map(|r| r.track)
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
