//! One decision-log record: what the deciding thread hands the writer (owned, and
//! nothing formatted yet), and the JSON line the writer thread makes of it.
//!
//! This file holds the records; `line` turns them into lines, and `parts` holds
//! what a line takes from its bundle, computed once per bundle.

mod line;
mod parts;

use std::sync::Arc;

use talktrack::serving::{Arm, DecisionId, DecisionRecord, Outcome, ShadowDecision};
use talktrack::{Context, Decision, History};
use time::OffsetDateTime;

pub(super) use line::Formatter;

/// A record on its way to the writer.
pub(super) enum Record {
    /// One decision.
    Decision(Box<DecisionEntry>),
    /// One outcome.
    Outcome(Box<OutcomeEntry>),
}

/// A decision as the request path hands it over: the decision itself (its bundle is
/// shared), and the parts of the request the log keeps.
pub(super) struct DecisionEntry {
    deployment: Arc<str>,
    id: DecisionId,
    arm: Arm,
    time: i64,
    context: Context,
    history: History,
    decision: Decision,
    shadow: Option<ShadowEntry>,
}

/// What the log keeps of a shadow's decision.
struct ShadowEntry {
    name: String,
    version: String,
    digest: String,
    /// The shadow's chosen track and its propensity, or why it could not decide.
    result: Result<(Option<String>, Option<f32>), String>,
}

/// An outcome with the deployment and the time it was recorded.
pub(super) struct OutcomeEntry {
    deployment: Arc<str>,
    outcome: Outcome,
    recorded_at: OffsetDateTime,
}

impl Record {
    /// The record of one decision of deployment `deployment`.
    pub(super) fn decision(deployment: &Arc<str>, r: &DecisionRecord<'_>) -> Self {
        // The ranking is sorted on first use: sorting it before the copy lets the
        // line and the host's response share one sort.
        let _ = r.decision.ranked();
        Self::Decision(Box::new(DecisionEntry {
            deployment: Arc::clone(deployment),
            id: r.id.clone(),
            arm: r.arm,
            time: r.request.time,
            context: r.request.context.clone(),
            history: r.request.history.clone(),
            decision: r.decision.clone(),
            shadow: r.shadow.map(shadow_entry),
        }))
    }

    /// The record of one outcome reported to deployment `deployment`, now.
    pub(super) fn outcome(deployment: &Arc<str>, o: &Outcome) -> Self {
        Self::Outcome(Box::new(OutcomeEntry {
            deployment: Arc::clone(deployment),
            outcome: o.clone(),
            recorded_at: OffsetDateTime::now_utc(),
        }))
    }
}

fn shadow_entry(s: &ShadowDecision) -> ShadowEntry {
    ShadowEntry {
        name: s.version.name.clone(),
        version: s.version.version.clone(),
        digest: s.version.digest.clone(),
        result: match &s.result {
            Ok(d) => Ok((d.chosen_id().map(str::to_owned), d.propensity())),
            Err(e) => Err(e.to_string()),
        },
    }
}
