//! DQN and PPO on a small masked MDP whose optimum is known exactly: they learn it,
//! never take a forbidden action, and the same seed gives the same weights.
// Backward induction over small tables reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use rand::rngs::StdRng;
use rand::Rng;
use talktrack_train::train::env::{ActionPolicy, Evaluator, MaskedEnv, Step};
use talktrack_train::train::{
    train_dqn, train_ppo, Control, DqnConfig, EvalPoint, NetConfig, NoObserver, PpoConfig,
    Progress, RunConfig, TrainError, TrainObserver,
};

const T: usize = 4;
const S: usize = 3;
const A: usize = 5;
const OBS: usize = T + S;
/// Probability that the intended next state happens; otherwise uniform.
const P_INTENDED: f64 = 0.8;

/// Reward of action `a` in state `s`. Action 4 pays most but is allowed only in
/// state 2, so an algorithm that ignores masks in its targets overestimates.
fn reward(s: usize, a: usize) -> f32 {
    const R: [[f32; A]; S] = [
        [0.1, 0.0, 0.3, 0.0, 2.0],
        [0.0, 0.5, 0.0, 0.2, 2.0],
        [0.2, 0.0, 0.0, 0.0, 1.0],
    ];
    R[s][a]
}

/// The state action `a` steers towards.
fn intended(s: usize, a: usize) -> usize {
    match a {
        0 => 2,
        1 => (s + 1) % S,
        2 => 0,
        3 => 1,
        _ => 0,
    }
}

fn allowed(t: usize, s: usize, a: usize) -> bool {
    match a {
        4 => s == 2,
        // Action 0 (the route to state 2) is forbidden on the first turn.
        0 => t > 0,
        _ => true,
    }
}

fn write_obs(t: usize, s: usize, obs: &mut [f32], mask: &mut [bool]) {
    obs.iter_mut().for_each(|v| *v = 0.0);
    obs[t] = 1.0;
    obs[T + s] = 1.0;
    for (a, m) in mask.iter_mut().enumerate() {
        *m = allowed(t, s, a);
    }
}

#[derive(Clone, Default)]
struct Toy {
    t: usize,
    s: usize,
    violations: u64,
}

impl MaskedEnv for Toy {
    fn obs_dim(&self) -> usize {
        OBS
    }
    fn n_actions(&self) -> usize {
        A
    }
    fn reset(&mut self, rng: &mut StdRng, obs: &mut [f32], mask: &mut [bool]) {
        self.t = 0;
        self.s = rng.random_range(0..2);
        write_obs(self.t, self.s, obs, mask);
    }
    fn step(
        &mut self,
        action: usize,
        rng: &mut StdRng,
        obs: &mut [f32],
        mask: &mut [bool],
    ) -> Step {
        if !allowed(self.t, self.s, action) {
            self.violations += 1;
        }
        let reward = reward(self.s, action);
        self.s = if rng.random::<f64>() < P_INTENDED {
            intended(self.s, action)
        } else {
            rng.random_range(0..S)
        };
        self.t += 1;
        let done = self.t == T;
        if !done {
            write_obs(self.t, self.s, obs, mask);
        }
        Step { reward, done }
    }
    fn violations(&self) -> u64 {
        self.violations
    }
    fn boxed_clone(&self) -> Box<dyn MaskedEnv> {
        Box::new(Toy::default())
    }
}

struct ToyEval;

impl ToyEval {
    /// Backward induction; `choose` gives the distribution over actions at (t, s).
    fn solve(&self, mut choose: impl FnMut(usize, usize, &[f32; A]) -> [f32; A]) -> f64 {
        let mut v_next = [0.0f64; S];
        for t in (0..T).rev() {
            let mut v = [0.0f64; S];
            for s in 0..S {
                let mut q = [0.0f32; A];
                for a in 0..A {
                    let mut ev = 0.0;
                    for s2 in 0..S {
                        let p = (1.0 - P_INTENDED) / S as f64
                            + if s2 == intended(s, a) {
                                P_INTENDED
                            } else {
                                0.0
                            };
                        ev += p * v_next[s2];
                    }
                    q[a] = (f64::from(reward(s, a)) + ev) as f32;
                }
                let probs = choose(t, s, &q);
                v[s] = (0..A).map(|a| f64::from(probs[a]) * f64::from(q[a])).sum();
            }
            v_next = v;
        }
        0.5 * (v_next[0] + v_next[1])
    }
}

