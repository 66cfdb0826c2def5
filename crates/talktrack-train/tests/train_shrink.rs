//! Shrinkage of thin cells toward their back-off parents, against synthetic logs drawn
//! from known true MDPs: planning on the shrunk estimates does better on the truth
//! than planning on the raw ones.

mod synthetic;

use std::sync::Arc;

use synthetic::TrueMdp;
use talktrack_train::aggregate::aggregate_log;
use talktrack_train::aggregate::shrink::{shrink, ShrinkConfig};
use talktrack_train::eval::plan::QPolicy;
use talktrack_train::eval::Tabular;
use talktrack_train::log::ReadOptions;
use talktrack_train::sim::{default_encoder, AllowAll, Mdp};

#[test]
fn planning_on_shrunk_estimates_beats_raw_estimates_on_the_true_mdp() {
    let (mut raw_sum, mut shrunk_sum, mut opt_sum, mut wins, mut n) = (0.0, 0.0, 0.0, 0, 0);
    for seed in 0..12 {
        let truth = TrueMdp::random(200 + seed, 6, 0.3, 0.5);
        let dir = tempfile::tempdir().unwrap();
        let setup = truth.setup(dir.path(), 250, seed);
        let (agg, _) = aggregate_log(
            setup.open_log().unwrap(),
            &setup.vocab(),
            setup.aggregate.clone(),
            ReadOptions::default(),
        )
        .unwrap();
        let (pooled, strengths) = shrink(&agg, &ShrinkConfig::default());
        assert!(strengths[0].is_some() && strengths.last().unwrap().is_none());
        let plan = |a: &talktrack_train::aggregate::Aggregates| {
            let m = Arc::new(
                Mdp::build(a, &setup.sim, &AllowAll, &default_encoder(a).unwrap()).unwrap(),
            );
            truth.value(&QPolicy::optimal(&m))
        };
        let (raw, shrunk) = (plan(&agg), plan(&pooled));
        raw_sum += raw;
        shrunk_sum += shrunk;
        opt_sum += truth.optimum();
        wins += usize::from(shrunk >= raw);
        n += 1;
    }
    let n = n as f64;
    eprintln!(
        "true value: raw {:.4}, shrunk {:.4}, optimum {:.4}; shrunk ≥ raw in {wins} of {n}",
        raw_sum / n,
        shrunk_sum / n,
        opt_sum / n
    );
    assert!(
        (shrunk_sum - raw_sum) / n > 0.005,
        "shrunk {shrunk_sum} raw {raw_sum}"
    );
    assert!(2.0 * wins as f64 > n, "{wins} of {n}");
}

/// The penalty is `strength / sqrt(conversations)` per step, in the planner's values
/// and in the rewards the learners see.
#[test]
fn pessimism_lowers_each_pair_by_its_uncertainty_in_values_and_rewards() {
    let truth = TrueMdp::random(3, 3, 0.5, 0.3);
    let dir = tempfile::tempdir().unwrap();
    let setup = truth.setup(dir.path(), 200, 3);
    let (agg, _) = aggregate_log(
        setup.open_log().unwrap(),
        &setup.vocab(),
        setup.aggregate.clone(),
        ReadOptions::default(),
    )
    .unwrap();
    let build = |beta: f64| {
        let cfg = talktrack_train::sim::SimConfig {
            pessimism: beta,
            ..setup.sim.clone()
        };
        Mdp::build(&agg, &cfg, &AllowAll, &default_encoder(&agg).unwrap()).unwrap()
    };
    let (raw, lcb) = (build(0.0), build(0.2));
    let v_next = vec![0.0; raw.n_last()];
    let mut checked = 0;
    for t in 0..raw.max_turns {
        for l in 0..raw.n_last() as u32 {
            for a in 0..raw.n_actions() {
                if !raw.allowed(t, l, a) {
                    continue;
                }
                let n = raw.support(t, l, a);
                assert!(n >= 5.0, "published cells have k = 5 conversations");
                let want = 0.2 / n.sqrt();
                assert!((lcb.penalty(t, l, a) - want).abs() < 1e-12);
                let d = raw.q_value(t, l, a, &v_next) - lcb.q_value(t, l, a, &v_next);
                assert!((d - want).abs() < 1e-12, "{d} {want}");
                checked += 1;
            }
        }
    }
    assert!(checked > 10);
    assert!(build(0.0).penalty(0, 0, 0) == 0.0);
    let bad = talktrack_train::sim::SimConfig {
        pessimism: -1.0,
        ..setup.sim.clone()
    };
    assert!(Mdp::build(&agg, &bad, &AllowAll, &default_encoder(&agg).unwrap()).is_err());

    // The learners' rewards: the mean return of the uniform policy under the penalty
    // falls by the expected penalty it pays.
    use talktrack_train::eval::ExactEvaluator;
    let ev_raw = ExactEvaluator::new(Arc::new(raw));
    let lcb = Arc::new(lcb);
    let ev_lcb = ExactEvaluator::new(Arc::clone(&lcb));
    let u_raw = ev_raw.table_value(&ev_raw.uniform_table());
    let u_lcb = ev_lcb.table_value(&ev_lcb.uniform_table());
    assert!(u_lcb < u_raw - 0.01, "{u_lcb} {u_raw}");
    let mut env = talktrack_train::sim::SimEnv::new(Arc::clone(&lcb));
    let est = talktrack_train::eval::simulate(
        &mut env,
        &talktrack_train::sim::live::UniformPolicy,
        20_000,
        5,
    );
    assert!(
        (est.mean - u_lcb).abs() < 3.0 * est.half_width.max(1e-3),
        "{est:?} vs {u_lcb}"
    );
}

