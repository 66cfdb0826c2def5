//! Champion, challenger and shadow: a second bundle version an [`Engine`] serves
//! beside the one in service (the champion), to a sticky share of conversations
//! ([`ArmMode::Split`]) or in the shadow ([`ArmMode::Shadow`]: the challenger
//! decides too and is logged, the champion's decision is served).
//!
//! Assignment is by a named stable hash of the conversation id ([`SPLIT_HASH`]:
//! SHA-256 of its UTF-8 bytes, the first eight bytes big-endian, mod 10,000), so
//! every node serving the same split agrees and a conversation never switches arm
//! while the split stays the same.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::decide;
use super::sink::{DecisionId, DecisionRecord};
use super::versions::{now_ms, served, Served};
use super::{DecideError, Decision, Engine, Reloaded, Request, Version};
use crate::bundle::{Bundle, LoadError};

/// The name of the hash that assigns conversations to arms.
pub const SPLIT_HASH: &str = "sha256-mod-10000";

/// Buckets a conversation can fall in: a split's share is a number of them.
const BUCKETS: u32 = 10_000;

/// The arm whose decision was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The version in service.
    Champion,
    /// The challenger, for the conversations its split takes.
    Challenger,
}

impl Arm {
    /// `champion` or `challenger`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Champion => "champion",
            Self::Challenger => "challenger",
        }
    }
}

/// What the challenger does with the conversations its split takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmMode {
    /// Its decisions are served.
    #[default]
    Split,
    /// It decides too and its decision is logged; the champion's is served.
    Shadow,
}

/// Which conversations a challenger takes, and what it does with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Split {
    /// Serve (split) or only decide beside the champion (shadow).
    pub mode: ArmMode,
    /// Share of conversations, in hundredths of a percent (0 to 10,000).
    pub basis_points: u16,
}

/// A split share outside 0–100 %.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("a challenger's share must be between 0 and 100 percent, not {0}")]
pub struct SplitError(pub f64);

impl Split {
    /// A split taking `percent` of conversations (rounded to hundredths of a percent).
    pub fn new(mode: ArmMode, percent: f64) -> Result<Self, SplitError> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(SplitError(percent));
        }
        Ok(Self {
            mode,
            basis_points: (percent * 100.0).round() as u16,
        })
    }

    /// The share of conversations taken, in percent.
    pub fn percent(&self) -> f64 {
        f64::from(self.basis_points) / 100.0
    }

    /// Whether the challenger takes this conversation.
    pub fn takes(&self, conversation_id: &str) -> bool {
        u32::from(bucket(conversation_id)) < u32::from(self.basis_points)
    }
}

/// The bucket (0 to 9,999) of a conversation under [`SPLIT_HASH`].
pub fn bucket(conversation_id: &str) -> u16 {
    let h = Sha256::digest(conversation_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(first) % u64::from(BUCKETS)) as u16
}

/// The challenger's decision in shadow mode (logged, not served).
#[derive(Debug)]
pub struct ShadowDecision {
    /// The challenger's version.
    pub version: Version,
    /// Its decision, or why it could not decide (the champion's decision is served
    /// either way).
    pub result: Result<Decision, DecideError>,
}

/// A decision with the arm that made it.
#[derive(Debug)]
pub struct Assigned {
    /// The decision's id (its decision-log record carries it).
    pub id: DecisionId,
    /// The arm whose decision is served.
    pub arm: Arm,
    /// The version that made the served decision.
    pub version: Version,
    /// The served decision.
    pub decision: Decision,
    /// The challenger's decision when it shadows this conversation.
    pub shadow: Option<ShadowDecision>,
}

/// The challenger beside the champion.
#[derive(Debug)]
pub(super) struct Challenger {
    pub(super) served: Arc<Served>,
    pub(super) split: Split,
}

/// The challenger an engine serves, and its split.
#[derive(Clone, Debug)]
pub struct ChallengerStatus {
    /// Its version.
    pub version: Version,
    /// The conversations it takes.
    pub split: Split,
}

/// Why [`Engine::promote`] could not promote.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PromoteError {
    /// No challenger is set.
    #[error("there is no challenger to promote")]
    NoChallenger,
}

