//! The evaluate stage: a trained network's value on the simulator next to the optimum
//! and the baselines, with its rule violations (a violation stops the job); and the
//! same evaluation for the policy of a served bundle (`talktrack-train eval`).

use serde::Serialize;

use super::simulator::{check_simulable, Simulator};
use super::train::seed_of;
use super::JobError;
use crate::config::{Algorithm, SetupError, SimSetup};
use crate::report::{BaselineSummary, RunSummary};
use crate::train::env::ActionPolicy;
use crate::train::TrainOutcome;
use talktrack::tooling::BundleTemplate;

/// Evaluates the greedy policy of a training run: its summary for the report.
pub(super) fn run_summary(
    algo: Algorithm,
    setup: &SimSetup,
    sim: &Simulator,
    base: &BaselineSummary,
    out: &TrainOutcome,
) -> Result<RunSummary, JobError> {
    let (value, ci95, violations) = sim.evaluate(&out.greedy());
    if violations > 0 {
        return Err(JobError::Violations {
            algorithm: algo.name(),
            states: violations,
        });
    }
    Ok(RunSummary {
        algorithm: algo.name().into(),
        seed: seed_of(algo, setup),
        value,
        ci95,
        fraction: base.optimum.map(|o| if o > 0.0 { value / o } else { 0.0 }),
        env_steps: out.env_steps,
        wall_secs: out.wall_secs,
        steps_per_sec: out.steps_per_sec(),
        secs_to: [
            out.curve.secs_to(0.95),
            out.curve.secs_to(0.98),
            out.curve.secs_to(0.995),
        ],
        violations_training: out.violations,
        violations_eval: violations,
        curve: out.curve.points.clone(),
    })
}

/// The value of a served bundle's policy on a config's simulator, next to the baselines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BundleEvaluation {
    /// The greedy policy's value (exact, or the simulated mean).
    pub value: f64,
    /// Half-width of its 95% confidence interval (simulated evaluation only).
    pub ci95: Option<f64>,
    /// Rule violations: states (exact) or steps (simulated) where it picks a forbidden track.
    pub violations: u64,
    /// The baselines (with the optimum when the state space is enumerated).
    pub baselines: BaselineSummary,
}

/// Evaluates `bundle`'s policy (greedy over its scores among the allowed tracks) on
/// the simulator `setup` describes: exactly when enumerable, by simulation otherwise.
///
/// The bundle must fit the config: the same catalog, reply vocabulary and turn limit,
/// and the observation width of the config's template. Masks and observations come
/// from the bundle itself (its rules, generated ones included, and its feature spec):
/// what it serves is what is evaluated. A policy that cannot score an observation is
/// an error, not a value.
pub fn evaluate_bundle(
    setup: &SimSetup,
    bundle: &talktrack::Bundle,
) -> Result<BundleEvaluation, JobError> {
    let tpl = setup
        .load_template()?
        .ok_or_else(|| SetupError::Template("name the bundle `template` in `[data]`".into()))?;
    check_bundle_fits(setup, &tpl, bundle)?;
    let own = bundle.as_template();
    check_simulable(own)?;
    let (agg, _) = super::aggregate::load_aggregates(setup)?;
    let sim = Simulator::build(&agg, setup, own)?;
    struct Served<'a> {
        bundle: &'a talktrack::Bundle,
        error: std::sync::Mutex<Option<String>>,
    }
    impl ActionPolicy for Served<'_> {
        fn probs(&self, obs: &[f32], mask: &[bool], out: &mut [f32]) {
            let mut s = vec![0.0; out.len()];
            let ok = match self.bundle.policy().scores(obs, &mut s) {
                Ok(()) => true,
                Err(e) => {
                    if let Ok(mut first) = self.error.lock() {
                        first.get_or_insert_with(|| e.to_string());
                    }
                    false
                }
            };
            out.iter_mut().for_each(|x| *x = 0.0);
            let best = (0..s.len())
                .filter(|&a| mask.get(a).copied().unwrap_or(false) && ok && s[a].is_finite())
                .max_by(|&a, &c| s[a].total_cmp(&s[c]));
            if let Some(x) = best.and_then(|a| out.get_mut(a)) {
                *x = 1.0;
            }
        }
    }
    let served = Served {
        bundle,
        error: std::sync::Mutex::new(None),
    };
    let (value, ci95, violations) = sim.evaluate(&served);
    if let Some(e) = served.error.lock().ok().and_then(|mut e| e.take()) {
        return Err(JobError::Bundle(format!(
            "`{}`: its policy cannot score the simulator's observations: {e}",
            bundle.dir().display()
        )));
    }
    Ok(BundleEvaluation {
        value,
        ci95,
        violations,
        baselines: sim.baselines(&agg),
    })
}

/// Checks that `bundle` can be evaluated on the simulator of `setup` (template `tpl`).
fn check_bundle_fits(
    setup: &SimSetup,
    tpl: &BundleTemplate,
    bundle: &talktrack::Bundle,
) -> Result<(), JobError> {
    let fail = |what: String| {
        Err(JobError::Bundle(format!(
            "`{}` does not fit the config's simulator (template `{}`): {what}; evaluate it with a config whose template it was trained from",
            bundle.dir().display(),
            tpl.dir().display()
        )))
    };
    let ids: Vec<&str> = bundle
        .catalog()
        .tracks()
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    if ids
        != setup
            .data
            .tracks
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    {
        return fail(format!(
            "its catalog [{}] differs from the config's [{}]",
            ids.join(", "),
            setup.data.tracks.join(", ")
        ));
    }
    if bundle.manifest().replies != setup.data.replies {
        return fail(format!(
            "its replies [{}] differ from the config's [{}]",
            bundle.manifest().replies.join(", "),
            setup.data.replies.join(", ")
        ));
    }
    if bundle.manifest().max_turns != setup.aggregate.max_turns {
        return fail(format!(
            "its max_turns = {} differs from the config's {}",
            bundle.manifest().max_turns,
            setup.aggregate.max_turns
        ));
    }
    if bundle.features().dim() != tpl.features().dim() {
        return fail(format!(
            "its observation has {} floats, the template's {}",
            bundle.features().dim(),
            tpl.features().dim()
        ));
    }
    Ok(())
}
