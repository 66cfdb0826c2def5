//! Templates whose rules and features read track usage and the customer's context:
//! the simulator carries usage in its state, draws each conversation's context from
//! the published marginals, and evaluates by simulation with confidence intervals.
//! Exercised on the `telecom-upsell` example and its shipped synthetic log.

use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use talktrack::tooling::typed::CVal;
use talktrack::Bundle;
use talktrack_train::aggregate::Bin;
use talktrack_train::config::Algorithm;
use talktrack_train::config::SimSetup;
use talktrack_train::job::{run, Hooks};
use talktrack_train::log::ReadOptions;
use talktrack_train::sim::{ContextSampler, LiveEnv, LiveSim};
use talktrack_train::train::env::MaskedEnv;
use talktrack_train::train::{NoObserver, TrainObserver};

/// These tests read the example bundles, configs and data by their paths from the
/// workspace root, as the README's commands do; cargo runs them from this crate.
fn at_root() {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .expect("the workspace root exists");
}

fn setup() -> SimSetup {
    SimSetup::load(Path::new("configs/telecom.toml")).unwrap()
}

fn aggregates(s: &SimSetup) -> talktrack_train::aggregate::Aggregates {
    s.aggregate_file(ReadOptions::default()).unwrap()
}

#[test]
fn bins_label_and_parse_back() {
    at_root();
    let edges = [16.0, 18.0, 21.0, 80.0];
    assert_eq!(Bin::of(&edges, 17.0).to_string(), "[16, 18)");
    assert_eq!(Bin::of(&edges, 18.0).to_string(), "[18, 21)");
    assert_eq!(Bin::of(&edges, 80.0).to_string(), "[21, 80]");
    // Outside the range: the nearest bin.
    assert_eq!(Bin::of(&edges, 3.0).to_string(), "[16, 18)");
    assert_eq!(Bin::of(&edges, 99.0).to_string(), "[21, 80]");
    assert_eq!(
        "[16, 18)"
            .parse::<Bin>()
            .ok()
            .map(|b| (b.lo, b.hi, b.closed)),
        Some((16.0, 18.0, false))
    );
    assert_eq!(
        "[21, 80]"
            .parse::<Bin>()
            .ok()
            .map(|b| (b.lo, b.hi, b.closed)),
        Some((21.0, 80.0, true))
    );
    assert_eq!(
        "north".parse::<Bin>().ok().map(|b| (b.lo, b.hi, b.closed)),
        None
    );
}

#[test]
fn context_is_drawn_from_published_marginals_only() {
    at_root();
    let s = setup();
    let agg = aggregates(&s);
    let ages = &agg.context_marginals["age"];
    // Numeric attributes are published per bin, and only bins with k conversations.
    assert!(ages.keys().all(|l| l.parse::<Bin>().is_ok()), "{ages:?}");
    assert!(ages.values().all(|&n| n >= agg.config.k as f64));
    let tpl = s.load_template().unwrap().unwrap();
    let sampler = ContextSampler::new(&tpl, &s.sim.context, &agg).unwrap();
    assert!(!sampler.is_fixed());
    let schema = tpl.schema();
    let age = schema.slot("age").unwrap();
    let region = schema.slot("region").unwrap();
    let last_purchase = schema.slot("last_purchase").unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let mut ctx = Vec::new();
    let mut minors = 0;
    for _ in 0..2000 {
        sampler.draw(&mut rng, &mut ctx);
        let Some(CVal::Int(a)) = ctx[age] else {
            panic!("age must be drawn as an int: {:?}", ctx[age]);
        };
        assert!((16..=80).contains(&a), "{a}");
        minors += usize::from(a < 18);
        assert!(matches!(ctx[region], Some(CVal::Enum(r)) if r < 4));
        // Optional, read by a rule, nothing published: absent.
        assert_eq!(ctx[last_purchase], None);
    }
    // The log has about 5% minors: the simulator meets them too, and the age rules with them.
    assert!((40..200).contains(&minors), "{minors}");
}

#[test]
fn a_required_attribute_nobody_publishes_is_an_error_that_names_it() {
    at_root();
    let mut s = setup();
    s.aggregate
        .context_attributes
        .retain(|a| a != "age" && a != "plan");
    s.aggregate.context_bins.remove("age");
    let agg = aggregates(&s);
    let tpl = s.load_template().unwrap().unwrap();
    let err = ContextSampler::new(&tpl, &s.sim.context, &agg)
        .unwrap_err()
        .to_string();
    insta::assert_snapshot!(err);
    // Setting them in `[sim] context` fixes it.
    s.sim.context.set("age", 30);
    s.sim.context.set("plan", "basic");
    ContextSampler::new(&tpl, &s.sim.context, &agg).unwrap();
}