impl Engine {
    /// Decides like [`Engine::decide`], saying which arm decided; with a challenger
    /// in shadow mode, its decision too. The decision sink gets the arm and the
    /// shadow's decision.
    pub fn decide_assigned(&self, req: &Request) -> Result<Assigned, DecideError> {
        let champion = self.current.load_full();
        let challenger = self.challenger.load_full();
        let (arm, serving, shadow_of) = match &challenger {
            Some(c) if c.split.takes(&req.conversation_id) => match c.split.mode {
                ArmMode::Split => (Arm::Challenger, Arc::clone(&c.served), None),
                ArmMode::Shadow => (Arm::Champion, champion, Some(Arc::clone(&c.served))),
            },
            _ => (Arm::Champion, champion, None),
        };
        let decision = decide::decide(&serving.bundle, req)?;
        let shadow = shadow_of.map(|s| ShadowDecision {
            version: s.version.clone(),
            result: decide::decide(&s.bundle, req),
        });
        let id = DecisionId::new();
        if let Some(sink) = &*self.sink.load() {
            sink.decision(&DecisionRecord {
                id: &id,
                request: req,
                decision: &decision,
                version: &serving.version,
                arm,
                shadow: shadow.as_ref(),
            });
        }
        Ok(Assigned {
            id,
            arm,
            version: serving.version.clone(),
            decision,
            shadow,
        })
    }

    /// Serves `bundle` as the challenger under `split` (replacing any challenger);
    /// returns its version.
    pub fn set_challenger(&self, bundle: Bundle, split: Split) -> Version {
        let mut a = self.admin();
        a.serial += 1;
        let s = Arc::new(served(Arc::new(bundle), a.serial));
        let version = s.version.clone();
        self.challenger
            .store(Some(Arc::new(Challenger { served: s, split })));
        version
    }

    /// Loads the bundle in `dir` as the challenger under `split`. A bundle with the
    /// digest of the challenger in service only changes the split (`Unchanged`); an
    /// invalid one is refused and the arms in service keep serving.
    pub fn load_challenger(
        &self,
        dir: impl AsRef<Path>,
        split: Split,
    ) -> Result<Reloaded, LoadError> {
        let dir = dir.as_ref();
        let loaded = self.load_checked(dir);
        let mut a = self.admin();
        let b = match loaded {
            Ok(b) => b,
            Err(e) => {
                a.reloads_failed += 1;
                a.last_error = Some(super::ReloadFailure {
                    at: now_ms(),
                    source: dir.to_owned(),
                    problems: e.problems.clone(),
                });
                return Err(e);
            }
        };
        a.reloads_ok += 1;
        if let Some(c) = &*self.challenger.load() {
            if c.served.version.digest == b.digest() {
                if c.split != split {
                    self.challenger.store(Some(Arc::new(Challenger {
                        served: Arc::clone(&c.served),
                        split,
                    })));
                }
                return Ok(Reloaded::Unchanged);
            }
        }
        a.serial += 1;
        let s = Arc::new(served(Arc::new(b), a.serial));
        self.challenger
            .store(Some(Arc::new(Challenger { served: s, split })));
        Ok(Reloaded::Published)
    }

    /// Stops serving the challenger; returns its version.
    pub fn clear_challenger(&self) -> Option<Version> {
        let _a = self.admin();
        self.challenger.swap(None).map(|c| c.served.version.clone())
    }

    /// The challenger and its split, if one is set.
    pub fn challenger(&self) -> Option<ChallengerStatus> {
        self.challenger.load().as_ref().map(|c| ChallengerStatus {
            version: c.served.version.clone(),
            split: c.split,
        })
    }

    /// Makes the challenger the champion for every conversation and removes it as
    /// challenger. The champion it replaces becomes the version a
    /// [rollback](Engine::rollback) restores, and the promotion pins like a rollback:
    /// reloading the replaced champion from disk does not bring it back until a
    /// different bundle is reloaded or published, or [`Engine::unpin`].
    pub fn promote(&self) -> Result<Version, PromoteError> {
        let mut a = self.admin();
        let c = self
            .challenger
            .swap(None)
            .ok_or(PromoteError::NoChallenger)?;
        let old_digest = self.current.load().version.digest.clone();
        self.swap_in(&mut a, Arc::clone(&c.served.bundle));
        a.pinned_from = Some(old_digest);
        Ok(self.current.load().version.clone())
    }
}
