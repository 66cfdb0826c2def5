//! Off-policy evaluation: how a bundle would have done on logged conversations,
//! estimated from the conversations themselves (`talktrack-train ope`).
//!
//! Unlike the simulator, which reads only privacy-thresholded aggregates, this reads
//! individual logged conversations. Per logged turn the bundle is replayed
//! ([`replay`]) to get its selection probability of the track the agent used; the
//! behaviour probability comes from the log or is estimated ([`behaviour`]); the
//! direct model is cross-fitted by conversation ([`direct`]); the estimators and
//! their bootstrap intervals are in [`estimators`]. The same replay tells the impact
//! of the bundle's rules on the logs (logged tracks they now forbid, by rule;
//! conversations that would reach the fallback or no choice) and the fingerprint of
//! the bundle's training conversations ([`fingerprint`]) whether the logs overlap
//! them. [`report`] renders the result for a person.
//!
//! A conversation enters the estimates when every one of its turns replays under
//! every bundle evaluated and has a behaviour probability; the others are counted
//! and left out, so that two bundles are always compared on the same conversations.

pub mod behaviour;
pub mod direct;
pub mod estimators;
pub mod fingerprint;
pub mod replay;
pub mod report;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use talktrack::Bundle;

use self::behaviour::{Behaviour, SourceCounts};
use self::direct::DirectModel;
use self::estimators::{
    bootstrap, effective_sample_size, estimate, paired_dr_difference, resamples, Estimates,
    Interval, Intervals, Step, Trajectory,
};
use self::fingerprint::Fingerprint;
use self::replay::{NotReplayable, ReplayedConversation, Replayer};
use crate::aggregate::folds::Folds;
use crate::aggregate::shrink::ShrinkConfig;
use crate::aggregate::{AggregateConfig, Aggregator};
use crate::log::{Conversation, LogReader, ReadOptions, ReadStats, Vocab};

/// Below this effective sample size (in conversations) the report warns.
pub const ESS_FLOOR: f64 = 30.0;

/// Below this share of the evaluated conversations the report warns too.
pub const ESS_SHARE: f64 = 0.1;

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct OpeOptions {
    /// Bootstrap resamples of the conversations (default 1,000).
    pub resamples: usize,
    /// Seed of the bootstrap (default 0).
    pub seed: u64,
    /// Folds of the direct model's cross-fitting (default 5).
    pub folds: u32,
    /// How the direct model's and the behaviour's aggregates are built.
    pub aggregate: AggregateConfig,
    /// How the direct model's cells are shrunk.
    pub shrink: ShrinkConfig,
}

impl OpeOptions {
    /// The defaults, with the turn limit of `bundle`.
    pub fn for_bundle(bundle: &Bundle) -> Self {
        Self {
            resamples: 1000,
            seed: 0,
            folds: 5,
            aggregate: AggregateConfig {
                max_turns: bundle.manifest().max_turns,
                ..AggregateConfig::default()
            },
            shrink: ShrinkConfig::default(),
        }
    }
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum OpeError {
    /// The log could not be read.
    #[error("cannot read the log `{path}`: {source}")]
    Log {
        /// The file.
        path: String,
        /// Why.
        source: crate::log::LogError,
    },
    /// The log has no conversation the bundle's vocabulary accepts.
    #[error("the log `{path}` has no valid conversation ({bad} bad lines skipped)")]
    #[diagnostic(help(
        "the log's tracks and replies must be the bundle's catalog and reply vocabulary"
    ))]
    Empty {
        /// The file.
        path: String,
        /// Bad lines.
        bad: u64,
    },
    /// Two bundles to compare do not have the same tracks.
    #[error("the bundles `{a}` and `{b}` do not have the same catalog: {detail}")]
    CatalogMismatch {
        /// One bundle.
        a: String,
        /// The other.
        b: String,
        /// Which tracks differ.
        detail: String,
    },
    /// The aggregate configuration is wrong.
    #[error("{0}")]
    Aggregate(#[from] crate::aggregate::AggregateError),
}

