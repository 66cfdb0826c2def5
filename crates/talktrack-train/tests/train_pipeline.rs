//! The trainer's main job end to end on the shipped PersuasionForGood log: the
//! exported bundle loads unchanged, serves exactly the trainer's scores, forbids
//! tracks without data, and a failed export leaves nothing behind.
//!
//! It stays one file, a little over 700 lines: its tests all specify the one
//! training job, most of them through the same setup helpers (`at_root`, `tiny`,
//! `write_config`, `run_quiet`, `try_run`), and a split would scatter that
//! specification and its helpers across files.

use std::path::Path;

use ndarray::{Array1, Array2};
use talktrack::tooling::BundleTemplate;
use talktrack::tooling::ScoreKind;
use talktrack::tooling::{Activation, Dense};
use talktrack::Bundle;
use talktrack_train::config::Algorithm;
use talktrack_train::config::SimSetup;
use talktrack_train::export::{export_bundle, ExportSpec};
use talktrack_train::job::{run, Hooks};
use talktrack_train::train::{NoObserver, TrainObserver};

/// These tests read the example bundles, configs and data by their paths from the
/// workspace root, as the README's commands do; cargo runs them from this crate.
fn at_root() {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .expect("the workspace root exists");
}

fn small_setup() -> SimSetup {
    let mut s = SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap();
    s.job.algorithms = vec![Algorithm::Ppo];
    s.job.export = Algorithm::Ppo;
    s.ppo.run.total_steps = 60_000;
    s.ppo.run.eval_every = 20_000;
    s.cv.steps = 8_192;
    s
}

#[test]
fn train_export_and_report() {
    at_root();
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
    // The training simulator's cells are shrunk toward their back-off parents: its
    // optimum sits below the raw reference MDP's 0.7693, still above one track.
    let optimum = r.baselines.optimum.unwrap();
    assert!(
        optimum < 0.7693 - 0.001 && optimum > r.baselines.best_single.1,
        "{optimum} {:?}",
        r.baselines
    );
    assert!(r.mdp.shrinkage[0].is_some() && r.mdp.shrinkage[2].is_none());
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
    let cv = r.cv.as_ref().unwrap();
    assert_eq!(cv.results.len(), 5, "{:?}", cv.skipped);
    for f in &cv.results {
        assert_eq!(f.train_conversations + f.held_conversations, 300);
        assert!(f.held_conversations > 30 && f.held_conversations < 90);
    }

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
    let (report, _, failed) = talktrack::tooling::run_all(&std::sync::Arc::new(b)).unwrap();
    assert_eq!(failed, 0, "{report}");

    for f in ["report.json", "report.md", "curves.svg"] {
        assert!(report_dir.join(f).exists(), "{f} missing");
    }
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    for section in [
        "## Data",
        "## Policies",
        "## Training",
        "## Cross-validation (held-out conversations)",
        "## Exported bundle",
        "- estimates: each cell shrunk toward its back-off parent",
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
    at_root();
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
    at_root();
    // Usage and context reads are simulated (see tests/train_live.rs).
    let telecom = BundleTemplate::load("policies/telecom-upsell").unwrap();
    talktrack_train::job::check_simulable(&telecom).unwrap();
    // A text embedding cannot be: the aggregates hold no user text.
    let dir = tempfile::tempdir().unwrap();
    talktrack::synth::SynthSpec::medium()
        .write(dir.path())
        .unwrap();
    let with_embedding = BundleTemplate::load(dir.path()).unwrap();
    let err = talktrack_train::job::check_simulable(&with_embedding)
        .unwrap_err()
        .to_string();
    assert!(err.contains("reads a text embedding"), "{err}");
}

/// Runs the job quietly.
fn run_quiet(setup: &SimSetup, out: &Path) -> talktrack_train::job::JobOutput {
    try_run(setup, out).unwrap()
}

fn try_run(
    setup: &SimSetup,
    out: &Path,
) -> Result<talktrack_train::job::JobOutput, talktrack_train::job::JobError> {
    let mut stage = |_: &str| {};
    let mut observer = |_: &str, _: u64| -> Box<dyn TrainObserver> { Box::new(NoObserver) };
    run(
        setup,
        &out.join("bundle"),
        &out.join("report"),
        &mut Hooks {
            stage: &mut stage,
            observer: &mut observer,
        },
    )
}

/// A config in `dir` over the persuasion template, with `log` and extra TOML.
fn write_config(dir: &Path, log: &str, extra: &str) -> std::path::PathBuf {
    let tpl = std::fs::canonicalize("policies/persuasion").unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[data]\nlog = \"{log}\"\ntemplate = \"{}\"\n{extra}\n[sim]\nstay = 0.85\nterminal = {{ \"agree/commit\" = 1.0, \"refuse\" = 0.0 }}\n",
            tpl.display()
        ),
    )
    .unwrap();
    path
}

