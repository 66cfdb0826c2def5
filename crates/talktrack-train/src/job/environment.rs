//! The job's simulator for learners outside the trainer (the Python package's
//! gymnasium environment): built from the same config, template and aggregates as
//! `talktrack-train train`, with nothing trained.

use super::simulator::Simulator;
use super::JobError;
use crate::config::SimSetup;
use crate::train::env::MaskedEnv;

/// The environment `talktrack-train train` would learn on for `setup`: the
/// template checked and loaded, the aggregates read (or the log aggregated), the
/// simulator built. The hyper-parameters of `[ppo]` / `[dqn]` are checked too, as
/// the job does, so a config that trains is a config that builds here and back.
pub fn environment(setup: &SimSetup) -> Result<Box<dyn MaskedEnv>, JobError> {
    let tpl = super::config::stage(setup)?;
    let (agg, _) = super::aggregate::load_aggregates(setup)?;
    Ok(Simulator::build(&agg, setup, &tpl)?.env())
}
