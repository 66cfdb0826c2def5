//! Cross-validation by conversation, against synthetic logs drawn from a known true
//! MDP: the folds partition the conversations, the held-out value of a policy tracks
//! its true value where the in-sample value is optimistic, and the job reports (or
//! refuses, saying why) the cross-validation.

mod synthetic;

use std::sync::Arc;

use synthetic::TrueMdp;
use talktrack_train::aggregate::folds::{aggregate_folds, Folds};
use talktrack_train::config::{SelectionRule, SimSetup};
use talktrack_train::eval::plan::QPolicy;
use talktrack_train::eval::ExactEvaluator;
use talktrack_train::eval::Tabular;
use talktrack_train::job::{cross_validate, run, ChosenBy, Hooks, JobError};
use talktrack_train::log::ReadOptions;
use talktrack_train::sim::{default_encoder, AllowAll, Mdp};
use talktrack_train::train::{NoObserver, TrainObserver};

fn hooks_run<T>(f: impl FnOnce(&mut Hooks<'_>) -> T) -> T {
    let mut stage = |_: &str| {};
    let mut observer = |_: &str, _: u64| -> Box<dyn TrainObserver> { Box::new(NoObserver) };
    f(&mut Hooks {
        stage: &mut stage,
        observer: &mut observer,
    })
}

fn sim_of(setup: &SimSetup, agg: &talktrack_train::aggregate::Aggregates) -> Arc<Mdp> {
    Arc::new(Mdp::build(agg, &setup.sim, &AllowAll, &default_encoder(agg).unwrap()).unwrap())
}

#[test]
fn folds_partition_the_conversations_by_id() {
    let truth = TrueMdp::random(1, 3, 0.5, 0.3);
    let dir = tempfile::tempdir().unwrap();
    let setup = truth.setup(dir.path(), 200, 7);
    let folds = Folds { k: 4, seed: 11 };
    let (parts, stats) = aggregate_folds(
        setup.open_log().unwrap(),
        &setup.vocab(),
        setup.aggregate.clone(),
        ReadOptions::default(),
        folds,
    )
    .unwrap();
    assert_eq!(stats.conversations, 200);
    assert_eq!(parts.len(), 4);
    let parts: Vec<_> = parts.into_iter().map(Result::unwrap).collect();
    let held: f64 = parts.iter().map(|p| p.held.conversations).sum();
    assert_eq!(held, 200.0);
    for p in &parts {
        assert_eq!(p.train.conversations + p.held.conversations, 200.0);
        assert!(p.held.conversations > 20.0, "{}", p.held.conversations);
    }
    // The fold of a conversation depends on its id and the seed only.
    assert_eq!(folds.fold_of("conv-7-3"), folds.fold_of("conv-7-3"));
    let moved = (0..200)
        .filter(|i| {
            let id = format!("conv-7-{i}");
            folds.fold_of(&id) != Folds { k: 4, seed: 12 }.fold_of(&id)
        })
        .count();
    assert!(
        moved > 100,
        "another seed reshuffles the folds ({moved} moved)"
    );
    // Fewer than two folds is a configuration error.
    assert!(aggregate_folds(
        setup.open_log().unwrap(),
        &setup.vocab(),
        setup.aggregate.clone(),
        ReadOptions::default(),
        Folds { k: 1, seed: 0 },
    )
    .is_err());
}

/// Over several true MDPs and their logs, the value-iteration policy of each fold's
/// training part: its in-sample value (the training simulator's optimum) overstates
/// its true value, its value on the held-out simulator does not, on average.
#[test]
fn held_out_value_tracks_the_true_value_where_the_in_sample_value_is_optimistic() {
    let (mut in_sample, mut held, mut truth_sum, mut n) = (0.0, 0.0, 0.0, 0.0);
    let mut abs_err_held = 0.0;
    for seed in 0..6 {
        let truth = TrueMdp::random(100 + seed, 4, 0.4, 0.6);
        let dir = tempfile::tempdir().unwrap();
        let setup = truth.setup(dir.path(), 300, seed);
        let (parts, _) = aggregate_folds(
            setup.open_log().unwrap(),
            &setup.vocab(),
            setup.aggregate.clone(),
            ReadOptions::default(),
            Folds { k: 5, seed: 3 },
        )
        .unwrap();
        for p in parts {
            let p = p.unwrap();
            let train = sim_of(&setup, &p.train);
            let policy = QPolicy::optimal(&train);
            let v_in = ExactEvaluator::new(Arc::clone(&train)).solve().0;
            let v_held = ExactEvaluator::new(sim_of(&setup, &p.held))
                .evaluate(&policy)
                .value;
            let v_true = truth.value(&policy);
            in_sample += v_in;
            held += v_held;
            truth_sum += v_true;
            abs_err_held += (v_held - v_true).abs();
            n += 1.0;
        }
    }
    let (in_sample, held, truth_mean) = (in_sample / n, held / n, truth_sum / n);
    eprintln!(
        "in-sample {in_sample:.4} held-out {held:.4} true {truth_mean:.4} mean abs err {:.4}",
        abs_err_held / n
    );
    assert!(
        in_sample - truth_mean > 0.02,
        "in-sample {in_sample:.4} should overstate the truth {truth_mean:.4}"
    );
    assert!(
        (held - truth_mean).abs() < 0.5 * (in_sample - truth_mean),
        "held-out {held:.4} should be closer to the truth {truth_mean:.4} than in-sample {in_sample:.4}"
    );
    assert!(
        abs_err_held / n < 0.1,
        "mean |held − true| {:.4}",
        abs_err_held / n
    );
}

#[test]
fn the_cv_command_reports_every_fold() {
    let truth = TrueMdp::random(5, 3, 0.6, 0.3);
    let dir = tempfile::tempdir().unwrap();
    let setup = truth.setup(dir.path(), 240, 1);
    let cv = hooks_run(|h| cross_validate(&setup, h)).unwrap();
    assert_eq!(cv.folds, 3);
    assert_eq!(cv.results.len(), 3, "{:?}", cv.skipped);
    assert_eq!(
        cv.results.iter().map(|f| f.held_conversations).sum::<u64>(),
        240
    );
    for f in &cv.results {
        assert_eq!(f.train_conversations + f.held_conversations, 240);
        let o = f.optimum_held.unwrap();
        // Nothing beats the held-out simulator's own optimum.
        for v in [
            f.value_held,
            f.uniform_held,
            f.best_single_held,
            f.vi_raw_held.unwrap(),
        ] {
            assert!(v <= o + 1e-9, "{v} > optimum {o}");
        }
        let norm = f.normalised().unwrap();
        assert!((norm - (f.value_held - f.uniform_held) / (o - f.uniform_held)).abs() < 1e-12);
        assert!(f.held_pairs > 0 && f.held_backed_off <= f.held_pairs);
    }
    let md = cv.to_markdown();
    assert!(md.contains("| mean ± sd |"), "{md}");
    assert!(md.contains("3 folds by conversation id"), "{md}");
}

#[test]
fn cross_validation_is_refused_from_an_aggregate_file_and_under_noise() {
    let truth = TrueMdp::random(5, 3, 0.6, 0.3);
    let dir = tempfile::tempdir().unwrap();
    let setup = truth.setup(dir.path(), 120, 1);

    let mut noisy = setup.clone();
    noisy.aggregate.epsilon = Some(1.0);
    let err = hooks_run(|h| cross_validate(&noisy, h)).unwrap_err();
    assert!(matches!(err, JobError::CrossValidation(_)));
    let msg = err.to_string();
    assert!(
        msg.contains("4 · epsilon") && msg.contains("--no-cv"),
        "{msg}"
    );

    let agg = setup.aggregate_file(ReadOptions::default()).unwrap();
    let file = dir.path().join("agg.json");
    std::fs::write(&file, agg.to_json()).unwrap();
    let mut from_file = setup.clone();
    from_file.data.aggregates = Some(file);
    let err = hooks_run(|h| cross_validate(&from_file, h)).unwrap_err();
    assert!(
        err.to_string().contains("individual conversations"),
        "{err}"
    );
    // The job itself goes on and says why in its notes.
    let job =
        hooks_run(|h| run(&from_file, &dir.path().join("b"), &dir.path().join("r"), h)).unwrap();
    assert!(job.report.cv.is_none());
    // Pessimism cannot be chosen from the file either: the fallback, with the reason.
    let p = job.report.mdp.pessimism.as_ref().unwrap();
    assert_eq!(p.strength, setup.pessimism.fallback);
    assert!(
        matches!(&p.chosen_by, ChosenBy::Fallback { why } if why.contains("aggregate file")),
        "{p:?}"
    );
    assert!(
        job.report
            .notes
            .iter()
            .any(|n| n.starts_with("cross-validation skipped") && n.contains("--no-cv")),
        "{:?}",
        job.report.notes
    );
}

#[test]
fn train_cross_validates_by_default_and_the_report_shows_it() {
    let truth = TrueMdp::random(9, 3, 0.6, 0.3);
    let dir = tempfile::tempdir().unwrap();
    let setup = truth.setup(dir.path(), 240, 2);
    assert!(setup.job.cv);
    let job = hooks_run(|h| run(&setup, &dir.path().join("b"), &dir.path().join("r"), h)).unwrap();
    let cv = job.report.cv.as_ref().unwrap();
    assert_eq!(cv.results.len(), 3);
    // Pessimism: chosen by cross-validation, among the candidates, for the exported
    // policy and within every fold's training part.
    let candidates = &setup.pessimism.candidates;
    let p = job.report.mdp.pessimism.as_ref().unwrap();
    match &p.chosen_by {
        ChosenBy::CrossValidation { scores, folds } => {
            let scales = setup.shrink.scales();
            assert_eq!(scores.len(), candidates.len() * scales.len());
            assert_eq!(
                *folds,
                (setup.pessimism.folds * setup.pessimism.repeats) as usize
            );
            let chosen = scores
                .iter()
                .find(|s| s.strength == p.strength && s.shrink_scale == p.shrink_scale)
                .unwrap();
            let best = scores
                .iter()
                .map(|s| s.value)
                .fold(f64::NEG_INFINITY, f64::max);
            // The default rule takes the best mean, over every fold of every repeat.
            assert_eq!(setup.pessimism.rule, SelectionRule::Best);
            assert_eq!(chosen.value, best);
            assert!(scores.iter().all(|s| s.se >= 0.0));
            assert!(scales.contains(&p.shrink_scale));
        }
        other => panic!("{other:?}"),
    }
    assert!(cv.results.iter().all(|f| candidates.contains(&f.pessimism)));
    let md = std::fs::read_to_string(job.report_dir.join("report.md")).unwrap();
    assert!(
        md.contains("## Cross-validation (held-out conversations)"),
        "{md}"
    );
    assert!(!md.contains("80/20"), "{md}");
    // `--no-cv` leaves it out.
    let mut off = setup.clone();
    off.apply(&talktrack_train::config::Overrides {
        no_cv: true,
        ..Default::default()
    });
    let job = hooks_run(|h| run(&off, &dir.path().join("b2"), &dir.path().join("r2"), h)).unwrap();
    assert!(job.report.cv.is_none());
}
