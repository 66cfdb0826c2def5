//! The simulator for templates whose rules or features read more than the turn and
//! the last reply: track usage (`used`, `count`, the `used_tracks` feature) or a
//! context drawn per conversation.
//!
//! The user model is the same as in [`Mdp`] (reply cells by turn and last reply,
//! terminal replies, `stay`, the turn limit); the state adds what the rules and the
//! feature spec read: how often each track was used and the conversation's context.
//! [`super::expanded`] enumerates that state when it can (categorical context, few
//! reachable states); otherwise, here, masks come from the runtime's rules engine
//! ([`talktrack::tooling::mask`]) and observations from the runtime's feature encoder at
//! every step, and policies are evaluated by simulation with 95% confidence
//! intervals ([`crate::eval::simulate`](fn@crate::eval::simulate)) instead of exactly.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::context::ContextSampler;
use super::{AllowAll, Mdp, SimConfig, SimError, Transition};
use crate::aggregate::Aggregates;
use crate::eval::{simulate, Estimate};
use crate::train::env::{ActionPolicy, Evaluator, MaskedEnv, Step};
use talktrack::tooling::mask;
use talktrack::tooling::typed::CVal;
use talktrack::tooling::BundleTemplate;
use talktrack::tooling::ContactLog;
use talktrack::tooling::FeatureEncoder;
use talktrack::tooling::Resolved;
use talktrack::tooling::TrackSet;
use talktrack::tooling::TurnView;
use talktrack::tooling::{RuleSet, Verdict};

/// Everything a live episode reads; shared by all environments.
#[derive(Clone, Debug)]
pub struct LiveSim {
    mdp: Arc<Mdp>,
    rules: RuleSet,
    fallback: usize,
    encoder: FeatureEncoder,
    context: ContextSampler,
    /// The past contacts every turn sees (`[sim] contacts`).
    contacts: ContactLog,
}

impl LiveSim {
    /// Builds the simulator of `tpl` over `agg` with settings `cfg`.
    pub fn build(
        agg: &Aggregates,
        cfg: &SimConfig,
        tpl: &BundleTemplate,
    ) -> Result<Self, SimError> {
        // The reply model and data availability: by (turn, last reply), as in the enumerable simulator.
        let mdp = Mdp::build(agg, cfg, &AllowAll, tpl.features())?;
        let context = ContextSampler::new(tpl, &cfg.context, agg)?;
        let contacts = super::contacts::resolve(cfg, tpl)?;
        Ok(Self {
            contacts,
            mdp: Arc::new(mdp),
            rules: tpl.rules().clone(),
            fallback: tpl.fallback(),
            encoder: tpl.features().clone(),
            context,
        })
    }

    /// The past contacts every simulated turn sees (`[sim] contacts`).
    pub fn contacts(&self) -> &ContactLog {
        &self.contacts
    }

    /// The reply model (by turn and last reply; its masks ignore the rules).
    pub fn mdp(&self) -> &Arc<Mdp> {
        &self.mdp
    }

    /// Where the context of simulated conversations comes from.
    pub fn context(&self) -> &ContextSampler {
        &self.context
    }

    /// The template's rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The fallback track.
    pub fn fallback(&self) -> usize {
        self.fallback
    }

    /// The template's feature encoder.
    pub fn encoder(&self) -> &FeatureEncoder {
        &self.encoder
    }

    /// Observation length.
    pub fn obs_dim(&self) -> usize {
        self.encoder.dim()
    }

    /// Number of tracks.
    pub fn n_actions(&self) -> usize {
        self.mdp.n_actions()
    }
}

/// One episode at a time over a [`LiveSim`].
///
/// Taking a forbidden or unavailable track counts a violation and ends the episode
/// with reward 0, as in [`super::SimEnv`].
#[derive(Clone, Debug)]
pub struct LiveEnv {
    sim: Arc<LiveSim>,
    turn: u32,
    last: u32,
    used: Vec<u16>,
    context: Vec<Option<CVal>>,
    allowed: Vec<bool>,
    verdict: Verdict,
    set: TrackSet,
    violations: u64,
}

