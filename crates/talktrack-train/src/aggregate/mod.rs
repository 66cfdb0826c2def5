//! Aggregation of conversation logs into the per-(state, track) tables that are all
//! the simulator needs: never an individual conversation.
//!
//! For every level of a configurable state-key chain (by default (stage of turn,
//! last reply) → (last reply) → ()) and every track, a cell holds the number of
//! distinct conversations behind it, the next-reply counts, the most frequent reply,
//! the conversion rate and the mean outcome value (both over its distinct
//! conversations). Beside them: the logged behaviour (track counts per turn, clamped
//! to `max_turns - 1`, and last reply) and marginals of chosen context attributes.
//!
//! Privacy: a cell backed by fewer than `k` distinct conversations is never
//! published. Conversations are distinct by id: the log reader rejects a line whose
//! conversation id it has already seen ([`crate::log::LogReader`]), so one
//! conversation repeated in a log is counted once in the cells, the behaviour counts,
//! the context marginals and either part of a split. With `epsilon` set, Laplace noise makes the release
//! epsilon-differentially private per conversation, see [`noise`].

pub mod bins;
pub mod folds;
pub mod noise;
pub mod shrink;
pub mod split;

pub use bins::Bin;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::log::{Conversation, LogError, LogReader, ReadOptions, ReadStats, Vocab};

/// Name of the pseudo-reply before the user has said anything.
pub const START: &str = "start";

/// One component of a state key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPart {
    /// The agent turn index, clamped to `max_turns - 1`.
    Turn,
    /// The stage of the turn ([`AggregateConfig::stage_bounds`]).
    Stage,
    /// The user's last reply category (`start` before the first reply).
    LastReply,
}

/// How logs are aggregated. Every field has a default, so `[aggregate]` may be empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AggregateConfig {
    /// Minimum distinct conversations behind a published cell (default 5).
    pub k: u64,
    /// Maximum agent turns per episode, `T` (default 10).
    pub max_turns: u32,
    /// First turn of each stage after stage 0 (default `[3, 7]`: stages 0–2, 3–6, 7+).
    pub stage_bounds: Vec<u32>,
    /// The back-off chain, finest first (default `[["stage", "last_reply"], ["last_reply"], []]`).
    pub levels: Vec<Vec<KeyPart>>,
    /// Total privacy budget per conversation; `None` (default) publishes exact counts.
    pub epsilon: Option<f64>,
    /// Seed of the noise generator (default 0).
    pub noise_seed: u64,
    /// Outcome values are clipped to `[0, max_value]` when noise is on (default 1).
    pub max_value: f64,
    /// Context attributes whose value counts are published (default none): what the
    /// simulator draws each simulated conversation's context from.
    pub context_attributes: Vec<String>,
    /// Bin edges for numeric context attributes (`age = [0, 18, 25, 40, 65, 120]`):
    /// counts are published per bin `[a, b)` (the last bin includes its upper edge;
    /// values outside the range go to the nearest bin), so that no single exact value
    /// needs `k` conversations of its own. Numeric attributes without edges are counted
    /// per exact value.
    pub context_bins: BTreeMap<String, Vec<f64>>,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        Self {
            k: 5,
            max_turns: 10,
            stage_bounds: vec![3, 7],
            levels: vec![
                vec![KeyPart::Stage, KeyPart::LastReply],
                vec![KeyPart::LastReply],
                vec![],
            ],
            epsilon: None,
            noise_seed: 0,
            max_value: 1.0,
            context_attributes: Vec::new(),
            context_bins: BTreeMap::new(),
        }
    }
}

impl AggregateConfig {
    /// The stage of agent turn `t`.
    pub fn stage(&self, t: u32) -> u32 {
        self.stage_bounds.iter().filter(|&&b| t >= b).count() as u32
    }

    /// Number of stages.
    pub fn n_stages(&self) -> u32 {
        self.stage_bounds.len() as u32 + 1
    }

