//! The simulator's clock: rules reading `now` see `[sim] now`; a rule that can fire in
//! simulation without a clock is refused, and one that cannot is noted once.

mod synthetic;

use std::sync::Arc;

use rand::SeedableRng;
use synthetic::{TrueMdp, REPLIES};
use talktrack::tooling::BundleTemplate;
use talktrack_train::aggregate::aggregate_log;
use talktrack_train::config::SimSetup;
use talktrack_train::job::{run, Hooks, JobError};
use talktrack_train::log::ReadOptions;
use talktrack_train::sim::{LiveEnv, LiveSim};
use talktrack_train::train::env::MaskedEnv;
use talktrack_train::train::{NoObserver, TrainObserver};

/// A synthetic setup whose template forbids `t1` for 14 days after a purchase.
fn setup_with_clock_rule(dir: &std::path::Path) -> SimSetup {
    let truth = TrueMdp::random(8, 3, 0.5, 0.3);
    let mut setup = truth.setup(dir, 120, 8);
    let tpl = dir.join("tpl");
    let mut manifest = format!(
        "format = 1\nname = \"clock\"\nversion = \"0.1.0\"\ndescription = \"clock\"\nmax_turns = {}\nfallback = \"t0\"\nreplies = [{}]\nrules = [\"rules/clock.rules\"]\n\n[context]\nlast_purchase = {{ type = \"timestamp\", optional = true }}\n\n[[features]]\nkind = \"turn_one_hot\"\n\n[[features]]\nkind = \"last_reply_one_hot\"\n",
        truth.max_turns,
        REPLIES.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ")
    );
    for t in &truth.tracks {
        manifest.push_str(&format!("\n[[tracks]]\nid = \"{t}\"\ntext = \"{t}\"\n"));
    }
    std::fs::write(tpl.join("bundle.toml"), manifest).unwrap();
    std::fs::create_dir_all(tpl.join("rules")).unwrap();
    std::fs::write(
        tpl.join("rules/clock.rules"),
        "rule cooling-off\n  because \"no offer for 14 days after a purchase\"\n  when has customer.last_purchase and now - customer.last_purchase < 14d\n  forbid track t1\n",
    )
    .unwrap();
    setup.job.cv = false;
    setup.pessimism.strength = Some(0.0);
    setup
}

/// Whether `t1` is allowed at the start of a simulated conversation.
fn t1_allowed(setup: &SimSetup) -> bool {
    let tpl = BundleTemplate::load(setup.data.template.as_ref().unwrap()).unwrap();
    let (agg, _) = aggregate_log(
        setup.open_log().unwrap(),
        &setup.vocab(),
        setup.aggregate.clone(),
        ReadOptions::default(),
    )
    .unwrap();
    let sim = Arc::new(LiveSim::build(&agg, &setup.sim, &tpl).unwrap());
    let mut env = LiveEnv::new(sim);
    let mut obs = vec![0.0; env.obs_dim()];
    let mut mask = vec![false; env.n_actions()];
    env.reset(
        &mut rand::rngs::StdRng::seed_from_u64(0),
        &mut obs,
        &mut mask,
    );
    mask[1]
}

fn run_job(
    setup: &SimSetup,
    dir: &std::path::Path,
) -> Result<talktrack_train::job::JobOutput, JobError> {
    let mut stage = |_: &str| {};
    let mut observer = |_: &str, _: u64| -> Box<dyn TrainObserver> { Box::new(NoObserver) };
    run(
        setup,
        &dir.join("bundle"),
        &dir.join("report"),
        &mut Hooks {
            stage: &mut stage,
            observer: &mut observer,
        },
    )
}

#[test]
fn rules_reading_now_see_the_simulators_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = setup_with_clock_rule(dir.path());
    setup.sim.context.set(
        "last_purchase",
        talktrack::Value::Str("2026-01-10T00:00:00Z".into()),
    );
    setup.sim.now = Some("2026-01-15T00:00:00Z".into());
    assert!(!t1_allowed(&setup), "five days after the purchase");
    setup.sim.now = Some("2026-02-15T00:00:00Z".into());
    assert!(t1_allowed(&setup), "a month after the purchase");

    setup.sim.now = Some("yesterday".into());
    let err = run_job(&setup, dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("RFC 3339") && err.contains("yesterday"),
        "{err}"
    );

    // Without a clock the rule would compare against time 0: refused, saying what to set.
    setup.sim.now = None;
    let err = run_job(&setup, dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("`last_purchase`") && err.contains("now = ") && err.contains("[sim]"),
        "{err}"
    );
}

#[test]
fn without_a_timestamp_in_the_context_the_report_notes_the_missing_clock_once() {
    let dir = tempfile::tempdir().unwrap();
    let setup = setup_with_clock_rule(dir.path());
    let job = run_job(&setup, dir.path()).unwrap();
    let notes: Vec<_> = job
        .report
        .notes
        .iter()
        .filter(|n| n.contains("evaluated at no time"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", job.report.notes);

    // With a clock, no note.
    let mut timed = setup.clone();
    timed.sim.now = Some("2026-01-15T00:00:00Z".into());
    let job = run_job(&timed, &dir.path().join("timed")).unwrap();
    assert!(!job
        .report
        .notes
        .iter()
        .any(|n| n.contains("evaluated at no time")));
}