/// The conversations of a log, checked against a bundle's vocabulary.
pub struct Logs {
    /// The file read.
    pub path: String,
    /// Valid conversations.
    pub conversations: Vec<Conversation>,
    /// What the reader saw.
    pub stats: ReadStats,
}

/// The vocabulary of `bundle`: its catalog and its replies.
pub fn vocab_of(bundle: &Bundle) -> Vocab {
    let c = bundle.catalog();
    Vocab::new(
        (0..c.len())
            .map(|i| c.track(i).map_or_else(String::new, |t| t.id.clone()))
            .collect(),
        bundle.manifest().replies.clone(),
    )
}

/// Reads the log at `path` with the vocabulary `vocab` (bad lines skipped and counted).
pub fn read_logs(path: &Path, vocab: &Vocab) -> Result<Logs, OpeError> {
    let shown = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| OpeError::Log {
        path: shown.clone(),
        source: e.into(),
    })?;
    let mut reader = LogReader::new(std::io::BufReader::new(f), vocab, ReadOptions::default());
    let mut conversations = Vec::new();
    for c in reader.by_ref() {
        conversations.push(c.map_err(|source| OpeError::Log {
            path: shown.clone(),
            source,
        })?);
    }
    let stats = reader.into_stats();
    if conversations.is_empty() {
        return Err(OpeError::Empty {
            path: shown,
            bad: stats.bad,
        });
    }
    Ok(Logs {
        path: shown,
        conversations,
        stats,
    })
}

/// Which bundle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BundleId {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its digest.
    pub digest: String,
}

/// What the bundle's rules do to the logged conversations.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RuleImpact {
    /// Logged turns (replayed) whose track the rules now forbid.
    pub forbidden_logged: u64,
    /// The same, per masking rule (a turn masked by two rules counts for both).
    pub by_rule: BTreeMap<String, u64>,
    /// Conversations with a turn where no regular track was allowed (fallback).
    pub fallback_conversations: u64,
    /// Conversations with a turn where not even the fallback was allowed.
    pub no_choice_conversations: u64,
}

/// Logged turns the bundle could not be replayed on.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NotReplayed {
    /// Turns.
    pub decisions: u64,
    /// Conversations with at least one.
    pub conversations: u64,
    /// Turns per reason (`time missing`, `context attribute `x` missing`, ...).
    pub by_reason: BTreeMap<String, u64>,
}

/// The logs against the bundle's training conversations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Overlap {
    /// Logged conversations the fingerprint matches.
    pub matched: u64,
    /// Of the logged conversations.
    pub of: u64,
    /// How many would match by chance.
    pub expected_by_chance: f64,
    /// More match than chance explains.
    pub overlaps: bool,
}

/// One bundle's evaluation on the logs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyEvaluation {
    /// The bundle.
    pub bundle: BundleId,
    /// The estimated conversion rate (on the evaluated conversations).
    pub estimates: Option<Estimates>,
    /// Their 95% bootstrap intervals by conversation.
    pub intervals: Option<Intervals>,
    /// Effective sample size of the importance weights, in conversations.
    pub effective_sample_size: f64,
    /// Whether it is below the warning threshold.
    pub low_effective_sample_size: bool,
    /// Every selection probability on the logged turns is 0 or 1 (a greedy bundle):
    /// a conversation weighs only when the logged agents did exactly what it would.
    pub deterministic: bool,
    /// Conversations with a non-zero weight.
    pub nonzero_weight: u64,
    /// Estimated share of the bundle's choices per track on the conversations it would
    /// have had (decisions weighted by the weight of the turns before them,
    /// self-normalised), beside the logged share; catalog order.
    pub selection: Vec<SelectionShare>,
    /// What its rules do to the logged conversations.
    pub rules: RuleImpact,
    /// Turns it could not be replayed on.
    pub not_replayed: NotReplayed,
    /// The logs against its training conversations (`None`: no fingerprint recorded).
    pub training_overlap: Option<Overlap>,
}

/// One track's share of the choices.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SelectionShare {
    /// The track.
    pub track: String,
    /// The bundle's estimated share.
    pub bundle: f64,
    /// The logged agents' share on the evaluated conversations.
    pub logged: f64,
}

