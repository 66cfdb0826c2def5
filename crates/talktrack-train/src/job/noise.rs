//! The noise stage: with Laplace noise in the aggregates (`[aggregate] epsilon`), what
//! it costs — the noisy-trained policy evaluated on the noise-free simulator.

use super::aggregate::{aggregate, TrainingData};
use super::simulator::Simulator;
use super::{Hooks, JobError};
use crate::aggregate::AggregateConfig;
use crate::config::SimSetup;
use crate::report::NoiseSummary;
use crate::train::mlp::PlainMlp;
use talktrack::tooling::BundleTemplate;

/// The stage: the cost of the noise, or `None` (no noise, no exported network, or,
/// with the reason in `notes`, no log to aggregate without noise).
pub(super) fn stage(
    setup: &SimSetup,
    tpl: &BundleTemplate,
    data: &TrainingData,
    export_net: Option<&PlainMlp>,
    hooks: &mut Hooks<'_>,
    notes: &mut Vec<String>,
) -> Result<Option<NoiseSummary>, JobError> {
    let agg = &data.agg;
    Ok(match (agg.config.epsilon, export_net) {
        (Some(_), Some(_)) if data.from_file.is_some() => {
            notes.push(
                "cost of the noise not measured: it needs the noise-free aggregation of the log, and the job trained from an aggregate file".into(),
            );
            None
        }
        (Some(epsilon), Some(net)) => {
            (hooks.stage)("measuring the cost of the noise");
            let clean_cfg = AggregateConfig {
                epsilon: None,
                ..setup.aggregate.clone()
            };
            let (clean, _) = aggregate(setup, clean_cfg)?;
            let clean = Simulator::build(&clean, setup, tpl)?;
            let policy = crate::train::GreedyPolicy { net: net.clone() };
            let value = clean.evaluate(&policy).0;
            Some(NoiseSummary {
                epsilon,
                // Without enumeration the reference is the noise-free best single track.
                optimum_clean: clean
                    .optimum()
                    .unwrap_or_else(|| clean.baselines(agg).best_single.1),
                policy_value_clean: value,
            })
        }
        _ => None,
    })
}