#[test]
fn usage_is_part_of_the_state_so_price_waits_for_the_disclosure() {
    at_root();
    let s = setup();
    let agg = aggregates(&s);
    let tpl = s.load_template().unwrap().unwrap();
    let sim = Arc::new(LiveSim::build(&agg, &s.sim, &tpl).unwrap());
    let catalog = tpl.catalog();
    let disclosure = catalog.index("fee_disclosure").unwrap();
    let price: Vec<usize> = (0..catalog.len())
        .filter(|&t| catalog.tracks()[t].tags.iter().any(|g| g == "price"))
        .collect();
    assert!(price.len() >= 5);
    let mut env = LiveEnv::new(Arc::clone(&sim));
    let mut rng = StdRng::seed_from_u64(3);
    let mut obs = vec![0.0; env.obs_dim()];
    let mut mask = vec![false; env.n_actions()];
    let (mut price_offered, mut price_blocked) = (0, 0);
    for _ in 0..3000 {
        env.reset(&mut rng, &mut obs, &mut mask);
        let mut disclosed = false;
        loop {
            let any_price = price.iter().any(|&p| mask[p]);
            if disclosed {
                price_offered += usize::from(any_price);
            } else {
                assert!(
                    !any_price,
                    "a price track is allowed before the fee disclosure"
                );
                price_blocked += 1;
            }
            let allowed: Vec<usize> = (0..mask.len()).filter(|&a| mask[a]).collect();
            if allowed.is_empty() {
                break;
            }
            let a = allowed[rng.random_range(0..allowed.len())];
            disclosed |= a == disclosure;
            if env.step(a, &mut rng, &mut obs, &mut mask).done {
                break;
            }
        }
    }
    assert_eq!(env.violations(), 0);
    // Both sides of the rule were reached.
    assert!(
        price_offered > 100 && price_blocked > 100,
        "{price_offered} {price_blocked}"
    );
}

#[test]
fn telecom_trains_end_to_end_with_simulated_evaluation() {
    at_root();
    let mut s = setup();
    s.job.algorithms = vec![Algorithm::Ppo];
    s.job.export = Algorithm::Ppo;
    s.job.cv = false;
    s.job.eval_episodes = 1500;
    s.ppo.run.total_steps = 150_000;
    s.ppo.run.eval_every = 50_000;
    let out = tempfile::tempdir().unwrap();
    let (bundle_dir, report_dir) = (out.path().join("bundle"), out.path().join("report"));
    let mut stage = |_: &str| {};
    let mut observer = |_: &str, _: u64| -> Box<dyn TrainObserver> { Box::new(NoObserver) };
    let job = run(
        &s,
        &bundle_dir,
        &report_dir,
        &mut Hooks {
            stage: &mut stage,
            observer: &mut observer,
        },
    )
    .unwrap();
    let r = &job.report;
    assert_eq!(r.mdp.evaluation, "simulated");
    assert!(r.mdp.usage);
    assert!(r.mdp.context.iter().any(|c| c.attribute == "age"));
    assert_eq!(r.baselines.optimum, None);
    let run = &r.runs[0];
    assert_eq!(run.violations_training, 0);
    assert_eq!(run.violations_eval, 0);
    assert_eq!(run.fraction, None);
    // Clearly better than uniform and the best single track, beyond both confidence intervals.
    let ci = run.ci95.unwrap();
    let [u_ci, best_ci, _] = r.baselines.ci95.unwrap();
    assert!(
        run.value - ci > r.baselines.uniform + u_ci,
        "{run:?} {:?}",
        r.baselines
    );
    assert!(
        run.value - ci > r.baselines.best_single.1 + best_ci,
        "{run:?} {:?}",
        r.baselines
    );
    // The exported bundle loads unchanged and serves the trainer's scores.
    let e = r.exported.as_ref().unwrap();
    assert!(e.max_abs_score_diff <= 1e-5, "{}", e.max_abs_score_diff);
    assert!(e.states_checked > 200);
    let b = Bundle::load(&bundle_dir).unwrap();
    assert_eq!(b.digest(), e.digest);
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(md.contains("## Policies (simulated evaluation)"), "{md}");
    assert!(md.contains("context `age`: drawn from"), "{md}");
}