/// A very short PPO-only run.
fn tiny(mut s: SimSetup) -> SimSetup {
    s.job.algorithms = vec![Algorithm::Ppo];
    s.job.export = Algorithm::Ppo;
    s.ppo.run.total_steps = 8_192;
    s.ppo.run.eval_every = 4_096;
    s.cv.steps = 4_096;
    s
}

#[test]
fn without_shrinkage_and_pessimism_the_job_trains_on_the_raw_reference_mdp() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let mut setup = tiny(SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap());
    setup.job.cv = false;
    setup.shrink.enabled = false;
    setup.pessimism.strength = Some(0.0);
    let r = run_quiet(&setup, &dir.path().join("raw")).report;
    assert!((r.baselines.optimum.unwrap() - 0.7693).abs() < 0.001);
    assert!(r.mdp.shrinkage.iter().all(Option::is_none));
}

#[test]
fn training_from_the_aggregate_file_equals_training_from_the_log() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let mut from_log = tiny(SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap());
    from_log.job.cv = true;
    // Chosen by cross-validation from the log, it could not be from the file alone.
    from_log.pessimism.strength = Some(0.05);
    let agg = from_log
        .aggregate_file(talktrack_train::log::ReadOptions::default())
        .unwrap();
    let agg_path = dir.path().join("aggregates.json");
    std::fs::write(&agg_path, agg.to_json()).unwrap();

    let mut from_file = from_log.clone();
    from_file.data.aggregates = Some(agg_path.clone());
    // The log is never read: point it at nothing.
    from_file.data.log = dir.path().join("no-such-log.jsonl");

    let a = run_quiet(&from_log, &dir.path().join("a"));
    let b = run_quiet(&from_file, &dir.path().join("b"));
    let (ra, rb) = (&a.report, &b.report);
    assert_eq!(ra.baselines.optimum, rb.baselines.optimum);
    assert_eq!(ra.baselines.uniform, rb.baselines.uniform);
    assert_eq!(ra.baselines.best_single, rb.baselines.best_single);
    // The logged behaviour comes from the published behaviour cells of the file.
    assert_eq!(ra.baselines.behaviour, rb.baselines.behaviour);
    assert_eq!(ra.runs[0].value, rb.runs[0].value);
    assert_eq!(ra.data.conversations, rb.data.conversations);
    assert_eq!(ra.mdp.unavailable, rb.mdp.unavailable);
    // Same generated rules, same network: the same policy file.
    for f in ["policy.onnx", "rules/generated-no-data.rules"] {
        assert_eq!(
            std::fs::read(a.bundle_dir.join(f)).unwrap(),
            std::fs::read(b.bundle_dir.join(f)).unwrap(),
            "{f}"
        );
    }
    // Trained from the log, the bundle fingerprints its conversations, so an evaluation
    // can tell held-out logs from training data; from the file it cannot.
    use talktrack_train::ope::fingerprint::Fingerprint;
    let manifest_of = |d: &Path| Bundle::load(d).unwrap().manifest().training.clone();
    let fp = Fingerprint::from_training(manifest_of(&a.bundle_dir).as_ref()).unwrap();
    assert_eq!(fp.count, 300);
    let log = std::fs::read_to_string(&from_log.data.log).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert!(fp.contains(first["id"].as_str().unwrap()));
    assert!(Fingerprint::from_training(manifest_of(&b.bundle_dir).as_ref()).is_none());
    // Cross-validation needs conversations: skipped, and the report says why.
    assert!(ra.cv.is_some());
    assert!(rb.cv.is_none());
    assert_eq!(rb.data.aggregates.as_deref(), agg_path.to_str());
    assert!(
        rb.notes
            .iter()
            .any(|n| n.contains("cross-validation skipped")
                && n.contains("individual conversations")),
        "{:?}",
        rb.notes
    );
    let md = std::fs::read_to_string(b.report_dir.join("report.md")).unwrap();
    assert!(md.contains("## Skipped"), "{md}");
    assert!(md.contains("the log was not read"), "{md}");
    let json = std::fs::read_to_string(b.report_dir.join("report.json")).unwrap();
    assert!(json.contains("cross-validation skipped"));
}

