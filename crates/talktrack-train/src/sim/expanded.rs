//! Exact enumeration of the simulator's state when it carries track usage or a drawn
//! context, as long as the reachable states stay few.
//!
//! The state of a simulated conversation is (context, turn, last reply, how often
//! each track whose usage is read was used). The context comes from
//! [`ContextSampler::enumerate`](super::context::ContextSampler::enumerate): every combination of the published categorical
//! values, with the product of their probabilities (a numeric attribute drawn inside
//! a bin has no finite support, and the simulator then stays [`super::live`]).
//! Usage is kept only for the tracks the rules or the feature spec read (all tracks
//! for the `used_tracks` feature). From each context's start state, the reachable
//! states are listed breadth first (so every successor comes after its state) up to
//! a cap; masks come from the runtime's rules engine and observations from the
//! runtime's feature encoder, once per state.
//!
//! Every policy is then evaluated exactly by backward induction, and the optimum is
//! found by value iteration, as on the (turn, last reply) [`Mdp`], whose reply model
//! and rewards this reuses unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::Rng;

use super::live::LiveSim;
use super::{Mdp, Transition};
use crate::eval::Tabular;
use crate::train::env::{ActionPolicy, Evaluator, MaskedEnv, Step};
use talktrack::tooling::mask;
use talktrack::tooling::typed::CVal;
use talktrack::tooling::Resolved;
use talktrack::tooling::TrackSet;
use talktrack::tooling::TurnView;
use talktrack::tooling::Verdict;

/// Most states [`ExpandedMdp::build`] enumerates before it gives up.
pub const MAX_STATES: usize = 200_000;

/// Most context combinations it enumerates.
pub const MAX_CONTEXTS: usize = 4_096;

/// Most (state, track, reply) successor entries and observation floats it stores.
const MAX_ENTRIES: usize = 16 << 20;

const NONE: u32 = u32::MAX;

/// Why the state space was not enumerated.
#[derive(Clone, Debug, PartialEq)]
pub enum NotEnumerable {
    /// A context attribute is drawn from numeric bins, or there are too many combinations.
    Context(String),
    /// More reachable states than the cap.
    TooManyStates(usize),
}

impl std::fmt::Display for NotEnumerable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Context(why) => f.write_str(why),
            Self::TooManyStates(n) => write!(
                f,
                "more than {n} reachable states (context × turn × last reply × track usage)"
            ),
        }
    }
}

/// The enumerated MDP over (context, turn, last reply, usage of the tracks read).
#[derive(Clone, Debug)]
pub struct ExpandedMdp {
    base: Arc<Mdp>,
    n_actions: usize,
    n_replies: usize,
    obs_dim: usize,
    /// Per state: turn and last-reply slot.
    turn: Vec<u32>,
    last: Vec<u32>,
    /// `[s * A + a]`: data published and rules allow it.
    allowed: Vec<bool>,
    /// `[s]`: at least one track allowed.
    any_allowed: Vec<bool>,
    /// `[s * obs_dim ..]`: the feature encoder's observation.
    obs: Vec<f32>,
    /// `[(s * A + a) * R + r]`: the state after non-terminal reply `r` (or [`NONE`]).
    succ: Vec<u32>,
    /// Start states with their context's probability, and the cumulative sums.
    starts: Vec<(f64, u32)>,
    start_cum: Vec<f64>,
    /// Number of context combinations.
    contexts: usize,
    /// Number of tracks whose usage the state carries.
    tracks_read: usize,
}

