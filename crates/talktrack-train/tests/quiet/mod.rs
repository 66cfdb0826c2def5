//! Running a trainer job with no progress output, and asking the simulator what
//! its first turn allows: shared by the tests of the simulator's clock and contacts.

use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use talktrack::tooling::BundleTemplate;
use talktrack_train::config::SimSetup;
use talktrack_train::job::{run, Hooks, JobError, JobOutput};
use talktrack_train::log::ReadOptions;
use talktrack_train::sim::{LiveEnv, LiveSim};
use talktrack_train::train::env::MaskedEnv;
use talktrack_train::train::{NoObserver, TrainObserver};

/// Whether track number `track` is allowed at the start of a simulated conversation.
pub fn allowed_at_start(setup: &SimSetup, track: usize) -> bool {
    let tpl = BundleTemplate::load(setup.data.template.as_ref().unwrap()).unwrap();
    let agg = setup.aggregate_file(ReadOptions::default()).unwrap();
    let sim = Arc::new(LiveSim::build(&agg, &setup.sim, &tpl).unwrap());
    let mut env = LiveEnv::new(sim);
    let mut obs = vec![0.0; env.obs_dim()];
    let mut mask = vec![false; env.n_actions()];
    env.reset(
        &mut rand::rngs::StdRng::seed_from_u64(0),
        &mut obs,
        &mut mask,
    );
    mask[track]
}

/// Runs the whole job, writing the bundle and the report under `dir`.
pub fn run_job(setup: &SimSetup, dir: &Path) -> Result<JobOutput, JobError> {
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