#[test]
fn an_aggregate_file_that_does_not_match_the_config_is_refused_with_what_to_change() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let setup = SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap();
    let agg = setup
        .aggregate_file(talktrack_train::log::ReadOptions::default())
        .unwrap();
    let path = dir.path().join("aggregates.json");
    let refused = |agg: &talktrack_train::aggregate::Aggregates| {
        std::fs::write(&path, agg.to_json()).unwrap();
        let mut s = setup.clone();
        s.data.aggregates = Some(path.clone());
        s.read_aggregates().unwrap_err().to_string()
    };
    let mut k3 = agg.clone();
    k3.config.k = 3;
    let e = refused(&k3);
    assert!(
        e.contains("published with k = 3") && e.contains("set `k = 3`"),
        "{e}"
    );
    let mut turns = agg.clone();
    turns.config.max_turns = 8;
    let e = refused(&turns);
    assert!(e.contains("max_turns = 8"), "{e}");
    let mut tracks = agg.clone();
    tracks.tracks.pop();
    let e = refused(&tracks);
    assert!(e.contains("differ from the catalog"), "{e}");
    let mut replies = agg.clone();
    replies.replies.reverse();
    let e = refused(&replies);
    assert!(e.contains("differ from the reply vocabulary"), "{e}");
    std::fs::write(&path, "{\"not\": 1}").unwrap();
    let mut s = setup.clone();
    s.data.aggregates = Some(path.clone());
    let e = s.read_aggregates().unwrap_err().to_string();
    assert!(e.contains("not an aggregate file"), "{e}");
}

#[cfg(unix)]
#[test]
fn an_aggregate_path_naming_a_device_or_a_pipe_is_refused_unread() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("aggregates.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let mut s = SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap();
    for (path, what) in [
        (Path::new("/dev/zero"), "a character device"),
        (fifo.as_path(), "a named pipe (FIFO)"),
    ] {
        if !path.exists() || (path == fifo && !made) {
            continue;
        }
        s.data.aggregates = Some(path.to_owned());
        let e = s.read_aggregates().unwrap_err().to_string();
        assert!(
            e.contains(&format!("cannot read it: it is {what}, not a regular file")),
            "{e}"
        );
    }
}

#[test]
fn cross_validation_without_publishable_folds_is_skipped_with_a_warning() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let log: String = std::fs::read_to_string("data/persuasionforgood/p4g.jsonl")
        .unwrap()
        .lines()
        .take(8)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("log.jsonl"), log).unwrap();
    let config = write_config(dir.path(), "log.jsonl", "[aggregate]\nk = 5\n");
    let setup = tiny(SimSetup::load(&config).unwrap());
    assert!(setup.job.cv);
    let job = run_quiet(&setup, &dir.path().join("out"));
    let r = &job.report;
    assert!(r.cv.is_none());
    assert!(r.exported.is_some());
    let note = r
        .notes
        .iter()
        .find(|n| n.contains("cross-validation skipped"))
        .unwrap();
    assert!(
        note.contains("no fold has enough publishable data")
            && note.contains("--no-cv")
            && note.contains("lower `k`"),
        "{note}"
    );
    assert!(Bundle::load(&job.bundle_dir).is_ok());
}

#[test]
fn bad_log_lines_are_shown_with_their_line_number_and_strict_stops_at_the_first() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let mut log: Vec<String> = std::fs::read_to_string("data/persuasionforgood/p4g.jsonl")
        .unwrap()
        .lines()
        .take(40)
        .map(str::to_owned)
        .collect();
    log.insert(2, "{not json".into());
    log.insert(
        5,
        r#"{"id":"x","turns":[{"track":"pitch","reply":"refuse"}],"outcome":{"converted":false}}"#
            .into(),
    );
    std::fs::write(dir.path().join("log.jsonl"), log.join("\n") + "\n").unwrap();
    let config = write_config(dir.path(), "log.jsonl", "");
    let mut setup = tiny(SimSetup::load(&config).unwrap());
    setup.job.cv = false;
    let job = run_quiet(&setup, &dir.path().join("out"));
    let d = &job.report.data;
    assert_eq!(d.bad_lines, 2);
    let shown: Vec<(u64, &str)> = d
        .bad_line_examples
        .iter()
        .map(|b| (b.line, b.reason.as_str()))
        .collect();
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0].0, 3);
    assert_eq!(shown[1].0, 6);
    assert!(shown[1].1.contains("unknown track `pitch`"), "{shown:?}");
    let md = std::fs::read_to_string(job.report_dir.join("report.md")).unwrap();
    assert!(md.contains("  - line 6: "), "{md}");

    setup.data.strict = true;
    let err = try_run(&setup, &dir.path().join("strict"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3"), "{err}");
    assert!(!dir.path().join("strict").join("bundle").exists());
}

#[test]
fn aggregate_max_turns_defaults_to_the_template_and_a_mismatch_says_what_to_change() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::canonicalize("data/persuasionforgood/p4g.jsonl").unwrap();
    let log = log.to_str().unwrap();
    let config = write_config(dir.path(), log, "[aggregate]\nk = 5\n");
    assert_eq!(SimSetup::load(&config).unwrap().aggregate.max_turns, 10);
    let config = write_config(dir.path(), log, "[aggregate]\nmax_turns = 8\n");
    let err = SimSetup::load(&config).unwrap_err().to_string();
    assert!(
        err.contains("`[aggregate] max_turns = 8` differs from `max_turns = 10`")
            && err.contains("set `max_turns = 10` in [aggregate]"),
        "{err}"
    );
}

