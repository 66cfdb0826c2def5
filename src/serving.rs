//! Running the engine in production: what a host needs beyond deciding.
//!
//! - the version in service and its history: [`Version`], [`Status`], [`Reloaded`],
//!   [`ReloadFailure`], [`RollbackError`] (from [`Engine::version`](crate::Engine::version),
//!   [`Engine::reload_from`](crate::Engine::reload_from), [`Engine::rollback`](crate::Engine::rollback));
//! - how bundles are loaded: [`LoadOptions`] with its [`PolicyLimits`], and signed
//!   bundles ([`VerifyKey`], [`KeyError`]);
//! - the decision log: every decision and outcome handed to a [`DecisionSink`] as a
//!   [`DecisionRecord`] (with its [`DecisionId`]) or an [`Outcome`];
//! - champion and challenger: a [`Split`] ([`ArmMode`], [`SplitError`]) by the sticky
//!   hash [`bucket`] ([`SPLIT_HASH`]); [`Engine::decide_assigned`](crate::Engine::decide_assigned)
//!   says which [`Arm`] decided ([`Assigned`], with the [`ShadowDecision`] in shadow mode);
//!   [`ChallengerStatus`], [`PromoteError`].

pub use crate::bundle::{KeyError, LoadOptions, VerifyKey};
pub use crate::engine::{
    bucket, Arm, ArmMode, Assigned, ChallengerStatus, DecisionId, DecisionRecord, DecisionSink,
    Outcome, PromoteError, ReloadFailure, Reloaded, RollbackError, ShadowDecision, Split,
    SplitError, Status, Version, SPLIT_HASH,
};
pub use crate::policy::PolicyLimits;
