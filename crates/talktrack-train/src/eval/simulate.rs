//! Monte-Carlo evaluation of a policy on any [`MaskedEnv`], with a 95% confidence
//! interval: for simulators whose state space is not enumerable.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::train::env::{ActionPolicy, MaskedEnv};

/// A simulated value estimate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Mean return.
    pub mean: f64,
    /// Half-width of the normal-approximation 95% confidence interval.
    pub half_width: f64,
    /// Episodes run.
    pub episodes: u64,
    /// Forbidden actions the policy took.
    pub violations: u64,
}

/// Runs `episodes` episodes of `policy` (sampling from its probabilities) from `seed`.
pub fn simulate(
    env: &mut dyn MaskedEnv,
    policy: &dyn ActionPolicy,
    episodes: u64,
    seed: u64,
) -> Estimate {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut obs = vec![0.0f32; env.obs_dim()];
    let mut mask = vec![false; env.n_actions()];
    let mut probs = vec![0.0f32; env.n_actions()];
    let before = env.violations();
    let (mut sum, mut sum2) = (0.0f64, 0.0f64);
    for _ in 0..episodes {
        env.reset(&mut rng, &mut obs, &mut mask);
        let mut ret = 0.0f64;
        loop {
            probs.iter_mut().for_each(|p| *p = 0.0);
            policy.probs(&obs, &mask, &mut probs);
            let total: f32 = probs.iter().map(|p| p.max(0.0)).sum();
            let mut u = rng.random::<f32>() * total;
            let mut action = probs.len().saturating_sub(1);
            for (a, &p) in probs.iter().enumerate() {
                if p > 0.0 {
                    action = a;
                    if u < p {
                        break;
                    }
                    u -= p;
                }
            }
            let step = env.step(action, &mut rng, &mut obs, &mut mask);
            ret += f64::from(step.reward);
            if step.done {
                break;
            }
        }
        sum += ret;
        sum2 += ret * ret;
    }
    let n = episodes.max(1) as f64;
    let mean = sum / n;
    let var = if episodes > 1 {
        ((sum2 - n * mean * mean) / (n - 1.0)).max(0.0)
    } else {
        0.0
    };
    Estimate {
        mean,
        half_width: 1.96 * (var / n).sqrt(),
        episodes,
        violations: env.violations() - before,
    }
}