impl ExpandedMdp {
    /// Enumerates the states of `sim` whose usage of `tracks_read` (track indices)
    /// matters; `Err` says why it cannot (the caller then simulates).
    pub fn build(sim: &LiveSim, tracks_read: &[usize]) -> Result<Self, NotEnumerable> {
        let contexts = sim
            .context()
            .enumerate(MAX_CONTEXTS)
            .map_err(NotEnumerable::Context)?;
        let base = Arc::clone(sim.mdp());
        let (n_a, n_r, od) = (base.n_actions(), base.n_replies(), sim.obs_dim());
        let t_max = base.max_turns;
        let too_many = |n: usize| {
            n > MAX_STATES
                || n.saturating_mul(n_a * n_r) > MAX_ENTRIES
                || n.saturating_mul(od) > MAX_ENTRIES
        };
        let read: Vec<usize> = tracks_read.iter().copied().filter(|&a| a < n_a).collect();
        let slot_of: Vec<Option<usize>> = (0..n_a)
            .map(|a| read.iter().position(|&x| x == a))
            .collect();

        // Breadth first from every start: ids grow with the turn.
        type Key = (u32, u32, u32, Box<[u16]>);
        let mut ids: HashMap<Key, u32> = HashMap::new();
        let mut keys: Vec<Key> = Vec::new();
        let mut starts = Vec::with_capacity(contexts.len());
        for (c, (p, _)) in contexts.iter().enumerate() {
            let key: Key = (c as u32, 0, 0, vec![0u16; read.len()].into_boxed_slice());
            let id = *ids.entry(key.clone()).or_insert_with(|| {
                keys.push(key);
                (keys.len() - 1) as u32
            });
            starts.push((*p, id));
        }
        let mut m = ExpandedMdp {
            base: Arc::clone(&base),
            n_actions: n_a,
            n_replies: n_r,
            obs_dim: od,
            turn: Vec::new(),
            last: Vec::new(),
            allowed: Vec::new(),
            any_allowed: Vec::new(),
            obs: Vec::new(),
            succ: Vec::new(),
            starts: Vec::new(),
            start_cum: Vec::new(),
            contexts: contexts.len(),
            tracks_read: read.len(),
        };
        let mut used = vec![0u16; n_a];
        let mut verdict = Verdict::new(n_a);
        let mut set = TrackSet::empty(n_a);
        let mut row = vec![false; n_a];
        let values: Vec<Resolved<'_>> = contexts
            .iter()
            .map(|(_, vals)| vals.iter().map(|v| v.as_ref().map(CVal::as_val)).collect())
            .collect();
        let mut s = 0usize;
        while let Some((c, t, l, counts)) = keys.get(s).cloned() {
            if too_many(keys.len()) {
                return Err(NotEnumerable::TooManyStates(MAX_STATES.min(keys.len())));
            }
            used.iter_mut().for_each(|u| *u = 0);
            for (&a, &n) in read.iter().zip(counts.iter()) {
                if let Some(u) = used.get_mut(a) {
                    *u = n;
                }
            }
            let view = TurnView {
                values: values.get(c as usize).map_or(&[][..], |v| &v[..]),
                now_ms: base.now_ms(),
                turn: t,
                max_turns: t_max,
                used: &used,
                last_reply: l.checked_sub(1),
                embedding: None,
                contacts: sim.contacts(),
            };
            mask(sim.rules(), &view, sim.fallback(), &mut verdict, &mut set);
            for (a, ok) in row.iter_mut().enumerate() {
                *ok = set.contains(a) && base.available(t, l, a);
            }
            let at = m.obs.len();
            m.obs.resize(at + od, 0.0);
            sim.encoder().encode(&view, &mut m.obs[at..]);
            m.turn.push(t);
            m.last.push(l);
            m.allowed.extend_from_slice(&row);
            m.any_allowed.push(row.iter().any(|&x| x));
            let base_succ = m.succ.len();
            m.succ.resize(base_succ + n_a * n_r, NONE);
            if t + 1 < t_max {
                for a in (0..n_a).filter(|&a| row[a]) {
                    let mut next = counts.clone();
                    if let Some(x) = slot_of[a].and_then(|i| next.get_mut(i)) {
                        *x = x.saturating_add(1);
                    }
                    for (r, &p) in base.reply_probs(t, l, a).iter().enumerate() {
                        if p <= 0.0 || base.terminal_reward(r).is_some() {
                            continue;
                        }
                        let key: Key = (c, t + 1, r as u32 + 1, next.clone());
                        let id = match ids.get(&key) {
                            Some(&id) => id,
                            None => {
                                keys.push(key.clone());
                                ids.insert(key, (keys.len() - 1) as u32);
                                (keys.len() - 1) as u32
                            }
                        };
                        if let Some(x) = m.succ.get_mut(base_succ + a * n_r + r) {
                            *x = id;
                        }
                    }
                }
            }
            s += 1;
        }
        let mut acc = 0.0;
        for &(p, id) in &starts {
            acc += p;
            m.start_cum.push(acc);
            m.starts.push((p, id));
        }
        if acc > 0.0 {
            m.start_cum.iter_mut().for_each(|x| *x /= acc);
        }
        Ok(m)
    }

    /// Number of enumerated states.
    pub fn n_states(&self) -> usize {
        self.turn.len()
    }

    /// Number of context combinations.
    pub fn contexts(&self) -> usize {
        self.contexts
    }

    /// Number of tracks whose usage the state carries.
    pub fn tracks_read(&self) -> usize {
        self.tracks_read
    }

    /// The (turn, last reply) reply model.
    pub fn base(&self) -> &Arc<Mdp> {
        &self.base
    }