impl LiveEnv {
    /// A fresh environment over `sim`.
    pub fn new(sim: Arc<LiveSim>) -> Self {
        let n = sim.n_actions();
        Self {
            sim,
            turn: 0,
            last: 0,
            used: vec![0; n],
            context: Vec::new(),
            allowed: vec![false; n],
            verdict: Verdict::new(n),
            set: TrackSet::empty(n),
            violations: 0,
        }
    }

    /// Writes the current observation and mask; whether any track is allowed.
    fn observe(&mut self, obs: &mut [f32], out_mask: &mut [bool]) -> bool {
        let sim = &*self.sim;
        let values: Resolved<'_> = self
            .context
            .iter()
            .map(|v| v.as_ref().map(CVal::as_val))
            .collect();
        let view = TurnView {
            values: &values,
            now_ms: sim.mdp.now_ms(),
            turn: self.turn,
            max_turns: sim.mdp.max_turns,
            used: &self.used,
            last_reply: self.last.checked_sub(1),
            embedding: None,
            contacts: &sim.contacts,
        };
        mask(
            &sim.rules,
            &view,
            sim.fallback,
            &mut self.verdict,
            &mut self.set,
        );
        let mut any = false;
        for (a, ok) in self.allowed.iter_mut().enumerate() {
            *ok = self.set.contains(a) && sim.mdp.available(self.turn, self.last, a);
            any |= *ok;
        }
        for (m, &a) in out_mask.iter_mut().zip(&self.allowed) {
            *m = a;
        }
        sim.encoder.encode(&view, obs);
        any
    }
}

impl MaskedEnv for LiveEnv {
    fn obs_dim(&self) -> usize {
        self.sim.obs_dim()
    }

    fn n_actions(&self) -> usize {
        self.sim.n_actions()
    }

    fn reset(&mut self, rng: &mut StdRng, obs: &mut [f32], mask: &mut [bool]) {
        self.turn = 0;
        self.last = 0;
        self.used.iter_mut().for_each(|u| *u = 0);
        self.sim.context.draw(rng, &mut self.context);
        // An episode whose start allows nothing has an all-false mask; its first step ends it.
        self.observe(obs, mask);
    }

    fn step(
        &mut self,
        action: usize,
        rng: &mut StdRng,
        obs: &mut [f32],
        mask: &mut [bool],
    ) -> Step {
        let end = |reward: f32| Step { reward, done: true };
        if !self.allowed.get(action).copied().unwrap_or(false) {
            self.violations += 1;
            return end(0.0);
        }
        let m = &*self.sim.mdp;
        let (reply, reward) = match m.transition(m.sa(self.turn, self.last, action), self.turn, rng)
        {
            Transition::End(reward) => return end(reward),
            Transition::Next { reply, reward } => (reply, reward),
        };
        if let Some(u) = self.used.get_mut(action) {
            *u = u.saturating_add(1);
        }
        self.turn += 1;
        self.last = reply as u32 + 1;
        if !self.observe(obs, mask) {
            return end(reward);
        }
        Step {
            reward,
            done: false,
        }
    }

    fn violations(&self) -> u64 {
        self.violations
    }

    fn boxed_clone(&self) -> Box<dyn MaskedEnv> {
        Box::new(LiveEnv::new(Arc::clone(&self.sim)))
    }
}

/// Evaluates policies on a [`LiveSim`] by simulation: the same episodes (same seed)
/// for every policy, so comparisons between policies are paired.
#[derive(Clone, Debug)]
pub struct LiveEvaluator {
    sim: Arc<LiveSim>,
    /// Episodes per evaluation.
    pub episodes: u64,
    /// Seed of the evaluation episodes.
    pub seed: u64,
}

