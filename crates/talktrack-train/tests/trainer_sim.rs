//! The trainer's simulator as a masked environment, and evaluation: the MDP the
//! aggregates and rules make, simulated values against exact evaluation, forbidden
//! actions, and rollouts. The data it is built from is specified in
//! `trainer_data.rs`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use talktrack::tooling::TurnView;
use talktrack_train::eval::{simulate, ExactEvaluator, Tabular};
use talktrack_train::sim::reference::{p4g_aggregates, p4g_reference_env, p4g_reference_setup};
use talktrack_train::sim::{default_encoder, AllowAll, Mdp, ReplyMode, SimConfig, SimEnv};
use talktrack_train::train::env::{ActionPolicy, Evaluator, MaskedEnv};

#[test]
fn rules_that_forbid_everything_somewhere_are_reported_by_state() {
    let setup = p4g_reference_setup().unwrap();
    let agg = p4g_aggregates(&setup, setup.aggregate.clone()).unwrap();
    let objection = agg.replies.iter().position(|r| r == "objection").unwrap() as u32;
    let rules = move |v: &TurnView<'_>, allowed: &mut [bool]| {
        if v.turn == 3 && v.last_reply == Some(objection) {
            allowed.iter_mut().for_each(|a| *a = false);
        }
    };
    let mdp = Mdp::build(&agg, &setup.sim, &rules, &default_encoder(&agg).unwrap()).unwrap();
    insta::assert_snapshot!(mdp.warnings().join("\n"), @"no track is allowed at turn 3 after `objection` (the rules forbid every track with data): an episode reaching this state ends there");
}

struct Uniform;
impl ActionPolicy for Uniform {
    fn probs(&self, _obs: &[f32], mask: &[bool], out: &mut [f32]) {
        let n = mask.iter().filter(|&&m| m).count() as f32;
        for (o, &m) in out.iter_mut().zip(mask) {
            *o = if m { 1.0 / n } else { 0.0 };
        }
    }
}

struct Always(usize);
impl ActionPolicy for Always {
    fn probs(&self, _obs: &[f32], _mask: &[bool], out: &mut [f32]) {
        out[self.0] = 1.0;
    }
}

#[test]
fn simulated_value_agrees_with_exact_evaluation() {
    let (mut env, ev) = p4g_reference_env().unwrap();
    let exact = ev.value(&Uniform);
    let est = simulate(&mut env, &Uniform, 20_000, 1);
    assert!(
        (est.mean - exact).abs() <= est.half_width,
        "{est:?} vs {exact}"
    );
    assert_eq!(est.violations, 0);
    assert!(ev.optimum() > exact);
}

#[test]
fn forbidden_actions_are_counted_and_never_pay() {
    let (mut env, ev) = p4g_reference_env().unwrap();
    let confirm = env
        .mdp()
        .tracks()
        .iter()
        .position(|t| t == "ask-confirm-donation")
        .unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let mut obs = vec![0.0; env.obs_dim()];
    let mut mask = vec![false; env.n_actions()];
    env.reset(&mut rng, &mut obs, &mut mask);
    assert!(!mask[confirm]);
    let step = env.step(confirm, &mut rng, &mut obs, &mut mask);
    assert!(step.done);
    assert_eq!(step.reward, 0.0);
    assert_eq!(env.violations(), 1);
    assert_eq!(env.boxed_clone().violations(), 0);
    let e = ev.evaluate(&Always(confirm));
    assert_eq!(e.value, 0.0);
    assert_eq!(e.violating_states, 10 * 11);
}

#[test]
fn random_rollouts_see_one_hot_observations_and_valid_masks() {
    let (mut env, _) = p4g_reference_env().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let mut obs = vec![0.0; env.obs_dim()];
    let mut mask = vec![false; env.n_actions()];
    let mut episodes = 0;
    let mut total = 0.0;
    while episodes < 2000 {
        env.reset(&mut rng, &mut obs, &mut mask);
        loop {
            assert_eq!(obs.iter().sum::<f32>(), 2.0);
            let allowed: Vec<usize> = (0..mask.len()).filter(|&a| mask[a]).collect();
            let a = allowed[rng.random_range(0..allowed.len())];
            let s = env.step(a, &mut rng, &mut obs, &mut mask);
            total += s.reward;
            if s.done {
                break;
            }
        }
        episodes += 1;
    }
    assert_eq!(env.violations(), 0);
    assert!(total > 0.0);
}

#[test]
fn most_frequent_replies_make_the_mdp_deterministic() {
    let setup = p4g_reference_setup().unwrap();
    let agg = p4g_aggregates(&setup, setup.aggregate.clone()).unwrap();
    let cfg = SimConfig {
        reply_mode: ReplyMode::MostFrequent,
        ..setup.sim.clone()
    };
    let mdp = Arc::new(Mdp::build(&agg, &cfg, &AllowAll, &default_encoder(&agg).unwrap()).unwrap());
    for a in 0..mdp.n_actions() {
        let p = mdp.reply_probs(0, 0, a);
        assert!(p.iter().all(|&x| x == 0.0 || x == 1.0));
    }
    let ev = ExactEvaluator::new(Arc::clone(&mdp));
    let (v, greedy) = ev.solve();
    assert!(v > 0.0 && v <= 1.0);
    let mut env = SimEnv::new(mdp);
    let policy = Greedy(greedy, env.mdp().max_turns as usize);
    let est = simulate(&mut env, &policy, 2000, 5);
    assert!(
        (est.mean - v).abs() <= est.half_width.max(1e-9) + 1e-6,
        "{est:?} vs {v}"
    );
}

/// Reads the state back from the one-hot observation.
struct Greedy(Vec<Option<usize>>, usize);
impl ActionPolicy for Greedy {
    fn probs(&self, obs: &[f32], _mask: &[bool], out: &mut [f32]) {
        let t = obs[..self.1].iter().position(|&x| x == 1.0).unwrap();
        let l = obs[self.1..].iter().position(|&x| x == 1.0).unwrap();
        let n_last = obs.len() - self.1;
        if let Some(a) = self.0[t * n_last + l] {
            out[a] = 1.0;
        }
    }
}
