//! Environment copies stepped side by side, the training clock and the evaluation
//! step shared by both trainers.
//!
//! Each copy owns its `StdRng` (dynamics and action sampling), so a copy's trajectory
//! depends only on the seed and the policy, never on the order copies are stepped in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::curve::{fraction, Control, EvalPoint, LearningCurve, TrainObserver};
use super::env::{Evaluator, MaskedEnv};
use super::mlp::{GreedyPolicy, PlainMlp};
use super::TrainError;

/// Returns of the last finished episodes kept for the progress record.
const RETURN_WINDOW: usize = 100;

/// `n` copies of an environment with their current observation and mask.
pub(crate) struct VecEnv {
    envs: Vec<Box<dyn MaskedEnv>>,
    /// One RNG per copy.
    pub rngs: Vec<StdRng>,
    pub obs_dim: usize,
    pub n_actions: usize,
    /// `[n, obs_dim]` current observations.
    pub obs: Vec<f32>,
    /// `[n, n_actions]` current masks.
    pub mask: Vec<bool>,
    ep_return: Vec<f64>,
    recent: VecDeque<f64>,
    pub episodes: u64,
}

impl VecEnv {
    pub fn new(proto: &dyn MaskedEnv, n: usize, master: &mut StdRng) -> Result<Self, TrainError> {
        let obs_dim = proto.obs_dim();
        let n_actions = proto.n_actions();
        if n_actions == 0 {
            return Err(TrainError::Env("the environment has no actions".into()));
        }
        let mut v = Self {
            envs: (0..n).map(|_| proto.boxed_clone()).collect(),
            rngs: (0..n)
                .map(|_| StdRng::seed_from_u64(master.random()))
                .collect(),
            obs_dim,
            n_actions,
            obs: vec![0.0; n * obs_dim],
            mask: vec![false; n * n_actions],
            ep_return: vec![0.0; n],
            recent: VecDeque::with_capacity(RETURN_WINDOW),
            episodes: 0,
        };
        for i in 0..n {
            v.reset(i)?;
        }
        Ok(v)
    }

    pub fn len(&self) -> usize {
        self.envs.len()
    }

    pub fn obs_of(&self, i: usize) -> &[f32] {
        &self.obs[i * self.obs_dim..(i + 1) * self.obs_dim]
    }

    pub fn mask_of(&self, i: usize) -> &[bool] {
        &self.mask[i * self.n_actions..(i + 1) * self.n_actions]
    }

    fn reset(&mut self, i: usize) -> Result<(), TrainError> {
        let (od, na) = (self.obs_dim, self.n_actions);
        let (Some(env), Some(rng)) = (self.envs.get_mut(i), self.rngs.get_mut(i)) else {
            return Ok(());
        };
        env.reset(
            rng,
            &mut self.obs[i * od..(i + 1) * od],
            &mut self.mask[i * na..(i + 1) * na],
        );
        self.check_mask(i)
    }

    fn check_mask(&self, i: usize) -> Result<(), TrainError> {
        if self.mask_of(i).iter().any(|&m| m) {
            Ok(())
        } else {
            Err(TrainError::Env(
                "a non-terminal state allows no action".into(),
            ))
        }
    }

    /// Steps copy `i` with `action`; on episode end records the return and resets,
    /// so the slot then holds the next episode's first observation.
    pub fn step(&mut self, i: usize, action: usize) -> Result<(f32, bool), TrainError> {
        let (od, na) = (self.obs_dim, self.n_actions);
        let (Some(env), Some(rng)) = (self.envs.get_mut(i), self.rngs.get_mut(i)) else {
            return Err(TrainError::Env(format!("no environment copy {i}")));
        };
        let s = env.step(
            action,
            rng,
            &mut self.obs[i * od..(i + 1) * od],
            &mut self.mask[i * na..(i + 1) * na],
        );
        if let Some(r) = self.ep_return.get_mut(i) {
            *r += f64::from(s.reward);
        }
        if s.done {
            let r = self.ep_return.get(i).copied().unwrap_or(0.0);
            if self.recent.len() == RETURN_WINDOW {
                self.recent.pop_front();
            }
            self.recent.push_back(r);
            self.episodes += 1;
            if let Some(r) = self.ep_return.get_mut(i) {
                *r = 0.0;
            }
            self.reset(i)?;
        } else {
            self.check_mask(i)?;
        }
        Ok((s.reward, s.done))
    }

