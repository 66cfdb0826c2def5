//! The baselines a trained policy is compared with: uniform random over the allowed
//! tracks, the best single track, and the logged behaviour.
//!
//! Definitions follow the reference (`crates/talktrack-train/reference/p4g_mdp.py`):
//! - best single track: for each track, the policy "that track where allowed, uniform
//!   over the allowed tracks elsewhere"; the best of them;
//! - logged behaviour: the logged track frequencies per (turn clamped to `T - 1`, last
//!   reply), restricted to allowed tracks and renormalised; uniform over allowed where
//!   the state has no (published) behaviour count.

use serde::Serialize;

use super::{PolicyTable, Tabular};
use crate::aggregate::Aggregates;
use crate::sim::Mdp;

/// Values of the optimum and the baselines from the start state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Baselines {
    /// Value iteration under the masks.
    pub optimum: f64,
    /// Uniform over allowed tracks.
    pub uniform: f64,
    /// The best single track and its value.
    pub best_single: (String, f64),
    /// The logged behaviour from the aggregates' published behaviour counts.
    pub behaviour: f64,
}

/// Published behaviour counts by `[(turn * n_last + last) * A + a]`, unmasked.
pub(crate) fn behaviour_counts(m: &Mdp, agg: &Aggregates) -> Vec<f64> {
    let n_a = m.n_actions();
    let mut counts = vec![0.0; m.max_turns as usize * m.n_last() * n_a];
    for b in &agg.behaviour {
        let (Some(l), Some(a)) = (
            agg.last_slot(&b.last_reply),
            m.tracks().iter().position(|t| *t == b.track),
        ) else {
            continue;
        };
        if b.turn >= m.max_turns {
            continue;
        }
        if let Some(x) = counts.get_mut(m.state(b.turn, l) * n_a + a) {
            *x += b.count.max(0.0);
        }
    }
    counts
}

/// The logged-behaviour policy table from published behaviour counts: per state,
/// the counts of its (turn, last reply) restricted to the allowed tracks and
/// renormalised; uniform over the allowed tracks where there are none.
pub fn behaviour_table<T: Tabular + ?Sized>(m: &T, agg: &Aggregates) -> PolicyTable {
    let n_a = m.n_actions();
    let counts = behaviour_counts(m.model(), agg);
    let uniform = m.uniform_table();
    let mut table = vec![0.0; m.n_states() * n_a];
    for s in 0..m.n_states() {
        let (t, l) = m.turn_last(s);
        let key = m.model().state(t, l);
        let row = s * n_a..(s + 1) * n_a;
        for a in (0..n_a).filter(|&a| m.allowed(s, a)) {
            table[s * n_a + a] = counts.get(key * n_a + a).copied().unwrap_or(0.0);
        }
        let total: f64 = table[row.clone()].iter().sum();
        if total > 0.0 {
            table[row].iter_mut().for_each(|x| *x /= total);
        } else {
            table[row.clone()].copy_from_slice(&uniform[row]);
        }
    }
    table
}

/// The optimum and all baselines; `behaviour_from` supplies the behaviour counts.
pub fn baselines<T: Tabular + ?Sized>(m: &T, behaviour_from: &Aggregates) -> Baselines {
    let n_a = m.n_actions();
    let uniform = m.uniform_table();
    let mut best = (String::new(), f64::NEG_INFINITY);
    for a in 0..n_a {
        let mut table = uniform.clone();
        for s in (0..m.n_states()).filter(|&s| m.allowed(s, a)) {
            table[s * n_a..(s + 1) * n_a]
                .iter_mut()
                .for_each(|x| *x = 0.0);
            table[s * n_a + a] = 1.0;
        }
        let v = m.table_value(&table);
        if v > best.1 {
            best = (m.model().tracks().get(a).cloned().unwrap_or_default(), v);
        }
    }
    Baselines {
        optimum: m.solve().0,
        uniform: m.table_value(&uniform),
        best_single: best,
        behaviour: m.table_value(&behaviour_table(m, behaviour_from)),
    }
}
