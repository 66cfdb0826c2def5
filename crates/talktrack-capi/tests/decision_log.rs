//! The decision log of a C host: decisions and outcomes reach the callback
//! installed with `talktrack_engine_set_decision_log`, as JSON lines.
#![allow(clippy::unwrap_used, clippy::panic)] // tests may fail loudly
#![allow(unsafe_code)] // the callback reads what the library hands it, as a C host does

mod common;

use std::ffi::{c_void, CStr};
use std::os::raw::c_char;
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use common::*;
use talktrack_capi::*;
use TalktrackStatus::*;

extern "C" fn collect(user_data: *mut c_void, record: *const c_char) {
    // SAFETY: `user_data` is the `Mutex<Vec<String>>` each test passes, alive for
    // the whole test; `record` is a NUL-terminated string valid during this call.
    let (lines, line) = unsafe {
        (
            &*(user_data as *const Mutex<Vec<String>>),
            CStr::from_ptr(record).to_string_lossy().into_owned(),
        )
    };
    lines.lock().unwrap().push(line);
}

fn records(lines: &Mutex<Vec<String>>) -> Vec<serde_json::Value> {
    let lines = lines.lock().unwrap();
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn decisions_and_outcomes_reach_the_log_linked_by_decision_id() {
    let lines = Box::new(Mutex::new(Vec::<String>::new()));
    let user_data = &*lines as *const Mutex<Vec<String>> as *mut c_void;
    let e = engine();
    assert_eq!(
        talktrack_engine_set_decision_log(e, Some(collect), user_data),
        TalktrackOk
    );
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, c(REQUEST).as_ptr(), &mut out),
        TalktrackOk,
        "{}",
        last_error()
    );
    let decision: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    let id = decision["decision_id"].as_str().unwrap().to_owned();
    assert_eq!(decision["conversation_id"], "c-1");

    let outcome = format!(
        r#"{{"conversation_id": "c-1", "decision_id": "{id}", "converted": true, "value": 12.5}}"#
    );
    assert_eq!(
        talktrack_engine_record_outcome(e, c(&outcome).as_ptr()),
        TalktrackOk,
        "{}",
        last_error()
    );

    let recs = records(&lines);
    assert_eq!(recs.len(), 2, "{recs:?}");
    let d = &recs[0];
    assert_eq!(d["kind"], "decision");
    assert_eq!(d["decision_id"], id.as_str());
    assert_eq!(d["conversation_id"], "c-1");
    assert_eq!(d["bundle"]["name"], "telecom-upsell");
    assert_eq!(d["chosen"], decision["chosen"]["track"]);
    assert_eq!(d["history"]["tracks"][0], "greet");
    // `age` is protected: never in the record.
    assert_eq!(d["protected"]["age"], "omit");
    assert!(d["context"].get("age").is_none(), "{d}");
    assert_eq!(d["context"]["region"], "north");
    let o = &recs[1];
    assert_eq!(o["kind"], "outcome");
    assert_eq!(o["decision_id"], id.as_str());
    assert_eq!(o["converted"], true);
    assert_eq!(o["value"], 12.5);
    assert!(o["recorded_at_ms"].as_u64().is_some_and(|ms| ms > 0), "{o}");

    // A NULL callback removes the log.
    assert_eq!(
        talktrack_engine_set_decision_log(e, None, null_mut()),
        TalktrackOk
    );
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, c(REQUEST).as_ptr(), &mut out),
        TalktrackOk
    );
    take(out);
    assert_eq!(records(&lines).len(), 2);
    assert_eq!(talktrack_engine_free(e), TalktrackOk);
}

#[test]
fn a_bad_outcome_is_a_code_with_the_field_named() {
    let e = engine();
    assert_eq!(
        talktrack_engine_record_outcome(e, c(r#"{"conversation_id": "c-1"}"#).as_ptr()),
        TalktrackBadRequest
    );
    assert_eq!(
        last_error(),
        "outcome JSON line 1 column 26: missing field `converted` at line 1 column 26"
    );
    assert_eq!(
        talktrack_engine_record_outcome(
            e,
            c(r#"{"conversation_id": "c-1", "converted": false, "colour": 1}"#).as_ptr()
        ),
        TalktrackBadRequest
    );
    assert!(
        last_error().contains("unknown field `colour`"),
        "{}",
        last_error()
    );
    assert_eq!(
        talktrack_engine_record_outcome(e, null()),
        TalktrackNullPointer
    );
    assert_eq!(talktrack_engine_free(e), TalktrackOk);
    assert_eq!(
        talktrack_engine_record_outcome(
            e,
            c(r#"{"conversation_id": "c-1", "converted": true}"#).as_ptr()
        ),
        TalktrackInvalidHandle
    );
    assert_eq!(
        talktrack_engine_set_decision_log(e, Some(collect), null_mut()),
        TalktrackInvalidHandle
    );
}
