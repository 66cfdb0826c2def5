//! What rules and the feature encoder may read about the current turn.
//!
//! One [`TurnView`] is built per decision by the runtime (from a request) and per
//! step by the simulator (from its state), so the rules that mask tracks and the
//! encoder that builds the policy's observation see exactly the same facts in
//! training and in serving.

mod contacts;

pub use contacts::{ContactLog, PastContact};
pub(crate) use contacts::{Logged, RETIRED};

use crate::context::Val;

/// The resolved context and dialogue history of one turn.
#[derive(Clone, Copy, Debug)]
pub struct TurnView<'a> {
    /// Context values by schema slot (`None`: an optional attribute not sent).
    pub values: &'a [Option<Val<'a>>],
    /// Request time, milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// Index of the agent turn being decided (0 for the first).
    pub turn: u32,
    /// The bundle's maximum number of agent turns.
    pub max_turns: u32,
    /// Per catalog track: how many times it was used earlier in the conversation.
    pub used: &'a [u16],
    /// The user's last reply category (index into the bundle's reply vocabulary),
    /// `None` before the user has replied.
    pub last_reply: Option<u32>,
    /// Optional text embedding of the conversation so far.
    pub embedding: Option<&'a [f32]>,
    /// The customer's past contacts in other conversations, sorted by time
    /// ([`ContactLog::empty`] when the request sends none).
    pub contacts: &'a ContactLog,
}

impl TurnView<'_> {
    /// Agent turns left, including this one (0 once the limit is reached).
    pub fn turns_left(&self) -> u32 {
        self.max_turns.saturating_sub(self.turn)
    }
}
