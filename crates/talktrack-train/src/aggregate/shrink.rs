//! Shrinkage of published cells toward their back-off parents (empirical Bayes).
//!
//! A cell backed by five conversations that all converted does not mean a conversion
//! rate of 1. Each cell's statistics are pulled toward those of its parent — the cell
//! of the same track at the next coarser level of the back-off chain, itself already
//! shrunk toward its own parent — with a prior strength `m` (in pseudo-observations)
//! set by the data, per level and per statistic:
//!
//! - reply distribution: `p_r = (n_r + m · π_r) / (N + m)` with the cell's reply counts
//!   `n_r` (total `N`) and the parent's distribution `π`;
//! - conversion rate and mean value: `(c · x + m · x_parent) / (c + m)` with the cell's
//!   conversations `c`.
//!
//! `m` is the method-of-moments estimate of a Dirichlet-multinomial (beta-binomial for
//! the conversion rate) prior centred on the parents: with `ρ = 1 / (1 + m)`, the
//! children's spread around their parents is `Σ N (p̂ − π)² / π ≈ Σ (R − 1)(1 + (N − 1) ρ)`
//! — children no more spread out than sampling noise says pool fully (`m` capped at
//! [`MAX_STRENGTH`]), children far apart keep their own figures. The coarsest level has
//! no parent and stays as published.
//!
//! `k` stays the privacy threshold (what is published); this is a statistical choice
//! on top of the published cells, `[shrink]` in the trainer config: `enabled`
//! (default true) and `scale`, a multiplier of the data's strength (default 1; 0 keeps
//! the raw estimates, 2 trusts single cells half as much).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Aggregates, Cell, KeyPart};

/// The strongest prior the data may set, in pseudo-observations.
pub const MAX_STRENGTH: f64 = 1e4;

/// `[shrink]`: how cell statistics are pooled toward their back-off parents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShrinkConfig {
    /// Shrink the training simulator's cells (default true).
    pub enabled: bool,
    /// Multiplies the prior strength the data sets (default 1, at least 0).
    pub scale: f64,
    /// Scales the pessimism choice tries jointly with its strengths (see
    /// [`crate::config::PessimismSettings`]); empty keeps `scale`.
    pub candidates: Vec<f64>,
}

impl Default for ShrinkConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            scale: 1.0,
            candidates: Vec::new(),
        }
    }
}

impl ShrinkConfig {
    /// Checks that `scale` and the candidates are finite numbers ≥ 0.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !ok(self.scale) {
            return Err(format!(
                "`scale` in [shrink] must be a number ≥ 0, not `{}`",
                self.scale
            ));
        }
        if let Some(c) = self.candidates.iter().find(|&&c| !ok(c)) {
            return Err(format!(
                "`candidates` in [shrink] must list numbers ≥ 0, not `{c}`"
            ));
        }
        Ok(())
    }

    /// The scales the pessimism choice tries: `candidates`, or `scale` alone (and
    /// nothing else when shrinkage is off).
    pub fn scales(&self) -> Vec<f64> {
        if !self.enabled || self.candidates.is_empty() {
            vec![self.scale]
        } else {
            self.candidates.clone()
        }
    }

    /// This config with `scale` in place of its own.
    pub fn with_scale(&self, scale: f64) -> Self {
        Self {
            scale,
            ..self.clone()
        }
    }
}

/// The prior strengths set by the data for one level: replies, conversion, value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Strengths {
    /// Of the reply distributions.
    pub replies: f64,
    /// Of the conversion rates (and mean values).
    pub conversion: f64,
}

/// Identifies a cell within its level.
type CellKey = (Option<u32>, Option<u32>, Option<String>, String);

fn key_of(c: &Cell) -> CellKey {
    (c.turn, c.stage, c.last_reply.clone(), c.track.clone())
}

/// The key of the parent of `c` at a level keyed on `parent` (`None` when `c` lacks a
/// component the parent needs).
fn parent_key(agg: &Aggregates, c: &Cell, parent: &[KeyPart]) -> Option<CellKey> {
    let mut k = (None, None, None, c.track.clone());
    for p in parent {
        match p {
            KeyPart::Turn => k.0 = Some(c.turn?),
            KeyPart::Stage => k.1 = Some(c.stage.or_else(|| c.turn.map(|t| agg.config.stage(t)))?),
            KeyPart::LastReply => k.2 = Some(c.last_reply.clone()?),
        }
    }
    Some(k)
}

