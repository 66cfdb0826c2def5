//! The key check of the trainer's data side: the PersuasionForGood reference MDP built
//! by talktrack from the shipped log and config has the figures the independent Python
//! reference (`crates/talktrack-train/reference/p4g_mdp.py`) computes.

use talktrack_train::aggregate::AggregateConfig;
use talktrack_train::eval::{baselines, ExactEvaluator};
use talktrack_train::sim::reference::{p4g_aggregates, p4g_reference_mdp, p4g_reference_setup};
use talktrack_train::sim::{encoder_for, Mdp, P4gReferenceRules};

fn close(name: &str, got: f64, want: f64) {
    println!("{name}: {got:.4} (reference {want})");
    assert!(
        (got - want).abs() <= 0.001,
        "{name}: got {got}, reference {want}"
    );
}

#[test]
fn reference_mdp_matches_the_python_figures() {
    let setup = p4g_reference_setup().unwrap();
    let agg = p4g_aggregates(&setup, setup.aggregate.clone()).unwrap();
    // Masks come from `rules/persuasion/persuasion.rules`, compiled and evaluated by the runtime's engine.
    let mdp = p4g_reference_mdp().unwrap();
    assert!(mdp.warnings().is_empty(), "{:?}", mdp.warnings());
    assert_eq!(mdp.obs_dim(), 21);
    assert_eq!(mdp.n_actions(), 16);
    let ev = ExactEvaluator::new(mdp);

    let thresholded = baselines(&ev, &agg);
    let unthresholded_cfg = AggregateConfig {
        k: 1,
        ..setup.aggregate.clone()
    };
    let raw = p4g_aggregates(&setup, unthresholded_cfg).unwrap();
    let b = baselines(&ev, &raw);
    close("optimum", b.optimum, 0.7693);
    close("best single track", b.best_single.1, 0.6884);
    close("uniform random", b.uniform, 0.4534);
    close("behaviour (unthresholded)", b.behaviour, 0.3018);
    println!("best single track: {}", b.best_single.0);
    println!("behaviour (k = 5): {:.4}", thresholded.behaviour);
    assert_eq!(thresholded.optimum, b.optimum);
}

/// The rules written in the DSL and evaluated by the engine mask exactly what the
/// reference's hand-written rules mask, in every state.
#[test]
fn dsl_rules_give_the_reference_masks() {
    let setup = p4g_reference_setup().unwrap();
    let agg = p4g_aggregates(&setup, setup.aggregate.clone()).unwrap();
    let by_hand = P4gReferenceRules::new(&agg.tracks, &agg.replies);
    let enc = encoder_for(&agg, &setup.features).unwrap();
    let hand = Mdp::build(&agg, &setup.sim, &by_hand, &enc).unwrap();
    let dsl = p4g_reference_mdp().unwrap();
    let mut compared = 0;
    for t in 0..10u32 {
        for last in 0..hand.n_last() as u32 {
            for a in 0..hand.n_actions() {
                assert_eq!(
                    hand.allowed(t, last, a),
                    dsl.allowed(t, last, a),
                    "turn {t}, last {last}, track {}",
                    agg.tracks[a]
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 10 * 11 * 16);
}
