//! A stand-in with the shape of the PersuasionForGood reference MDP (obs = one-hot
//! turn(10) + one-hot last reply(11), 16 actions, 10 turns), random but fixed
//! dynamics and masks, and an exact evaluator by backward induction. Used by the
//! trainer benchmark and tests until the simulator's reference environment is used.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use talktrack::train::env::{ActionPolicy, Evaluator, MaskedEnv, Step};

pub const T: usize = 10;
pub const R: usize = 11;
pub const A: usize = 16;
pub const OBS: usize = T + R;
/// Reply that ends the episode with a donation (reward 1).
const DONATE: usize = 10;
/// Reply that ends the episode without one.
const LEAVE: usize = 9;

/// Fixed tables shared by all copies.
#[derive(Clone)]
pub struct Tables {
    /// `p[t][r][a]` = distribution of the next reply.
    p: Vec<Vec<Vec<[f64; R]>>>,
    cum: Vec<Vec<Vec<[f64; R]>>>,
}

impl Tables {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut p = vec![vec![vec![[0.0; R]; A]; R]; T];
        let mut cum = p.clone();
        for t in 0..T {
            for r in 0..R {
                for a in 0..A {
                    let mut w = [0.0f64; R];
                    for x in w.iter_mut() {
                        *x = rng.random::<f64>().powi(3);
                    }
                    // Donation odds rise with the turn and depend on the action.
                    w[DONATE] *= 0.15 * (1.0 + t as f64 / 3.0) * (1.0 + (a % 5) as f64 / 2.0);
                    w[LEAVE] *= 0.1;
                    let s: f64 = w.iter().sum();
                    let mut c = 0.0;
                    for k in 0..R {
                        p[t][r][a][k] = w[k] / s;
                        c += w[k] / s;
                        cum[t][r][a][k] = c;
                    }
                }
            }
        }
        Self { p, cum }
    }
}

/// Action 15 (the ask) is forbidden before turn 2, actions 12–14 after a refusal-like reply.
pub fn allowed(t: usize, r: usize, a: usize) -> bool {
    match a {
        15 => t >= 2,
        12..=14 => r > 3,
        _ => true,
    }
}

fn write(t: usize, r: usize, obs: &mut [f32], mask: &mut [bool]) {
    obs.iter_mut().for_each(|v| *v = 0.0);
    obs[t] = 1.0;
    obs[T + r] = 1.0;
    for (a, m) in mask.iter_mut().enumerate() {
        *m = allowed(t, r, a);
    }
}

#[derive(Clone)]
pub struct P4gLike {
    tables: std::sync::Arc<Tables>,
    t: usize,
    r: usize,
    violations: u64,
}

impl P4gLike {
    pub fn new() -> Self {
        Self {
            tables: std::sync::Arc::new(Tables::new(42)),
            t: 0,
            r: 0,
            violations: 0,
        }
    }
    pub fn evaluator(&self) -> P4gLikeEval {
        P4gLikeEval {
            tables: self.tables.clone(),
        }
    }
}

impl MaskedEnv for P4gLike {
    fn obs_dim(&self) -> usize {
        OBS
    }
    fn n_actions(&self) -> usize {
        A
    }
    fn reset(&mut self, _rng: &mut StdRng, obs: &mut [f32], mask: &mut [bool]) {
        self.t = 0;
        self.r = 0;
        write(self.t, self.r, obs, mask);
    }
    fn step(
        &mut self,
        action: usize,
        rng: &mut StdRng,
        obs: &mut [f32],
        mask: &mut [bool],
    ) -> Step {
        if !allowed(self.t, self.r, action) {
            self.violations += 1;
        }
        let u: f64 = rng.random();
        let cum = &self.tables.cum[self.t][self.r][action.min(A - 1)];
        let next = cum.iter().position(|&c| u < c).unwrap_or(R - 1);
        self.t += 1;
        self.r = next;
        let reward = if next == DONATE { 1.0 } else { 0.0 };
        let done = next == DONATE || next == LEAVE || self.t == T;
        if !done {
            write(self.t, self.r, obs, mask);
        }
        Step { reward, done }
    }
    fn violations(&self) -> u64 {
        self.violations
    }
    fn boxed_clone(&self) -> Box<dyn MaskedEnv> {
        Box::new(Self {
            tables: self.tables.clone(),
            t: 0,
            r: 0,
            violations: 0,
        })
    }
}

pub struct P4gLikeEval {
    tables: std::sync::Arc<Tables>,
}

impl P4gLikeEval {
    fn solve(&self, mut choose: impl FnMut(usize, usize, &[f64; A]) -> [f32; A]) -> f64 {
        let mut v_next = [0.0f64; R];
        for t in (0..T).rev() {
            let mut v = [0.0f64; R];
            for r in 0..R {
                let mut q = [0.0f64; A];
                for a in 0..A {
                    let p = &self.tables.p[t][r][a];
                    let mut ev = p[DONATE];
                    if t + 1 < T {
                        for k in 0..R {
                            if k != DONATE && k != LEAVE {
                                ev += p[k] * v_next[k];
                            }
                        }
                    }
                    q[a] = ev;
                }
                let probs = choose(t, r, &q);
                v[r] = (0..A).map(|a| f64::from(probs[a]) * q[a]).sum();
            }
            v_next = v;
        }
        v_next[0]
    }
}

impl Evaluator for P4gLikeEval {
    fn value(&self, policy: &dyn ActionPolicy) -> f64 {
        self.solve(|t, r, _| {
            let mut obs = [0.0f32; OBS];
            let mut mask = [false; A];
            write(t, r, &mut obs, &mut mask);
            let mut p = [0.0f32; A];
            policy.probs(&obs, &mask, &mut p);
            p
        })
    }
    fn optimum(&self) -> f64 {
        self.solve(|t, r, q| {
            let best = (0..A)
                .filter(|&a| allowed(t, r, a))
                .max_by(|&x, &y| q[x].total_cmp(&q[y]))
                .unwrap_or(0);
            let mut p = [0.0f32; A];
            p[best] = 1.0;
            p
        })
    }
}
