//! The trainer's main job end to end on the shipped PersuasionForGood log: the
//! exported bundle loads unchanged, serves exactly the trainer's scores, forbids
//! tracks without data, and a failed export leaves nothing behind.
#![cfg(feature = "train")]

use std::path::Path;

use ndarray::{Array1, Array2};
use talktrack::bundle::{Bundle, BundleTemplate};
use talktrack::export::{export_bundle, ExportSpec};
use talktrack::pipeline::{run, Algorithm, Hooks};
use talktrack::policy::onnx_writer::{Activation, Dense};
use talktrack::policy::ScoreKind;
use talktrack::sim::config::SimSetup;
use talktrack::train::{NoObserver, TrainObserver};

fn small_setup() -> SimSetup {
    let mut s = SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap();
    s.job.algorithms = vec![Algorithm::Ppo];
    s.job.export = Algorithm::Ppo;
    s.ppo.run.total_steps = 60_000;
    s.ppo.run.eval_every = 20_000;
    s
}

#[test]
fn train_export_and_report() {
    let out = tempfile::tempdir().unwrap();
    let bundle_dir = out.path().join("bundle");
    let report_dir = out.path().join("report");
    let mut stages = Vec::new();
    let mut stage = |s: &str| stages.push(s.to_owned());
    let mut observer = |_: &str, _: u64| -> Box<dyn TrainObserver> { Box::new(NoObserver) };
    let job = run(
        &small_setup(),
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
    assert!((r.baselines.optimum.unwrap() - 0.7693).abs() < 0.001);
    assert_eq!(r.runs.len(), 1);
    assert_eq!(r.runs[0].violations_training, 0);
    assert_eq!(r.runs[0].violations_eval, 0);
    assert!(
        r.runs[0].value > r.baselines.uniform,
        "{:?}",
        r.runs[0].value
    );
    let exported = r.exported.as_ref().unwrap();
    assert!(
        exported.max_abs_score_diff <= 1e-5,
        "{}",
        exported.max_abs_score_diff
    );
    let h = r.holdout.as_ref().unwrap();
    assert!(h.train_conversations + h.holdout_conversations == 300);
    assert!(h.holdout_conversations > 30 && h.holdout_conversations < 90);

    // The runtime accepts the exported bundle unchanged, with the generated no-data rules.
    let b = Bundle::load(&bundle_dir).unwrap();
    assert!(b
        .manifest()
        .rules
        .iter()
        .any(|f| f.contains("generated-no-data")));
    assert_eq!(b.manifest().policy.scores, ScoreKind::Logits);
    let training = b.manifest().training.as_ref().unwrap();
    assert_eq!(
        training.get("algorithm").and_then(|v| v.as_str()),
        Some("ppo")
    );
    let (report, _, failed) = talktrack::cases::run_all(&std::sync::Arc::new(b)).unwrap();
    assert_eq!(failed, 0, "{report}");

    for f in ["report.json", "report.md", "curves.svg"] {
        assert!(report_dir.join(f).exists(), "{f} missing");
    }
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    for section in [
        "## Data",
        "## Policies",
        "## Training",
        "## Held-out diagnostic",
        "## Exported bundle",
    ] {
        assert!(md.contains(section), "{section} missing from report.md");
    }
    assert!(stages.iter().any(|s| s.contains("exporting")));
    // Nothing temporary is left next to the bundle.
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_failed_export_leaves_no_bundle_behind() {
    let tpl = BundleTemplate::load("policies/persuasion").unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("bundle");
    // A network whose input width does not match the feature spec (21): the bundle
    // would not load, so nothing may appear at the destination.
    let layers = vec![Dense {
        weights: Array2::zeros((7, 16)),
        bias: Array1::zeros(16),
    }];
    let err = export_bundle(
        ExportSpec {
            template: &tpl,
            layers,
            hidden: Activation::Relu,
            scores: ScoreKind::Logits,
            version: None,
            generated_rules: None,
            training: toml::Table::new(),
        },
        &dest,
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not load"), "{err}");
    assert!(!dest.exists());
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn templates_the_simulator_cannot_represent_are_refused_with_reasons() {
    let setup = small_setup();
    // Usage and context reads are simulated (see tests/train_live.rs).
    let telecom = BundleTemplate::load("policies/telecom-upsell").unwrap();
    talktrack::pipeline::check_simulable(&telecom).unwrap();
    // A text embedding cannot be: the aggregates hold no user text.
    let dir = tempfile::tempdir().unwrap();
    talktrack::synth::SynthSpec::medium()
        .write(dir.path())
        .unwrap();
    let with_embedding = BundleTemplate::load(dir.path()).unwrap();
    let err = talktrack::pipeline::check_simulable(&with_embedding)
        .unwrap_err()
        .to_string();
    assert!(err.contains("reads a text embedding"), "{err}");
}
