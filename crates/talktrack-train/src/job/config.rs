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
    check_clock(setup, &tpl)?;
    crate::sim::contacts::resolve(&setup.sim, &tpl)?;
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

/// A rule reading `now` that can fire in simulation — the template's rules read
/// `now` and `[sim] context` sets a timestamp attribute they can compare it with —
/// needs the simulator's clock, `[sim] now`.
fn check_clock(setup: &SimSetup, tpl: &BundleTemplate) -> Result<(), JobError> {
    if setup.sim.now.is_some() || !tpl.rules().reads_now() {
        return Ok(());
    }
    let stamps: Vec<&str> = setup
        .sim
        .context
        .entries()
        .iter()
        .filter(|(name, _)| {
            tpl.schema()
                .get(name)
                .is_some_and(|d| d.ty == talktrack::tooling::AttrType::Timestamp)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if stamps.is_empty() {
        return Ok(());
    }
    Err(JobError::Setup(SetupError::Invalid(format!(
        "the template's rules read `now`, and `[sim] context` sets the timestamp attribute{} `{}`: set the simulator's clock, `now = \"2026-01-15T10:00:00Z\"` (RFC 3339) in [sim], or those rules compare against time 0",
        if stamps.len() == 1 { "" } else { "s" },
        stamps.join("`, `")
    ))))
}

/// The report's note when rules read `now` and the simulator has no clock.
pub(super) fn clock_note(setup: &SimSetup, tpl: &BundleTemplate) -> Option<String> {
    (setup.sim.now.is_none() && tpl.rules().reads_now()).then(|| {
        "rules reading `now` were evaluated at no time (time 0, 1970-01-01): set `now` in [sim] (RFC 3339) to simulate them at a given time".to_owned()
    })
}

/// The report's note on the contact history the simulator assumed (`[sim]
/// contacts`), or on its absence when the rules count contacts.
pub(super) fn contacts_note(setup: &SimSetup, tpl: &BundleTemplate) -> Option<String> {
    crate::sim::contacts::note(&setup.sim, tpl.rules().reads_contacts())
}