    /// Observation length.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Number of tracks.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }
}

/// States are numbered breadth first from the starts (successors after their state).
impl Tabular for ExpandedMdp {
    fn model(&self) -> &Mdp {
        &self.base
    }

    fn n_states(&self) -> usize {
        self.turn.len()
    }

    fn turn_last(&self, s: usize) -> (u32, u32) {
        (
            self.turn.get(s).copied().unwrap_or(0),
            self.last.get(s).copied().unwrap_or(0),
        )
    }

    fn successor(&self, s: usize, a: usize, r: usize) -> Option<usize> {
        self.succ
            .get((s * self.n_actions + a) * self.n_replies + r)
            .filter(|&&n| n != NONE)
            .map(|&n| n as usize)
    }

    fn observation(&self, s: usize) -> &[f32] {
        self.obs
            .get(s * self.obs_dim..(s + 1) * self.obs_dim)
            .unwrap_or(&[])
    }

    fn mask_row(&self, s: usize) -> &[bool] {
        self.allowed
            .get(s * self.n_actions..(s + 1) * self.n_actions)
            .unwrap_or(&[])
    }

    fn start_value(&self, v: &[f64]) -> f64 {
        let total: f64 = self.starts.iter().map(|(p, _)| p).sum();
        if total <= 0.0 {
            return 0.0;
        }
        self.starts
            .iter()
            .map(|&(p, s)| p * v.get(s as usize).copied().unwrap_or(0.0))
            .sum::<f64>()
            / total
    }
}

impl Evaluator for ExpandedMdp {
    fn value(&self, policy: &dyn ActionPolicy) -> f64 {
        self.evaluate(policy).value
    }

    fn optimum(&self) -> f64 {
        self.solve().0
    }
}

/// One episode at a time over an [`ExpandedMdp`]: the same user model as
/// [`super::LiveEnv`], with masks and observations looked up instead of computed.
#[derive(Clone, Debug)]
pub struct ExpandedEnv {
    mdp: Arc<ExpandedMdp>,
    state: usize,
    violations: u64,
}

impl ExpandedEnv {
    /// A fresh environment over `mdp`.
    pub fn new(mdp: Arc<ExpandedMdp>) -> Self {
        Self {
            mdp,
            state: 0,
            violations: 0,
        }
    }

    fn write(&self, obs: &mut [f32], mask: &mut [bool]) {
        let m = &*self.mdp;
        for (o, &x) in obs.iter_mut().zip(m.observation(self.state)) {
            *o = x;
        }
        for (o, &x) in mask.iter_mut().zip(m.mask_row(self.state)) {
            *o = x;
        }
    }
}

impl MaskedEnv for ExpandedEnv {
    fn obs_dim(&self) -> usize {
        self.mdp.obs_dim
    }

    fn n_actions(&self) -> usize {
        self.mdp.n_actions
    }

    fn reset(&mut self, rng: &mut StdRng, obs: &mut [f32], mask: &mut [bool]) {
        let m = &*self.mdp;
        let u = rng.random::<f64>();
        let i = m
            .start_cum
            .iter()
            .position(|&c| u < c)
            .unwrap_or(m.starts.len().saturating_sub(1));
        self.state = m.starts.get(i).map_or(0, |&(_, s)| s as usize);
        self.write(obs, mask);
    }

    fn step(
        &mut self,
        action: usize,
        rng: &mut StdRng,
        obs: &mut [f32],
        mask: &mut [bool],
    ) -> Step {
        let end = |reward: f32| Step { reward, done: true };
        let m = &*self.mdp;
        if !m.allowed(self.state, action) {
            self.violations += 1;
            return end(0.0);
        }
        let (t, l) = m.turn_last(self.state);
        let (reply, reward) = match m.base.transition(m.base.sa(t, l, action), t, rng) {
            Transition::End(reward) => return end(reward),
            Transition::Next { reply, reward } => (reply, reward),
        };
        let next = m
            .succ
            .get((self.state * m.n_actions + action) * m.n_replies + reply)
            .copied()
            .unwrap_or(NONE);
        if next == NONE || !m.any_allowed.get(next as usize).copied().unwrap_or(false) {
            return end(reward);
        }
        self.state = next as usize;
        self.write(obs, mask);
        Step {
            reward,
            done: false,
        }
    }

    fn violations(&self) -> u64 {
        self.violations
    }

    fn boxed_clone(&self) -> Box<dyn MaskedEnv> {
        Box::new(ExpandedEnv::new(Arc::clone(&self.mdp)))
    }
}