#[test]
fn an_exported_bundle_as_template_leaves_its_generated_rules_out() {
    at_root();
    use talktrack::tooling::GENERATED_RULES_FILE;
    // policies/persuasion is an exported bundle: served, its generated rules apply...
    let served = Bundle::load("policies/persuasion").unwrap();
    assert!(served
        .manifest()
        .rules
        .iter()
        .any(|r| r == GENERATED_RULES_FILE));
    // ...as a template they describe an earlier run's data and are left out.
    let tpl = BundleTemplate::load("policies/persuasion").unwrap();
    assert!(!tpl
        .manifest()
        .rules
        .iter()
        .any(|r| r == GENERATED_RULES_FILE));
    assert!(tpl.rules().len() < served.rules().len());
    // A hand-written file of that name (without the generated header) stays.
    let dir = tempfile::tempdir().unwrap();
    copy_dir("policies/persuasion".as_ref(), dir.path());
    let gen = dir.path().join(GENERATED_RULES_FILE);
    let text = std::fs::read_to_string(&gen).unwrap();
    std::fs::write(
        &gen,
        text.replacen("# Generated", "# Written by hand, once", 1),
    )
    .unwrap();
    let tpl = BundleTemplate::load(dir.path()).unwrap();
    assert!(tpl
        .manifest()
        .rules
        .iter()
        .any(|r| r == GENERATED_RULES_FILE));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `bundle.toml` without its `[policy]` table.
fn without_policy_table(manifest: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            skipping = line.trim() == "[policy]";
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn a_template_needs_no_policy_but_a_served_bundle_does() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let tpl_dir = dir.path().join("template");
    copy_dir("policies/persuasion".as_ref(), &tpl_dir);
    let manifest = std::fs::read_to_string(tpl_dir.join("bundle.toml")).unwrap();
    std::fs::remove_file(tpl_dir.join("policy.onnx")).unwrap();
    std::fs::write(tpl_dir.join("bundle.toml"), without_policy_table(&manifest)).unwrap();

    BundleTemplate::load(&tpl_dir).unwrap();
    let err = Bundle::load(&tpl_dir).err().unwrap();
    let shown = talktrack::render(&err.problems);
    assert!(
        shown.contains("no `[policy]` table") && shown.contains("a served bundle needs its policy"),
        "{shown}"
    );

    // Training writes the policy: the exported bundle serves.
    let mut setup = tiny(SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap());
    setup.data.template = Some(tpl_dir.clone());
    setup.job.cv = false;
    let job = run_quiet(&setup, &dir.path().join("out"));
    let b = Bundle::load(&job.bundle_dir).unwrap();
    assert_eq!(b.manifest().policy.file, "policy.onnx");

    // A `[policy]` without its checksum is a template too, and names what is missing.
    let no_sha: String = manifest
        .lines()
        .filter(|l| !l.starts_with("sha256"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(tpl_dir.join("bundle.toml"), no_sha).unwrap();
    BundleTemplate::load(&tpl_dir).unwrap();
    let err = Bundle::load(&tpl_dir).err().unwrap();
    let shown = talktrack::render(&err.problems);
    assert!(shown.contains("`[policy]` lacks `sha256`"), "{shown}");
}

#[test]
fn eval_refuses_a_bundle_that_does_not_fit_the_config() {
    at_root();
    let setup = SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap();
    let telecom = Bundle::load("policies/telecom-upsell").unwrap();
    let err = talktrack_train::job::evaluate_bundle(&setup, &telecom)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not fit the config's simulator") && err.contains("its catalog"),
        "{err}"
    );
    // The bundle it was trained for evaluates, masked by its own rules.
    let persuasion = Bundle::load("policies/persuasion").unwrap();
    let e = talktrack_train::job::evaluate_bundle(&setup, &persuasion).unwrap();
    assert_eq!(e.violations, 0);
    assert!(e.value > e.baselines.uniform, "{e:?}");
}

#[test]
fn a_bundle_that_fails_the_score_check_is_never_published() {
    at_root();
    use talktrack_train::export::export_bundle_checked;
    let tpl = BundleTemplate::load("policies/persuasion").unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("bundle");
    let spec = || ExportSpec {
        template: &tpl,
        layers: vec![Dense {
            weights: Array2::zeros((21, 16)),
            bias: Array1::zeros(16),
        }],
        hidden: Activation::Relu,
        scores: ScoreKind::Logits,
        version: None,
        generated_rules: None,
        training: toml::Table::new(),
    };
    let err = export_bundle_checked(spec(), &dest, |_| Err("scores differ".into()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nothing was published") && err.contains("scores differ"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    // A bundle already at the destination stays as it was.
    let first = export_bundle_checked(spec(), &dest, |_| Ok(())).unwrap();
    let digest = first.digest().to_owned();
    let mut checked = false;
    export_bundle_checked(spec(), &dest, |b| {
        checked = b.policy().scores(&[0.0; 21], &mut [0.0; 16]).is_ok();
        Err("no".into())
    })
    .unwrap_err();
    assert!(checked);
    assert_eq!(Bundle::load(&dest).unwrap().digest(), digest);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);

    // The documented tolerance: 1e-5 absolute, 1e-6 relative for large scores.
    assert_eq!(talktrack_train::job::score_tolerance(0.5), 1e-5);
    assert!((talktrack_train::job::score_tolerance(-100.0) - 1e-4).abs() < 1e-12);
}

#[test]
fn errors_say_what_to_change() {
    at_root();
    use talktrack_train::job::JobError;
    use talktrack_train::train::TrainError;
    let dir = tempfile::tempdir().unwrap();

    // An empty log is named.
    std::fs::write(dir.path().join("empty.jsonl"), "").unwrap();
    let config = write_config(dir.path(), "empty.jsonl", "");
    let setup = tiny(SimSetup::load(&config).unwrap());
    let err = try_run(&setup, &dir.path().join("out"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("empty.jsonl") && err.contains("has no valid conversation"),
        "{err}"
    );

    // A non-finite loss points at the learning rate of the algorithm's section.
    let err = JobError::Train {
        algorithm: "dqn",
        source: TrainError::NonFinite {
            step: 10,
            what: "dqn loss".into(),
        },
    }
    .to_string();
    assert!(
        err.contains("lower the learning rate (`lr` in [dqn])"),
        "{err}"
    );

    // Every algorithm's config is checked before any training starts.
    let mut setup = tiny(SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap());
    setup.job.algorithms = vec![Algorithm::Ppo, Algorithm::Dqn];
    setup.dqn.lr = -1.0;
    let t0 = std::time::Instant::now();
    let mut trained = Vec::new();
    let mut stage = |s: &str| trained.push(s.to_owned());
    let mut observer = |_: &str, _: u64| -> Box<dyn TrainObserver> { Box::new(NoObserver) };
    let err = run(
        &setup,
        &dir.path().join("b"),
        &dir.path().join("r"),
        &mut Hooks {
            stage: &mut stage,
            observer: &mut observer,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`lr` = -1") && err.contains("(in [dqn])"),
        "{err}"
    );
    assert!(
        trained.iter().all(|s| !s.starts_with("training")),
        "{trained:?}"
    );
    assert!(t0.elapsed().as_secs() < 30);

    // Rules that forbid everything at the start are named.
    let tpl_dir = dir.path().join("template");
    copy_dir("policies/persuasion".as_ref(), &tpl_dir);
    let tracks = Bundle::load("policies/persuasion")
        .unwrap()
        .catalog()
        .tracks()
        .iter()
        .map(|t| format!("\"{}\"", t.id))
        .collect::<Vec<_>>()
        .join(", ");
    let rules = tpl_dir.join("rules/persuasion.rules");
    let mut text = std::fs::read_to_string(&rules).unwrap();
    text.push_str(&format!(
        "\nrule closed-at-start\n  because \"nothing before the greeting\"\n  when turn == 0\n  forbid tracks {tracks}\n"
    ));
    std::fs::write(&rules, text).unwrap();
    let mut setup = tiny(SimSetup::load(Path::new("configs/p4g_reference.toml")).unwrap());
    setup.data.template = Some(tpl_dir);
    let err = try_run(&setup, &dir.path().join("dead"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no track is allowed in the start state") && err.contains("`closed-at-start`"),
        "{err}"
    );
}
