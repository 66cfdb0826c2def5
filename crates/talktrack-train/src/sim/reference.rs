//! The PersuasionForGood reference MDP, built from the config and the log shipped in
//! the repository (read from the source tree: `configs/p4g_reference.toml` and
//! `data/persuasionforgood/p4g.jsonl`).
//!
//! Its exact figures, computed independently by `crates/talktrack-train/reference/p4g_mdp.py`:
//! optimum 0.7693, best single track 0.6884, uniform random 0.4534, logged behaviour
//! (unthresholded) 0.3018. `tests/p4g_reference.rs` checks them.

use std::sync::Arc;

use crate::aggregate::{aggregate_log, AggregateConfig, Aggregates};
use crate::eval::ExactEvaluator;
use crate::log::ReadOptions;

use super::{Mdp, RulesMask, SimEnv};
use crate::config::{SetupError, SimSetup};

/// `configs/p4g_reference.toml` in the source tree (it names `policies/persuasion` as its template).
pub const P4G_REFERENCE_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../configs/p4g_reference.toml"
);

/// `data/persuasionforgood/p4g.jsonl` in the source tree (derived from
/// PersuasionForGood, Apache-2.0).
pub const P4G_LOG_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/persuasionforgood/p4g.jsonl"
);

/// The shipped log's text.
pub fn p4g_log() -> Result<String, SetupError> {
    std::fs::read_to_string(P4G_LOG_PATH).map_err(|source| SetupError::Io {
        path: P4G_LOG_PATH.into(),
        source,
    })
}

/// The reference setup.
pub fn p4g_reference_setup() -> Result<SimSetup, SetupError> {
    SimSetup::load(std::path::Path::new(P4G_REFERENCE_CONFIG))
}

/// Aggregates of the shipped log under `cfg` (the reference's, or a variant of it).
pub fn p4g_aggregates(setup: &SimSetup, cfg: AggregateConfig) -> Result<Aggregates, SetupError> {
    let log = p4g_log()?;
    let (agg, _) = aggregate_log(log.as_bytes(), &setup.vocab(), cfg, ReadOptions::default())?;
    Ok(agg)
}

/// The reference MDP, masked by the template's rules (written in the rules
/// language, compiled and evaluated by the runtime's engine).
pub fn p4g_reference_mdp() -> Result<Arc<Mdp>, SetupError> {
    let setup = p4g_reference_setup()?;
    let agg = p4g_aggregates(&setup, setup.aggregate.clone())?;
    let tpl = setup
        .load_template()?
        .ok_or_else(|| SetupError::Template("the reference config names no template".into()))?;
    let rules = RulesMask::new(tpl.rules(), tpl.fallback());
    Ok(Arc::new(Mdp::build(
        &agg,
        &setup.sim,
        &rules,
        tpl.features(),
    )?))
}

/// The reference environment and its exact evaluator, sharing one MDP.
pub fn p4g_reference_env() -> Result<(SimEnv, ExactEvaluator), SetupError> {
    let mdp = p4g_reference_mdp()?;
    Ok((SimEnv::new(Arc::clone(&mdp)), ExactEvaluator::new(mdp)))
}