/// Bundle minus baseline, paired by conversation (doubly robust).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Difference {
    /// Point estimate.
    pub estimate: f64,
    /// 95% paired bootstrap interval.
    pub interval: Interval,
}

/// Where the behaviour probabilities came from, overall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BehaviourSource {
    /// Every turn has a logged propensity.
    Logged,
    /// No turn has one: estimated from the log's aggregates.
    Estimated,
    /// Some turns logged, the others estimated.
    Mixed,
}

/// The whole evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpeReport {
    /// The log read.
    pub log: String,
    /// Conversations read.
    pub conversations: u64,
    /// Bad lines skipped.
    pub bad_lines: u64,
    /// Conversations in the estimates.
    pub evaluated: u64,
    /// Left out: a turn did not replay under some bundle.
    pub left_out_not_replayable: u64,
    /// Left out: a turn without a behaviour probability.
    pub left_out_behaviour_unknown: u64,
    /// The logged conversion rate of the evaluated conversations.
    pub logged_conversion: f64,
    /// Where the behaviour probabilities came from.
    pub behaviour: BehaviourSource,
    /// Per source, the turns.
    pub behaviour_turns: SourceCounts,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Cross-fitting folds of the direct model.
    pub folds: u32,
    /// Folds whose direct model had no published cell (it is the mean conversion rate).
    pub unfitted_folds: usize,
    /// The effective-sample-size warning threshold used, in conversations.
    pub ess_threshold: f64,
    /// The bundle, then the baseline when given.
    pub policies: Vec<PolicyEvaluation>,
    /// Bundle minus baseline, when a baseline is given.
    pub difference: Option<Difference>,
}

/// Everything replayed and estimated for the bundles on the logs; the report and the
/// gate read it.
pub struct Evaluated {
    /// The report.
    pub report: OpeReport,
    /// Per bundle, the trajectories of the evaluated conversations (same order).
    pub trajectories: Vec<Vec<Trajectory>>,
    /// The bootstrap draws used.
    pub draws: Vec<Vec<usize>>,
    /// Per bundle, per evaluated conversation, the replayed turns.
    pub replays: Vec<Vec<ReplayedConversation>>,
    /// The evaluated conversations' indices into the log.
    pub included: Vec<usize>,
}

fn bundle_id(b: &Bundle) -> BundleId {
    BundleId {
        name: b.name().to_owned(),
        version: b.version().to_owned(),
        digest: b.digest().to_owned(),
    }
}

fn reason_label(r: &NotReplayable) -> String {
    match r {
        NotReplayable::TimeMissing => "time missing (a rule reads `now`)".into(),
        NotReplayable::BadTime { .. } => "time not RFC 3339".into(),
        NotReplayable::ContextMissing { attribute } => {
            format!("context attribute `{attribute}` missing")
        }
        NotReplayable::Refused { reason } => format!("refused: {reason}"),
    }
}