impl Evaluator for ToyEval {
    fn value(&self, policy: &dyn ActionPolicy) -> f64 {
        // Q-values are recomputed under the policy's own continuation by `solve`.
        self.solve(|t, s, _| {
            let mut obs = [0.0f32; OBS];
            let mut mask = [false; A];
            write_obs(t, s, &mut obs, &mut mask);
            let mut p = [0.0f32; A];
            policy.probs(&obs, &mask, &mut p);
            p
        })
    }
    fn optimum(&self) -> f64 {
        self.solve(|t, s, q| {
            let best = (0..A)
                .filter(|&a| allowed(t, s, a))
                .max_by(|&x, &y| q[x].total_cmp(&q[y]))
                .unwrap_or(0);
            let mut p = [0.0f32; A];
            p[best] = 1.0;
            p
        })
    }
}

fn small_net() -> NetConfig {
    NetConfig {
        hidden: vec![32, 32],
        ..NetConfig::default()
    }
}

fn ppo_cfg(seed: u64) -> PpoConfig {
    PpoConfig {
        run: RunConfig {
            seed,
            total_steps: 60_000,
            eval_every: 5_000,
            stop_at_fraction: None,
            keep_best: true,
        },
        net: small_net(),
        n_envs: 16,
        n_steps: 16,
        minibatch_size: 128,
        ..PpoConfig::default()
    }
}

fn dqn_cfg(seed: u64) -> DqnConfig {
    DqnConfig {
        run: RunConfig {
            seed,
            total_steps: 30_000,
            eval_every: 5_000,
            stop_at_fraction: None,
            keep_best: true,
        },
        net: small_net(),
        n_envs: 4,
        batch_size: 64,
        replay_ratio: 0.5,
        learning_starts: 1_000,
        target_update_every: 100,
        ..DqnConfig::default()
    }
}

#[test]
fn toy_optimum_is_what_the_masks_allow() {
    // Ignoring the mask, action 4 would be taken everywhere; the masked optimum is lower.
    let masked = ToyEval.optimum();
    let unmasked = ToyEval.solve(|_, _, q| {
        let best = (0..A).max_by(|&x, &y| q[x].total_cmp(&q[y])).unwrap_or(0);
        let mut p = [0.0f32; A];
        p[best] = 1.0;
        p
    });
    assert!(
        masked > 0.5 && masked < unmasked,
        "masked {masked}, unmasked {unmasked}"
    );
}

#[test]
fn ppo_learns_the_toy_optimum_without_violations() {
    let out = train_ppo(
        &Toy::default(),
        Some(&ToyEval),
        &ppo_cfg(1),
        &mut NoObserver,
    )
    .unwrap();
    let last = out.curve.last().unwrap();
    assert!(
        last.fraction >= 0.995,
        "ppo reached {} of the optimum",
        last.fraction
    );
    assert_eq!(out.violations, 0);
    assert!(out.net.is_finite());

    // The exported spec carries the same weights, [in, out] per layer.
    let spec = out
        .net
        .to_mlp_spec(talktrack::tooling::Head::Identity)
        .unwrap();
    assert_eq!(spec.layers.len(), out.net.layers.len());
    assert_eq!(spec.layers[0].weights.dim(), (OBS, 32));
    assert_eq!(
        spec.layers[0].weights[[1, 2]],
        out.net.layers[0].weights[32 + 2]
    );
    assert!(talktrack::tooling::write_mlp(&spec).is_ok());
}

#[test]
fn dqn_learns_the_toy_optimum_without_violations() {
    let out = train_dqn(
        &Toy::default(),
        Some(&ToyEval),
        &dqn_cfg(1),
        &mut NoObserver,
    )
    .unwrap();
    let last = out.curve.last().unwrap();
    assert!(
        last.fraction >= 0.995,
        "dqn reached {} of the optimum",
        last.fraction
    );
    assert_eq!(out.violations, 0);
}

