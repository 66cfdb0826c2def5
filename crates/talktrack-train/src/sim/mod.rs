//! The simulator: an episodic MDP over published aggregates, fully specified by a
//! [`SimConfig`] (TOML `[sim]`), masked by the same rules as the runtime.
//!
//! State = (agent turn `t` in `0..T`, last reply slot: 0 = `start`, `1 + r` = reply
//! `r`). Taking track `a` draws the user's reply from the (state, track) cell found by
//! backing off along the aggregates' state-key chain (or takes its most frequent reply
//! in [`ReplyMode::MostFrequent`]). A terminal reply ends the episode with its reward;
//! otherwise the reply's engagement reward is paid, the user stays with probability
//! `stay` (an assumption: logs show no drop-outs) and the turn advances; the episode
//! ends after turn `T - 1`. A (state, track) with no published cell even after
//! back-off is unavailable and masked, like a track the rules forbid.
//!
//! The state space is enumerable, so everything is precomputed into flat arrays
//! (masks, reply distributions and their cumulative sums) once per build: a step is
//! two random numbers and a scan over the reply categories.

pub mod contacts;
pub mod context;
pub mod env;
pub mod expanded;
pub mod live;
pub mod mask;
pub mod reference;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregates, StateKey};
use talktrack::tooling::Schema;
use talktrack::tooling::TurnView;
use talktrack::tooling::{Feature, FeatureEncoder, FeatureEnv};

pub use contacts::SimContact;
pub use context::ContextSampler;
pub use env::SimEnv;
pub use expanded::{ExpandedEnv, ExpandedMdp, NotEnumerable};
pub use live::{LiveEnv, LiveEvaluator, LiveSim};
pub use mask::{AllowAll, MaskSource, P4gReferenceRules, RulesMask};

/// How the user's reply is chosen from a cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyMode {
    /// Drawn from the cell's next-reply distribution (default).
    #[default]
    Sampled,
    /// Always the cell's most frequent reply.
    MostFrequent,
}

/// The simulator's settings (`[sim]`); every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// How replies are drawn (default `sampled`).
    pub reply_mode: ReplyMode,
    /// Probability that the user stays for another turn after a non-terminal reply
    /// (default 0.85). An assumption: logs rarely record drop-outs.
    pub stay: f64,
    /// Replies that end the episode, with their reward (default `agree/commit` = 1,
    /// `refuse` = 0).
    pub terminal: BTreeMap<String, f64>,
    /// Reward paid for a non-terminal reply (default none, i.e. 0).
    pub engagement: BTreeMap<String, f64>,
    /// When the user is still there after the last turn, pay the aggregated conversion
    /// rate of the last (state, track) cell (default false).
    pub conversion_at_limit: bool,
    /// Context attributes every simulated conversation has, for templates whose rules
    /// or features read context (the state does not vary them). Default: none.
    pub context: talktrack::Context,
    /// Pessimism: every step taking track `a` in a state pays
    /// `pessimism / sqrt(conversations behind the cell used)` less reward, so that
    /// planning and training prefer what the data backs well (a lower confidence bound).
    /// Default 0. The trainer sets it for the simulator policies train on, by
    /// cross-validation (`[pessimism]`); held-out evaluations never use it.
    pub pessimism: f64,
    /// The simulator's clock, an RFC 3339 time (`2026-01-15T10:00:00Z`): what rules
    /// reading `now` see in every simulated turn. Default none: time 0.
    pub now: Option<String>,
    /// Past contacts of other conversations that rules counting contacts
    /// (`contacts(..)`) see in every simulated turn (see [`contacts`]). Default none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<SimContact>,
}

