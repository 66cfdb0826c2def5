//! The exported `talktrack_` functions.
#![allow(unsafe_code)] // `#[no_mangle]` is what exports a symbol to C; it counts as unsafe code

use std::ffi::{c_void, CString};
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use talktrack::serving::Outcome;
use talktrack::{Engine, Request};

use crate::cstr;
use crate::error::{self, fail, TalktrackStatus};
use crate::handles;
use crate::sink::{CallbackSink, TalktrackLogFn};

/// The version of this ABI; bumped on any incompatible change to the header.
pub const TALKTRACK_ABI_VERSION: u32 = 1;

/// The longest request JSON accepted, in bytes (the engine's own limit).
pub const TALKTRACK_MAX_REQUEST_BYTES: usize = 1_048_576;

/// The longest bundle path accepted, in bytes.
pub const TALKTRACK_MAX_PATH_BYTES: usize = 4096;

/// An engine serving one bundle at a time; opaque. Create it with
/// `talktrack_engine_new`, free it with `talktrack_engine_free`. One handle may be
/// used from many threads at once.
pub struct TalktrackEngine {
    _opaque: [u8; 0],
}

/// Runs `f`, turning a panic into [`TalktrackStatus::TalktrackPanic`] with its message.
fn guard(f: impl FnOnce() -> TalktrackStatus) -> TalktrackStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(status) => status,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            fail(
                TalktrackStatus::TalktrackPanic,
                format!("internal error (caught at the C boundary): {what}"),
            )
        }
    }
}

fn live_engine(engine: *const TalktrackEngine) -> Result<std::sync::Arc<Engine>, TalktrackStatus> {
    if engine.is_null() {
        return Err(fail(
            TalktrackStatus::TalktrackNullPointer,
            "`engine` is a null pointer",
        ));
    }
    handles::engine(engine as usize).ok_or_else(|| {
        fail(
            TalktrackStatus::TalktrackInvalidHandle,
            format!("`engine` ({engine:p}) is not a live engine: never created, or already freed"),
        )
    })
}

fn load_failed(e: &talktrack::LoadError) -> TalktrackStatus {
    fail(
        TalktrackStatus::TalktrackLoadFailed,
        format!("{e}\n{}", talktrack::render(&e.problems)),
    )
}

fn give_json(text: String, out: *mut *mut c_char) -> TalktrackStatus {
    match CString::new(text) {
        Ok(c) => {
            cstr::write_out(out, handles::give_string(c));
            TalktrackStatus::TalktrackOk
        }
        Err(_) => fail(
            TalktrackStatus::TalktrackInternal,
            "the JSON result contains a NUL byte",
        ),
    }
}

/// The ABI version of the library (`TALKTRACK_ABI_VERSION` of the header it was
/// built with); compare it with the header's at start-up.
#[no_mangle]
pub extern "C" fn talktrack_abi_version() -> u32 {
    TALKTRACK_ABI_VERSION
}

/// The message of the most recent failure on the calling thread (an empty string
/// when there was none). Owned by the library: do not free it; it stays valid until
/// the next failing call on this thread.
#[no_mangle]
pub extern "C" fn talktrack_last_error() -> *const c_char {
    error::last()
}

/// Loads and validates the bundle in the directory `bundle_path` (UTF-8, NUL
/// terminated) and stores a new engine serving it in `*out_engine`.
///
/// On failure `*out_engine` is set to NULL and the last error lists every problem
/// of the bundle (file, line and column).
#[no_mangle]
pub extern "C" fn talktrack_engine_new(
    bundle_path: *const c_char,
    out_engine: *mut *mut TalktrackEngine,
) -> TalktrackStatus {
    guard(|| {
        if let Err(status) = cstr::clear_out(out_engine, "out_engine") {
            return status;
        }
        let path = match cstr::read(bundle_path, TALKTRACK_MAX_PATH_BYTES, "bundle_path") {
            Ok(p) => p,
            Err(status) => return status,
        };
        match Engine::load(&path) {
            Ok(engine) => {
                let handle = handles::insert_engine(engine);
                // A handle is a number this library recognises, never dereferenced.
                cstr::write_out(out_engine, handle as *mut TalktrackEngine);
                TalktrackStatus::TalktrackOk
            }
            Err(e) => load_failed(&e),
        }
    })
}