#[test]
fn ppo_with_a_shared_trunk_learns_the_toy_optimum() {
    let cfg = PpoConfig {
        shared_trunk: true,
        ..ppo_cfg(2)
    };
    let out = train_ppo(&Toy::default(), Some(&ToyEval), &cfg, &mut NoObserver).unwrap();
    let last = out.curve.last().unwrap();
    assert!(
        last.fraction >= 0.995,
        "ppo reached {} of the optimum",
        last.fraction
    );
    // The exported policy is trunk + policy head: hidden layers, then one logit per action.
    assert_eq!(out.net.layers.len(), 3);
    assert_eq!((out.net.n_in(), out.net.n_out()), (OBS, A));
}

#[test]
fn same_seed_same_weights() {
    let mut small = ppo_cfg(7);
    small.run.total_steps = 4_096;
    let a = train_ppo(&Toy::default(), None, &small, &mut NoObserver).unwrap();
    let b = train_ppo(&Toy::default(), None, &small, &mut NoObserver).unwrap();
    assert_eq!(a.net, b.net);
    small.run.seed = 8;
    let c = train_ppo(&Toy::default(), None, &small, &mut NoObserver).unwrap();
    assert_ne!(a.net, c.net);

    let mut small = dqn_cfg(7);
    small.run.total_steps = 3_000;
    let a = train_dqn(&Toy::default(), None, &small, &mut NoObserver).unwrap();
    let b = train_dqn(&Toy::default(), None, &small, &mut NoObserver).unwrap();
    assert_eq!(a.net, b.net);
}

/// Records what the hooks see and stops at the first evaluation.
#[derive(Default)]
struct Recorder {
    updates: Vec<Progress>,
    evals: Vec<EvalPoint>,
}

impl TrainObserver for Recorder {
    fn on_update(&mut self, p: &Progress) -> Control {
        self.updates.push(p.clone());
        Control::Continue
    }
    fn on_eval(&mut self, e: &EvalPoint) -> Control {
        self.evals.push(*e);
        Control::Stop
    }
}

#[test]
fn observer_sees_updates_and_can_stop_the_run() {
    let mut rec = Recorder::default();
    let out = train_ppo(&Toy::default(), Some(&ToyEval), &ppo_cfg(3), &mut rec).unwrap();
    assert_eq!(rec.evals.len(), 1);
    assert_eq!(out.env_steps, rec.evals[0].env_steps);
    assert!(out.env_steps < 60_000);
    let steps: Vec<u64> = rec.updates.iter().map(|p| p.env_steps).collect();
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "env steps must increase: {steps:?}"
    );
}

/// The toy with NaN rewards: the loss becomes NaN on the first update.
#[derive(Clone, Default)]
struct NanToy(Toy);

impl MaskedEnv for NanToy {
    fn obs_dim(&self) -> usize {
        OBS
    }
    fn n_actions(&self) -> usize {
        A
    }
    fn reset(&mut self, rng: &mut StdRng, obs: &mut [f32], mask: &mut [bool]) {
        self.0.reset(rng, obs, mask);
    }
    fn step(
        &mut self,
        action: usize,
        rng: &mut StdRng,
        obs: &mut [f32],
        mask: &mut [bool],
    ) -> Step {
        Step {
            reward: f32::NAN,
            ..self.0.step(action, rng, obs, mask)
        }
    }
    fn violations(&self) -> u64 {
        self.0.violations()
    }
    fn boxed_clone(&self) -> Box<dyn MaskedEnv> {
        Box::new(NanToy::default())
    }
}

#[test]
fn non_finite_loss_is_reported_not_exported() {
    match train_dqn(&NanToy::default(), None, &dqn_cfg(1), &mut NoObserver) {
        Err(TrainError::NonFinite { step, what }) => {
            assert_eq!(step, 1_000);
            assert!(what.contains("loss"), "{what}");
        }
        other => panic!("expected a non-finite error, got {other:?}"),
    }
    match train_ppo(&NanToy::default(), None, &ppo_cfg(1), &mut NoObserver) {
        Err(TrainError::NonFinite { step, what }) => {
            assert_eq!(step, 256);
            assert!(what.contains("loss"), "{what}");
        }
        other => panic!("expected a non-finite error, got {other:?}"),
    }
}