#[test]
fn shrinkage_and_pessimism_beat_raw_estimates_and_the_best_single_track_on_the_truth() {
    let (mut raw_sum, mut best_sum, mut single_sum, mut n) = (0.0, 0.0, 0.0, 0.0);
    for seed in 0..12 {
        let truth = TrueMdp::random(300 + seed, 6, 0.3, 0.5);
        let dir = tempfile::tempdir().unwrap();
        let setup = truth.setup(dir.path(), 250, seed);
        let (agg, _) = aggregate_log(
            setup.open_log().unwrap(),
            &setup.vocab(),
            setup.aggregate.clone(),
            ReadOptions::default(),
        )
        .unwrap();
        let (pooled, _) = shrink(&agg, &ShrinkConfig::default());
        let plan = |a: &talktrack_train::aggregate::Aggregates, beta: f64| {
            let cfg = talktrack_train::sim::SimConfig {
                pessimism: beta,
                ..setup.sim.clone()
            };
            let m = Arc::new(Mdp::build(a, &cfg, &AllowAll, &default_encoder(a).unwrap()).unwrap());
            truth.value(&QPolicy::optimal(&m))
        };
        raw_sum += plan(&agg, 0.0);
        best_sum += plan(&pooled, 0.1);
        // The best single track chosen on the data, valued on the truth.
        let m = Arc::new(
            Mdp::build(&agg, &setup.sim, &AllowAll, &default_encoder(&agg).unwrap()).unwrap(),
        );
        let b =
            talktrack_train::eval::baselines(&talktrack_train::eval::ExactEvaluator::new(m), &agg);
        let a = truth
            .tracks
            .iter()
            .position(|t| *t == b.best_single.0)
            .unwrap();
        single_sum += truth.value(&talktrack_train::eval::plan::SingleTrack(a));
        n += 1.0;
    }
    eprintln!(
        "true value: raw VI {:.4}, shrunk + pessimism VI {:.4}, best single track {:.4}",
        raw_sum / n,
        best_sum / n,
        single_sum / n
    );
    assert!(best_sum > raw_sum && best_sum > single_sum);
}

/// The report's list of thin choices: the optimum's choices, in states it reaches,
/// simulated from cells of few conversations; none when every cell is well backed.
#[test]
fn thin_choices_of_the_optimum_are_listed_and_well_backed_ones_are_not() {
    use talktrack_train::eval::plan::{thin_choices, THIN_CONVERSATIONS};
    use talktrack_train::eval::ExactEvaluator;
    let truth = TrueMdp::random(4, 3, 0.5, 0.3);
    let dir = tempfile::tempdir().unwrap();
    let setup = truth.setup(dir.path(), 60, 4);
    let (agg, _) = aggregate_log(
        setup.open_log().unwrap(),
        &setup.vocab(),
        setup.aggregate.clone(),
        ReadOptions::default(),
    )
    .unwrap();
    let m =
        Arc::new(Mdp::build(&agg, &setup.sim, &AllowAll, &default_encoder(&agg).unwrap()).unwrap());
    let (_, greedy) = ExactEvaluator::new(Arc::clone(&m)).solve();
    let thin = thin_choices(&m, &greedy);
    assert!(!thin.is_empty());
    for c in &thin {
        assert!(c.conversations < THIN_CONVERSATIONS && c.reach >= 0.01 && c.reach <= 1.0);
        let l = agg.last_slot(&c.last_reply).unwrap();
        let a = greedy[m.state(c.turn, l)].unwrap();
        assert_eq!(m.tracks()[a], c.track);
        assert_eq!(m.support(c.turn, l, a), c.conversations);
    }
    assert!(thin.windows(2).all(|w| w[0].reach >= w[1].reach));
    // The start state is reached by every episode.
    let a0 = greedy[0].unwrap();
    if m.support(0, 0, a0) < THIN_CONVERSATIONS {
        assert_eq!(thin[0].reach, 1.0);
        assert_eq!(thin[0].turn, 0);
    }

    let truth_mdp = &truth.truth;
    let (_, g) = ExactEvaluator::new(Arc::clone(truth_mdp)).solve();
    assert!(thin_choices(truth_mdp, &g).is_empty());
}
