//! The decision-log hook: every decision an [`Engine`](super::Engine) makes, and
//! every outcome a host reports, handed to a sink the host installs.
//!
//! The engine calls the sink on the deciding thread, so a sink must not block: the
//! server's sink queues records for a writer thread and counts what it drops.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::deploy::{Arm, ShadowDecision};
use super::versions::Version;
use super::{Decision, Request};

/// A decision's id: a UUIDv7 (time-ordered), in its usual hyphenated text form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DecisionId(String);

impl DecisionId {
    /// A fresh id: 48 bits of Unix milliseconds, then 74 random bits.
    pub fn new() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (a, b) = random_pair();
        let hi = (ms << 16) | 0x7000 | (a & 0x0fff);
        let lo = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        Self(format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        ))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for DecisionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for DecisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Two 64-bit values from a process-wide keyed hash of a counter: unpredictable
/// across processes (the keys are random per process), distinct within one.
fn random_pair() -> (u64, u64) {
    static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let keys = KEYS.get_or_init(std::collections::hash_map::RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = keys.build_hasher();
    h.write_u64(n);
    let a = h.finish();
    h.write_u64(!n);
    (a, h.finish())
}

/// One decision as the engine hands it to a [`DecisionSink`].
#[derive(Clone, Copy, Debug)]
pub struct DecisionRecord<'a> {
    /// The decision's id.
    pub id: &'a DecisionId,
    /// The request decided on.
    pub request: &'a Request,
    /// The decision.
    pub decision: &'a Decision,
    /// The version that decided.
    pub version: &'a Version,
    /// The arm of the version that decided.
    pub arm: Arm,
    /// The challenger's decision, when it shadows this conversation.
    pub shadow: Option<&'a ShadowDecision>,
}

/// What became of a conversation, as the host reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The conversation.
    pub conversation_id: String,
    /// The decision the outcome follows, when the host knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<DecisionId>,
    /// Whether the conversation converted.
    pub converted: bool,
    /// The value of the conversion (0 when absent).
    #[serde(default)]
    pub value: f64,
    /// The category of the customer's final reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_reply: Option<String>,
}

/// Receives every decision and outcome; installed with
/// [`Engine::set_sink`](super::Engine::set_sink).
///
/// Called on the thread that decides: implementations must return quickly and never
/// block (queue and drop, counting the drops, rather than wait).
pub trait DecisionSink: Send + Sync {
    /// One decision.
    fn decision(&self, record: &DecisionRecord<'_>);
    /// One outcome.
    fn outcome(&self, outcome: &Outcome);
}