/// Decides the next track for the JSON request `request_json` (UTF-8, NUL
/// terminated, at most `TALKTRACK_MAX_REQUEST_BYTES`) and stores the JSON decision in
/// `*out_json`; free it with `talktrack_string_free`. The decision carries its
/// `decision_id`, the id of its decision-log record, for
/// `talktrack_engine_record_outcome`.
///
/// On failure `*out_json` is set to NULL.
#[no_mangle]
pub extern "C" fn talktrack_engine_decide(
    engine: *const TalktrackEngine,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> TalktrackStatus {
    guard(|| {
        if let Err(status) = cstr::clear_out(out_json, "out_json") {
            return status;
        }
        let engine = match live_engine(engine) {
            Ok(e) => e,
            Err(status) => return status,
        };
        let text = match cstr::read(request_json, TALKTRACK_MAX_REQUEST_BYTES, "request_json") {
            Ok(t) => t,
            Err(status) => return status,
        };
        let (id, decision) =
            match Request::from_json(&text).and_then(|req| engine.decide_with_id(&req)) {
                Ok(d) => d,
                Err(e) => return fail(TalktrackStatus::TalktrackBadRequest, e.to_string()),
            };
        match serde_json::to_string(&decision) {
            // The decision's id first, as `talktrack serve` answers.
            Ok(json) => match json.strip_prefix('{') {
                Some(rest) => give_json(
                    format!("{{\"decision_id\":\"{}\",{rest}", id.as_str()),
                    out_json,
                ),
                None => give_json(json, out_json),
            },
            Err(e) => fail(
                TalktrackStatus::TalktrackInternal,
                format!("the decision could not be encoded as JSON: {e}"),
            ),
        }
    })
}

/// Loads the bundle in `bundle_path` and, if it is valid, puts it in service;
/// decisions in flight finish on the bundle they started with. If it is not valid
/// the bundle in service keeps serving and the last error lists every problem.
#[no_mangle]
pub extern "C" fn talktrack_engine_reload(
    engine: *const TalktrackEngine,
    bundle_path: *const c_char,
) -> TalktrackStatus {
    guard(|| {
        let engine = match live_engine(engine) {
            Ok(e) => e,
            Err(status) => return status,
        };
        let path = match cstr::read(bundle_path, TALKTRACK_MAX_PATH_BYTES, "bundle_path") {
            Ok(p) => p,
            Err(status) => return status,
        };
        match engine.reload(&path) {
            Ok(_) => TalktrackStatus::TalktrackOk,
            Err(e) => load_failed(&e),
        }
    })
}

/// Puts the previous version back in service (the one the last reload or publish
/// replaced) and pins it until a bundle with another digest is loaded; decisions in
/// flight finish on the version they started with. With no previous version the
/// status is `TalktrackNothingToRollBack` and the version in service stays.
#[no_mangle]
pub extern "C" fn talktrack_engine_rollback(engine: *const TalktrackEngine) -> TalktrackStatus {
    guard(|| {
        let engine = match live_engine(engine) {
            Ok(e) => e,
            Err(status) => return status,
        };
        match engine.rollback() {
            Ok(_) => TalktrackStatus::TalktrackOk,
            Err(e) => fail(TalktrackStatus::TalktrackNothingToRollBack, e.to_string()),
        }
    })
}

/// Stores the identity of the bundle in service in `*out_json`, as JSON:
/// `{"name": ..., "version": ..., "digest": ...}`; free it with
/// `talktrack_string_free`. On failure `*out_json` is set to NULL.
#[no_mangle]
pub extern "C" fn talktrack_engine_identity(
    engine: *const TalktrackEngine,
    out_json: *mut *mut c_char,
) -> TalktrackStatus {
    guard(|| {
        if let Err(status) = cstr::clear_out(out_json, "out_json") {
            return status;
        }
        let engine = match live_engine(engine) {
            Ok(e) => e,
            Err(status) => return status,
        };
        let bundle = engine.bundle();
        let identity = serde_json::json!({
            "name": bundle.name(),
            "version": bundle.version(),
            "digest": bundle.digest(),
        });
        give_json(identity.to_string(), out_json)
    })
}

/// Hands the outcome of a conversation to the decision log: `outcome_json` (UTF-8,
/// NUL terminated, at most `TALKTRACK_MAX_REQUEST_BYTES`) is a JSON object with
/// `conversation_id` and `converted`, and optionally `decision_id` (from the
/// decision), `value` and `final_reply`. Unknown fields are refused
/// (`TalktrackBadRequest`). Without a decision log the outcome is checked and
/// dropped.
#[no_mangle]
pub extern "C" fn talktrack_engine_record_outcome(
    engine: *const TalktrackEngine,
    outcome_json: *const c_char,
) -> TalktrackStatus {
    guard(|| {
        let engine = match live_engine(engine) {
            Ok(e) => e,
            Err(status) => return status,
        };
        let text = match cstr::read(outcome_json, TALKTRACK_MAX_REQUEST_BYTES, "outcome_json") {
            Ok(t) => t,
            Err(status) => return status,
        };
        match serde_json::from_str::<Outcome>(&text) {
            Ok(outcome) => {
                engine.record_outcome(&outcome);
                TalktrackStatus::TalktrackOk
            }
            Err(e) => fail(
                TalktrackStatus::TalktrackBadRequest,
                format!("outcome JSON line {} column {}: {e}", e.line(), e.column()),
            ),
        }
    })
}

/// Installs the decision log of `engine`: from now on every decision and every
/// recorded outcome is handed to `callback` as one JSON line (see
/// `TalktrackLogFn`), with `user_data` as its first argument. `user_data` is the
/// host's and is never read by this library; it must stay valid, and usable from
/// any thread, until the log is replaced or removed. A NULL `callback` removes the
/// log. Decisions in flight may still reach the previous callback.
#[no_mangle]
pub extern "C" fn talktrack_engine_set_decision_log(
    engine: *const TalktrackEngine,
    callback: TalktrackLogFn,
    user_data: *mut c_void,
) -> TalktrackStatus {
    guard(|| {
        let engine = match live_engine(engine) {
            Ok(e) => e,
            Err(status) => return status,
        };
        let sink = callback.map(|f| {
            Box::new(CallbackSink::new(f, user_data)) as Box<dyn talktrack::serving::DecisionSink>
        });
        engine.set_sink(sink);
        TalktrackStatus::TalktrackOk
    })
}

/// Frees an engine. Decisions other threads are making with it finish first; the
/// handle is invalid afterwards (using it gives `TalktrackInvalidHandle`). NULL is
/// accepted and does nothing.
#[no_mangle]
pub extern "C" fn talktrack_engine_free(engine: *mut TalktrackEngine) -> TalktrackStatus {
    guard(|| {
        if engine.is_null() || handles::remove_engine(engine as usize) {
            TalktrackStatus::TalktrackOk
        } else {
            fail(
                TalktrackStatus::TalktrackInvalidHandle,
                format!(
                    "`engine` ({engine:p}) is not a live engine: never created, or already freed"
                ),
            )
        }
    })
}

/// Frees a string this library returned. NULL is accepted and does nothing; a
/// pointer the library did not return, or already freed, gives
/// `TalktrackInvalidHandle` and is left alone.
#[no_mangle]
pub extern "C" fn talktrack_string_free(s: *mut c_char) -> TalktrackStatus {
    guard(|| {
        if s.is_null() {
            return TalktrackStatus::TalktrackOk;
        }
        if handles::take_string(s) {
            cstr::free_given(s);
            TalktrackStatus::TalktrackOk
        } else {
            fail(
                TalktrackStatus::TalktrackInvalidHandle,
                format!("`{s:p}` is not a string returned by talktrack, or was already freed"),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_with_its_message() {
        let status = guard(|| std::panic::panic_any("boom".to_owned()));
        assert_eq!(status, TalktrackStatus::TalktrackPanic);
        // SAFETY: `talktrack_last_error` returns a NUL-terminated string owned by
        // this thread's slot, unchanged until the next failure on this thread.
        let msg = unsafe { std::ffi::CStr::from_ptr(talktrack_last_error()) };
        assert_eq!(
            msg.to_str().ok(),
            Some("internal error (caught at the C boundary): boom")
        );
    }

    #[test]
    fn limits_match_the_engine() {
        assert_eq!(TALKTRACK_MAX_REQUEST_BYTES, talktrack::MAX_REQUEST_BYTES);
    }
}