impl LiveEvaluator {
    /// An evaluator running `episodes` episodes from `seed`.
    pub fn new(sim: Arc<LiveSim>, episodes: u64, seed: u64) -> Self {
        Self {
            sim,
            episodes,
            seed,
        }
    }

    /// The value of `policy` with its 95% confidence interval.
    pub fn estimate(&self, policy: &dyn ActionPolicy) -> Estimate {
        let mut env = LiveEnv::new(Arc::clone(&self.sim));
        simulate(&mut env, policy, self.episodes, self.seed)
    }

    /// A fresh environment.
    pub fn env(&self) -> LiveEnv {
        LiveEnv::new(Arc::clone(&self.sim))
    }

    /// Observations the simulator produces: the states of `episodes` episodes of
    /// uniformly random allowed tracks (for checking an exported policy).
    pub fn sample_observations(&self, episodes: u64, seed: u64) -> Vec<Vec<f32>> {
        use rand::Rng;
        let mut env = self.env();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut obs = vec![0.0f32; env.obs_dim()];
        let mut mask = vec![false; env.n_actions()];
        let mut out = Vec::new();
        for _ in 0..episodes {
            env.reset(&mut rng, &mut obs, &mut mask);
            loop {
                out.push(obs.clone());
                let allowed: Vec<usize> = (0..mask.len()).filter(|&a| mask[a]).collect();
                let Some(&a) = allowed.get(rng.random_range(0..allowed.len().max(1))) else {
                    break;
                };
                if env.step(a, &mut rng, &mut obs, &mut mask).done {
                    break;
                }
            }
        }
        out
    }
}

impl Evaluator for LiveEvaluator {
    fn value(&self, policy: &dyn ActionPolicy) -> f64 {
        self.estimate(policy).mean
    }

    /// Not known without enumeration: NaN, so no fraction of it is ever claimed.
    fn optimum(&self) -> f64 {
        f64::NAN
    }
}

/// Uniform over the allowed tracks.
#[derive(Clone, Copy, Debug, Default)]
pub struct UniformPolicy;

impl ActionPolicy for UniformPolicy {
    fn probs(&self, _obs: &[f32], mask: &[bool], out: &mut [f32]) {
        let n = mask.iter().filter(|&&m| m).count().max(1) as f32;
        for (o, &m) in out.iter_mut().zip(mask) {
            *o = if m { 1.0 / n } else { 0.0 };
        }
    }
}

/// Track `track` where allowed, uniform over the allowed tracks elsewhere.
#[derive(Clone, Copy, Debug)]
pub struct SingleTrackPolicy {
    /// The track.
    pub track: usize,
}

impl ActionPolicy for SingleTrackPolicy {
    fn probs(&self, obs: &[f32], mask: &[bool], out: &mut [f32]) {
        if mask.get(self.track).copied().unwrap_or(false) {
            out.iter_mut().for_each(|o| *o = 0.0);
            if let Some(o) = out.get_mut(self.track) {
                *o = 1.0;
            }
        } else {
            UniformPolicy.probs(obs, mask, out);
        }
    }
}

/// The logged behaviour: the published behaviour counts by (turn, last reply),
/// restricted to the allowed tracks and renormalised; uniform over the allowed
/// tracks where nothing was published.
#[derive(Clone, Debug)]
struct BehaviourPolicy {
    /// `[(turn * n_last + last) * A + a]`: published counts.
    counts: Vec<f64>,
    n_actions: usize,
}

impl BehaviourPolicy {
    fn new(m: &Mdp, agg: &Aggregates) -> Self {
        Self {
            counts: crate::eval::baselines::behaviour_counts(m, agg),
            n_actions: m.n_actions(),
        }
    }

