//! The hot path: request → rules verdict → features → policy → ranked, explained decision.
//!
//! Buffers live in the bundle's per-thread scratch, attribute names are resolved
//! to slots once per request, and the policy plan was optimised when the bundle
//! loaded. Whatever the policy returns, a forbidden track is never ranked or
//! chosen: the mask is applied before scores are read.

use std::cell::RefCell;
use std::sync::Arc;

use super::decision::{Decision, PolicyUse, Ranked};
use super::mask::{mask, MaskOutcome};
use super::request::{DecideError, Request, MAX_HISTORY};
use crate::bundle::{Bundle, Scratch, SelectionMode};
use crate::context::{Resolved, Val};
use crate::policy::ScoreKind;
use crate::rules::Verdict;
use crate::trackset::TrackSet;
use crate::turn::TurnView;

impl Scratch {
    fn new(b: &Bundle) -> Self {
        let n = b.catalog().len();
        Scratch {
            verdict: Verdict::new(n),
            used: vec![0; n],
            obs: vec![0.0; b.features().dim()],
            scores: vec![0.0; n],
            allowed: TrackSet::empty(n),
        }
    }
}

/// Decides the next track for `req` with `bundle`.
pub fn decide(bundle: &Arc<Bundle>, req: &Request) -> Result<Decision, DecideError> {
    let b: &Bundle = bundle;
    // The history's strings are separate allocations of the host's: read one
    // byte of each up front so that their cache misses overlap.
    let mut touch = 0u8;
    for s in req.history.tracks.iter().chain(&req.history.replies) {
        touch ^= s.as_bytes().first().copied().unwrap_or(0);
    }
    std::hint::black_box(touch);
    let mut values = Resolved::new();
    b.schema().resolve(&req.context, &mut values)?;
    if let Some(dim) = b.features().embedding_dim() {
        let found = req.embedding.as_ref().map_or(0, Vec::len);
        if found != dim {
            return Err(DecideError::Embedding {
                expected: dim,
                found,
            });
        }
        let e = req.embedding.as_deref().unwrap_or(&[]);
        // A fold without early exit vectorises; the position is looked for only on failure.
        if e.iter().fold(false, |bad, x| bad | !x.is_finite()) {
            let i = e.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Err(DecideError::EmbeddingNotFinite(i));
        }
    }
    let h = &req.history;
    if h.tracks.len() > MAX_HISTORY || h.replies.len() > MAX_HISTORY {
        return Err(DecideError::HistoryTooLong(
            h.tracks.len().max(h.replies.len()),
        ));
    }
    // Every reply must be known; the last one is the `last_reply` rules and features read.
    let mut last_reply = None;
    for (index, r) in h.replies.iter().enumerate() {
        last_reply = Some(b.reply_index(r).ok_or_else(|| DecideError::UnknownReply {
            index,
            name: r.clone(),
        })?);
    }
    let turn = h.turn.unwrap_or(h.tracks.len() as u32);

    let cell = b.scratch.get_or(|| RefCell::new(Scratch::new(b)));
    // INVARIANT: decide never calls itself, so the scratch is never borrowed twice on one thread.
    let Ok(mut guard) = cell.try_borrow_mut() else {
        let mut fresh = Scratch::new(b);
        return decide_with(bundle, req, &values, last_reply, turn, &mut fresh);
    };
    decide_with(bundle, req, &values, last_reply, turn, &mut guard)
}

fn decide_with(
    bundle: &Arc<Bundle>,
    req: &Request,
    values: &[Option<Val<'_>>],
    last_reply: Option<u32>,
    turn: u32,
    s: &mut Scratch,
) -> Result<Decision, DecideError> {
    let b: &Bundle = bundle;
    let catalog = b.catalog();
    s.used.iter_mut().for_each(|u| *u = 0);
    for (index, id) in req.history.tracks.iter().enumerate() {
        let t = catalog.index(id).ok_or_else(|| DecideError::UnknownTrack {
            index,
            id: id.clone(),
        })?;
        if let Some(u) = s.used.get_mut(t) {
            *u = u.saturating_add(1);
        }
    }
    let view = TurnView {
        values,
        now_ms: req.time,
        turn,
        max_turns: b.manifest().max_turns,
        used: &s.used,
        last_reply,
        embedding: req.embedding.as_deref(),
    };
    let fallback = b.fallback();
    let outcome = mask(b.rules(), &view, fallback, &mut s.verdict, &mut s.allowed);

    let mut ranked: Vec<Ranked> = Vec::with_capacity(s.allowed.count().max(1));
    let mut policy = PolicyUse::NotNeeded;
    let fallback_used = outcome == MaskOutcome::Fallback;
    let mut no_choice = None;
    let mut best = None;
    if outcome == MaskOutcome::Allowed {
        b.features().encode(&view, &mut s.obs);
        let kind = b.manifest().policy.scores;
        let boosts = &s.verdict.boosts[..];
        let boost = |t: usize| boosts.get(t).copied().unwrap_or(0.0);
        policy = match b.policy().scores_masked(&s.obs, &s.allowed, &mut s.scores) {
            Err(e) => PolicyUse::Failed {
                error: e.to_string(),
            },
            Ok(()) => {
                // One pass: the final scores and the best of them (highest score,
                // lowest track on ties), counting the allowed tracks whose policy
                // score is unusable.
                let mut bad = 0usize;
                let scores = &s.scores[..];
                let (mut top_i, mut top_s) = (None, f32::NEG_INFINITY);
                ranked.extend(s.allowed.iter().enumerate().map(|(i, t)| {
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
            ranked.extend(s.allowed.iter().map(|t| Ranked {
                track: t as u32,
                score: boost(t),
                probability: 0.0,
            }));
            best = top(&ranked);
        }
        // Ranked in catalog order here; `Decision::ranked` sorts on first access, so
        // a host that only reads the chosen track never pays for the sort.
        assign_probabilities(b, &mut ranked, best);
    } else if fallback_used {
        ranked.push(Ranked {
            track: fallback as u32,
            score: s.verdict.boosts.get(fallback).copied().unwrap_or(0.0),
            probability: 1.0,
        });
        best = Some(0);
    } else {
        no_choice = Some(
            "no track is allowed and a forbid rule masks the fallback too: hand the conversation to a person"
                .to_owned(),
        );
    }
    let chosen = pick(b, req, turn, &ranked, best);
    let text = chosen
        .and_then(|c| b.template(c as usize))
        .map(|t| t.render(values));
    let allowed = s.allowed.clone();
    let cap = s.verdict.fired.capacity();
    let fired = std::mem::replace(&mut s.verdict.fired, Vec::with_capacity(cap));
    let cap = s.verdict.target_words.capacity();
    let target_words = std::mem::replace(&mut s.verdict.target_words, Vec::with_capacity(cap));
    Ok(Decision {
        bundle: bundle.clone(),
        conversation_id: req.conversation_id.clone(),
        turn,
        unsorted: ranked,
        ranked: std::sync::OnceLock::new(),
        chosen,
        text,
        fallback_used,
        no_choice,
        policy,
        allowed,
        forbidden: s.verdict.forbidden.clone(),
        // The verdict's buffers move into the decision (no copy); the scratch gets
        // fresh ones of the same capacity, so the next evaluation does not regrow them.
        fired,
        target_words,
    })
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
