//! PPO with masked logits over vectorised environment copies.
//!
//! Forbidden actions get a logit of `MASKED_LOGIT` before the softmax, both when
//! acting (plain `f32` path) and in the loss (burn autodiff path), so they have zero
//! probability, contribute nothing to the entropy and never receive gradient through
//! the ratio. A large finite value rather than `-inf` keeps `p · log p` at 0 instead
//! of NaN. Policy and value are separate networks trained by one optimiser on the
//! summed loss; only the policy network is exported.

use burn::backend::ndarray::NdArrayDevice;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::config::{Activation, PpoConfig};
use super::curve::{Control, LearningCurve, Progress, TrainObserver};
use super::env::{Evaluator, MaskedEnv};
use super::mlp::{sizes, BurnMlp, PlainMlp, Scratch};
use super::vec_env::{evaluate, finish, Clock, VecEnv};
use super::{Learner, TrainError, TrainOutcome};

/// Logit given to forbidden actions.
const MASKED_LOGIT: f32 = -1e9;

/// Policy and value heads on an optional shared trunk, one module so that one
/// optimiser steps all of it. Without sharing the trunk has no layers and each head
/// is a whole network.
#[derive(Module, Debug)]
struct ActorCritic<B: Backend> {
    trunk: BurnMlp<B>,
    pi: BurnMlp<B>,
    v: BurnMlp<B>,
}

impl<B: Backend> ActorCritic<B> {
    fn init(cfg: &PpoConfig, od: usize, na: usize, rng: &mut StdRng, device: &B::Device) -> Self {
        let hidden = &cfg.net.hidden;
        match hidden.last() {
            Some(&h) if cfg.shared_trunk => Self {
                trunk: BurnMlp::init(&sizes(od, &hidden[..hidden.len() - 1], h), 1.0, rng, device),
                pi: BurnMlp::init(&[h, na], 0.01, rng, device),
                v: BurnMlp::init(&[h, 1], 1.0, rng, device),
            },
            _ => Self {
                trunk: BurnMlp::init(&[od], 1.0, rng, device),
                pi: BurnMlp::init(&sizes(od, hidden, na), 0.01, rng, device),
                v: BurnMlp::init(&sizes(od, hidden, 1), 1.0, rng, device),
            },
        }
    }

    /// Plain copies of the whole policy (trunk + policy head) and value networks.
    fn to_plain(&self, act: Activation) -> Result<(PlainMlp, PlainMlp), TrainError> {
        let trunk = self.trunk.to_plain(act)?;
        let join = |head: PlainMlp| PlainMlp {
            layers: trunk.layers.iter().cloned().chain(head.layers).collect(),
            activation: act,
        };
        Ok((join(self.pi.to_plain(act)?), join(self.v.to_plain(act)?)))
    }
}

/// Samples from the softmax of `logits` restricted to `mask`; returns the action and
/// its log-probability.
fn sample_masked(logits: &[f32], mask: &[bool], rng: &mut StdRng) -> (usize, f32) {
    let max = logits
        .iter()
        .zip(mask)
        .filter(|(_, &m)| m)
        .map(|(&l, _)| l)
        .fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits
        .iter()
        .zip(mask)
        .filter(|(_, &m)| m)
        .map(|(&l, _)| (l - max).exp())
        .sum();
    let mut u = rng.random::<f32>() * sum;
    let mut chosen = None;
    for (i, (&l, &m)) in logits.iter().zip(mask).enumerate() {
        if !m {
            continue;
        }
        chosen = Some(i);
        u -= (l - max).exp();
        if u <= 0.0 {
            break;
        }
    }
    let a = chosen.unwrap_or(0);
    let logp = logits.get(a).copied().unwrap_or(0.0) - max - sum.ln();
    (a, logp)
}