    /// Probabilities in key state `key` (turn × last reply) under `mask`.
    fn probs(&self, key: usize, mask: &[bool], out: &mut [f32]) {
        let row = self
            .counts
            .get(key * self.n_actions..(key + 1) * self.n_actions)
            .unwrap_or(&[]);
        let total: f64 = row
            .iter()
            .zip(mask)
            .filter(|(_, &m)| m)
            .map(|(c, _)| c)
            .sum();
        if total <= 0.0 {
            UniformPolicy.probs(&[], mask, out);
            return;
        }
        for ((o, &c), &m) in out.iter_mut().zip(row).zip(mask) {
            *o = if m { (c / total) as f32 } else { 0.0 };
        }
    }
}

/// A [`LiveEnv`] whose observation is only its key state (turn × last reply), for
/// policies defined by (turn, last reply) such as the logged behaviour.
struct KeyedEnv {
    inner: LiveEnv,
    obs: Vec<f32>,
}

impl KeyedEnv {
    fn key(&self) -> f32 {
        self.inner.sim.mdp.state(self.inner.turn, self.inner.last) as f32
    }
}

impl MaskedEnv for KeyedEnv {
    fn obs_dim(&self) -> usize {
        1
    }

    fn n_actions(&self) -> usize {
        self.inner.n_actions()
    }

    fn reset(&mut self, rng: &mut StdRng, obs: &mut [f32], mask: &mut [bool]) {
        self.inner.reset(rng, &mut self.obs, mask);
        if let Some(o) = obs.first_mut() {
            *o = self.key();
        }
    }

    fn step(
        &mut self,
        action: usize,
        rng: &mut StdRng,
        obs: &mut [f32],
        mask: &mut [bool],
    ) -> Step {
        let step = self.inner.step(action, rng, &mut self.obs, mask);
        if let Some(o) = obs.first_mut() {
            *o = self.key();
        }
        step
    }

    fn violations(&self) -> u64 {
        self.inner.violations()
    }

    fn boxed_clone(&self) -> Box<dyn MaskedEnv> {
        Box::new(KeyedEnv {
            inner: LiveEnv::new(Arc::clone(&self.inner.sim)),
            obs: self.obs.clone(),
        })
    }
}

impl ActionPolicy for BehaviourPolicy {
    fn probs(&self, obs: &[f32], mask: &[bool], out: &mut [f32]) {
        let key = obs.first().map_or(0, |&k| k.max(0.0) as usize);
        BehaviourPolicy::probs(self, key, mask, out);
    }
}

/// The baselines of a live simulator, each estimated with a 95% confidence interval.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LiveBaselines {
    /// Uniform over the allowed tracks.
    pub uniform: Estimate,
    /// The best single track (by estimated value) and its estimate.
    pub best_single: (String, Estimate),
    /// The logged behaviour.
    pub behaviour: Estimate,
}

impl LiveEvaluator {
    /// Uniform, best single track and logged behaviour (from `behaviour_from`'s
    /// published counts), on the same episodes as every other evaluation.
    pub fn baselines(&self, behaviour_from: &Aggregates) -> LiveBaselines {
        let uniform = self.estimate(&UniformPolicy);
        let mut best: Option<(String, Estimate)> = None;
        for a in 0..self.sim.n_actions() {
            let e = self.estimate(&SingleTrackPolicy { track: a });
            if best.as_ref().is_none_or(|(_, b)| e.mean > b.mean) {
                let name = self.sim.mdp.tracks().get(a).cloned().unwrap_or_default();
                best = Some((name, e));
            }
        }
        let mut env = KeyedEnv {
            inner: self.env(),
            obs: vec![0.0; self.sim.obs_dim()],
        };
        let policy = BehaviourPolicy::new(&self.sim.mdp, behaviour_from);
        let behaviour = simulate(&mut env, &policy, self.episodes, self.seed);
        LiveBaselines {
            uniform,
            best_single: best.unwrap_or((String::new(), uniform)),
            behaviour,
        }
    }
}
