//! The k-fold split by conversation, for cross-validation.
//!
//! Conversation `id` goes to fold `hash(id, seed) mod k` ([`super::split::id_hash`]):
//! the assignment depends only on the id, the seed and `k`, so it streams in one pass
//! over the log and is stable across runs. For every fold the log is aggregated twice
//! with the same configuration: the fold itself (held out) and every other fold (the
//! training part).

use std::io::BufRead;

use super::split::id_hash;
use super::{AggregateConfig, AggregateError, Aggregates, Aggregator};
use crate::log::{LogReader, ReadOptions, ReadStats, Vocab};

/// How to split into folds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Folds {
    /// Number of folds (at least 2).
    pub k: u32,
    /// Seed mixed into the hash.
    pub seed: u64,
}

impl Folds {
    /// The fold of conversation `id`.
    pub fn fold_of(&self, id: &str) -> usize {
        (id_hash(id, self.seed) % u64::from(self.k.max(1))) as usize
    }
}

/// One fold's aggregates.
#[derive(Clone, Debug)]
pub struct FoldAggregates {
    /// From every conversation outside the fold.
    pub train: Aggregates,
    /// From the fold's own conversations.
    pub held: Aggregates,
}

/// Why one fold could not be aggregated (the others may be fine).
pub type FoldResult = Result<FoldAggregates, AggregateError>;

/// Reads a log once and aggregates, for every fold, its training part and the fold.
///
/// A fold whose one side has nothing publishable gets its error in place; a log with
/// no valid conversation, fewer than 2 folds or a read error in strict mode fail the
/// whole call.
pub fn aggregate_folds(
    input: impl BufRead,
    vocab: &Vocab,
    cfg: AggregateConfig,
    opts: ReadOptions,
    folds: Folds,
) -> Result<(Vec<FoldResult>, ReadStats), AggregateError> {
    aggregate_folds_where(input, vocab, cfg, opts, folds, |_| true)
}

/// [`aggregate_folds`] of the conversations whose id `keep` accepts: the inner folds
/// of a nested cross-validation, within one outer fold's training part.
pub fn aggregate_folds_where(
    input: impl BufRead,
    vocab: &Vocab,
    cfg: AggregateConfig,
    opts: ReadOptions,
    folds: Folds,
    keep: impl Fn(&str) -> bool,
) -> Result<(Vec<FoldResult>, ReadStats), AggregateError> {
    if folds.k < 2 {
        return Err(AggregateError::Config(format!(
            "cross-validation needs at least 2 folds, not {}",
            folds.k
        )));
    }
    let k = folds.k as usize;
    let mut train = Vec::with_capacity(k);
    let mut held = Vec::with_capacity(k);
    for _ in 0..k {
        train.push(Aggregator::new(vocab, cfg.clone())?);
        held.push(Aggregator::new(vocab, cfg.clone())?);
    }
    let mut reader = LogReader::new(input, vocab, opts);
    for c in reader.by_ref() {
        let c = c?;
        if !keep(&c.id) {
            continue;
        }
        let f = folds.fold_of(&c.id);
        for (i, (t, h)) in train.iter_mut().zip(held.iter_mut()).enumerate() {
            if i == f {
                h.add(&c);
            } else {
                t.add(&c);
            }
        }
    }
    let stats = reader.into_stats();
    if held.iter().all(|h| h.conversations() == 0) {
        return Err(AggregateError::Empty { bad: stats.bad });
    }
    let out = train
        .into_iter()
        .zip(held)
        .map(|(t, h)| {
            Ok(FoldAggregates {
                train: t.finish()?,
                held: h.finish()?,
            })
        })
        .collect();
    Ok((out, stats))
}
