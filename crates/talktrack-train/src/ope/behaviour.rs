//! The behaviour policy: with what probability the logged agents (or the serving
//! policy) used the track they used at each logged turn.
//!
//! A turn with a logged `propensity` (served by a policy, not overridden by the
//! agent) uses it. Otherwise the behaviour is estimated from the published
//! behaviour cells of the log's own aggregates (how often each track was used per
//! (turn, last reply), cells backed by at least `k` conversations): the share of the
//! logged track among the published tracks of its (turn, last reply). When the
//! logged track's cell is unpublished, the estimate backs off to its share at the
//! same last reply over every turn, then to its share over the whole log (published
//! cells only); a turn with no published cell at all gets no propensity and its
//! conversation is left out of the estimates. Every turn's source is counted.

use std::collections::HashMap;

use serde::Serialize;

use crate::aggregate::{Aggregates, START};
use crate::log::Conversation;

/// Where a turn's behaviour probability came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The log's own `propensity`.
    Logged,
    /// The published (turn, last reply) behaviour cell.
    Estimated,
    /// The cell is unpublished: the share at the same last reply over every turn.
    BackedOffLastReply,
    /// The cell is unpublished: the track's share over the whole log.
    BackedOffTrack,
    /// No published cell: the conversation is left out.
    Unknown,
}

/// How many turns got their behaviour probability from each source.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SourceCounts {
    /// From the log's `propensity`.
    pub logged: u64,
    /// From the published (turn, last reply) cell.
    pub estimated: u64,
    /// Backed off to the last reply over every turn (cell unpublished).
    pub backed_off_last_reply: u64,
    /// Backed off to the track's share over the whole log (cell unpublished).
    pub backed_off_track: u64,
    /// No published cell: their conversations are left out.
    pub unknown: u64,
}

impl SourceCounts {
    fn add(&mut self, s: Source) {
        match s {
            Source::Logged => self.logged += 1,
            Source::Estimated => self.estimated += 1,
            Source::BackedOffLastReply => self.backed_off_last_reply += 1,
            Source::BackedOffTrack => self.backed_off_track += 1,
            Source::Unknown => self.unknown += 1,
        }
    }

    /// Turns whose behaviour cell is unpublished.
    pub fn unpublished(&self) -> u64 {
        self.backed_off_last_reply + self.backed_off_track + self.unknown
    }
}

/// The estimated behaviour policy: published counts per (turn, last reply, track).
pub struct Behaviour {
    max_turn: u32,
    cell: HashMap<(u32, String, String), f64>,
    state: HashMap<(u32, String), f64>,
    by_last: HashMap<(String, String), f64>,
    last_total: HashMap<String, f64>,
    by_track: HashMap<String, f64>,
    total: f64,
}

impl Behaviour {
    /// The behaviour of the published cells of `agg`.
    pub fn new(agg: &Aggregates) -> Self {
        let mut b = Self {
            max_turn: agg.config.max_turns.saturating_sub(1),
            cell: HashMap::new(),
            state: HashMap::new(),
            by_last: HashMap::new(),
            last_total: HashMap::new(),
            by_track: HashMap::new(),
            total: 0.0,
        };
        for c in &agg.behaviour {
            let n = c.count.max(0.0);
            *b.cell
                .entry((c.turn, c.last_reply.clone(), c.track.clone()))
                .or_default() += n;
            *b.state.entry((c.turn, c.last_reply.clone())).or_default() += n;
            *b.by_last
                .entry((c.last_reply.clone(), c.track.clone()))
                .or_default() += n;
            *b.last_total.entry(c.last_reply.clone()).or_default() += n;
            *b.by_track.entry(c.track.clone()).or_default() += n;
            b.total += n;
        }
        b
    }

    /// The probability of `track` at turn `t` after `last` (`start` before the first
    /// reply), and where it came from (`0` with [`Source::Unknown`]).
    pub fn estimate(&self, t: u32, last: &str, track: &str) -> (f64, Source) {
        let t = t.min(self.max_turn);
        let share = |num: Option<&f64>, den: Option<&f64>| match (num, den) {
            (Some(&n), Some(&d)) if n > 0.0 && d > 0.0 => Some(n / d),
            _ => None,
        };
        let key = (t, last.to_owned());
        if let Some(p) = share(
            self.cell.get(&(t, last.to_owned(), track.to_owned())),
            self.state.get(&key),
        ) {
            return (p, Source::Estimated);
        }
        if let Some(p) = share(
            self.by_last.get(&(last.to_owned(), track.to_owned())),
            self.last_total.get(last),
        ) {
            return (p, Source::BackedOffLastReply);
        }
        if let Some(p) = share(self.by_track.get(track), Some(&self.total)) {
            return (p, Source::BackedOffTrack);
        }
        (0.0, Source::Unknown)
    }

    /// Per turn of `conv`, the behaviour probability of the logged track and its
    /// source; counted into `counts`.
    pub fn propensities(
        &self,
        conv: &Conversation,
        counts: &mut SourceCounts,
    ) -> Vec<(f64, Source)> {
        let mut last = START.to_owned();
        conv.turns
            .iter()
            .enumerate()
            .map(|(t, turn)| {
                let out = match turn.propensity {
                    Some(p) if p.is_finite() && p > 0.0 && p <= 1.0 => (p, Source::Logged),
                    _ => self.estimate(t as u32, &last, &turn.track),
                };
                counts.add(out.1);
                last.clone_from(&turn.reply);
                out
            })
            .collect()
    }
}
