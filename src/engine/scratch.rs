//! The engine's per-thread buffers: one set per bundle and thread, reused by
//! every decision, so that the hot path does not allocate for them.

use crate::bundle::Bundle;
use crate::rules::Verdict;
use crate::trackset::TrackSet;
use crate::turn_view::ContactLog;

/// Per-thread buffers reused by every decision on that thread.
pub(crate) struct Scratch {
    /// The rules' verdict for the turn being decided.
    pub(crate) verdict: Verdict,
    /// Per catalog track: how often the history used it.
    pub(crate) used: Vec<u16>,
    /// The policy's observation.
    pub(crate) obs: Vec<f32>,
    /// The policy's scores, one per catalog track.
    pub(crate) scores: Vec<f32>,
    /// The tracks the mask allows.
    pub(crate) allowed: TrackSet,
    /// The request's past contacts, resolved and sorted by time.
    pub(crate) contacts: ContactLog,
}

impl Scratch {
    /// Buffers sized for `b`.
    pub(crate) fn new(b: &Bundle) -> Self {
        let n = b.catalog().len();
        Scratch {
            verdict: Verdict::new(n),
            used: vec![0; n],
            obs: vec![0.0; b.features().dim()],
            scores: vec![0.0; n],
            allowed: TrackSet::empty(n),
            contacts: ContactLog::new(),
        }
    }
}
