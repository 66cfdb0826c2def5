//! Templates whose rules read track usage stay enumerable when the reachable states
//! are few: the simulator lists (context, turn, last reply, usage of the tracks
//! read) and evaluates exactly. Checked against the (turn, last reply) MDP where
//! nothing more is read, against simulation where usage is read, and end to end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use talktrack::tooling::typed::CVal;
use talktrack_train::config::Algorithm;
use talktrack_train::config::SimSetup;
use talktrack_train::eval::ExactEvaluator;
use talktrack_train::eval::Tabular;
use talktrack_train::job::{run, Hooks};
use talktrack_train::log::ReadOptions;
use talktrack_train::sim::live::{SingleTrackPolicy, UniformPolicy};
use talktrack_train::sim::{
    ExpandedEnv, ExpandedMdp, LiveEvaluator, LiveSim, Mdp, NotEnumerable, RulesMask,
};
use talktrack_train::train::env::{ActionPolicy, MaskedEnv};
use talktrack_train::train::{NoObserver, TrainObserver};

/// These tests read the example bundles, configs and data by their paths from the
/// workspace root, as the README's commands do; cargo runs them from this crate.
fn at_root() {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .expect("the workspace root exists");
}

/// Rules that read usage: credibility before any ask, and at most two asks.
const ORDER_RULES: &str = r#"
rule credibility-before-ask
  because "establish the charity's credibility before the first ask"
  when not used(credibility-appeal)
  forbid tracks tagged ask

rule at-most-two-asks
  because "ask for the donation at most twice"
  when count(tagged ask) >= 2
  forbid tracks tagged ask
"#;

/// The persuasion template plus [`ORDER_RULES`], and a reference config over it.
fn usage_setup(dir: &Path) -> SimSetup {
    let tpl = dir.join("template");
    std::fs::create_dir_all(tpl.join("rules")).unwrap();
    let src = Path::new("policies/persuasion");
    for f in [
        "policy.onnx",
        "rules/persuasion.rules",
        "rules/generated-no-data.rules",
    ] {
        std::fs::copy(src.join(f), tpl.join(f)).unwrap();
    }
    std::fs::write(tpl.join("rules/order.rules"), ORDER_RULES).unwrap();
    let manifest = std::fs::read_to_string(src.join("bundle.toml"))
        .unwrap()
        .replace(
            r#"rules = ["rules/persuasion.rules", "rules/generated-no-data.rules"]"#,
            r#"rules = ["rules/persuasion.rules", "rules/generated-no-data.rules", "rules/order.rules"]"#,
        )
        .replace("tests = [\"cases.toml\"]\n", "");
    assert!(manifest.contains("rules/order.rules"));
    std::fs::write(tpl.join("bundle.toml"), manifest).unwrap();
    let cfg = std::fs::read_to_string("configs/p4g_reference.toml")
        .unwrap()
        .replace(
            r#"log = "../data/persuasionforgood/p4g.jsonl""#,
            &format!(
                "log = {:?}",
                abs("data/persuasionforgood/p4g.jsonl")
                    .display()
                    .to_string()
            ),
        )
        .replace(
            r#"template = "../policies/persuasion""#,
            &format!("template = {:?}", tpl.display().to_string()),
        );
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg).unwrap();
    SimSetup::load(&path).unwrap()
}

fn abs(p: &str) -> PathBuf {
    std::env::current_dir().unwrap().join(p)
}

#[test]
fn with_nothing_more_read_it_is_the_turn_and_reply_mdp() {
    at_root();
    let s = SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap();
    let agg = s.aggregate_file(ReadOptions::default()).unwrap();
    let tpl = s.load_template().unwrap().unwrap();
    let sim = LiveSim::build(&agg, &s.sim, &tpl).unwrap();
    let x = ExpandedMdp::build(&sim, &[]).unwrap();
    assert_eq!(x.contexts(), 1);
    assert!(x.n_states() <= 10 * 11, "{}", x.n_states());
    let mask = RulesMask::new(tpl.rules(), tpl.fallback());
    let mdp = Mdp::build(&agg, &s.sim, &mask, tpl.features()).unwrap();
    let ev = ExactEvaluator::new(Arc::new(mdp));
    let (a, b) = (
        x.baselines(&agg),
        talktrack_train::eval::baselines(&ev, &agg),
    );
    assert!((a.optimum - 0.7693).abs() < 1e-3, "{a:?}");
    for (u, v) in [
        (a.optimum, b.optimum),
        (a.uniform, b.uniform),
        (a.best_single.1, b.best_single.1),
        (a.behaviour, b.behaviour),
    ] {
        assert!((u - v).abs() < 1e-12, "{a:?} {b:?}");
    }
    assert_eq!(a.best_single.0, b.best_single.0);
}

