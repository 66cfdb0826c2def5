//! The off-policy estimators on logged trajectories: per-decision importance
//! sampling, its self-normalised form and the doubly robust estimate, with the
//! effective sample size and bootstrap confidence intervals by conversation.
//!
//! A logged conversation `i` is a row of decisions `t = 0 … T_i − 1` with the
//! target policy's probability `π_t` of the logged track, the behaviour policy's
//! `μ_t`, the direct model's `Q̂_t = Q̂(s_t, a_t)` and `V̂_t = Σ_a π(a | s_t) Q̂(s_t, a)`,
//! and one reward `R_i` (converted or not) at the end. With the cumulative weights
//! `w_t = Π_{k ≤ t} π_k / μ_k` (`w_{−1} = 1`):
//!
//! - per-decision IS: `Σ_t w_t r_t`, which with the reward at the end is `w_{T−1} R`;
//! - self-normalised IS: `Σ_i w_i R_i / Σ_i w_i` with `w_i = w_{T_i − 1}`;
//! - doubly robust (Jiang and Li, 2016):
//!   `Σ_t (w_t r_t − w_t Q̂_t + w_{t−1} V̂_t)`.
//!
//! On one decision (`T = 1`) these are Open Bandit Pipeline's `IPW` (`w r`), `SNIPW`
//! (`Σ w r / Σ w`) and `DR` (`V̂ + w (r − Q̂)`). A conversation with no decision counts
//! its reward as is (weight 1). The derivation of a small example is in
//! `docs/ope-derivation.md`; the tests check these functions against it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// One logged decision as the estimators see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The target policy's probability of the logged track.
    pub target: f64,
    /// The behaviour policy's probability of the logged track (> 0).
    pub behaviour: f64,
    /// The direct model's value of the logged track in this state.
    pub q_logged: f64,
    /// The direct model's value of the target policy in this state.
    pub v_target: f64,
}

/// One logged conversation as the estimators see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// Its decisions in order.
    pub steps: Vec<Step>,
    /// Its reward (1 converted, 0 not).
    pub reward: f64,
}

impl Trajectory {
    /// The cumulative importance weights `w_0 … w_{T−1}`.
    pub fn weights(&self) -> Vec<f64> {
        let mut w = 1.0;
        self.steps
            .iter()
            .map(|s| {
                w *= s.target / s.behaviour;
                w
            })
            .collect()
    }

    /// The weight of the whole conversation, `w_{T−1}` (1 without decisions).
    pub fn weight(&self) -> f64 {
        self.weights().last().copied().unwrap_or(1.0)
    }

    /// Its per-decision IS term.
    pub fn is_term(&self) -> f64 {
        self.weight() * self.reward
    }

    /// Its doubly robust term.
    pub fn dr_term(&self) -> f64 {
        let w = self.weights();
        let last = self.steps.len().saturating_sub(1);
        let mut prev = 1.0;
        let mut sum = 0.0;
        if self.steps.is_empty() {
            return self.reward;
        }
        for (t, (s, wt)) in self.steps.iter().zip(&w).enumerate() {
            let r = if t == last { self.reward } else { 0.0 };
            sum += wt * r - wt * s.q_logged + prev * s.v_target;
            prev = *wt;
        }
        sum
    }
}

/// The three estimates of one policy's value on a set of conversations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Estimates {
    /// Per-decision importance sampling.
    pub is: f64,
    /// Self-normalised importance sampling (`None` when every weight is 0).
    pub snis: Option<f64>,
    /// Doubly robust.
    pub dr: f64,
}

/// The estimates over the conversations `idx` of `trajs` (every one when `idx` is
/// `None`); `None` without conversations.
pub fn estimate(trajs: &[Trajectory], idx: Option<&[usize]>) -> Option<Estimates> {
    let mut n = 0usize;
    let (mut is, mut sw, mut swr, mut dr) = (0.0, 0.0, 0.0, 0.0);
    let mut add = |t: &Trajectory| {
        let w = t.weight();
        n += 1;
        is += w * t.reward;
        sw += w;
        swr += w * t.reward;
        dr += t.dr_term();
    };
    match idx {
        Some(ix) => ix.iter().filter_map(|&i| trajs.get(i)).for_each(&mut add),
        None => trajs.iter().for_each(&mut add),
    }
    if n == 0 {
        return None;
    }
    let n = n as f64;
    Some(Estimates {
        is: is / n,
        snis: (sw > 0.0).then(|| swr / sw),
        dr: dr / n,
    })
}