    pub fn mean_return(&self) -> f64 {
        if self.recent.is_empty() {
            return 0.0;
        }
        self.recent.iter().sum::<f64>() / self.recent.len() as f64
    }

    pub fn violations(&self) -> u64 {
        self.envs.iter().map(|e| e.violations()).sum()
    }
}

/// Wall clock of training that leaves out time spent evaluating.
pub(crate) struct Clock {
    start: Instant,
    excluded: Duration,
}

impl Clock {
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
            excluded: Duration::ZERO,
        }
    }

    pub fn secs(&self) -> f64 {
        self.start
            .elapsed()
            .saturating_sub(self.excluded)
            .as_secs_f64()
    }

    fn exclude<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.excluded += t.elapsed();
        r
    }
}

/// Evaluates the greedy policy of `net`, records the point, keeps `net` in `best`
/// when it is the best evaluated so far (a later one wins a tie) and asks the
/// observer. Returns `Stop` when the observer says so or the target fraction is reached.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate(
    evaluator: &dyn Evaluator,
    net: &PlainMlp,
    env_steps: u64,
    clock: &mut Clock,
    curve: &mut LearningCurve,
    best: &mut Option<(f64, PlainMlp)>,
    stop_at: Option<f64>,
    observer: &mut dyn TrainObserver,
) -> Control {
    let wall_secs = clock.secs();
    let value = clock.exclude(|| evaluator.value(&GreedyPolicy { net: net.clone() }));
    if best.as_ref().is_none_or(|(v, _)| value >= *v) {
        *best = Some((value, net.clone()));
    }
    let point = EvalPoint {
        env_steps,
        wall_secs,
        value,
        fraction: fraction(value, curve.optimum),
    };
    curve.points.push(point);
    let seen = observer.on_eval(&point);
    if seen == Control::Stop || stop_at.is_some_and(|f| point.fraction >= f) {
        Control::Stop
    } else {
        Control::Continue
    }
}

/// Ends a run: evaluates the last network if it was not just evaluated, and hands
/// back the best evaluated network (with `keep_best`) or the last one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    evaluator: Option<&dyn Evaluator>,
    last: PlainMlp,
    env_steps: u64,
    mut clock: Clock,
    mut curve: LearningCurve,
    mut best: Option<(f64, PlainMlp)>,
    keep_best: bool,
    observer: &mut dyn TrainObserver,
    violations: u64,
) -> super::TrainOutcome {
    let wall_secs = clock.secs();
    if let Some(ev) = evaluator {
        if curve.last().map(|p| p.env_steps) != Some(env_steps) {
            evaluate(
                ev, &last, env_steps, &mut clock, &mut curve, &mut best, None, observer,
            );
        }
    }
    let net = match best {
        Some((_, b)) if keep_best => b,
        _ => last,
    };
    super::TrainOutcome {
        net,
        curve,
        env_steps,
        wall_secs,
        violations,
    }
}

/// Samples an index in `0..n` where `mask` is true, uniformly.
pub(crate) fn random_allowed(mask: &[bool], rng: &mut StdRng) -> usize {
    let allowed = mask.iter().filter(|&&m| m).count();
    let mut k = rng.random_range(0..allowed.max(1));
    for (i, &m) in mask.iter().enumerate() {
        if m {
            if k == 0 {
                return i;
            }
            k -= 1;
        }
    }
    0
}
