//! The train stage: each algorithm of `[job] algorithms` trained on the simulator,
//! in order, then evaluated (see [`super::evaluate`]).

use super::evaluate::run_summary;
use super::simulator::Simulator;
use super::{Hooks, JobError};
use crate::config::{Algorithm, SimSetup};
use crate::report::{BaselineSummary, RunSummary};
use crate::train::mlp::PlainMlp;
use crate::train::{train_dqn, train_ppo, TrainOutcome};

/// What the train stage produced.
pub(super) struct Trained {
    /// One summary per algorithm, in `[job] algorithms` order.
    pub runs: Vec<RunSummary>,
    /// The network of `[job] export`, when it was trained.
    pub export_net: Option<PlainMlp>,
}

/// The stage: trains and evaluates every algorithm of the job.
pub(super) fn stage(
    setup: &SimSetup,
    sim: &Simulator,
    base: &BaselineSummary,
    hooks: &mut Hooks<'_>,
) -> Result<Trained, JobError> {
    let job = &setup.job;
    let mut runs = Vec::new();
    let mut export_net = None;
    for &algo in &job.algorithms {
        (hooks.stage)(&format!("training {}", algo.name().to_uppercase()));
        let out = train(algo, setup, sim, hooks)?;
        runs.push(run_summary(algo, setup, sim, base, &out)?);
        if algo == job.export {
            export_net = Some(out.net.clone());
        }
    }
    Ok(Trained { runs, export_net })
}

/// Trains `algo` on `sim`, following it with the caller's observer.
pub(super) fn train(
    algo: Algorithm,
    setup: &SimSetup,
    sim: &Simulator,
    hooks: &mut Hooks<'_>,
) -> Result<TrainOutcome, JobError> {
    let env = sim.env();
    let ev = sim.train_evaluator();
    let name = algo.name();
    let result = match algo {
        Algorithm::Ppo => {
            let mut obs = (hooks.observer)(name, setup.ppo.run.total_steps);
            train_ppo(&*env, Some(ev), &setup.ppo, obs.as_mut())
        }
        Algorithm::Dqn => {
            let mut obs = (hooks.observer)(name, setup.dqn.run.total_steps);
            train_dqn(&*env, Some(ev), &setup.dqn, obs.as_mut())
        }
    };
    result.map_err(|source| JobError::Train {
        algorithm: name,
        source,
    })
}

/// The seed `algo` trains with.
pub(super) fn seed_of(algo: Algorithm, setup: &SimSetup) -> u64 {
    match algo {
        Algorithm::Ppo => setup.ppo.run.seed,
        Algorithm::Dqn => setup.dqn.run.seed,
    }
}
