//! Double DQN under action masks.
//!
//! The replay buffer stores, with every transition, the mask of the next state, so
//! that both the argmax (online network) and the bootstrapped value (target network)
//! range over the actions the rules allow there; a forbidden action's Q-value never
//! enters a target. Targets are computed with the plain `f32` copies of the networks
//! (no gradient flows through them); only `Q(s, a)` of the sampled actions goes
//! through burn's autodiff, with a Huber loss.

use burn::backend::ndarray::NdArrayDevice;
use burn::nn::loss::{HuberLossConfig, Reduction};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::DqnConfig;
use super::curve::{Control, LearningCurve, Progress, TrainObserver};
use super::env::{Evaluator, MaskedEnv};
use super::mlp::{masked_argmax, sizes, BurnMlp, PlainMlp, Scratch};
use super::vec_env::{evaluate, finish, random_allowed, Clock, VecEnv};
use super::{Learner, TrainError, TrainOutcome};

/// Transitions in flat ring buffers.
struct Replay {
    obs_dim: usize,
    n_actions: usize,
    capacity: usize,
    len: usize,
    next: usize,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    next_mask: Vec<bool>,
    action: Vec<usize>,
    reward: Vec<f32>,
    done: Vec<bool>,
}

impl Replay {
    fn new(capacity: usize, obs_dim: usize, n_actions: usize) -> Self {
        Self {
            obs_dim,
            n_actions,
            capacity,
            len: 0,
            next: 0,
            obs: vec![0.0; capacity * obs_dim],
            next_obs: vec![0.0; capacity * obs_dim],
            next_mask: vec![false; capacity * n_actions],
            action: vec![0; capacity],
            reward: vec![0.0; capacity],
            done: vec![false; capacity],
        }
    }

