//! Helpers the C ABI tests share: C strings in, JSON and messages out.
#![allow(unsafe_code, dead_code)] // the tests read strings the library hands to C

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::path::PathBuf;

use talktrack_capi::*;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example bundle, as a C string.
pub fn telecom() -> CString {
    c(root()
        .join("policies/telecom-upsell")
        .to_str()
        .unwrap_or_default())
}

pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// The last error message on this thread.
pub fn last_error() -> String {
    // SAFETY: the library returns a NUL-terminated string it owns, valid until the
    // next failure on this thread; it is copied at once.
    unsafe { CStr::from_ptr(talktrack_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Copies and frees a string the library returned.
pub fn take(s: *mut c_char) -> String {
    assert!(!s.is_null());
    // SAFETY: `s` is a NUL-terminated string this library returned and not yet freed.
    let text = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
    assert_eq!(talktrack_string_free(s), TalktrackStatus::TalktrackOk);
    text
}

/// A request the telecom bundle accepts.
pub const REQUEST: &str = r#"{"conversation_id": "c-1", "time": "2026-11-26T10:05:00Z",
 "context": {"age": 34, "region": "north", "segment": "young_family", "plan": "basic",
 "tenure_months": 30, "monthly_spend": 25.0, "open_complaint": false,
 "marketing_consent": true, "credit_score": 700, "products": []},
 "history": {"tracks": ["greet"], "replies": ["positive"]}}"#;

/// A new engine on the telecom bundle.
pub fn engine() -> *mut TalktrackEngine {
    let mut e = std::ptr::null_mut();
    assert_eq!(
        talktrack_engine_new(telecom().as_ptr(), &mut e),
        TalktrackStatus::TalktrackOk,
        "{}",
        last_error()
    );
    e
}
