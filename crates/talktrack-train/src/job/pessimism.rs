//! The pessimism stage: the strength of the penalty on thinly backed (state, track)
//! pairs the training simulator gets, chosen by cross-validation within the
//! conversations the policy trains on.
//!
//! For each candidate strength, the value-iteration policy of the shrunk, penalised
//! simulator of all choice folds but one is scored on the raw simulator of that one;
//! the best mean wins, the weakest on a tie. Value iteration stands in for PPO / DQN
//! here (they reach its optimum on the same simulator), which keeps the choice to a
//! few hundred simulator builds. Inside a cross-validation fold the choice sees only
//! that fold's training part, so the fold's held-out figures never saw it.

use serde::{Deserialize, Serialize};

use super::aggregate::read_options;
use super::simulator::Simulator;
use super::JobError;
use crate::aggregate::folds::{aggregate_folds_where, Folds};
use crate::config::SimSetup;
use crate::eval::plan::QPolicy;
use talktrack::tooling::BundleTemplate;

/// How the strength was set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChosenBy {
    /// `[pessimism] strength`.
    Config,
    /// Cross-validation over the candidates: (strength, mean held-out value) each.
    CrossValidation {
        /// Every candidate with its score.
        scores: Vec<(f64, f64)>,
    },
    /// The fallback, with the reason it could not be chosen.
    Fallback {
        /// Why.
        why: String,
    },
}

/// The strength the training simulator uses, and how it was set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PessimismChoice {
    /// The strength.
    pub strength: f64,
    /// How.
    pub chosen_by: ChosenBy,
}

/// Why the strength cannot be chosen on this setup, if it cannot.
fn cannot_choose(setup: &SimSetup, from_file: bool) -> Option<String> {
    if from_file {
        return Some("choosing it needs the individual conversations of the log, and the job trained from an aggregate file".into());
    }
    if setup.aggregate.epsilon.is_some() {
        return Some("choosing it would publish every conversation's data once more per fold, and the aggregates carry Laplace noise".into());
    }
    None
}

/// Chooses the strength for a policy trained on the log's conversations outside fold
/// `outer.1` of `outer` (all of them when `None`).
pub(super) fn choose(
    setup: &SimSetup,
    tpl: &BundleTemplate,
    from_file: bool,
    outer: Option<(Folds, usize)>,
) -> Result<PessimismChoice, JobError> {
    let p = &setup.pessimism;
    if let Some(strength) = p.strength {
        return Ok(PessimismChoice {
            strength,
            chosen_by: ChosenBy::Config,
        });
    }
    let fallback = |why: String| PessimismChoice {
        strength: p.fallback,
        chosen_by: ChosenBy::Fallback { why },
    };
    if let Some(why) = cannot_choose(setup, from_file) {
        return Ok(fallback(why));
    }
    let (folds, _) = aggregate_folds_where(
        setup.open_log()?,
        &setup.vocab(),
        setup.aggregate.clone(),
        read_options(setup),
        Folds {
            k: p.folds,
            seed: p.seed,
        },
        |id| outer.is_none_or(|(f, i)| f.fold_of(id) != i),
    )?;
    let mut sums = vec![0.0; p.candidates.len()];
    let mut used = 0usize;
    for fold in folds.into_iter().flatten() {
        let Ok(held) = Simulator::build(&fold.held, setup, tpl) else {
            continue;
        };
        let mut scores = Vec::with_capacity(p.candidates.len());
        for &c in &p.candidates {
            let Ok((train, _)) = Simulator::build_training(&fold.train, setup, tpl, c) else {
                break;
            };
            let Some(m) = train.exact_mdp() else {
                return Ok(fallback(
                    "the simulator's state carries track usage or a drawn context, and the choice plans on the (turn, last reply) simulator only".into(),
                ));
            };
            scores.push(held.evaluate(&QPolicy::optimal(m)).0);
        }
        if scores.len() == sums.len() {
            sums.iter_mut().zip(&scores).for_each(|(s, x)| *s += x);
            used += 1;
        }
    }
    if used == 0 {
        return Ok(fallback(
            "no fold of the choice has enough publishable data on both sides".into(),
        ));
    }
    let scores: Vec<(f64, f64)> = p
        .candidates
        .iter()
        .zip(&sums)
        .map(|(&c, &s)| (c, s / used as f64))
        .collect();
    let mut best = (f64::INFINITY, f64::NEG_INFINITY);
    for &(c, v) in &scores {
        if v > best.1 + 1e-12 || ((v - best.1).abs() <= 1e-12 && c < best.0) {
            best = (c, v);
        }
    }
    Ok(PessimismChoice {
        strength: best.0,
        chosen_by: ChosenBy::CrossValidation { scores },
    })
}
