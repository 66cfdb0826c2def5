//! Laplace noise for the aggregate release: epsilon-differential privacy per
//! conversation (add/remove one conversation). A conversation is one id: the log
//! reader drops a line repeating an id, so no conversation contributes twice.
//!
//! How the budget is spent: with noise on, a conversation contributes at most
//! `C = max_turns` turns (longer ones are truncated) and outcome values are clipped to
//! `[0, max_value]`. Then, per back-off level, one conversation changes the next-reply
//! counts by at most `C` in L1, the distinct-conversation counts by at most `C` (it
//! touches at most `C` cells), the converted counts by at most `C` and the value sums
//! by at most `C * max_value`. The same holds for the behaviour counts and their
//! conversation counts, the total count changes by 1 and each context marginal by 1.
//! The budget `epsilon` is split equally over these
//! `F = 4 * levels + 3 + attributes` families and each number gets Laplace noise of
//! scale `sensitivity / (epsilon / F)`; by sequential composition the whole file is
//! `epsilon`-DP. Noise is added over the full enumerable cell domain (every state key
//! × track, observed or not), so the threshold, applied to the noisy conversation
//! count, reveals nothing by itself. Context marginals are released only for values
//! that occur, so the set of values is not protected: list only attributes with a
//! known closed set of values.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Acc, Aggregates, Aggregator, BehAcc, KeyPart, StateKey};

/// One Laplace(0, `scale`) draw.
pub fn laplace(rng: &mut StdRng, scale: f64) -> f64 {
    let u: f64 = rng.random::<f64>() - 0.5;
    -scale * u.signum() * (1.0 - 2.0 * u.abs()).max(f64::MIN_POSITIVE).ln()
}

/// Every state key of a level, in a fixed order.
pub(super) fn domain(agg: &Aggregator<'_>, level: &[KeyPart]) -> Vec<StateKey> {
    let cfg = &agg.cfg;
    let turns: Vec<Option<u32>> = if level.contains(&KeyPart::Turn) {
        (0..cfg.max_turns).map(Some).collect()
    } else {
        vec![None]
    };
    let stages: Vec<Option<u32>> = if level.contains(&KeyPart::Stage) {
        (0..cfg.n_stages()).map(Some).collect()
    } else {
        vec![None]
    };
    let lasts: Vec<Option<u32>> = if level.contains(&KeyPart::LastReply) {
        (0..=agg.vocab.replies().len() as u32).map(Some).collect()
    } else {
        vec![None]
    };
    let mut out = Vec::new();
    for &turn in &turns {
        for &stage in &stages {
            for &last in &lasts {
                out.push(StateKey { turn, stage, last });
            }
        }
    }
    out
}

pub(super) fn publish_noisy(agg: &Aggregator<'_>, eps: f64) -> Aggregates {
    let cfg = &agg.cfg;
    let c = f64::from(cfg.max_turns);
    let families = 4 * cfg.levels.len() + 3 + cfg.context_attributes.len();
    let eps_f = eps / families as f64;
    let mut rng = StdRng::seed_from_u64(cfg.noise_seed);
    let k = cfg.k as f64;
    let n_replies = agg.vocab.replies().len();
    let n_tracks = agg.vocab.tracks().len() as u32;
    let mut out = agg.skeleton();
    out.conversations = (agg.conversations as f64 + laplace(&mut rng, 1.0 / eps_f)).max(0.0);
    let empty = Acc::new(n_replies);
    for (li, level) in cfg.levels.iter().enumerate() {
        for key in domain(agg, level) {
            for a in 0..n_tracks {
                let acc = agg.cells.get(&(li, key, a)).unwrap_or(&empty);
                let convs = acc.convs as f64 + laplace(&mut rng, c / eps_f);
                let next: Vec<f64> = acc
                    .next
                    .iter()
                    .map(|&n| (n as f64 + laplace(&mut rng, c / eps_f)).max(0.0))
                    .collect();
                let converted = acc.converted as f64 + laplace(&mut rng, c / eps_f);
                let value_sum = acc.value_sum + laplace(&mut rng, c * cfg.max_value / eps_f);
                if convs < k || next.iter().all(|&n| n <= 0.0) {
                    continue;
                }
                let mut cell = agg.make_cell(key, a, &next, convs, converted, value_sum);
                cell.mean_value = cell.mean_value.clamp(0.0, cfg.max_value);
                if let Some(l) = out.levels.get_mut(li) {
                    l.cells.push(cell);
                }
            }
        }
    }
    let empty_b = BehAcc::default();
    for t in 0..cfg.max_turns {
        for l in 0..=n_replies as u32 {
            for a in 0..n_tracks {
                let b = agg.behaviour.get(&(t, l, a)).unwrap_or(&empty_b);
                let count = (b.count as f64 + laplace(&mut rng, c / eps_f)).max(0.0);
                let convs = b.convs as f64 + laplace(&mut rng, c / eps_f);
                if convs >= k && count > 0.0 {
                    out.behaviour.push(super::BehaviourCell {
                        turn: t,
                        last_reply: agg.last_name(l),
                        track: agg.track_name(a),
                        count,
                        conversations: convs,
                    });
                }
            }
        }
    }
    for (attr, m) in cfg.context_attributes.iter().zip(&agg.marginals) {
        let published = m
            .iter()
            .map(|(v, &n)| (v.clone(), n as f64 + laplace(&mut rng, 1.0 / eps_f)))
            .filter(|(_, n)| *n >= k)
            .collect();
        out.context_marginals.insert(attr.clone(), published);
    }
    out
}