/// Evaluates `bundles` (the bundle first, then a baseline) on `logs`.
pub fn evaluate(
    logs: &Logs,
    bundles: &[Arc<Bundle>],
    opts: &OpeOptions,
) -> Result<Evaluated, OpeError> {
    let Some(first) = bundles.first() else {
        return Err(OpeError::CatalogMismatch {
            a: String::new(),
            b: String::new(),
            detail: "no bundle to evaluate".into(),
        });
    };
    let vocab = vocab_of(first);
    for b in bundles.iter().skip(1) {
        let mut a: Vec<String> = vocab.tracks().to_vec();
        let mut o: Vec<String> = vocab_of(b).tracks().to_vec();
        a.sort();
        o.sort();
        if a != o {
            let only_a: Vec<_> = a.iter().filter(|x| !o.contains(x)).cloned().collect();
            let only_b: Vec<_> = o.iter().filter(|x| !a.contains(x)).cloned().collect();
            return Err(OpeError::CatalogMismatch {
                a: first.name().to_owned(),
                b: b.name().to_owned(),
                detail: format!(
                    "only in the first: [{}]; only in the second: [{}]",
                    only_a.join(", "),
                    only_b.join(", ")
                ),
            });
        }
    }
    let convs = &logs.conversations;

    // The behaviour: the log's own published behaviour cells.
    let mut agg = Aggregator::new(&vocab, opts.aggregate.clone())?;
    for c in convs {
        agg.add(c);
    }
    let behaviour = match agg.finish() {
        Ok(a) => Behaviour::new(&a),
        Err(_) => Behaviour::new(&crate::aggregate::Aggregates {
            format: 1,
            tracks: vocab.tracks().to_vec(),
            replies: vocab.replies().to_vec(),
            config: opts.aggregate.clone(),
            conversations: 0.0,
            levels: Vec::new(),
            behaviour: Vec::new(),
            context_marginals: BTreeMap::new(),
        }),
    };
    let mut behaviour_turns = SourceCounts::default();
    let props: Vec<Vec<(f64, behaviour::Source)>> = convs
        .iter()
        .map(|c| behaviour.propensities(c, &mut behaviour_turns))
        .collect();

    let folds = Folds {
        k: opts.folds.max(2),
        seed: opts.seed,
    };
    let dm = DirectModel::fit(convs, &vocab, &opts.aggregate, &opts.shrink, folds);

    let replayers: Vec<Replayer> = bundles
        .iter()
        .map(|b| Replayer::new(Arc::clone(b)))
        .collect();
    let replays: Vec<Vec<ReplayedConversation>> = replayers
        .iter()
        .map(|r| convs.iter().map(|c| r.replay(c)).collect())
        .collect();

    let mut included = Vec::new();
    let (mut left_replay, mut left_behaviour) = (0u64, 0u64);
    for (i, p) in props.iter().enumerate() {
        if replays.iter().any(|r| r[i].iter().any(Result::is_err)) {
            left_replay += 1;
        } else if p.iter().any(|(x, _)| *x <= 0.0) {
            left_behaviour += 1;
        } else {
            included.push(i);
        }
    }
    let draws = resamples(included.len(), opts.resamples, opts.seed);
    let evaluated = included.len() as u64;
    let ess_threshold = ESS_FLOOR.max(ESS_SHARE * evaluated as f64);

    let mut trajectories = Vec::new();
    let mut policies = Vec::new();
    for ((b, r), reps) in bundles.iter().zip(&replayers).zip(&replays) {
        let ids = r.track_ids();
        let trajs: Vec<Trajectory> = included
            .iter()
            .map(|&i| {
                let c = &convs[i];
                let q_rows = dm.q_rows(c, &ids);
                let q_logged = dm.q_logged(c);
                let steps = reps[i]
                    .iter()
                    .zip(&props[i])
                    .zip(q_rows.iter().zip(&q_logged))
                    .map(|((turn, (mu, _)), (row, ql))| {
                        let turn = turn.as_ref().ok();
                        let v =
                            turn.map_or(0.0, |t| t.probs.iter().zip(row).map(|(p, q)| p * q).sum());
                        Step {
                            target: turn.map_or(0.0, |t| t.logged),
                            behaviour: *mu,
                            q_logged: *ql,
                            v_target: v,
                        }
                    })
                    .collect();
                Trajectory {
                    steps,
                    reward: if c.outcome.converted { 1.0 } else { 0.0 },
                }
            })
            .collect();
        policies.push(policy_evaluation(
            b,
            &ids,
            convs,
            reps,
            &included,
            &trajs,
            &draws,
            ess_threshold,
        ));
        trajectories.push(trajs);
    }
    let difference = match trajectories.as_slice() {
        [a, b, ..] => paired_dr_difference(a, b, &draws)
            .map(|(estimate, interval)| Difference { estimate, interval }),
        _ => None,
    };
    let logged_conversion = included
        .iter()
        .filter(|&&i| convs[i].outcome.converted)
        .count() as f64
        / included.len().max(1) as f64;
    let behaviour_kind = match (
        behaviour_turns.logged,
        behaviour_turns.logged == count_turns(convs),
    ) {
        (_, true) => BehaviourSource::Logged,
        (0, _) => BehaviourSource::Estimated,
        _ => BehaviourSource::Mixed,
    };
    let report = OpeReport {
        log: logs.path.clone(),
        conversations: convs.len() as u64,
        bad_lines: logs.stats.bad,
        evaluated,
        left_out_not_replayable: left_replay,
        left_out_behaviour_unknown: left_behaviour,
        logged_conversion,
        behaviour: behaviour_kind,
        behaviour_turns,
        resamples: opts.resamples,
        seed: opts.seed,
        folds: folds.k,
        unfitted_folds: dm.unfitted_folds,
        ess_threshold,
        policies,
        difference,
    };
    Ok(Evaluated {
        report,
        trajectories,
        draws,
        replays,
        included,
    })
}

