//! Shrinkage of thin cells toward their back-off parents, against synthetic logs drawn
//! from known true MDPs: planning on the shrunk estimates does better on the truth
//! than planning on the raw ones.

mod synthetic;

use std::sync::Arc;

use synthetic::TrueMdp;
use talktrack_train::aggregate::aggregate_log;
use talktrack_train::aggregate::shrink::{shrink, ShrinkConfig};
use talktrack_train::eval::plan::QPolicy;
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
