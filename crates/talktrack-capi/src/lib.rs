//! A C ABI for the talktrack engine.
//!
//! Every function is prefixed `talktrack_`; the header `include/talktrack.h` is
//! generated from this crate by cbindgen (a test fails when it is out of date).
//!
//! The contract, for every entry point:
//! - the result is a [`TalktrackStatus`] code; on failure the message of the error is
//!   available on the calling thread through [`talktrack_last_error`];
//! - no panic crosses the boundary: a panic inside the engine becomes
//!   [`TalktrackStatus::TalktrackPanic`];
//! - null pointers, engine handles that are not (or no longer) live, strings that are
//!   not UTF-8 and inputs over the size limits give codes, never a crash;
//! - engines are thread-safe: one handle can be used from many threads at once, and
//!   freeing it while other threads decide lets their decisions finish.
//!
//! Decisions and outcomes reach the host's decision log through a callback
//! ([`talktrack_engine_set_decision_log`], [`talktrack_engine_record_outcome`]).
//!
//! Strings the library returns are allocated by it and freed by the caller with
//! [`talktrack_string_free`].

mod cstr;
mod error;
mod ffi;
mod handles;
mod sink;

pub use error::TalktrackStatus;
pub use ffi::{
    talktrack_abi_version, talktrack_engine_decide, talktrack_engine_free,
    talktrack_engine_identity, talktrack_engine_new, talktrack_engine_record_outcome,
    talktrack_engine_reload, talktrack_engine_rollback, talktrack_engine_set_decision_log,
    talktrack_last_error, talktrack_string_free, TalktrackEngine, TALKTRACK_ABI_VERSION,
    TALKTRACK_MAX_PATH_BYTES, TALKTRACK_MAX_REQUEST_BYTES,
};
pub use sink::TalktrackLogFn;
