//! The 80/20 split by conversation, so the trainer can report a held-out value.
//!
//! A conversation goes to the held-out part when a hash of its id (FNV-1a, mixed with
//! the seed by SplitMix64) falls below `holdout_percent` out of 100. The assignment
//! depends only on the id and the seed, not on the order or the other conversations,
//! so it streams and is stable across runs and versions. Default seed:
//! [`DEFAULT_SPLIT_SEED`].

use std::io::BufRead;

use super::{AggregateConfig, AggregateError, Aggregates, Aggregator};
use crate::log::{LogReader, ReadOptions, ReadStats, Vocab};

/// The documented default seed of the split.
pub const DEFAULT_SPLIT_SEED: u64 = 20_190_606;

/// How to split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Split {
    /// Seed mixed into the hash.
    pub seed: u64,
    /// Percentage of conversations held out (default 20).
    pub holdout_percent: u32,
}

impl Default for Split {
    fn default() -> Self {
        Self {
            seed: DEFAULT_SPLIT_SEED,
            holdout_percent: 20,
        }
    }
}

impl Split {
    /// Whether conversation `id` is held out.
    pub fn is_holdout(&self, id: &str) -> bool {
        (id_hash(id, self.seed) % 100) < u64::from(self.holdout_percent)
    }
}

/// A hash of conversation `id` mixed with `seed`: FNV-1a of the id's bytes, then
/// SplitMix64 of it xor the seed. Depends on nothing but the id and the seed.
pub fn id_hash(id: &str, seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Aggregates of the training part and of the held-out part of one log.
#[derive(Clone, Debug)]
pub struct SplitAggregates {
    /// From the conversations not held out (about 80%).
    pub train: Aggregates,
    /// From the held-out conversations (about 20%).
    pub holdout: Aggregates,
    /// What the reader saw.
    pub stats: ReadStats,
}

/// Reads a log once and aggregates its two parts with the same configuration.
pub fn aggregate_split(
    input: impl BufRead,
    vocab: &Vocab,
    cfg: AggregateConfig,
    opts: ReadOptions,
    split: Split,
) -> Result<SplitAggregates, AggregateError> {
    let mut train = Aggregator::new(vocab, cfg.clone())?;
    let mut holdout = Aggregator::new(vocab, cfg)?;
    let mut reader = LogReader::new(input, vocab, opts);
    for c in reader.by_ref() {
        let c = c?;
        if split.is_holdout(&c.id) {
            holdout.add(&c);
        } else {
            train.add(&c);
        }
    }
    let stats = reader.into_stats();
    if train.conversations() == 0 && holdout.conversations() == 0 {
        return Err(AggregateError::Empty { bad: stats.bad });
    }
    Ok(SplitAggregates {
        train: train.finish()?,
        holdout: holdout.finish()?,
        stats,
    })
}