/// Reply distribution of a cell over `replies` (empty when it has no counts).
fn dist(c: &Cell, replies: &[String]) -> (Vec<f64>, f64) {
    let counts: Vec<f64> = replies
        .iter()
        .map(|r| c.next.get(r).copied().unwrap_or(0.0).max(0.0))
        .collect();
    let n: f64 = counts.iter().sum();
    (counts, n)
}

/// `ρ = 1 / (1 + m)` from the children's spread: `(S − Σ df) / Σ df (N − 1)`.
fn strength(spread: f64, df: f64, df_n: f64) -> f64 {
    if df_n <= 0.0 {
        return 0.0;
    }
    let rho = (spread - df) / df_n;
    if rho <= 1.0 / (1.0 + MAX_STRENGTH) {
        MAX_STRENGTH
    } else if rho >= 1.0 {
        0.0
    } else {
        1.0 / rho - 1.0
    }
}

/// The data's prior strengths for the children `pairs` (cell, parent).
pub fn estimate(pairs: &[(&Cell, &Cell)], replies: &[String]) -> Strengths {
    let (mut s_r, mut df_r, mut dfn_r) = (0.0, 0.0, 0.0);
    let (mut s_c, mut df_c, mut dfn_c) = (0.0, 0.0, 0.0);
    for (c, p) in pairs {
        let (counts, n) = dist(c, replies);
        let (pc, pn) = dist(p, replies);
        if n > 0.0 && pn > 0.0 {
            let support = pc.iter().filter(|&&x| x > 0.0).count();
            for (x, y) in counts.iter().zip(&pc) {
                if *y > 0.0 {
                    let pi = y / pn;
                    s_r += n * (x / n - pi).powi(2) / pi;
                }
            }
            let df = support.saturating_sub(1) as f64;
            df_r += df;
            dfn_r += df * (n - 1.0).max(0.0);
        }
        let conv = c.conversations.max(0.0);
        let pi = p.conversion_rate;
        if conv > 0.0 && pi > 0.0 && pi < 1.0 {
            s_c += conv * (c.conversion_rate - pi).powi(2) / (pi * (1.0 - pi));
            df_c += 1.0;
            dfn_c += (conv - 1.0).max(0.0);
        }
    }
    Strengths {
        replies: strength(s_r, df_r, dfn_r),
        conversion: strength(s_c, df_c, dfn_c),
    }
}

/// The aggregates with every cell shrunk toward its parent, and the strengths used per
/// level (finest first; `None` for the coarsest level and a disabled config).
pub fn shrink(agg: &Aggregates, cfg: &ShrinkConfig) -> (Aggregates, Vec<Option<Strengths>>) {
    let mut out = agg.clone();
    let mut used = vec![None; agg.levels.len()];
    if !cfg.enabled || cfg.scale == 0.0 {
        return (out, used);
    }
    // Coarse to fine: each level shrinks toward its already shrunk parent.
    for li in (0..out.levels.len().saturating_sub(1)).rev() {
        let parent_level = out.levels[li + 1].clone();
        let parents: HashMap<CellKey, &Cell> =
            parent_level.cells.iter().map(|c| (key_of(c), c)).collect();
        let pairs: Vec<(usize, &Cell)> = out.levels[li]
            .cells
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                parent_key(agg, c, &parent_level.key)
                    .and_then(|k| parents.get(&k).copied())
                    .map(|p| (i, p))
            })
            .collect();
        let refs: Vec<(&Cell, &Cell)> = pairs
            .iter()
            .map(|&(i, p)| (&out.levels[li].cells[i], p))
            .collect();
        let s = estimate(&refs, &agg.replies);
        let m_r = (s.replies * cfg.scale).min(MAX_STRENGTH);
        let m_c = (s.conversion * cfg.scale).min(MAX_STRENGTH);
        used[li] = Some(Strengths {
            replies: m_r,
            conversion: m_c,
        });
        let shrunk: Vec<(usize, Cell)> = pairs
            .iter()
            .map(|&(i, p)| (i, pool(&out.levels[li].cells[i], p, m_r, m_c, &agg.replies)))
            .collect();
        for (i, c) in shrunk {
            out.levels[li].cells[i] = c;
        }
    }
    (out, used)
}