impl SimConfig {
    /// The clock in milliseconds since the Unix epoch (0 when `now` is not set).
    pub fn now_ms(&self) -> Result<i64, SimError> {
        let Some(text) = &self.now else {
            return Ok(0);
        };
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|e| {
            SimError::Setting(format!(
                "`now` must be an RFC 3339 time such as `2026-01-15T10:00:00Z`, not `{text}`: {e}"
            ))
        })?;
        Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            reply_mode: ReplyMode::Sampled,
            stay: 0.85,
            terminal: BTreeMap::from([
                ("agree/commit".to_string(), 1.0),
                ("refuse".to_string(), 0.0),
            ]),
            engagement: BTreeMap::new(),
            conversion_at_limit: false,
            context: talktrack::Context::new(),
            pessimism: 0.0,
            now: None,
            contacts: Vec::new(),
        }
    }
}

/// The observation of the reference: one-hot turn (`T`) + one-hot last reply with a
/// `start` slot (replies + 1).
pub fn default_features() -> Vec<Feature> {
    vec![Feature::TurnOneHot, Feature::LastReplyOneHot]
}

/// A feature encoder for `agg` (no context schema: aggregates carry no per-conversation context).
pub fn encoder_for(agg: &Aggregates, spec: &[Feature]) -> Result<FeatureEncoder, SimError> {
    let schema = Schema::default();
    FeatureEncoder::new(
        spec,
        FeatureEnv {
            schema: &schema,
            n_tracks: agg.tracks.len(),
            n_replies: agg.replies.len(),
            max_turns: agg.config.max_turns,
        },
    )
    .map_err(|errs| {
        SimError::Features(
            errs.into_iter()
                .map(|(i, e)| format!("feature {i}: {e}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// A feature encoder for `agg` with [`default_features`].
pub fn default_encoder(agg: &Aggregates) -> Result<FeatureEncoder, SimError> {
    encoder_for(agg, &default_features())
}

/// Why a simulator could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A reply named in `[sim]` is not in the vocabulary.
    #[error("`[sim]` names reply `{0}`, which is not a reply category of the aggregates")]
    UnknownReply(String),
    /// A probability or reward out of range.
    #[error("bad simulator setting: {0}")]
    Setting(String),
    /// The aggregates' state key cannot be enumerated.
    #[error("the aggregates have no published cell for any track: nothing to simulate")]
    NoCells,
    /// The feature spec does not fit the aggregates.
    #[error("bad feature spec: {0}")]
    Features(String),
    /// The start state allows nothing.
    #[error("no track is allowed in the start state: every episode would end at once")]
    DeadStart,
}

/// What one step of the user model did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Transition {
    /// The episode ended (terminal reply, drop-out or turn limit) with this reward.
    End(f32),
    /// The conversation goes on to the next turn after `reply`, having paid `reward`.
    Next { reply: usize, reward: f32 },
}

/// The enumerable aggregate MDP, precomputed into flat arrays.
#[derive(Clone, Debug)]
pub struct Mdp {
    /// Turn limit `T`.
    pub max_turns: u32,
    /// Probability of staying after a non-terminal reply.
    pub stay: f64,
    tracks: Vec<String>,
    replies: Vec<String>,
    n_last: usize,
    n_actions: usize,
    n_replies: usize,
    /// `[state * A + a]`: a published cell exists (after back-off).
    available: Vec<bool>,
    /// `[state * A + a]`: available and allowed by the rules.
    allowed: Vec<bool>,
    /// `[state]`: at least one action allowed.
    any_allowed: Vec<bool>,
    /// `[(state * A + a) * R + r]`: reply probabilities.
    probs: Vec<f64>,
    /// Cumulative `probs` as f32, for sampling.
    cum: Vec<f32>,
    /// `[state * A + a]`: conversion rate of the cell used.
    conversion: Vec<f64>,
    /// `[state * A + a]`: back-off level of the cell used (`u8::MAX` when none).
    level: Vec<u8>,
    /// `[state * A + a]`: conversations behind the cell used.
    support: Vec<f64>,
    /// `[state * A + a]`: reward withheld at every step taking the pair (pessimism).
    penalty: Vec<f64>,
    /// The clock rules see (ms since the epoch).
    now_ms: i64,
    terminal: Vec<Option<f64>>,
    engagement: Vec<f64>,
    conversion_at_limit: bool,
    obs_dim: usize,
    /// `[state * obs_dim ..]`: the encoder's observation of each state.
    obs: Vec<f32>,
    warnings: Vec<String>,
}

impl Mdp {
    /// Builds the MDP from aggregates, simulator settings and a rule mask source.
    ///
    /// `encoder` writes the observations (from the same [`TurnView`] the rules see);
    /// build it with `n_tracks = agg.tracks.len()`, `n_replies = agg.replies.len()` and
    /// `max_turns = agg.config.max_turns`, e.g. with [`default_encoder`].
    pub fn build(
        agg: &Aggregates,
        cfg: &SimConfig,
        rules: &dyn MaskSource,
        encoder: &FeatureEncoder,
    ) -> Result<Self, SimError> {
        Self::build_in_context(
            agg,
            cfg,
            rules,
            encoder,
            &[],
            talktrack::tooling::ContactLog::empty(),
        )
    }

    /// [`Mdp::build`] for conversations whose context attributes are `values` (by
    /// schema slot, as `Schema::resolve` writes them) and whose past contacts are
    /// `contacts` (`[sim] contacts`, resolved by [`contacts::resolve`]): rules and
    /// features see them in every state.
    pub fn build_in_context(
        agg: &Aggregates,
        cfg: &SimConfig,
        rules: &dyn MaskSource,
        encoder: &FeatureEncoder,
        values: &[Option<talktrack::tooling::Val<'_>>],
        contacts: &talktrack::tooling::ContactLog,
    ) -> Result<Self, SimError> {
        if !(cfg.pessimism.is_finite() && cfg.pessimism >= 0.0) {
            return Err(SimError::Setting(format!(
                "`pessimism` must be a number ≥ 0, not `{}`",
                cfg.pessimism
            )));
        }
        let now_ms = cfg.now_ms()?;
        if !(0.0..=1.0).contains(&cfg.stay) {
            return Err(SimError::Setting(format!(
                "`stay` must be in [0, 1], not `{}`",
                cfg.stay
            )));
        }
        let reply_ix = |name: &str| {
            agg.replies
                .iter()
                .position(|r| r == name)
                .ok_or_else(|| SimError::UnknownReply(name.to_string()))
        };
        let n_replies = agg.replies.len();
        let mut terminal = vec![None; n_replies];
        for (name, &rew) in &cfg.terminal {
            if !rew.is_finite() {
                return Err(SimError::Setting(format!(
                    "terminal reward of `{name}` is not finite"
                )));
            }
            terminal[reply_ix(name)?] = Some(rew);
        }
        let mut engagement = vec![0.0; n_replies];
        for (name, &rew) in &cfg.engagement {
            if !rew.is_finite() {
                return Err(SimError::Setting(format!(
                    "engagement reward of `{name}` is not finite"
                )));
            }
            engagement[reply_ix(name)?] = rew;
        }
        let acfg = &agg.config;
        let t_max = acfg.max_turns;
        let n_last = n_replies + 1;
        let n_actions = agg.tracks.len();
        let track_ix: HashMap<&str, usize> = agg
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        let mut index: HashMap<(usize, StateKey, usize), &crate::aggregate::Cell> = HashMap::new();
        for (li, level) in agg.levels.iter().enumerate() {
            for c in &level.cells {
                let last = match &c.last_reply {
                    None => None,
                    Some(name) => match agg.last_slot(name) {
                        Some(s) => Some(s),
                        None => continue,
                    },
                };
                let Some(&a) = track_ix.get(c.track.as_str()) else {
                    continue;
                };
                let key = StateKey {
                    turn: c.turn,
                    stage: c.stage,
                    last,
                };
                index.insert((li, key, a), c);
            }
        }
        if index.is_empty() {
            return Err(SimError::NoCells);
        }
        let n_states = t_max as usize * n_last;
        let n_sa = n_states * n_actions;
        let mut m = Mdp {
            max_turns: t_max,
            stay: cfg.stay,
            tracks: agg.tracks.clone(),
            replies: agg.replies.clone(),
            n_last,
            n_actions,
            n_replies,
            available: vec![false; n_sa],
            allowed: vec![false; n_sa],
            any_allowed: vec![false; n_states],
            probs: vec![0.0; n_sa * n_replies],
            cum: vec![0.0; n_sa * n_replies],
            conversion: vec![0.0; n_sa],
            level: vec![u8::MAX; n_sa],
            support: vec![0.0; n_sa],
            penalty: vec![0.0; n_sa],
            now_ms,
            terminal,
            engagement,
            conversion_at_limit: cfg.conversion_at_limit,
            obs_dim: encoder.dim(),
            obs: vec![0.0; n_states * encoder.dim()],
            warnings: Vec::new(),
        };
        let used = vec![0u16; n_actions];
        let mut allowed = vec![true; n_actions];
        for t in 0..t_max {
            for l in 0..n_last as u32 {
                let s = t as usize * n_last + l as usize;
                for a in 0..n_actions {
                    let sa = s * n_actions + a;
                    let found = agg
                        .config
                        .levels
                        .iter()
                        .enumerate()
                        .find_map(|(li, level)| {
                            let key = StateKey::of(acfg, level, t, l);
                            index.get(&(li, key, a)).map(|c| (li, *c))
                        });
                    let Some((li, cell)) = found else {
                        continue;
                    };
                    let row = &mut m.probs[sa * n_replies..(sa + 1) * n_replies];
                    match cfg.reply_mode {
                        ReplyMode::Sampled => {
                            let total: f64 = cell.next.values().filter(|n| **n > 0.0).sum();
                            if total <= 0.0 {
                                continue;
                            }
                            for (name, &n) in &cell.next {
                                if let (Some(r), true) =
                                    (agg.replies.iter().position(|x| x == name), n > 0.0)
                                {
                                    row[r] = n / total;
                                }
                            }
                        }
                        ReplyMode::MostFrequent => {
                            let Some(r) = agg.replies.iter().position(|x| *x == cell.most_frequent)
                            else {
                                continue;
                            };
                            row[r] = 1.0;
                        }
                    }
                    let mut acc = 0.0f64;
                    for r in 0..n_replies {
                        acc += m.probs[sa * n_replies + r];
                        m.cum[sa * n_replies + r] = acc as f32;
                    }
                    // INVARIANT: a draw in [0, 1) always lands on a reply with positive
                    // probability, whatever the f32 rounding of the cumulative sums.
                    if let Some(last_nz) = (0..n_replies)
                        .rev()
                        .find(|&r| m.probs[sa * n_replies + r] > 0.0)
                    {
                        m.cum[sa * n_replies + last_nz] = f32::INFINITY;
                    }
                    m.available[sa] = true;
                    m.conversion[sa] = cell.conversion_rate;
                    m.level[sa] = li as u8;
                    m.support[sa] = cell.conversations.max(0.0);
                    if cfg.pessimism > 0.0 {
                        m.penalty[sa] = cfg.pessimism / cell.conversations.max(1.0).sqrt();
                    }
                }
                allowed.copy_from_slice(&m.available[s * n_actions..(s + 1) * n_actions]);
                let view = TurnView {
                    values,
                    now_ms,
                    turn: t,
                    max_turns: t_max,
                    used: &used,
                    last_reply: l.checked_sub(1),
                    embedding: None,
                    contacts,
                };
                rules.restrict(&view, &mut allowed);
                let od = m.obs_dim;
                encoder.encode(&view, &mut m.obs[s * od..(s + 1) * od]);
                m.allowed[s * n_actions..(s + 1) * n_actions].copy_from_slice(&allowed);
                m.any_allowed[s] = allowed.iter().any(|&x| x);
                if !m.any_allowed[s] {
                    let why = if m.available[s * n_actions..(s + 1) * n_actions]
                        .iter()
                        .any(|&x| x)
                    {
                        "the rules forbid every track with data"
                    } else {
                        "no track has published data"
                    };
                    m.warnings.push(format!(
                        "no track is allowed at turn {t} after `{}` ({why}): an episode reaching this state ends there",
                        agg.last_name(l)
                    ));
                }
            }
        }
        if !m.any_allowed.first().copied().unwrap_or(false) {
            return Err(SimError::DeadStart);
        }
        Ok(m)
    }

    /// The clock rules see, in ms since the epoch (`[sim] now`; 0 when unset).
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Warnings found while building (e.g. states where every track is masked).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Track ids in action order.
    pub fn tracks(&self) -> &[String] {
        &self.tracks
    }

    /// Reply categories.
    pub fn replies(&self) -> &[String] {
        &self.replies
    }

    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// Number of reply categories.
    pub fn n_replies(&self) -> usize {
        self.n_replies
    }

    /// Number of last-reply slots (replies + `start`).
    pub fn n_last(&self) -> usize {
        self.n_last
    }

    /// Observation length (the feature encoder's).
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Writes the observation of state (`t`, `last`), precomputed by the feature encoder.
    #[inline]
    pub fn encode(&self, t: u32, last: u32, obs: &mut [f32]) {
        let lo = self.state(t, last) * self.obs_dim;
        if let Some(src) = self.obs.get(lo..lo + self.obs_dim) {
            let n = src.len().min(obs.len());
            obs[..n].copy_from_slice(&src[..n]);
        }
    }

    /// The observation of state index `s` (as [`Mdp::state`] numbers it).
    pub(crate) fn observation(&self, s: usize) -> &[f32] {
        self.obs
            .get(s * self.obs_dim..(s + 1) * self.obs_dim)
            .unwrap_or(&[])
    }

    /// The allowed-track mask of state index `s`.
    pub(crate) fn mask_row(&self, s: usize) -> &[bool] {
        self.allowed
            .get(s * self.n_actions..(s + 1) * self.n_actions)
            .unwrap_or(&[])
    }

    /// Writes the allowed-action mask of state (`t`, `last`).
    pub fn write_mask(&self, t: u32, last: u32, mask: &mut [bool]) {
        let s = self.state(t, last) * self.n_actions;
        if let Some(src) = self.allowed.get(s..s + self.n_actions) {
            for (m, &a) in mask.iter_mut().zip(src) {
                *m = a;
            }
        }
    }

    /// Index of state (`t`, `last`).
    #[inline]
    pub fn state(&self, t: u32, last: u32) -> usize {
        t as usize * self.n_last + last as usize
    }

    #[inline]
    pub(crate) fn sa(&self, t: u32, last: u32, a: usize) -> usize {
        if a >= self.n_actions {
            return usize::MAX;
        }
        self.state(t, last) * self.n_actions + a
    }

    /// Whether track `a` is allowed (data and rules) in state (`t`, `last`).
    pub fn allowed(&self, t: u32, last: u32, a: usize) -> bool {
        self.allowed_sa(self.sa(t, last, a))
    }

    /// Whether track `a` has a published cell (after back-off) in state (`t`, `last`).
    pub fn available(&self, t: u32, last: u32, a: usize) -> bool {
        self.available
            .get(self.sa(t, last, a))
            .copied()
            .unwrap_or(false)
    }

    /// The back-off level (0 = finest) of the cell behind track `a` in state (`t`,
    /// `last`); `None` where the pair has no published cell even after back-off.
    pub fn cell_level(&self, t: u32, last: u32, a: usize) -> Option<usize> {
        self.level
            .get(self.sa(t, last, a))
            .copied()
            .filter(|&l| l != u8::MAX)
            .map(usize::from)
    }

    /// Conversations behind the cell of track `a` in state (`t`, `last`) (0 when none).
    pub fn support(&self, t: u32, last: u32, a: usize) -> f64 {
        self.support
            .get(self.sa(t, last, a))
            .copied()
            .unwrap_or(0.0)
    }

    /// The reward withheld at every step taking track `a` in (`t`, `last`) (pessimism).
    pub fn penalty(&self, t: u32, last: u32, a: usize) -> f64 {
        self.penalty_sa(self.sa(t, last, a))
    }

    #[inline]
    fn penalty_sa(&self, sa: usize) -> f64 {
        self.penalty.get(sa).copied().unwrap_or(0.0)
    }

    #[inline]
    pub(crate) fn allowed_sa(&self, sa: usize) -> bool {
        self.allowed.get(sa).copied().unwrap_or(false)
    }

    /// Whether any track is allowed in state (`t`, `last`).
    pub fn has_allowed(&self, t: u32, last: u32) -> bool {
        self.any_allowed
            .get(self.state(t, last))
            .copied()
            .unwrap_or(false)
    }

    /// Reply probabilities of track `a` in state (`t`, `last`) (empty when out of range).
    pub fn reply_probs(&self, t: u32, last: u32, a: usize) -> &[f64] {
        let sa = self.sa(t, last, a);
        let r = self.n_replies;
        sa.checked_mul(r)
            .and_then(|lo| self.probs.get(lo..lo + r))
            .unwrap_or(&[])
    }

    #[inline]
    pub(crate) fn sample_reply(&self, sa: usize, u: f32) -> usize {
        let r = self.n_replies;
        let lo = sa * r;
        let row = self.cum.get(lo..lo + r).unwrap_or(&[]);
        row.iter().position(|&c| u < c).unwrap_or(0)
    }

    /// Reward of reply `r` if it ends the episode.
    #[inline]
    pub fn terminal_reward(&self, r: usize) -> Option<f64> {
        self.terminal.get(r).copied().flatten()
    }

    /// Reward of non-terminal reply `r`.
    #[inline]
    pub fn engagement_reward(&self, r: usize) -> f64 {
        self.engagement.get(r).copied().unwrap_or(0.0)
    }

    /// Reward paid when the user is still there after the last turn, having taken `sa` last.
    #[inline]
    pub(crate) fn limit_reward(&self, sa: usize) -> f64 {
        if self.conversion_at_limit {
            self.conversion.get(sa).copied().unwrap_or(0.0)
        } else {
            0.0
        }
    }

    /// Draws what happens after track `sa` was taken at turn `turn`: the user's reply
    /// (one draw), then whether they stay (a second draw, non-terminal replies only).
    /// The one step of the user model both environments share.
    #[inline]
    pub(crate) fn transition(&self, sa: usize, turn: u32, rng: &mut impl rand::Rng) -> Transition {
        let reply = self.sample_reply(sa, rng.random::<f32>());
        let withheld = self.penalty_sa(sa) as f32;
        if let Some(r) = self.terminal_reward(reply) {
            return Transition::End(r as f32 - withheld);
        }
        let reward = self.engagement_reward(reply) as f32 - withheld;
        if self.stay < 1.0 && rng.random::<f64>() >= self.stay {
            return Transition::End(reward);
        }
        if turn + 1 >= self.max_turns {
            return Transition::End(reward + self.limit_reward(sa) as f32);
        }
        Transition::Next { reply, reward }
    }

    /// Expected return of taking track `a` in (`t`, `last`) and then following values
    /// `v_next` (indexed by last-reply slot at turn `t + 1`).
    pub fn q_value(&self, t: u32, last: u32, a: usize, v_next: &[f64]) -> f64 {
        self.q_with(t, last, a, |r| v_next.get(r + 1).copied().unwrap_or(0.0))
    }

    /// Expected return of taking track `a` in (`t`, `last`), where `next(r)` is the
    /// value of the state the conversation reaches after non-terminal reply `r`.
    pub(crate) fn q_with(&self, t: u32, last: u32, a: usize, next: impl Fn(usize) -> f64) -> f64 {
        let sa = self.sa(t, last, a);
        let probs = self.reply_probs(t, last, a);
        let at_limit = t + 1 >= self.max_turns;
        let mut q = 0.0;
        for (r, &p) in probs.iter().enumerate() {
            if p == 0.0 {
                continue;
            }
            let v = match self.terminal_reward(r) {
                Some(rew) => rew,
                None => {
                    let future = if at_limit {
                        self.limit_reward(sa)
                    } else {
                        next(r)
                    };
                    self.engagement_reward(r) + self.stay * future
                }
            };
            q += p * v;
        }
        q - self.penalty_sa(sa)
    }
}