fn count_turns(convs: &[Conversation]) -> u64 {
    convs.iter().map(|c| c.turns.len() as u64).sum()
}

#[allow(clippy::too_many_arguments)]
fn policy_evaluation(
    b: &Bundle,
    ids: &[String],
    convs: &[Conversation],
    reps: &[ReplayedConversation],
    included: &[usize],
    trajs: &[Trajectory],
    draws: &[Vec<usize>],
    ess_threshold: f64,
) -> PolicyEvaluation {
    let mut rules = RuleImpact::default();
    let mut not_replayed = NotReplayed::default();
    let mut deterministic = true;
    for rep in reps {
        let (mut fallback, mut no_choice, mut failed) = (false, false, false);
        for turn in rep {
            match turn {
                Ok(t) => {
                    if !t.masked_by.is_empty() {
                        rules.forbidden_logged += 1;
                        for r in &t.masked_by {
                            *rules.by_rule.entry(r.clone()).or_default() += 1;
                        }
                    }
                    fallback |= t.fallback;
                    no_choice |= t.no_choice;
                    deterministic &= t.probs.iter().all(|&p| p == 0.0 || p == 1.0);
                }
                Err(why) => {
                    failed = true;
                    not_replayed.decisions += 1;
                    *not_replayed.by_reason.entry(reason_label(why)).or_default() += 1;
                }
            }
        }
        rules.fallback_conversations += u64::from(fallback);
        rules.no_choice_conversations += u64::from(no_choice);
        not_replayed.conversations += u64::from(failed);
    }
    // Selection shares: each evaluated decision weighted by the weight of the turns
    // before it (how much more or less likely the bundle was to get there).
    let mut share = vec![0.0; ids.len()];
    let mut logged = vec![0.0; ids.len()];
    let (mut total, mut logged_total) = (0.0, 0.0);
    for (traj, &i) in trajs.iter().zip(included) {
        let mut prev = 1.0;
        for ((turn, step), lt) in reps[i].iter().zip(&traj.steps).zip(&convs[i].turns) {
            if let Ok(t) = turn {
                for (s, p) in share.iter_mut().zip(&t.probs) {
                    *s += prev * p;
                }
                total += prev;
            }
            if let Some(a) = ids.iter().position(|x| *x == lt.track) {
                logged[a] += 1.0;
            }
            logged_total += 1.0;
            prev *= step.target / step.behaviour;
        }
    }
    let selection = ids
        .iter()
        .enumerate()
        .map(|(a, id)| SelectionShare {
            track: id.clone(),
            bundle: if total > 0.0 { share[a] / total } else { 0.0 },
            logged: if logged_total > 0.0 {
                logged[a] / logged_total
            } else {
                0.0
            },
        })
        .collect();
    let ess = effective_sample_size(trajs);
    let training_overlap = Fingerprint::from_training(b.manifest().training.as_ref()).map(|f| {
        let matched = convs.iter().filter(|c| f.contains(&c.id)).count() as u64;
        let expected = f.false_positive_rate() * convs.len() as f64;
        Overlap {
            matched,
            of: convs.len() as u64,
            expected_by_chance: expected,
            overlaps: matched as f64 > expected + 3.0 * expected.sqrt() + 1.0,
        }
    });
    PolicyEvaluation {
        bundle: bundle_id(b),
        estimates: estimate(trajs, None),
        intervals: bootstrap(trajs, draws),
        effective_sample_size: ess,
        low_effective_sample_size: ess < ess_threshold,
        deterministic,
        nonzero_weight: trajs.iter().filter(|t| t.weight() > 0.0).count() as u64,
        selection,
        rules,
        not_replayed,
        training_overlap,
    }
}