/// The effective sample size of the conversation weights: `(Σ w)² / Σ w²` (0 when
/// every weight is 0).
pub fn effective_sample_size(trajs: &[Trajectory]) -> f64 {
    let (s, s2) = trajs.iter().fold((0.0, 0.0), |(s, s2), t| {
        let w = t.weight();
        (s + w, s2 + w * w)
    });
    if s2 > 0.0 {
        s * s / s2
    } else {
        0.0
    }
}

/// A 95% percentile interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// 2.5% quantile of the resampled estimates.
    pub lower: f64,
    /// 97.5% quantile.
    pub upper: f64,
}

/// The 95% percentile bootstrap intervals of IS, SNIS and DR.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Intervals {
    /// Of per-decision IS.
    pub is: Interval,
    /// Of self-normalised IS (`None` when too few resamples had a positive weight).
    pub snis: Option<Interval>,
    /// Of doubly robust.
    pub dr: Interval,
}

/// The `q`-quantile of sorted `xs` (linear between order statistics).
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (xs.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (xs[lo.min(xs.len() - 1)], xs[hi.min(xs.len() - 1)]);
    a + (b - a) * (pos - lo as f64)
}

fn interval(mut xs: Vec<f64>) -> Interval {
    xs.sort_by(f64::total_cmp);
    Interval {
        lower: quantile(&xs, 0.025),
        upper: quantile(&xs, 0.975),
    }
}

/// `resamples` bootstrap draws of `n` conversation indices with replacement, from
/// `seed`: the same draws serve every policy evaluated on the same conversations,
/// which pairs their comparison.
pub fn resamples(n: usize, resamples: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..resamples)
        .map(|_| (0..n).map(|_| rng.random_range(0..n.max(1))).collect())
        .collect()
}

/// The percentile intervals of the estimates over the bootstrap draws `draws`
/// (`None` without conversations or draws).
pub fn bootstrap(trajs: &[Trajectory], draws: &[Vec<usize>]) -> Option<Intervals> {
    if trajs.is_empty() || draws.is_empty() {
        return None;
    }
    let (mut is, mut snis, mut dr) = (Vec::new(), Vec::new(), Vec::new());
    for d in draws {
        let e = estimate(trajs, Some(d))?;
        is.push(e.is);
        if let Some(s) = e.snis {
            snis.push(s);
        }
        dr.push(e.dr);
    }
    // SNIS is undefined on a draw whose weights are all 0; with fewer than 95% of
    // the draws defined its interval would describe another population.
    let snis_ok = snis.len() * 20 >= draws.len() * 19;
    Some(Intervals {
        is: interval(is),
        snis: snis_ok.then(|| interval(snis)),
        dr: interval(dr),
    })
}

/// The paired difference `a − b` of the DR estimates of two policies on the same
/// conversations (`a[i]` and `b[i]` are the same logged conversation): the point
/// estimate and its 95% percentile interval over `draws`.
pub fn paired_dr_difference(
    a: &[Trajectory],
    b: &[Trajectory],
    draws: &[Vec<usize>],
) -> Option<(f64, Interval)> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let diff: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.dr_term() - y.dr_term())
        .collect();
    let mean = |ix: &mut dyn Iterator<Item = usize>| {
        let (mut s, mut n) = (0.0, 0usize);
        for i in ix {
            s += diff.get(i).copied().unwrap_or(0.0);
            n += 1;
        }
        s / n.max(1) as f64
    };
    let point = mean(&mut (0..diff.len()));
    let boots: Vec<f64> = draws.iter().map(|d| mean(&mut d.iter().copied())).collect();
    if boots.is_empty() {
        return None;
    }
    Some((point, interval(boots)))
}