/// Trains a policy with PPO on `cfg.n_envs` copies of `env`; evaluates its greedy
/// policy (argmax of the allowed logits) with `evaluator` every `cfg.run.eval_every`
/// steps and at the end. The returned network outputs logits.
///
/// Errors: an invalid config, an environment state with no allowed action, or a
/// non-finite loss or weight ([`TrainError::NonFinite`]).
pub fn train_ppo(
    env: &dyn MaskedEnv,
    evaluator: Option<&dyn Evaluator>,
    cfg: &PpoConfig,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, TrainError> {
    cfg.validate()?;
    let device = NdArrayDevice::Cpu;
    let act = cfg.net.activation;
    let mut master = StdRng::seed_from_u64(cfg.run.seed);
    let mut venv = VecEnv::new(env, cfg.n_envs, &mut master)?;
    let (od, na) = (venv.obs_dim, venv.n_actions);
    let mut model = ActorCritic::<Learner>::init(cfg, od, na, &mut master, &device);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay)
        .with_grad_clipping(
            cfg.max_grad_norm
                .map(burn::grad_clipping::GradientClippingConfig::Norm),
        )
        .init::<Learner, ActorCritic<Learner>>();
    let (mut pi, mut vf) = model.to_plain(act)?;
    let mut best: Option<(f64, PlainMlp)> = None;
    let mut curve = LearningCurve {
        optimum: evaluator.map_or(0.0, |e| e.optimum()),
        points: vec![],
    };

    let (n, t_len) = (venv.len(), cfg.n_steps);
    let size = n * t_len;
    let mut r_obs = vec![0.0f32; size * od];
    let mut r_mask = vec![0.0f32; size * na];
    let mut r_act = vec![0usize; size];
    let mut r_logp = vec![0.0f32; size];
    let mut r_val = vec![0.0f32; size];
    let mut r_rew = vec![0.0f32; size];
    let mut r_done = vec![false; size];
    let mut adv = vec![0.0f32; size];
    let mut ret = vec![0.0f32; size];
    let mut last_val = vec![0.0f32; n];
    let mut order: Vec<usize> = (0..size).collect();
    let mb = cfg.minibatch_size.min(size);

    let mut scratch = Scratch::default();
    let mut logits = vec![0.0f32; na];
    let mut value = [0.0f32; 1];
    let total = cfg.run.total_steps;
    let mut clock = Clock::start();
    let (mut act_secs, mut learn_secs) = (0.0f64, 0.0f64);
    let mut steps: u64 = 0;
    let mut next_eval = if cfg.run.eval_every == 0 {
        u64::MAX
    } else {
        cfg.run.eval_every
    };

    'outer: while steps < total {
        let progress_frac = (steps as f64 / total as f64).min(1.0);
        let lr = if cfg.lr_anneal {
            cfg.lr * (1.0 - 0.9 * progress_frac)
        } else {
            cfg.lr
        };
        let ent_coef = if cfg.ent_decay {
            cfg.ent_coef * (1.0 - progress_frac as f32)
        } else {
            cfg.ent_coef
        };

        // Rollout: slot `t * n + i` holds copy i's t-th step.
        let t0 = std::time::Instant::now();
        for t in 0..t_len {
            for i in 0..n {
                let k = t * n + i;
                r_obs[k * od..(k + 1) * od].copy_from_slice(venv.obs_of(i));
                let mask = &venv.mask[i * na..(i + 1) * na];
                for (dst, &m) in r_mask[k * na..(k + 1) * na].iter_mut().zip(mask) {
                    *dst = if m { 0.0 } else { MASKED_LOGIT };
                }
                pi.forward(venv.obs_of(i), &mut scratch, &mut logits);
                vf.forward(venv.obs_of(i), &mut scratch, &mut value);
                let (a, logp) = sample_masked(&logits, mask, &mut venv.rngs[i]);
                let (reward, done) = venv.step(i, a)?;
                r_act[k] = a;
                r_logp[k] = logp;
                r_val[k] = value[0];
                r_rew[k] = reward;
                r_done[k] = done;
            }
        }
        steps += size as u64;
        act_secs += t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        for (i, lv) in last_val.iter_mut().enumerate() {
            vf.forward(venv.obs_of(i), &mut scratch, &mut value);
            *lv = value[0];
        }

        // GAE(λ), reset at episode ends.
        for (i, &last) in last_val.iter().enumerate() {
            let mut gae = 0.0f32;
            for t in (0..t_len).rev() {
                let k = t * n + i;
                let next_v = if t + 1 == t_len { last } else { r_val[k + n] };
                let live = if r_done[k] { 0.0 } else { 1.0 };
                let delta = r_rew[k] + cfg.gamma * next_v * live - r_val[k];
                gae = delta + cfg.gamma * cfg.gae_lambda * live * gae;
                adv[k] = gae;
                ret[k] = gae + r_val[k];
            }
        }
        let mean = adv.iter().sum::<f32>() / size as f32;
        let var = adv.iter().map(|a| (a - mean) * (a - mean)).sum::<f32>() / size as f32;
        let std = var.sqrt() + 1e-8;
        let adv_n: Vec<f32> = adv.iter().map(|a| (a - mean) / std).collect();

        // Minibatch epochs.
        let mut loss_sum = 0.0f64;
        let mut ent_sum = 0.0f64;
        let mut n_mb = 0usize;
        let mut b_obs = vec![0.0f32; mb * od];
        let mut b_mask = vec![0.0f32; mb * na];
        let mut b_act = vec![0i64; mb];
        let mut b_logp = vec![0.0f32; mb];
        let mut b_adv = vec![0.0f32; mb];
        let mut b_ret = vec![0.0f32; mb];
        for _ in 0..cfg.epochs {
            order.shuffle(&mut master);
            for chunk in order.chunks_exact(mb) {
                for (j, &k) in chunk.iter().enumerate() {
                    b_obs[j * od..(j + 1) * od].copy_from_slice(&r_obs[k * od..(k + 1) * od]);
                    b_mask[j * na..(j + 1) * na].copy_from_slice(&r_mask[k * na..(k + 1) * na]);
                    b_act[j] = r_act[k] as i64;
                    b_logp[j] = r_logp[k];
                    b_adv[j] = adv_n[k];
                    b_ret[j] = ret[k];
                }
                let x = Tensor::<Learner, 2>::from_data(
                    TensorData::new(b_obs.clone(), [mb, od]),
                    &device,
                );
                let m = Tensor::<Learner, 2>::from_data(
                    TensorData::new(b_mask.clone(), [mb, na]),
                    &device,
                );
                let a = Tensor::<Learner, 2, Int>::from_data(
                    TensorData::new(b_act.clone(), [mb, 1]),
                    &device,
                );
                let old = Tensor::<Learner, 2>::from_data(
                    TensorData::new(b_logp.clone(), [mb, 1]),
                    &device,
                );
                let ad = Tensor::<Learner, 2>::from_data(
                    TensorData::new(b_adv.clone(), [mb, 1]),
                    &device,
                );
                let rt = Tensor::<Learner, 2>::from_data(
                    TensorData::new(b_ret.clone(), [mb, 1]),
                    &device,
                );

                let h = model.trunk.forward_trunk(x, act);
                let logp_all = log_softmax(model.pi.forward(h.clone(), act) + m, 1);
                let logp = logp_all.clone().gather(1, a);
                let ratio = (logp - old).exp();
                let s1 = ratio.clone() * ad.clone();
                let s2 = ratio.clamp(1.0 - cfg.clip, 1.0 + cfg.clip) * ad;
                let pg_loss = s1.min_pair(s2).mean().neg();
                let entropy = (logp_all.clone().exp() * logp_all).sum_dim(1).mean().neg();
                let v = model.v.forward(h, act);
                let v_loss = (v - rt).powi_scalar(2).mean();
                let loss = pg_loss + v_loss * cfg.vf_coef - entropy.clone() * ent_coef;

                let loss_val = f64::from(loss.clone().into_scalar());
                if !loss_val.is_finite() {
                    return Err(TrainError::NonFinite {
                        step: steps,
                        what: "ppo loss".into(),
                    });
                }
                ent_sum += f64::from(entropy.into_scalar());
                loss_sum += loss_val;
                n_mb += 1;
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(lr, model, grads);
            }
        }
        learn_secs += t0.elapsed().as_secs_f64();
        (pi, vf) = model.to_plain(act)?;
        if !pi.is_finite() || !vf.is_finite() {
            return Err(TrainError::NonFinite {
                step: steps,
                what: "policy or value weights".into(),
            });
        }
        let progress = Progress {
            env_steps: steps,
            wall_secs: clock.secs(),
            episodes: venv.episodes,
            mean_return: venv.mean_return(),
            loss: loss_sum / n_mb.max(1) as f64,
            act_secs,
            learn_secs,
            explore: ent_sum / n_mb.max(1) as f64,
        };
        if observer.on_update(&progress) == Control::Stop {
            break 'outer;
        }
        if steps >= next_eval {
            while next_eval <= steps {
                next_eval = next_eval.saturating_add(cfg.run.eval_every);
            }
            if let Some(ev) = evaluator {
                if evaluate(
                    ev,
                    &pi,
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
        pi,
        steps,
        clock,
        curve,
        best,
        cfg.run.keep_best,
        observer,
        venv.violations(),
    ))
}