    fn push(
        &mut self,
        obs: &[f32],
        action: usize,
        reward: f32,
        done: bool,
        next_obs: &[f32],
        next_mask: &[bool],
    ) {
        let (k, od, na) = (self.next, self.obs_dim, self.n_actions);
        self.obs[k * od..(k + 1) * od].copy_from_slice(obs);
        self.next_obs[k * od..(k + 1) * od].copy_from_slice(next_obs);
        self.next_mask[k * na..(k + 1) * na].copy_from_slice(next_mask);
        self.action[k] = action;
        self.reward[k] = reward;
        self.done[k] = done;
        self.next = (k + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
    }
}

/// Trains a Q-network on copies of `env`; evaluates its greedy policy with
/// `evaluator` every `cfg.run.eval_every` steps and at the end.
///
/// Errors: an invalid config, an environment state with no allowed action, or a
/// non-finite loss or weight ([`TrainError::NonFinite`]); NaN weights are never
/// returned.
pub fn train_dqn(
    env: &dyn MaskedEnv,
    evaluator: Option<&dyn Evaluator>,
    cfg: &DqnConfig,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, TrainError> {
    cfg.validate()?;
    let device = NdArrayDevice::Cpu;
    let act = cfg.net.activation;
    let mut master = StdRng::seed_from_u64(cfg.run.seed);
    let mut venv = VecEnv::new(env, cfg.n_envs, &mut master)?;
    let (od, na) = (venv.obs_dim, venv.n_actions);
    let mut online =
        BurnMlp::<Learner>::init(&sizes(od, &cfg.net.hidden, na), 1.0, &mut master, &device);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay)
        .with_grad_clipping(
            cfg.max_grad_norm
                .map(burn::grad_clipping::GradientClippingConfig::Norm),
        )
        .init::<Learner, BurnMlp<Learner>>();
    let huber = HuberLossConfig::new(cfg.huber_delta as f32).init();
    let mut plain = online.to_plain(act)?;
    let mut target = plain.clone();
    let mut replay = Replay::new(cfg.buffer_size, od, na);
    let mut best: Option<(f64, PlainMlp)> = None;
    let mut curve = LearningCurve {
        optimum: evaluator.map_or(0.0, |e| e.optimum()),
        points: vec![],
    };

    let mut scratch = Scratch::default();
    let mut qbuf = vec![0.0f32; na];
    let mut qbuf2 = vec![0.0f32; na];
    let mut cur_obs = vec![0.0f32; od];
    let bs = cfg.batch_size;
    let mut b_obs = vec![0.0f32; bs * od];
    let mut b_act = vec![0i64; bs];
    let mut b_y = vec![0.0f32; bs];

    let total = cfg.run.total_steps;
    let eps_steps = (cfg.eps_decay_fraction * total as f64).max(1.0);
    let mut clock = Clock::start();
    let (mut act_secs, mut learn_secs) = (0.0f64, 0.0f64);
    let mut steps: u64 = 0;
    let mut grad_steps: u64 = 0;
    let mut credit = 0.0f64;
    let mut next_eval = if cfg.run.eval_every == 0 {
        u64::MAX
    } else {
        cfg.run.eval_every
    };

    'outer: while steps < total {
        let eps =
            cfg.eps_start + (cfg.eps_end - cfg.eps_start) * (steps as f64 / eps_steps).min(1.0);
        let warmup = steps < cfg.learning_starts;
        let lr = if cfg.lr_anneal {
            cfg.lr * (1.0 - 0.9 * (steps as f64 / total as f64).min(1.0))
        } else {
            cfg.lr
        };
        let t0 = std::time::Instant::now();
        for i in 0..venv.len() {
            cur_obs.copy_from_slice(venv.obs_of(i));
            let action = {
                let explore = warmup || venv.rngs[i].random::<f64>() < eps;
                if explore {
                    let mask = &venv.mask[i * na..(i + 1) * na];
                    random_allowed(mask, &mut venv.rngs[i])
                } else {
                    plain.forward(&cur_obs, &mut scratch, &mut qbuf);
                    masked_argmax(&qbuf, venv.mask_of(i)).unwrap_or(0)
                }
            };
            let (reward, done) = venv.step(i, action)?;
            replay.push(
                &cur_obs,
                action,
                reward,
                done,
                venv.obs_of(i),
                venv.mask_of(i),
            );
            steps += 1;
        }
        act_secs += t0.elapsed().as_secs_f64();
        if steps < cfg.learning_starts || replay.len == 0 {
            continue;
        }
        credit += venv.len() as f64 * cfg.replay_ratio;
        while credit >= 1.0 {
            credit -= 1.0;
            let t0 = std::time::Instant::now();
            // Targets from the plain copies: y = r + γ · Q_target(s', argmax_{a' allowed} Q_online(s', a')).
            for j in 0..bs {
                let k = master.random_range(0..replay.len);
                b_obs[j * od..(j + 1) * od].copy_from_slice(&replay.obs[k * od..(k + 1) * od]);
                b_act[j] = replay.action[k] as i64;
                let mut y = replay.reward[k];
                if !replay.done[k] {
                    let s2 = &replay.next_obs[k * od..(k + 1) * od];
                    let m2 = &replay.next_mask[k * na..(k + 1) * na];
                    plain.forward(s2, &mut scratch, &mut qbuf);
                    if let Some(a2) = masked_argmax(&qbuf, m2) {
                        target.forward(s2, &mut scratch, &mut qbuf2);
                        y += cfg.gamma * qbuf2.get(a2).copied().unwrap_or(0.0);
                    }
                }
                b_y[j] = y;
            }
            let x =
                Tensor::<Learner, 2>::from_data(TensorData::new(b_obs.clone(), [bs, od]), &device);
            let a = Tensor::<Learner, 2, Int>::from_data(
                TensorData::new(b_act.clone(), [bs, 1]),
                &device,
            );
            let y = Tensor::<Learner, 2>::from_data(TensorData::new(b_y.clone(), [bs, 1]), &device);
            let q = online.forward(x, act).gather(1, a);
            let loss = huber.forward(q, y, Reduction::Mean);
            let loss_val = f64::from(loss.clone().into_scalar());
            if !loss_val.is_finite() {
                return Err(TrainError::NonFinite {
                    step: steps,
                    what: "dqn loss".into(),
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &online);
            online = optim.step(lr, online, grads);
            plain = online.to_plain(act)?;
            if !plain.is_finite() {
                return Err(TrainError::NonFinite {
                    step: steps,
                    what: "q-network weights".into(),
                });
            }
            learn_secs += t0.elapsed().as_secs_f64();
            grad_steps += 1;
            if grad_steps.is_multiple_of(cfg.target_update_every) {
                target.polyak(&plain, cfg.tau);
            }
            let progress = Progress {
                env_steps: steps,
                wall_secs: clock.secs(),
                episodes: venv.episodes,
                mean_return: venv.mean_return(),
                loss: loss_val,
                act_secs,
                learn_secs,
                explore: eps,
            };
            if observer.on_update(&progress) == Control::Stop {
                break 'outer;
            }
        }
        if steps >= next_eval {
            next_eval = next_eval.saturating_add(cfg.run.eval_every);
            if let Some(ev) = evaluator {
                if evaluate(
                    ev,
                    &plain,
                    steps,
                    &mut clock,
                    &mut curve,
                    &mut best,
                    cfg.run.stop_at_fraction,
                    observer,
                ) == Control::Stop
                {
                    break;
                }
            }
        }
    }
    Ok(finish(
        evaluator,
        plain,
        steps,
        clock,
        curve,
        best,
        cfg.run.keep_best,
        observer,
        venv.violations(),
    ))
}