    fn validate(&self, vocab: &Vocab) -> Result<(), AggregateError> {
        let bad = |msg: String| Err(AggregateError::Config(msg));
        if self.k == 0 {
            return bad("`k` must be at least 1".into());
        }
        if self.max_turns == 0 {
            return bad("`max_turns` must be at least 1".into());
        }
        if self.stage_bounds.windows(2).any(|w| w[0] >= w[1])
            || self.stage_bounds.first() == Some(&0)
        {
            return bad("`stage_bounds` must be increasing and above 0".into());
        }
        if self.levels.is_empty() {
            return bad("`levels` needs at least one state key".into());
        }
        if let Some(e) = self.epsilon {
            if !(e.is_finite() && e > 0.0) {
                return bad(format!("`epsilon` must be a positive number, not `{e}`"));
            }
        }
        if !(self.max_value.is_finite() && self.max_value > 0.0) {
            return bad("`max_value` must be a positive number".into());
        }
        if vocab.replies().iter().any(|r| r == START) {
            return bad(format!(
                "`{START}` is reserved and cannot be a reply category"
            ));
        }
        if vocab.tracks().is_empty() || vocab.replies().is_empty() {
            return bad("the catalog and the reply vocabulary must not be empty".into());
        }
        for (attr, edges) in &self.context_bins {
            if !self.context_attributes.contains(attr) {
                return bad(format!(
                    "`context_bins.{attr}`: `{attr}` is not in `context_attributes`"
                ));
            }
            if edges.len() < 2
                || edges.iter().any(|e| !e.is_finite())
                || edges.windows(2).any(|w| w[0] >= w[1])
            {
                return bad(format!(
                    "`context_bins.{attr}` must list at least two increasing, finite edges"
                ));
            }
        }
        Ok(())
    }
}

/// Why aggregation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// Reading the log failed (strict mode or I/O).
    #[error(transparent)]
    Log(#[from] LogError),
    /// The configuration is inconsistent.
    #[error("bad aggregate configuration: {0}")]
    Config(String),
    /// Nothing to aggregate.
    #[error("the log has no valid conversation ({bad} bad lines skipped)")]
    Empty {
        /// Bad lines skipped.
        bad: u64,
    },
    /// No cell reaches the privacy threshold.
    #[error(
        "no cell is backed by k = {k} distinct conversations (the best has {best}, from {conversations} conversations): lower `k` in [aggregate] or aggregate more conversations"
    )]
    NothingPublishable {
        /// The threshold.
        k: u64,
        /// The best-backed cell's conversation count.
        best: u64,
        /// Conversations read.
        conversations: u64,
    },
}

/// A state key value; absent components are `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateKey {
    /// Turn (clamped), when the level keys on it.
    pub turn: Option<u32>,
    /// Stage, when the level keys on it.
    pub stage: Option<u32>,
    /// Last reply (0 = `start`, `1 + r` = reply `r`), when the level keys on it.
    pub last: Option<u32>,
}

impl StateKey {
    /// The key of `level` for agent turn `t` after last reply `last` (0 = start).
    pub fn of(cfg: &AggregateConfig, level: &[KeyPart], t: u32, last: u32) -> Self {
        let mut k = StateKey {
            turn: None,
            stage: None,
            last: None,
        };
        for p in level {
            match p {
                KeyPart::Turn => k.turn = Some(t.min(cfg.max_turns.saturating_sub(1))),
                KeyPart::Stage => k.stage = Some(cfg.stage(t)),
                KeyPart::LastReply => k.last = Some(last),
            }
        }
        k
    }
}

/// One published (state key, track) cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Turn, when the level keys on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// Stage, when the level keys on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<u32>,
    /// Last reply (`start` before the first), when the level keys on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reply: Option<String>,
    /// Track id.
    pub track: String,
    /// Distinct conversations behind the cell (noisy when epsilon is set).
    pub conversations: f64,
    /// Next-reply counts, zero counts left out.
    pub next: BTreeMap<String, f64>,
    /// The most frequent next reply.
    pub most_frequent: String,
    /// Share of the cell's conversations that converted.
    pub conversion_rate: f64,
    /// Mean outcome value of the cell's conversations.
    pub mean_value: f64,
}

/// The published cells of one back-off level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// The key components of this level.
    pub key: Vec<KeyPart>,
    /// Its cells.
    pub cells: Vec<Cell>,
}

/// How often the logged agents used a track in a (turn, last reply) state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BehaviourCell {
    /// Turn, clamped to `max_turns - 1`.
    pub turn: u32,
    /// Last reply (`start` before the first).
    pub last_reply: String,
    /// Track id.
    pub track: String,
    /// Times used.
    pub count: f64,
    /// Distinct conversations that used it there.
    pub conversations: f64,
}

