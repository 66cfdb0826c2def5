//! PPO and DQN on the PersuasionForGood reference MDP reach 99.5% of its optimum
//! (exact evaluation of the greedy policy) without a forbidden action.

use talktrack_train::sim::reference::p4g_reference_env;
use talktrack_train::train::env::Evaluator;
use talktrack_train::train::{train_dqn, train_ppo, DqnConfig, NoObserver, PpoConfig, RunConfig};

#[test]
fn ppo_reaches_the_reference_optimum() {
    let (env, eval) = p4g_reference_env().unwrap();
    assert!((eval.optimum() - 0.7693).abs() < 1e-3);
    let cfg = PpoConfig {
        run: RunConfig {
            seed: 0,
            total_steps: 1_500_000,
            eval_every: 32_768,
            stop_at_fraction: Some(0.995),
            keep_best: true,
        },
        ..PpoConfig::default()
    };
    let out = train_ppo(&env, Some(&eval), &cfg, &mut NoObserver).unwrap();
    let best = out.curve.best_fraction().unwrap();
    // The returned network is the best evaluated one: its exact value is that fraction.
    let returned = eval.value(&out.greedy()) / eval.optimum();
    assert!(returned >= 0.995, "returned policy at {returned}");
    assert!(
        best >= 0.995,
        "ppo reached {best} of the optimum in {} steps",
        out.env_steps
    );
    assert_eq!(out.violations, 0);
}

#[test]
fn dqn_reaches_the_reference_optimum() {
    let (env, eval) = p4g_reference_env().unwrap();
    let cfg = DqnConfig {
        run: RunConfig {
            seed: 0,
            total_steps: 400_000,
            eval_every: 10_000,
            stop_at_fraction: Some(0.995),
            keep_best: true,
        },
        ..DqnConfig::default()
    };
    let out = train_dqn(&env, Some(&eval), &cfg, &mut NoObserver).unwrap();
    let best = out.curve.best_fraction().unwrap();
    // The returned network is the best evaluated one: its exact value is that fraction.
    let returned = eval.value(&out.greedy()) / eval.optimum();
    assert!(returned >= 0.995, "returned policy at {returned}");
    assert!(
        best >= 0.995,
        "dqn reached {best} of the optimum in {} steps",
        out.env_steps
    );
    assert_eq!(out.violations, 0);
}
