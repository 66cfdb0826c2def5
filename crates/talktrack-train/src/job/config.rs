//! The config stage: the template loaded, and everything that can be checked before any
//! work starts — that the simulator can represent what the template reads, and the
//! hyper-parameters of every algorithm the job will train.

use super::simulator::check_simulable;
use super::JobError;
use crate::config::{Algorithm, SetupError, SimSetup};
use talktrack::tooling::BundleTemplate;

/// The stage: the template of `[data] template`, once everything checks.
pub(super) fn stage(setup: &SimSetup) -> Result<BundleTemplate, JobError> {
    let job = &setup.job;
    let tpl = setup
        .load_template()?
        .ok_or_else(|| SetupError::Template("name the bundle `template` in `[data]`".into()))?;
    check_simulable(&tpl)?;
    // Every algorithm the job will train, checked before any of them starts.
    let mut algos = job.algorithms.clone();
    setup.shrink.validate().map_err(SetupError::Invalid)?;
    setup.pessimism.validate().map_err(SetupError::Invalid)?;
    if job.cv {
        algos.push(setup.cv.algorithm);
        setup
            .cv
            .validate()
            .map_err(|e| SetupError::Invalid(e.to_string()))?;
    }
    for algo in algos {
        let checked = match algo {
            Algorithm::Ppo => setup.ppo.validate(),
            Algorithm::Dqn => setup.dqn.validate(),
        };
        checked.map_err(|source| JobError::Train {
            algorithm: algo.name(),
            source,
        })?;
    }
    Ok(tpl)
}
