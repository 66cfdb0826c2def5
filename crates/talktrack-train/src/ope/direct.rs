//! The direct model of the doubly robust estimate, cross-fitted by conversation.
//!
//! `Q̂(s, a)` is the shrunk conversion rate of the finest published aggregate cell of
//! (state `s`, track `a`) — the same cells, back-off chain and shrinkage
//! ([`crate::aggregate::shrink`]) the simulator is built from — falling back to the
//! conversations' mean conversion rate when no level publishes the track. It is the
//! conversion rate of the conversations that used `a` in `s` under the logged
//! behaviour, not under the evaluated policy: an approximation, which the doubly
//! robust estimate corrects with the importance weights.
//!
//! Cross-fitting: conversations go to `folds` folds by a hash of their id
//! ([`crate::aggregate::folds::Folds`]); the model applied to a fold's conversations
//! is fitted on the aggregates of the other folds only, so no conversation is ever
//! evaluated with a model that saw it.

use std::collections::HashMap;

use crate::aggregate::folds::Folds;
use crate::aggregate::shrink::{shrink, ShrinkConfig};
use crate::aggregate::{AggregateConfig, Aggregates, Aggregator, StateKey};
use crate::log::{Conversation, Vocab};

/// One fold's fitted model.
struct Model {
    cfg: AggregateConfig,
    /// (level, key, track) → shrunk conversion rate.
    cells: HashMap<(usize, StateKey, String), f64>,
    /// The mean conversion rate of the training part.
    mean: f64,
    replies: Vec<String>,
}

impl Model {
    fn fit(agg: &Aggregates, shrink_cfg: &ShrinkConfig, mean: f64) -> Self {
        let (agg, _) = shrink(agg, shrink_cfg);
        let mut cells = HashMap::new();
        for (li, level) in agg.levels.iter().enumerate() {
            for c in &level.cells {
                let last = c.last_reply.as_deref().and_then(|l| agg.last_slot(l));
                let key = StateKey {
                    turn: c.turn,
                    stage: c.stage,
                    last,
                };
                cells.insert((li, key, c.track.clone()), c.conversion_rate);
            }
        }
        Self {
            cfg: agg.config.clone(),
            cells,
            mean,
            replies: agg.replies.clone(),
        }
    }

    fn q(&self, t: u32, last: u32, track: &str) -> f64 {
        for (li, level) in self.cfg.levels.iter().enumerate() {
            let key = StateKey::of(&self.cfg, level, t, last);
            if let Some(&v) = self.cells.get(&(li, key, track.to_owned())) {
                return v;
            }
        }
        self.mean
    }

    fn last_slot(&self, reply: &str) -> u32 {
        self.replies
            .iter()
            .position(|r| r == reply)
            .map_or(0, |i| i as u32 + 1)
    }
}

/// The cross-fitted direct model: one fitted model per fold.
pub struct DirectModel {
    folds: Folds,
    models: Vec<Model>,
    /// Folds whose training part published nothing (their model is the mean).
    pub unfitted_folds: usize,
}

impl DirectModel {
    /// Fits one model per fold on the other folds' conversations of `convs`.
    pub fn fit(
        convs: &[Conversation],
        vocab: &Vocab,
        cfg: &AggregateConfig,
        shrink_cfg: &ShrinkConfig,
        folds: Folds,
    ) -> Self {
        let mut models = Vec::new();
        let mut unfitted = 0;
        for f in 0..folds.k as usize {
            let train: Vec<&Conversation> =
                convs.iter().filter(|c| folds.fold_of(&c.id) != f).collect();
            let converted = train.iter().filter(|c| c.outcome.converted).count();
            let mean = converted as f64 / train.len().max(1) as f64;
            let agg = Aggregator::new(vocab, cfg.clone()).ok().and_then(|mut a| {
                for c in &train {
                    a.add(c);
                }
                a.finish().ok()
            });
            match agg {
                Some(agg) => models.push(Model::fit(&agg, shrink_cfg, mean)),
                None => {
                    unfitted += 1;
                    models.push(Model {
                        cfg: cfg.clone(),
                        cells: HashMap::new(),
                        mean,
                        replies: vocab.replies().to_vec(),
                    });
                }
            }
        }
        Self {
            folds,
            models,
            unfitted_folds: unfitted,
        }
    }

    /// `Q̂` of each track of `tracks` at every turn of `conv`, from the model that did
    /// not see `conv`.
    pub fn q_rows(&self, conv: &Conversation, tracks: &[String]) -> Vec<Vec<f64>> {
        let Some(m) = self.models.get(self.folds.fold_of(&conv.id)) else {
            return vec![vec![0.0; tracks.len()]; conv.turns.len()];
        };
        let mut last = 0u32;
        conv.turns
            .iter()
            .enumerate()
            .map(|(t, turn)| {
                let row = tracks.iter().map(|a| m.q(t as u32, last, a)).collect();
                last = m.last_slot(&turn.reply);
                row
            })
            .collect()
    }

    /// `Q̂` of the logged track at every turn of `conv`.
    pub fn q_logged(&self, conv: &Conversation) -> Vec<f64> {
        let Some(m) = self.models.get(self.folds.fold_of(&conv.id)) else {
            return vec![0.0; conv.turns.len()];
        };
        let mut last = 0u32;
        conv.turns
            .iter()
            .enumerate()
            .map(|(t, turn)| {
                let q = m.q(t as u32, last, &turn.track);
                last = m.last_slot(&turn.reply);
                q
            })
            .collect()
    }
}