/// `c` pooled with its parent `p`: replies with strength `m_r`, rates with `m_c`.
fn pool(c: &Cell, p: &Cell, m_r: f64, m_c: f64, replies: &[String]) -> Cell {
    let (counts, n) = dist(c, replies);
    let (pc, pn) = dist(p, replies);
    let mut next = std::collections::BTreeMap::new();
    let mut best = (String::new(), f64::NEG_INFINITY);
    for ((r, x), y) in replies.iter().zip(&counts).zip(&pc) {
        let prior = if pn > 0.0 { y / pn } else { 0.0 };
        // Kept as counts with the cell's own total, so `n` still reads as evidence.
        let v = if n + m_r > 0.0 {
            n * (x + m_r * prior) / (n + m_r)
        } else {
            0.0
        };
        if v > 0.0 {
            next.insert(r.clone(), v);
        }
        if v > best.1 {
            best = (r.clone(), v);
        }
    }
    let conv = c.conversations.max(0.0);
    let w = if conv + m_c > 0.0 {
        conv / (conv + m_c)
    } else {
        0.0
    };
    Cell {
        next,
        most_frequent: if best.0.is_empty() {
            c.most_frequent.clone()
        } else {
            best.0
        },
        conversion_rate: w * c.conversion_rate + (1.0 - w) * p.conversion_rate,
        mean_value: w * c.mean_value + (1.0 - w) * p.mean_value,
        ..c.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(next: &[(&str, f64)], conversations: f64, rate: f64) -> Cell {
        Cell {
            turn: None,
            stage: None,
            last_reply: None,
            track: "a".into(),
            conversations,
            next: next.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            most_frequent: next.first().map(|x| x.0.to_string()).unwrap_or_default(),
            conversion_rate: rate,
            mean_value: rate,
        }
    }

    fn replies() -> Vec<String> {
        vec!["yes".into(), "no".into()]
    }

    #[test]
    fn children_like_their_parent_pool_fully_and_children_far_apart_keep_their_own() {
        let parent = cell(&[("yes", 500.0), ("no", 500.0)], 1000.0, 0.5);
        let alike: Vec<Cell> = (0..10)
            .map(|_| cell(&[("yes", 50.0), ("no", 50.0)], 100.0, 0.5))
            .collect();
        let pairs: Vec<(&Cell, &Cell)> = alike.iter().map(|c| (c, &parent)).collect();
        let s = estimate(&pairs, &replies());
        assert_eq!((s.replies, s.conversion), (MAX_STRENGTH, MAX_STRENGTH));

        let apart: Vec<Cell> = (0..10)
            .map(|i| {
                let y = if i % 2 == 0 { 95.0 } else { 5.0 };
                cell(&[("yes", y), ("no", 100.0 - y)], 100.0, y / 100.0)
            })
            .collect();
        let pairs: Vec<(&Cell, &Cell)> = apart.iter().map(|c| (c, &parent)).collect();
        let s = estimate(&pairs, &replies());
        // S = 10 · 100 · (0.45² / 0.5 + 0.45² / 0.5) = 810, Σ df = 10,
        // Σ df (N − 1) = 990: ρ = 800 / 990, m = 990 / 800 − 1 = 0.2375 — a quarter of
        // a conversation: each cell keeps its own figures. The same for the rates.
        assert!((s.replies - 0.2375).abs() < 1e-12, "{s:?}");
        assert!((s.conversion - 0.2375).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn a_pooled_cell_is_the_posterior_mean_with_the_parent_as_prior() {
        let parent = cell(&[("yes", 300.0), ("no", 700.0)], 1000.0, 0.3);
        let child = cell(&[("yes", 5.0)], 5.0, 1.0);
        let c = pool(&child, &parent, 10.0, 5.0, &replies());
        // (5 + 10 · 0.3) / (5 + 10) of the cell's 5 replies.
        assert!((c.next["yes"] - 5.0 * 8.0 / 15.0).abs() < 1e-12);
        assert!((c.next["no"] - 5.0 * 7.0 / 15.0).abs() < 1e-12);
        // (5 · 1 + 5 · 0.3) / 10.
        assert!((c.conversion_rate - 0.65).abs() < 1e-12);
        assert_eq!(c.most_frequent, "yes");
        assert_eq!(c.conversations, 5.0);
    }

    #[test]
    fn off_or_zero_scale_keeps_the_published_cells() {
        let agg = Aggregates {
            format: 1,
            tracks: vec!["a".into()],
            replies: replies(),
            config: super::super::AggregateConfig::default(),
            conversations: 10.0,
            levels: vec![],
            behaviour: vec![],
            context_marginals: Default::default(),
        };
        for cfg in [
            ShrinkConfig {
                enabled: false,
                scale: 1.0,
                ..Default::default()
            },
            ShrinkConfig {
                enabled: true,
                scale: 0.0,
                ..Default::default()
            },
        ] {
            assert_eq!(shrink(&agg, &cfg).0, agg);
        }
        assert!(ShrinkConfig {
            enabled: true,
            scale: -1.0,
            ..Default::default()
        }
        .validate()
        .is_err());
    }
}
