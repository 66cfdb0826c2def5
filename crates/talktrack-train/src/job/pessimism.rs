//! The pessimism stage: the strength of the penalty on thinly backed (state, track)
//! pairs the training simulator gets, chosen by cross-validation within the
//! conversations the policy trains on.
//!
//! For each candidate (a pessimism strength, jointly with a shrinkage scale when
//! `[shrink] candidates` lists several), the value-iteration policy of the shrunk,
//! penalised simulator of all choice folds but one is scored on the raw simulator of
//! that one, over `repeats` splits; the best mean wins (the weakest on a tie), or with
//! `rule = "one_se"` the weakest within one standard error of the best. Value iteration stands in for PPO / DQN
//! here (they reach its optimum on the same simulator), which keeps the choice to a
//! few hundred simulator builds. Inside a cross-validation fold the choice sees only
//! that fold's training part, so the fold's held-out figures never saw it.

use serde::{Deserialize, Serialize};

use super::aggregate::read_options;
use super::simulator::Simulator;
use super::JobError;
use crate::aggregate::folds::{aggregate_folds_where, Folds};
use crate::config::{SelectionRule, SimSetup};
use crate::eval::plan::QPolicy;
use talktrack::tooling::BundleTemplate;

/// One candidate of the choice: a shrinkage scale and a pessimism strength, with its
/// mean held-out value over the choice's folds and that mean's standard error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// The `[shrink]` scale.
    pub shrink_scale: f64,
    /// The pessimism strength.
    pub strength: f64,
    /// Mean held-out value of its value-iteration policy.
    pub value: f64,
    /// Standard error of that mean over the folds.
    pub se: f64,
}

/// How the strength was set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChosenBy {
    /// `[pessimism] strength`.
    Config,
    /// Cross-validation over the candidates, each with its score.
    CrossValidation {
        /// Every candidate with its score, weakest first.
        scores: Vec<CandidateScore>,
        /// Folds scored (over all repeats).
        folds: usize,
    },
    /// The fallback, with the reason it could not be chosen.
    Fallback {
        /// Why.
        why: String,
    },
}

/// The strength and shrinkage scale the training simulator uses, and how they were
/// set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PessimismChoice {
    /// The strength.
    pub strength: f64,
    /// The `[shrink]` scale chosen with it (`[shrink] scale` unless chosen).
    #[serde(default = "one")]
    pub shrink_scale: f64,
    /// How.
    pub chosen_by: ChosenBy,
}

fn one() -> f64 {
    1.0
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

/// The candidates, weakest first: (shrink scale, strength) ordered by strength, then
/// scale.
fn grid(setup: &SimSetup) -> Vec<(f64, f64)> {
    let mut g: Vec<(f64, f64)> = setup
        .pessimism
        .candidates
        .iter()
        .flat_map(|&c| setup.shrink.scales().into_iter().map(move |s| (s, c)))
        .collect();
    g.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.total_cmp(&b.0)));
    g.dedup();
    g
}

/// Mean and standard error of `xs` (at least one value).
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (m, 0.0);
    }
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// The index of the winner among `rows` (per candidate, its value in each fold), by
/// `rule`; candidates are ordered weakest first.
pub(crate) fn winner(rows: &[Vec<f64>], rule: SelectionRule) -> usize {
    let means: Vec<f64> = rows.iter().map(|r| mean_se(r).0).collect();
    let mut best = 0;
    for (i, &m) in means.iter().enumerate() {
        if m > means[best] + 1e-12 {
            best = i;
        }
    }
    match rule {
        SelectionRule::Best => best,
        SelectionRule::OneSe => rows
            .iter()
            .position(|r| {
                let d: Vec<f64> = rows[best].iter().zip(r).map(|(b, x)| b - x).collect();
                let (m, se) = mean_se(&d);
                m <= se + 1e-12
            })
            .unwrap_or(best),
    }
}

/// Chooses the strength (and the shrinkage scale, when `[shrink] candidates` lists
/// several) for a policy trained on the log's conversations outside fold `outer.1`
/// of `outer` (all of them when `None`).
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
            shrink_scale: setup.shrink.scale,
            chosen_by: ChosenBy::Config,
        });
    }
    let fallback = |why: String| PessimismChoice {
        strength: p.fallback,
        shrink_scale: setup.shrink.scale,
        chosen_by: ChosenBy::Fallback { why },
    };
    if let Some(why) = cannot_choose(setup, from_file) {
        return Ok(fallback(why));
    }
    let grid = grid(setup);
    // Per candidate, its held-out value in every scored fold of every repeat.
    let mut rows: Vec<Vec<f64>> = vec![Vec::new(); grid.len()];
    for r in 0..u64::from(p.repeats) {
        let (folds, _) = aggregate_folds_where(
            setup.open_log()?,
            &setup.vocab(),
            setup.aggregate.clone(),
            read_options(setup),
            Folds {
                k: p.folds,
                seed: p.seed.wrapping_add(r),
            },
            |id| outer.is_none_or(|(f, i)| f.fold_of(id) != i),
        )?;
        for fold in folds.into_iter().flatten() {
            let Ok(held) = Simulator::build(&fold.held, setup, tpl) else {
                continue;
            };
            let mut scores = Vec::with_capacity(grid.len());
            for &(scale, c) in &grid {
                let Ok((train, _)) = Simulator::build_training(&fold.train, setup, tpl, scale, c)
                else {
                    break;
                };
                let Some(m) = train.exact_mdp() else {
                    return Ok(fallback(
                        "the simulator's state carries track usage or a drawn context, and the choice plans on the (turn, last reply) simulator only".into(),
                    ));
                };
                scores.push(held.evaluate(&QPolicy::optimal(m)).0);
            }
            if scores.len() == grid.len() {
                rows.iter_mut().zip(scores).for_each(|(row, x)| row.push(x));
            }
        }
    }
    let used = rows.first().map_or(0, Vec::len);
    if used == 0 {
        return Ok(fallback(
            "no fold of the choice has enough publishable data on both sides".into(),
        ));
    }
    let w = winner(&rows, p.rule);
    let scores = grid
        .iter()
        .zip(&rows)
        .map(|(&(shrink_scale, strength), row)| {
            let (value, se) = mean_se(row);
            CandidateScore {
                shrink_scale,
                strength,
                value,
                se,
            }
        })
        .collect();
    Ok(PessimismChoice {
        strength: grid[w].1,
        shrink_scale: grid[w].0,
        chosen_by: ChosenBy::CrossValidation {
            scores,
            folds: used,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_mean_wins_and_one_standard_error_keeps_a_weaker_candidate_within_noise() {
        // Weakest first. The strongest has the best mean (0.6): against the weakest
        // the paired differences are 0.1, −0.05, 0, 0 (mean 0.0125, standard error
        // 0.0315), within one standard error.
        let rows = vec![
            vec![0.5, 0.65, 0.6, 0.6],
            vec![0.4, 0.6, 0.6, 0.6],
            vec![0.6, 0.6, 0.6, 0.6],
        ];
        assert_eq!(winner(&rows, SelectionRule::Best), 2);
        assert_eq!(winner(&rows, SelectionRule::OneSe), 0);
        // A candidate better in every fold is not within noise of the weaker ones.
        let rows = vec![vec![0.5, 0.55, 0.6], vec![0.6, 0.66, 0.7]];
        assert_eq!(winner(&rows, SelectionRule::OneSe), 1);
        // A tie goes to the weakest.
        let rows = vec![vec![0.5, 0.6], vec![0.5, 0.6]];
        assert_eq!(winner(&rows, SelectionRule::Best), 0);
    }
}
