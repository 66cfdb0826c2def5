//! Synthetic logs drawn from a known true MDP, for the tests that check the
//! trainer's held-out figures, shrinkage and pessimism against the truth.
//!
//! The true MDP keys the user's reply on (stage of the turn, last reply, track), the
//! finest state key of the aggregates, so the simulator family can represent it; it is
//! written as exact aggregates (one level, probabilities as counts) and evaluated by
//! the trainer's own exact evaluator. Logged conversations follow a uniformly random
//! behaviour policy (propensity 1 / tracks) and the same user model: a terminal reply
//! ends the conversation, otherwise the user stays with probability `stay`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use talktrack_train::aggregate::{AggregateConfig, Aggregates, Cell, KeyPart, Level, START};
use talktrack_train::config::SimSetup;
use talktrack_train::eval::ExactEvaluator;
use talktrack_train::eval::Tabular;
use talktrack_train::sim::{default_encoder, AllowAll, Mdp, SimConfig};
use talktrack_train::train::env::ActionPolicy;

/// Reply categories: two terminal, the rest not.
pub const REPLIES: [&str; 5] = ["agree/commit", "refuse", "question", "objection", "neutral"];

/// A true MDP and what the log of it looks like.
pub struct TrueMdp {
    pub tracks: Vec<String>,
    pub max_turns: u32,
    pub stage_bounds: Vec<u32>,
    pub stay: f64,
    /// `[(stage * n_last + last) * A + a]`: reply probabilities.
    pub probs: Vec<Vec<f64>>,
    pub truth: Arc<Mdp>,
}