/// Everything training needs from the logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregates {
    /// Format version (1).
    pub format: u32,
    /// Catalog track ids, in action order.
    pub tracks: Vec<String>,
    /// Reply categories.
    pub replies: Vec<String>,
    /// The configuration that produced the file.
    pub config: AggregateConfig,
    /// Conversations aggregated (noisy when epsilon is set).
    pub conversations: f64,
    /// The back-off levels, finest first.
    pub levels: Vec<Level>,
    /// The logged behaviour.
    pub behaviour: Vec<BehaviourCell>,
    /// Per configured context attribute: published value counts.
    pub context_marginals: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Aggregates {
    /// Name of last-reply slot `l` (0 = `start`).
    pub fn last_name(&self, l: u32) -> &str {
        match l.checked_sub(1) {
            None => START,
            Some(r) => self.replies.get(r as usize).map_or("?", String::as_str),
        }
    }

    /// Slot of a last-reply name (0 = `start`).
    pub fn last_slot(&self, name: &str) -> Option<u32> {
        if name == START {
            return Some(0);
        }
        self.replies
            .iter()
            .position(|r| r == name)
            .map(|i| i as u32 + 1)
    }

    /// Reads an aggregate file's JSON.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The aggregate file's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[derive(Clone, Debug)]
struct Acc {
    next: Vec<u64>,
    convs: u64,
    converted: u64,
    value_sum: f64,
    seen_in: u64,
}

impl Acc {
    fn new(r: usize) -> Self {
        Self {
            next: vec![0; r],
            convs: 0,
            converted: 0,
            value_sum: 0.0,
            seen_in: u64::MAX,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct BehAcc {
    count: u64,
    convs: u64,
    seen_in: u64,
}

/// Accumulates conversations one at a time; memory grows with the number of cells,
/// not of conversations.
///
/// Every [`Aggregator::add`] counts as one more distinct conversation: feed it from a
/// [`LogReader`], which drops repeated conversation ids, as [`aggregate_log`] and
/// [`split::aggregate_split`] do.
pub struct Aggregator<'v> {
    vocab: &'v Vocab,
    cfg: AggregateConfig,
    cells: HashMap<(usize, StateKey, u32), Acc>,
    behaviour: HashMap<(u32, u32, u32), BehAcc>,
    marginals: Vec<BTreeMap<String, u64>>,
    conversations: u64,
}

impl<'v> Aggregator<'v> {
    /// An empty aggregator.
    pub fn new(vocab: &'v Vocab, cfg: AggregateConfig) -> Result<Self, AggregateError> {
        cfg.validate(vocab)?;
        let marginals = vec![BTreeMap::new(); cfg.context_attributes.len()];
        Ok(Self {
            vocab,
            cfg,
            cells: HashMap::new(),
            behaviour: HashMap::new(),
            marginals,
            conversations: 0,
        })
    }

    /// Adds one (already validated) conversation, counted as distinct from every
    /// conversation added before: add each conversation once.
    pub fn add(&mut self, c: &Conversation) {
        let seq = self.conversations;
        self.conversations += 1;
        let n_replies = self.vocab.replies().len();
        let value = if self.cfg.epsilon.is_some() {
            c.outcome.value_or_default().clamp(0.0, self.cfg.max_value)
        } else {
            c.outcome.value_or_default()
        };
        // With noise on, a conversation contributes at most `max_turns` turns, which
        // bounds its influence on every published number (see `noise`).
        let limit = if self.cfg.epsilon.is_some() {
            self.cfg.max_turns as usize
        } else {
            usize::MAX
        };
        let mut last = 0u32;
        for (t, turn) in c.turns.iter().enumerate().take(limit) {
            let (Some(a), Some(r)) = (self.vocab.track(&turn.track), self.vocab.reply(&turn.reply))
            else {
                continue;
            };
            let t = t as u32;
            for (li, level) in self.cfg.levels.iter().enumerate() {
                let key = StateKey::of(&self.cfg, level, t, last);
                let acc = self
                    .cells
                    .entry((li, key, a))
                    .or_insert_with(|| Acc::new(n_replies));
                if let Some(n) = acc.next.get_mut(r as usize) {
                    *n += 1;
                }
                if acc.seen_in != seq {
                    acc.seen_in = seq;
                    acc.convs += 1;
                    acc.converted += u64::from(c.outcome.converted);
                    acc.value_sum += value;
                }
            }
            let bt = t.min(self.cfg.max_turns - 1);
            let b = self.behaviour.entry((bt, last, a)).or_insert(BehAcc {
                seen_in: u64::MAX,
                ..BehAcc::default()
            });
            b.count += 1;
            if b.seen_in != seq {
                b.seen_in = seq;
                b.convs += 1;
            }
            last = r + 1;
        }
        for (i, attr) in self.cfg.context_attributes.iter().enumerate() {
            let Some(v) = c.context.get(attr) else {
                continue;
            };
            let v = match (v, self.cfg.context_bins.get(attr)) {
                (serde_json::Value::Number(n), Some(edges)) => {
                    Bin::of(edges, n.as_f64().unwrap_or(f64::NAN)).to_string()
                }
                (serde_json::Value::String(s), _) => s.clone(),
                (other, _) => other.to_string(),
            };
            if let Some(m) = self.marginals.get_mut(i) {
                *m.entry(v).or_insert(0) += 1;
            }
        }
    }

    /// Number of conversations added.
    pub fn conversations(&self) -> u64 {
        self.conversations
    }

    /// Publishes the cells that pass the threshold (noised when configured).
    pub fn finish(self) -> Result<Aggregates, AggregateError> {
        if self.conversations == 0 {
            return Err(AggregateError::Empty { bad: 0 });
        }
        let out = match self.cfg.epsilon {
            None => self.publish_exact(),
            Some(eps) => noise::publish_noisy(&self, eps),
        };
        if out.levels.iter().all(|l| l.cells.is_empty()) {
            let best = self.cells.values().map(|a| a.convs).max().unwrap_or(0);
            return Err(AggregateError::NothingPublishable {
                k: self.cfg.k,
                best,
                conversations: self.conversations,
            });
        }
        Ok(out)
    }

    fn last_name(&self, l: u32) -> String {
        match l.checked_sub(1) {
            None => START.to_string(),
            Some(r) => self
                .vocab
                .replies()
                .get(r as usize)
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn track_name(&self, a: u32) -> String {
        self.vocab
            .tracks()
            .get(a as usize)
            .cloned()
            .unwrap_or_default()
    }

    /// Builds a published cell from (possibly noisy) statistics.
    fn make_cell(
        &self,
        key: StateKey,
        a: u32,
        next: &[f64],
        convs: f64,
        converted: f64,
        value_sum: f64,
    ) -> Cell {
        let replies = self.vocab.replies();
        let mut best = 0usize;
        for (i, &n) in next.iter().enumerate() {
            if n > next.get(best).copied().unwrap_or(0.0) {
                best = i;
            }
        }
        Cell {
            turn: key.turn,
            stage: key.stage,
            last_reply: key.last.map(|l| self.last_name(l)),
            track: self.track_name(a),
            conversations: convs,
            next: next
                .iter()
                .zip(replies)
                .filter(|(n, _)| **n > 0.0)
                .map(|(n, r)| (r.clone(), *n))
                .collect(),
            most_frequent: replies.get(best).cloned().unwrap_or_default(),
            conversion_rate: if convs > 0.0 {
                (converted / convs).clamp(0.0, 1.0)
            } else {
                0.0
            },
            mean_value: if convs > 0.0 { value_sum / convs } else { 0.0 },
        }
    }

    fn skeleton(&self) -> Aggregates {
        Aggregates {
            format: 1,
            tracks: self.vocab.tracks().to_vec(),
            replies: self.vocab.replies().to_vec(),
            config: self.cfg.clone(),
            conversations: self.conversations as f64,
            levels: self
                .cfg
                .levels
                .iter()
                .map(|key| Level {
                    key: key.clone(),
                    cells: Vec::new(),
                })
                .collect(),
            behaviour: Vec::new(),
            context_marginals: BTreeMap::new(),
        }
    }

    fn publish_exact(&self) -> Aggregates {
        let k = self.cfg.k;
        let mut out = self.skeleton();
        let mut keys: Vec<_> = self.cells.keys().copied().collect();
        keys.sort();
        for key @ (li, sk, a) in keys {
            let Some(acc) = self.cells.get(&key) else {
                continue;
            };
            if acc.convs < k {
                continue;
            }
            let next: Vec<f64> = acc.next.iter().map(|&n| n as f64).collect();
            let cell = self.make_cell(
                sk,
                a,
                &next,
                acc.convs as f64,
                acc.converted as f64,
                acc.value_sum,
            );
            if let Some(level) = out.levels.get_mut(li) {
                level.cells.push(cell);
            }
        }
        let mut beh: Vec<_> = self.behaviour.iter().collect();
        beh.sort_by_key(|(k, _)| **k);
        for (&(t, l, a), b) in beh {
            if b.convs >= k {
                out.behaviour.push(BehaviourCell {
                    turn: t,
                    last_reply: self.last_name(l),
                    track: self.track_name(a),
                    count: b.count as f64,
                    conversations: b.convs as f64,
                });
            }
        }
        for (attr, m) in self.cfg.context_attributes.iter().zip(&self.marginals) {
            let published = m
                .iter()
                .filter(|(_, &n)| n >= k)
                .map(|(v, &n)| (v.clone(), n as f64))
                .collect();
            out.context_marginals.insert(attr.clone(), published);
        }
        out
    }
}

/// Reads a JSONL log and aggregates it.
pub fn aggregate_log(
    input: impl BufRead,
    vocab: &Vocab,
    cfg: AggregateConfig,
    opts: ReadOptions,
) -> Result<(Aggregates, ReadStats), AggregateError> {
    let mut agg = Aggregator::new(vocab, cfg)?;
    let mut reader = LogReader::new(input, vocab, opts);
    for c in reader.by_ref() {
        agg.add(&c?);
    }
    let stats = reader.into_stats();
    if agg.conversations() == 0 {
        return Err(AggregateError::Empty { bad: stats.bad });
    }
    Ok((agg.finish()?, stats))
}