#[test]
fn usage_rules_are_enumerated_and_agree_with_simulation() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let s = usage_setup(dir.path());
    let agg = s.aggregate_file(ReadOptions::default()).unwrap();
    let tpl = s.load_template().unwrap().unwrap();
    let read: Vec<usize> = tpl
        .rules()
        .usage_tracks()
        .into_iter()
        .map(|t| t as usize)
        .collect();
    // `credibility-appeal` and the five `ask` tracks.
    assert_eq!(read.len(), 6, "{read:?}");
    let sim = Arc::new(LiveSim::build(&agg, &s.sim, &tpl).unwrap());
    let x = Arc::new(ExpandedMdp::build(&sim, &read).unwrap());
    // Usage is part of the state: more states than (turn, last reply).
    assert!(x.n_states() > 10 * 11, "{}", x.n_states());
    let b = x.baselines(&agg);
    assert!(b.optimum < 0.7693, "{b:?}");
    assert!(
        b.optimum > b.best_single.1 && b.best_single.1 > b.uniform,
        "{b:?}"
    );

    // Exact values agree with simulation of the live environment, which computes
    // masks from the rules at every step instead of looking them up.
    let live = LiveEvaluator::new(Arc::clone(&sim), 40_000, 11);
    let catalog = tpl.catalog();
    let policies: Vec<(&str, Box<dyn ActionPolicy>)> = vec![
        ("uniform", Box::new(UniformPolicy)),
        (
            "credibility-appeal",
            Box::new(SingleTrackPolicy {
                track: catalog.index("credibility-appeal").unwrap(),
            }),
        ),
        (
            "ask-donation",
            Box::new(SingleTrackPolicy {
                track: catalog.index("ask-donation").unwrap(),
            }),
        ),
    ];
    for (name, p) in &policies {
        let exact = x.evaluate(p.as_ref());
        assert_eq!(exact.violating_states, 0);
        let est = live.estimate(p.as_ref());
        assert!(
            (exact.value - est.mean).abs() <= 1.5 * est.half_width,
            "{name}: exact {} vs simulated {} ± {}",
            exact.value,
            est.mean,
            est.half_width
        );
    }

    // Episodes of the enumerated environment follow the rules.
    let ask: Vec<usize> = (0..catalog.len())
        .filter(|&t| catalog.tracks()[t].tags.iter().any(|g| g == "ask"))
        .collect();
    let cred = catalog.index("credibility-appeal").unwrap();
    let mut env = ExpandedEnv::new(Arc::clone(&x));
    let mut rng = StdRng::seed_from_u64(5);
    let mut obs = vec![0.0; env.obs_dim()];
    let mut mask = vec![false; env.n_actions()];
    let mut asks_seen = 0;
    for _ in 0..2000 {
        env.reset(&mut rng, &mut obs, &mut mask);
        let (mut credible, mut asks) = (false, 0);
        loop {
            if !credible || asks >= 2 {
                assert!(
                    ask.iter().all(|&a| !mask[a]),
                    "an ask is allowed too early or too often"
                );
            }
            let allowed: Vec<usize> = (0..mask.len()).filter(|&a| mask[a]).collect();
            if allowed.is_empty() {
                break;
            }
            let a = allowed[rng.random_range(0..allowed.len())];
            credible |= a == cred;
            if ask.contains(&a) {
                asks += 1;
                asks_seen += 1;
            }
            if env.step(a, &mut rng, &mut obs, &mut mask).done {
                break;
            }
        }
    }
    assert_eq!(env.violations(), 0);
    assert!(asks_seen > 100, "{asks_seen}");
}

/// Rules reading one track's usage and two categorical context attributes.
const TELECOM_RULES: &str = r#"
rule price-after-disclosure
  because "disclose the fees before any price"
  when not used(fee_disclosure)
  forbid tracks tagged price

rule no-upsell-with-complaint
  because "no upsell while a complaint is open"
  when customer.open_complaint
  forbid tracks tagged upsell

rule north-no-fiber
  because "fiber is not available in the north"
  when customer.region == north
  forbid tracks tagged fiber
"#;

/// The telecom catalog with [`TELECOM_RULES`] and a feature spec that reads the region.
fn categorical_setup(dir: &Path) -> SimSetup {
    let tpl = dir.join("template");
    std::fs::create_dir_all(tpl.join("rules")).unwrap();
    std::fs::write(tpl.join("rules/simple.rules"), TELECOM_RULES).unwrap();
    let src = Path::new("policies/telecom-upsell");
    std::fs::copy(src.join("policy.onnx"), tpl.join("policy.onnx")).unwrap();
    let mut m: toml::Table = std::fs::read_to_string(src.join("bundle.toml"))
        .unwrap()
        .parse()
        .unwrap();
    m.insert(
        "rules".into(),
        toml::Value::from(vec!["rules/simple.rules"]),
    );
    m.remove("tests");
    let features: toml::Value = toml::from_str::<toml::Table>(
        r#"f = [{ kind = "turn_one_hot" }, { kind = "last_reply_one_hot" }, { kind = "attr_one_hot", name = "region" }]"#,
    )
    .unwrap()["f"]
        .clone();
    m.insert("features".into(), features);
    std::fs::write(tpl.join("bundle.toml"), toml::to_string(&m).unwrap()).unwrap();
    let cfg = std::fs::read_to_string("configs/telecom.toml")
        .unwrap()
        .replace(
            r#"log = "../data/telecom-synthetic/telecom.jsonl""#,
            &format!(
                "log = {:?}",
                abs("data/telecom-synthetic/telecom.jsonl")
                    .display()
                    .to_string()
            ),
        )
        .replace(
            r#"template = "../policies/telecom-upsell""#,
            &format!("template = {:?}", tpl.display().to_string()),
        );
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg).unwrap();
    SimSetup::load(&path).unwrap()
}