fn softmax(xs: &[f64]) -> Vec<f64> {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = xs.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box-Muller.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl TrueMdp {
    /// A random true MDP: `n_tracks` tracks whose effect on the reply logits is a track
    /// effect (sd `track_sd`) plus a cell effect (sd `cell_sd`) per (stage, last reply).
    pub fn random(seed: u64, n_tracks: usize, track_sd: f64, cell_sd: f64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let max_turns = 4;
        let stage_bounds = vec![2];
        let n_stages = stage_bounds.len() + 1;
        let n_last = REPLIES.len() + 1;
        let track_effect: Vec<Vec<f64>> = (0..n_tracks)
            .map(|_| {
                (0..REPLIES.len())
                    .map(|_| track_sd * normal(&mut rng))
                    .collect()
            })
            .collect();
        // Base logits: conversions are rarer than refusals and replies that go on.
        let base = [-1.6, -1.2, 0.3, 0.0, 0.2];
        let mut probs = Vec::new();
        for _stage in 0..n_stages {
            for _last in 0..n_last {
                for te in &track_effect {
                    let logits: Vec<f64> = (0..REPLIES.len())
                        .map(|r| base[r] + te[r] + cell_sd * normal(&mut rng))
                        .collect();
                    probs.push(softmax(&logits));
                }
            }
        }
        let tracks: Vec<String> = (0..n_tracks).map(|a| format!("t{a}")).collect();
        let agg = truth_aggregates(&tracks, max_turns, &stage_bounds, &probs);
        let sim = SimConfig {
            stay: 0.85,
            ..SimConfig::default()
        };
        let truth =
            Arc::new(Mdp::build(&agg, &sim, &AllowAll, &default_encoder(&agg).unwrap()).unwrap());
        Self {
            tracks,
            max_turns,
            stage_bounds,
            stay: sim.stay,
            probs,
            truth,
        }
    }

    /// The simulator settings of the truth.
    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            stay: self.stay,
            ..SimConfig::default()
        }
    }

    /// The truth as exact aggregates (finest level only, every cell published).
    pub fn as_aggregates(&self) -> Aggregates {
        truth_aggregates(
            &self.tracks,
            self.max_turns,
            &self.stage_bounds,
            &self.probs,
        )
    }

    /// The true value of `policy` (exact).
    pub fn value(&self, policy: &dyn ActionPolicy) -> f64 {
        ExactEvaluator::new(Arc::clone(&self.truth))
            .evaluate(policy)
            .value
    }

    /// The true optimum.
    pub fn optimum(&self) -> f64 {
        ExactEvaluator::new(Arc::clone(&self.truth)).solve().0
    }

    fn stage(&self, t: u32) -> usize {
        self.stage_bounds.iter().filter(|&&b| t >= b).count()
    }

    /// `n` logged conversations (JSONL) under the uniformly random behaviour policy.
    pub fn log(&self, n: usize, seed: u64) -> String {
        let mut rng = StdRng::seed_from_u64(seed);
        let n_last = REPLIES.len() + 1;
        let n_a = self.tracks.len();
        let mut out = String::new();
        for i in 0..n {
            let mut turns = Vec::new();
            let mut last = 0usize;
            let mut converted = false;
            for t in 0..self.max_turns {
                let a = rng.random_range(0..n_a);
                let p = &self.probs[(self.stage(t) * n_last + last) * n_a + a];
                let u: f64 = rng.random();
                let mut acc = 0.0;
                let mut r = p.len() - 1;
                for (j, x) in p.iter().enumerate() {
                    acc += x;
                    if u < acc {
                        r = j;
                        break;
                    }
                }
                turns.push(serde_json::json!({"track": self.tracks[a], "reply": REPLIES[r]}));
                if r == 0 {
                    converted = true;
                    break;
                }
                if r == 1 || rng.random::<f64>() >= self.stay {
                    break;
                }
                last = r + 1;
            }
            let line = serde_json::json!({
                "id": format!("conv-{seed}-{i}"),
                "turns": turns,
                "outcome": {"converted": converted, "value": if converted { 1.0 } else { 0.0 }},
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        out
    }

    /// Writes a template (this catalog, no rules), the log of `n` conversations and a
    /// config into `dir`; the loaded setup (PPO only, small budgets).
    pub fn setup(&self, dir: &Path, n: usize, seed: u64) -> SimSetup {
        let tpl = dir.join("tpl");
        std::fs::create_dir_all(&tpl).unwrap();
        let mut manifest = format!(
            "format = 1\nname = \"synthetic\"\nversion = \"0.1.0\"\ndescription = \"synthetic\"\nmax_turns = {}\nfallback = \"t0\"\nreplies = [{}]\nrules = []\n\n[[features]]\nkind = \"turn_one_hot\"\n\n[[features]]\nkind = \"last_reply_one_hot\"\n",
            self.max_turns,
            REPLIES.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ")
        );
        for t in &self.tracks {
            manifest.push_str(&format!("\n[[tracks]]\nid = \"{t}\"\ntext = \"{t}\"\n"));
        }
        std::fs::write(tpl.join("bundle.toml"), manifest).unwrap();
        std::fs::write(dir.join("log.jsonl"), self.log(n, seed)).unwrap();
        let config = format!(
            "[data]\nlog = \"log.jsonl\"\ntemplate = \"tpl\"\n\n[aggregate]\nk = 5\nmax_turns = {}\nstage_bounds = [{}]\n\n[sim]\nstay = {}\nterminal = {{ \"agree/commit\" = 1.0, \"refuse\" = 0.0 }}\n\n[job]\nalgorithms = [\"ppo\"]\nexport = \"ppo\"\n\n[ppo.run]\ntotal_steps = 4096\neval_every = 2048\n\n[cv]\nfolds = 3\nsteps = 4096\n",
            self.max_turns,
            self.stage_bounds.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", "),
            self.stay
        );
        let path = dir.join("config.toml");
        std::fs::write(&path, config).unwrap();
        SimSetup::load(&path).unwrap()
    }
}

/// Exact aggregates of a true reply model: one level keyed on (stage, last reply),
/// every cell published, probabilities as counts.
fn truth_aggregates(
    tracks: &[String],
    max_turns: u32,
    stage_bounds: &[u32],
    probs: &[Vec<f64>],
) -> Aggregates {
    let n_last = REPLIES.len() + 1;
    let n_a = tracks.len();
    let mut cells = Vec::new();
    for stage in 0..=stage_bounds.len() {
        for last in 0..n_last {
            for a in 0..n_a {
                let p = &probs[(stage * n_last + last) * n_a + a];
                let mut best = 0;
                for r in 0..p.len() {
                    if p[r] > p[best] {
                        best = r;
                    }
                }
                cells.push(Cell {
                    turn: None,
                    stage: Some(stage as u32),
                    last_reply: Some(if last == 0 {
                        START.to_string()
                    } else {
                        REPLIES[last - 1].to_string()
                    }),
                    track: tracks[a].clone(),
                    conversations: 1e6,
                    next: REPLIES
                        .iter()
                        .zip(p)
                        .map(|(r, x)| (r.to_string(), x * 1e6))
                        .collect(),
                    most_frequent: REPLIES[best].to_string(),
                    conversion_rate: p[0],
                    mean_value: p[0],
                });
            }
        }
    }
    let key = vec![KeyPart::Stage, KeyPart::LastReply];
    Aggregates {
        format: 1,
        tracks: tracks.to_vec(),
        replies: REPLIES.iter().map(|r| r.to_string()).collect(),
        config: AggregateConfig {
            k: 1,
            max_turns,
            stage_bounds: stage_bounds.to_vec(),
            levels: vec![key.clone()],
            ..AggregateConfig::default()
        },
        conversations: 1e6,
        levels: vec![Level { key, cells }],
        behaviour: Vec::new(),
        context_marginals: BTreeMap::new(),
    }
}
