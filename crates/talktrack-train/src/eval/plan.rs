//! Planning on an enumerable [`Mdp`] as a policy another simulator can run: the
//! action values of backward induction (optionally lowered by a per-(state, track)
//! penalty) looked up by observation, and the
//! "one track where allowed, uniform elsewhere" policy of the best-single-track
//! baseline.
//!
//! Both are [`ActionPolicy`]s: they see only the observation and the mask, so a policy
//! planned on the simulator of one part of the log can be evaluated on the simulator
//! of another part (same template, so the same observations).

use std::collections::HashMap;

use crate::sim::Mdp;
use crate::train::env::ActionPolicy;

/// Action values `[state * A + a]` by backward induction under the masks (`None` for
/// a forbidden pair), with `penalty(sa)` subtracted from every pair's immediate value.
pub fn q_table(m: &Mdp, penalty: impl Fn(usize) -> f64) -> Vec<Option<f64>> {
    let (t_max, n_last, n_a) = (m.max_turns, m.n_last(), m.n_actions());
    let mut q = vec![None; t_max as usize * n_last * n_a];
    let mut v_next = vec![0.0; n_last];
    let mut v = vec![0.0; n_last];
    for t in (0..t_max).rev() {
        for l in 0..n_last as u32 {
            let mut best: Option<f64> = None;
            for a in 0..n_a {
                if !m.allowed(t, l, a) {
                    continue;
                }
                let sa = m.state(t, l) * n_a + a;
                let x = m.q_value(t, l, a, &v_next) - penalty(sa);
                if let Some(slot) = q.get_mut(sa) {
                    *slot = Some(x);
                }
                best = Some(best.map_or(x, |b: f64| b.max(x)));
            }
            v[l as usize] = best.unwrap_or(0.0);
        }
        std::mem::swap(&mut v, &mut v_next);
    }
    q
}

/// The observation as a hashable key (exact bits).
fn key(obs: &[f32]) -> Vec<u32> {
    obs.iter().map(|x| x.to_bits()).collect()
}

/// The greedy policy of an action-value table, looked up by observation: the allowed
/// track of highest value; uniform over the allowed tracks for an observation the
/// table does not know or where it values none of them.
#[derive(Clone, Debug)]
pub struct QPolicy {
    states: HashMap<Vec<u32>, usize>,
    q: Vec<Option<f64>>,
    n_actions: usize,
}

impl QPolicy {
    /// The policy of `q` (from [`q_table`] on `m`).
    pub fn new(m: &Mdp, q: Vec<Option<f64>>) -> Self {
        let mut states = HashMap::new();
        let mut obs = vec![0.0f32; m.obs_dim()];
        for t in 0..m.max_turns {
            for l in 0..m.n_last() as u32 {
                m.encode(t, l, &mut obs);
                states.entry(key(&obs)).or_insert(m.state(t, l));
            }
        }
        Self {
            states,
            q,
            n_actions: m.n_actions(),
        }
    }

    /// The value-iteration policy of `m` (no penalty).
    pub fn optimal(m: &Mdp) -> Self {
        Self::new(m, q_table(m, |_| 0.0))
    }
}

/// Uniform over the allowed tracks.
fn uniform(mask: &[bool], out: &mut [f32]) {
    let n = mask.iter().filter(|&&x| x).count().max(1) as f32;
    for (o, &m) in out.iter_mut().zip(mask) {
        *o = if m { 1.0 / n } else { 0.0 };
    }
}

impl ActionPolicy for QPolicy {
    fn probs(&self, obs: &[f32], mask: &[bool], out: &mut [f32]) {
        let best = self.states.get(&key(obs)).and_then(|&s| {
            (0..self.n_actions)
                .filter(|&a| mask.get(a).copied().unwrap_or(false))
                .filter_map(|a| {
                    self.q
                        .get(s * self.n_actions + a)
                        .copied()
                        .flatten()
                        .map(|x| (a, x))
                })
                .max_by(|x, y| x.1.total_cmp(&y.1))
                .map(|(a, _)| a)
        });
        match best {
            Some(a) => {
                out.iter_mut().for_each(|x| *x = 0.0);
                if let Some(x) = out.get_mut(a) {
                    *x = 1.0;
                }
            }
            None => uniform(mask, out),
        }
    }
}

/// Track `0` where allowed, uniform over the allowed tracks elsewhere: the policy the
/// best-single-track baseline evaluates for each track.
#[derive(Clone, Copy, Debug)]
pub struct SingleTrack(pub usize);

impl ActionPolicy for SingleTrack {
    fn probs(&self, obs: &[f32], mask: &[bool], out: &mut [f32]) {
        let _ = obs;
        if mask.get(self.0).copied().unwrap_or(false) {
            out.iter_mut().for_each(|x| *x = 0.0);
            if let Some(x) = out.get_mut(self.0) {
                *x = 1.0;
            }
        } else {
            uniform(mask, out);
        }
    }
}

/// Cells backed by fewer conversations than this are thin: the report lists the
/// optimum's choices that rest on them.
pub const THIN_CONVERSATIONS: f64 = 20.0;

/// Choices below this probability of being reached are not listed.
pub const THIN_MIN_REACH: f64 = 0.01;

/// A choice of the optimal policy that rests on a thin cell.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThinChoice {
    /// Agent turn.
    pub turn: u32,
    /// The user's last reply (`start` before the first).
    pub last_reply: String,
    /// The track the optimum takes there.
    pub track: String,
    /// Conversations behind the cell it is simulated from.
    pub conversations: f64,
    /// Probability that an episode of the optimal policy reaches the state.
    pub reach: f64,
}

/// The choices of the greedy policy `greedy` (one action per state, as
/// [`crate::eval::ExactEvaluator`] solves it) that rest on cells backed by fewer
/// than [`THIN_CONVERSATIONS`] conversations in states it reaches with probability
/// at least [`THIN_MIN_REACH`], most reached first.
pub fn thin_choices(m: &Mdp, greedy: &[Option<usize>]) -> Vec<ThinChoice> {
    let n_last = m.n_last();
    let mut reach = vec![0.0; m.max_turns as usize * n_last];
    if let Some(r) = reach.first_mut() {
        *r = 1.0;
    }
    let mut out = Vec::new();
    for t in 0..m.max_turns {
        for l in 0..n_last as u32 {
            let s = m.state(t, l);
            let d = reach.get(s).copied().unwrap_or(0.0);
            let Some(a) = greedy.get(s).copied().flatten() else {
                continue;
            };
            if d <= 0.0 {
                continue;
            }
            let n = m.support(t, l, a);
            if d >= THIN_MIN_REACH && n < THIN_CONVERSATIONS {
                out.push(ThinChoice {
                    turn: t,
                    last_reply: if l == 0 {
                        crate::aggregate::START.to_owned()
                    } else {
                        m.replies().get(l as usize - 1).cloned().unwrap_or_default()
                    },
                    track: m.tracks().get(a).cloned().unwrap_or_default(),
                    conversations: n,
                    reach: d,
                });
            }
            if t + 1 >= m.max_turns {
                continue;
            }
            for (r, &p) in m.reply_probs(t, l, a).iter().enumerate() {
                if p > 0.0 && m.terminal_reward(r).is_none() {
                    if let Some(x) = reach.get_mut(m.state(t + 1, r as u32 + 1)) {
                        *x += d * p * m.stay;
                    }
                }
            }
        }
    }
    out.sort_by(|x, y| y.reach.total_cmp(&x.reach));
    out
}
