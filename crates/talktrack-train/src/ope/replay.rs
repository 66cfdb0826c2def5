//! Replaying a bundle on logged conversations: at every logged turn, the request
//! the agent's software would have sent (the conversation's context, the tracks and
//! replies before the turn, the turn's time) is decided by the runtime's engine, and
//! what it says is kept — the bundle's selection probability of every track, and
//! whether its rules masked the track the agent actually used.
//!
//! A turn cannot be replayed when the log lacks what the decision needs: its time
//! when a rule reads `now`, a context attribute a rule reads (the rule would fail
//! closed on the missing value, which says nothing about the real conversation), or
//! anything else the engine refuses the request for. Past contacts are not in the
//! log: `contacts(..)` counts none.

use std::sync::Arc;

use serde::Serialize;
use talktrack::tooling::EvalError;
use talktrack::{Bundle, Engine, Request};

use crate::log::Conversation;

/// Why a logged turn could not be replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotReplayable {
    /// A rule reads `now` and the turn has no `time`.
    TimeMissing,
    /// The turn's `time` is not an RFC 3339 timestamp.
    BadTime {
        /// What the log says.
        time: String,
    },
    /// A rule reads a context attribute the conversation's context lacks.
    ContextMissing {
        /// The attribute.
        attribute: String,
    },
    /// The engine refused the request.
    Refused {
        /// Its reason.
        reason: String,
    },
}

impl std::fmt::Display for NotReplayable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TimeMissing => f.write_str("a rule reads `now` and the turn has no `time`"),
            Self::BadTime { time } => write!(f, "the turn's `time` `{time}` is not RFC 3339"),
            Self::ContextMissing { attribute } => {
                write!(
                    f,
                    "a rule reads the context attribute `{attribute}`, absent from the log"
                )
            }
            Self::Refused { reason } => write!(f, "the engine refused the request: {reason}"),
        }
    }
}

/// What the bundle decided at one logged turn.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayedTurn {
    /// Selection probability per track of the bundle's catalog (0 when masked).
    pub probs: Vec<f64>,
    /// The bundle's probability of the track the agent used (0 when not in its catalog).
    pub logged: f64,
    /// The rules that masked the track the agent used (empty when it was allowed).
    pub masked_by: Vec<String>,
    /// No regular track was allowed: the bundle would have used its fallback.
    pub fallback: bool,
    /// Not even the fallback was allowed: the bundle would have made no choice.
    pub no_choice: bool,
}

/// A whole conversation replayed, turn by turn.
pub type ReplayedConversation = Vec<Result<ReplayedTurn, NotReplayable>>;

/// A bundle ready to replay logged conversations.
pub struct Replayer {
    engine: Engine,
    bundle: Arc<Bundle>,
    reads_now: bool,
}

impl Replayer {
    /// A replayer of `bundle`.
    pub fn new(bundle: Arc<Bundle>) -> Self {
        Self {
            engine: Engine::with_bundle(Arc::clone(&bundle)),
            reads_now: bundle.rules().reads_now(),
            bundle,
        }
    }

    /// The bundle replayed.
    pub fn bundle(&self) -> &Arc<Bundle> {
        &self.bundle
    }

    /// The catalog's track ids, in catalog order.
    pub fn track_ids(&self) -> Vec<String> {
        let c = self.bundle.catalog();
        (0..c.len())
            .map(|i| c.track(i).map_or_else(String::new, |t| t.id.clone()))
            .collect()
    }

    /// Replays every turn of `conv`.
    pub fn replay(&self, conv: &Conversation) -> ReplayedConversation {
        let context: Result<talktrack::Context, _> =
            serde_json::from_value(serde_json::Value::Object(conv.context.clone()));
        let context = match context {
            Ok(c) => c,
            Err(e) => {
                let why = NotReplayable::Refused {
                    reason: format!("context: {e}"),
                };
                return conv.turns.iter().map(|_| Err(why.clone())).collect();
            }
        };
        (0..conv.turns.len())
            .map(|t| self.replay_turn(conv, &context, t))
            .collect()
    }

    fn replay_turn(
        &self,
        conv: &Conversation,
        context: &talktrack::Context,
        t: usize,
    ) -> Result<ReplayedTurn, NotReplayable> {
        let Some(turn) = conv.turns.get(t) else {
            return Err(NotReplayable::Refused {
                reason: format!("no turn {t}"),
            });
        };
        let time = match (&turn.time, self.reads_now) {
            (Some(s), _) => {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map(|d| (d.unix_timestamp_nanos() / 1_000_000) as i64)
                    .map_err(|_| NotReplayable::BadTime { time: s.clone() })?
            }
            (None, true) => return Err(NotReplayable::TimeMissing),
            (None, false) => 0,
        };
        let mut req = Request::new(conv.id.clone(), time);
        req.context = context.clone();
        req.history.tracks = conv.turns[..t].iter().map(|x| x.track.clone()).collect();
        req.history.replies = conv.turns[..t].iter().map(|x| x.reply.clone()).collect();
        let d = self
            .engine
            .decide(&req)
            .map_err(|e| NotReplayable::Refused {
                reason: e.to_string(),
            })?;
        for (_, err) in d.rule_errors() {
            if let EvalError::MissingAttribute { slot } = err {
                let attribute = self
                    .bundle
                    .schema()
                    .attrs()
                    .get(slot as usize)
                    .map_or_else(|| format!("#{slot}"), |a| a.name.clone());
                return Err(NotReplayable::ContextMissing { attribute });
            }
        }
        let n = self.bundle.catalog().len();
        let mut probs = vec![0.0; n];
        for r in d.ranked() {
            if let Some(p) = probs.get_mut(r.track as usize) {
                *p = f64::from(r.probability);
            }
        }
        let logged_ix = (0..n).find(|&i| {
            self.bundle
                .catalog()
                .track(i)
                .is_some_and(|x| x.id == turn.track)
        });
        let logged = logged_ix.and_then(|i| probs.get(i).copied()).unwrap_or(0.0);
        let masked_by = match logged_ix {
            Some(i) if !d.is_allowed(i) => d
                .masked()
                .into_iter()
                .find(|m| m.track == i)
                .map(|m| m.by.iter().map(|r| r.rule.id.clone()).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Ok(ReplayedTurn {
            probs,
            logged,
            masked_by,
            fallback: d.fallback_used(),
            no_choice: d.no_choice().is_some(),
        })
    }
}
