//! Deciding: requests, masks, ranked and explained decisions, and the [`Engine`]
//! that serves bundle versions (in `versions`) with its decision-log hook (in `sink`)
//! and a champion/challenger/shadow split (in `deploy`).

mod decide;
mod decision;
mod deploy;
mod explain;
mod mask;
mod request;
mod resolve;
mod score;
mod scratch;
mod select;
mod sink;
mod template_mask;
mod trust;
mod versions;

pub use deploy::{
    bucket, Arm, ArmMode, Assigned, ChallengerStatus, PromoteError, ShadowDecision, Split,
    SplitError, SPLIT_HASH,
};
pub use sink::{DecisionId, DecisionRecord, DecisionSink, Outcome};
pub use versions::{Engine, ReloadFailure, Reloaded, RollbackError, Status, Version};

pub(crate) use decide::decide;
pub use decision::{Decision, MaskReason, Masked, PolicyUse, Ranked};
pub use mask::{mask, MaskOutcome};
pub use request::{
    Contact, DecideError, History, Request, MAX_CONTACTS, MAX_HISTORY, MAX_REQUEST_BYTES,
};
pub use resolve::past_contacts;
pub(crate) use resolve::resolve;
pub(crate) use scratch::Scratch;
pub use template_mask::mask_request;