#[test]
fn categorical_context_is_enumerated_with_its_published_probabilities() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let s = categorical_setup(dir.path());
    let agg = s.aggregate_file(ReadOptions::default()).unwrap();
    let tpl = s.load_template().unwrap().unwrap();
    let read: Vec<usize> = tpl
        .rules()
        .usage_tracks()
        .into_iter()
        .map(|t| t as usize)
        .collect();
    assert_eq!(read, vec![tpl.catalog().index("fee_disclosure").unwrap()]);
    let sim = Arc::new(LiveSim::build(&agg, &s.sim, &tpl).unwrap());
    let x = ExpandedMdp::build(&sim, &read).unwrap();
    // Every published region × both complaint values.
    let regions = agg.context_marginals["region"].len();
    assert!(regions >= 3, "{regions}");
    assert_eq!(x.contexts(), regions * 2);
    // The combinations' probabilities are the products of the published shares.
    let all = sim.context().enumerate(4096).unwrap();
    assert!((all.iter().map(|(p, _)| p).sum::<f64>() - 1.0).abs() < 1e-12);
    let slot = tpl.schema().slot("region").unwrap();
    let published = &agg.context_marginals["region"];
    let total: f64 = published.values().sum();
    let names = ["north", "south", "east", "west"];
    for (label, &n) in published {
        let v = names.iter().position(|x| x == label).unwrap() as u32;
        let p: f64 = all
            .iter()
            .filter(|(_, c)| c[slot] == Some(CVal::Enum(v)))
            .map(|(p, _)| p)
            .sum();
        assert!(
            (p - n / total).abs() < 1e-12,
            "{label}: {p} vs {}",
            n / total
        );
    }
    let live = LiveEvaluator::new(Arc::clone(&sim), 40_000, 13);
    let catalog = tpl.catalog();
    let policies: Vec<(&str, Box<dyn ActionPolicy>)> = vec![
        ("uniform", Box::new(UniformPolicy)),
        // Allowed by region and disclosure, and by complaint and disclosure.
        (
            "fiber_cross_sell",
            Box::new(SingleTrackPolicy {
                track: catalog.index("fiber_cross_sell").unwrap(),
            }),
        ),
        (
            "offer_unlimited",
            Box::new(SingleTrackPolicy {
                track: catalog.index("offer_unlimited").unwrap(),
            }),
        ),
    ];
    for (name, p) in &policies {
        let exact = x.evaluate(p.as_ref());
        assert_eq!(exact.violating_states, 0);
        let est = live.estimate(p.as_ref());
        assert!(
            (exact.value - est.mean).abs() <= 1.5 * est.half_width,
            "{name}: exact {} vs simulated {} ± {}",
            exact.value,
            est.mean,
            est.half_width
        );
    }
    let b = x.baselines(&agg);
    assert!(
        b.optimum > b.best_single.1 && b.best_single.1 > b.uniform,
        "{b:?}"
    );
}

#[test]
fn binned_context_stays_simulated_and_says_why() {
    at_root();
    let s = SimSetup::load(Path::new("configs/telecom.toml")).unwrap();
    let agg = s.aggregate_file(ReadOptions::default()).unwrap();
    let tpl = s.load_template().unwrap().unwrap();
    let sim = LiveSim::build(&agg, &s.sim, &tpl).unwrap();
    let err = ExpandedMdp::build(&sim, &[]).unwrap_err();
    let NotEnumerable::Context(why) = err else {
        panic!("{err:?}")
    };
    assert!(why.contains("numeric bins"), "{why}");
}

#[test]
fn usage_template_trains_with_exact_evaluation() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let mut s = usage_setup(dir.path());
    s.job.algorithms = vec![Algorithm::Ppo];
    s.job.export = Algorithm::Ppo;
    s.job.cv = false;
    let (bundle_dir, report_dir) = (dir.path().join("bundle"), dir.path().join("report"));
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
    assert_eq!(r.mdp.evaluation, "exact");
    assert!(r.mdp.usage);
    let x = r.mdp.expanded.as_ref().unwrap();
    assert_eq!(x.tracks_read, 6);
    let optimum = r.baselines.optimum.unwrap();
    let run = &r.runs[0];
    assert_eq!(run.violations_training, 0);
    assert_eq!(run.violations_eval, 0);
    assert!(
        run.value > r.baselines.best_single.1,
        "{run:?} {:?}",
        r.baselines
    );
    assert!(run.value >= 0.98 * optimum, "{run:?} optimum {optimum}");
    let e = r.exported.as_ref().unwrap();
    assert!(e.max_abs_score_diff <= 1e-5, "{}", e.max_abs_score_diff);
    assert_eq!(e.states_checked, x.states);
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(md.contains("- evaluation: exact over"), "{md}");
}
