//! The C ABI through its exported functions: decisions, identity, reload, threads,
//! and every error path (code and message).
#![allow(clippy::unwrap_used, clippy::panic)] // tests may fail loudly

mod common;

use std::ptr::{null, null_mut};
use std::sync::Arc;

use common::*;
use talktrack_capi::*;
use TalktrackStatus::*;

#[test]
fn decides_from_json_and_names_the_bundle_in_service() {
    assert_eq!(talktrack_abi_version(), TALKTRACK_ABI_VERSION);
    let e = engine();
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, c(REQUEST).as_ptr(), &mut out),
        TalktrackOk
    );
    let decision: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(decision["conversation_id"], "c-1");
    assert!(
        decision["ranked"].as_array().is_some_and(|r| !r.is_empty()),
        "{decision}"
    );

    let mut out = null_mut();
    assert_eq!(talktrack_engine_identity(e, &mut out), TalktrackOk);
    let id: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(id["name"], "telecom-upsell");
    assert!(id["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(id["digest"].as_str().map(str::len), Some(64), "{id}");
    assert_eq!(talktrack_engine_free(e), TalktrackOk);
}

#[test]
fn null_engine_and_out_pointers_are_codes() {
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(null(), c(REQUEST).as_ptr(), &mut out),
        TalktrackNullPointer
    );
    assert!(out.is_null());
    assert_eq!(last_error(), "`engine` is a null pointer");
    assert_eq!(
        talktrack_engine_identity(null(), &mut out),
        TalktrackNullPointer
    );
    assert_eq!(
        talktrack_engine_reload(null(), telecom().as_ptr()),
        TalktrackNullPointer
    );
    let e = engine();
    assert_eq!(
        talktrack_engine_decide(e, c(REQUEST).as_ptr(), null_mut()),
        TalktrackNullPointer
    );
    assert_eq!(last_error(), "`out_json` is a null pointer");
    assert_eq!(
        talktrack_engine_identity(e, null_mut()),
        TalktrackNullPointer
    );
    assert_eq!(
        talktrack_engine_new(telecom().as_ptr(), null_mut()),
        TalktrackNullPointer
    );
    assert_eq!(last_error(), "`out_engine` is a null pointer");
    // Freeing NULL does nothing, like free(3).
    assert_eq!(talktrack_engine_free(null_mut()), TalktrackOk);
    assert_eq!(talktrack_string_free(null_mut()), TalktrackOk);
    talktrack_engine_free(e);
}

#[test]
fn null_request_and_null_path_are_codes() {
    let e = engine();
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, null(), &mut out),
        TalktrackNullPointer
    );
    assert_eq!(last_error(), "`request_json` is a null pointer");
    let mut e2 = null_mut();
    assert_eq!(talktrack_engine_new(null(), &mut e2), TalktrackNullPointer);
    assert!(e2.is_null());
    assert_eq!(last_error(), "`bundle_path` is a null pointer");
    assert_eq!(talktrack_engine_reload(e, null()), TalktrackNullPointer);
    talktrack_engine_free(e);
}

#[test]
fn invalid_utf8_is_a_code() {
    let e = engine();
    let bad = std::ffi::CString::new(vec![b'{', 0xff, 0xfe, b'}']).unwrap();
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, bad.as_ptr(), &mut out),
        TalktrackInvalidUtf8
    );
    assert!(out.is_null());
    assert_eq!(last_error(), "`request_json` is not valid UTF-8 (byte 1)");
    let mut e2 = null_mut();
    assert_eq!(
        talktrack_engine_new(bad.as_ptr(), &mut e2),
        TalktrackInvalidUtf8
    );
    talktrack_engine_free(e);
}

#[test]
fn oversized_request_and_path_are_codes() {
    let e = engine();
    let big = c(&" ".repeat(TALKTRACK_MAX_REQUEST_BYTES + 1));
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, big.as_ptr(), &mut out),
        TalktrackTooLarge
    );
    assert_eq!(
        last_error(),
        format!("`request_json` is longer than the {TALKTRACK_MAX_REQUEST_BYTES} bytes allowed")
    );
    // Exactly at the limit is read (and then refused as JSON, not as size).
    let at = c(&" ".repeat(TALKTRACK_MAX_REQUEST_BYTES));
    assert_eq!(
        talktrack_engine_decide(e, at.as_ptr(), &mut out),
        TalktrackBadRequest
    );
    let long_path = c(&"a".repeat(TALKTRACK_MAX_PATH_BYTES + 1));
    assert_eq!(
        talktrack_engine_reload(e, long_path.as_ptr()),
        TalktrackTooLarge
    );
    talktrack_engine_free(e);
}

#[test]
fn a_bad_request_names_the_problem() {
    let e = engine();
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, c("{not json").as_ptr(), &mut out),
        TalktrackBadRequest
    );
    assert!(
        last_error().starts_with("request JSON line 1 column 2"),
        "{}",
        last_error()
    );
    let unknown = REQUEST.replace("\"greet\"", "\"no_such_track\"");
    assert_eq!(
        talktrack_engine_decide(e, c(&unknown).as_ptr(), &mut out),
        TalktrackBadRequest
    );
    assert_eq!(
        last_error(),
        "`history.tracks[0]`: unknown track `no_such_track`"
    );
    talktrack_engine_free(e);
}

#[test]
fn invalid_and_freed_handles_are_codes() {
    let e = engine();
    assert_eq!(talktrack_engine_free(e), TalktrackOk);
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, c(REQUEST).as_ptr(), &mut out),
        TalktrackInvalidHandle
    );
    assert!(
        last_error().contains("is not a live engine"),
        "{}",
        last_error()
    );
    assert_eq!(
        talktrack_engine_free(e),
        TalktrackInvalidHandle,
        "double free"
    );
    let made_up = 0x1234usize as *mut TalktrackEngine;
    assert_eq!(
        talktrack_engine_identity(made_up, &mut out),
        TalktrackInvalidHandle
    );
    // A string the library did not return is refused, not freed.
    let mine = c("not yours");
    assert_eq!(
        talktrack_string_free(mine.as_ptr().cast_mut()),
        TalktrackInvalidHandle
    );
    assert!(
        last_error().contains("not a string returned by talktrack"),
        "{}",
        last_error()
    );
    // A string freed twice: the second time is refused.
    let e = engine();
    assert_eq!(talktrack_engine_identity(e, &mut out), TalktrackOk);
    assert_eq!(talktrack_string_free(out), TalktrackOk);
    assert_eq!(talktrack_string_free(out), TalktrackInvalidHandle);
    talktrack_engine_free(e);
}

#[test]
fn a_missing_bundle_is_a_code_naming_the_path() {
    let mut e = null_mut();
    let missing = c("/nonexistent/talktrack-bundle");
    assert_eq!(
        talktrack_engine_new(missing.as_ptr(), &mut e),
        TalktrackLoadFailed
    );
    assert!(e.is_null());
    let msg = last_error();
    assert!(msg.contains("/nonexistent/talktrack-bundle"), "{msg}");
}

/// A copy of the telecom bundle with one rule file broken.
fn broken_bundle() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("policies/telecom-upsell");
    copy_dir(&src, dir.path());
    let rules = dir.path().join("rules");
    let first = std::fs::read_dir(&rules)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .min()
        .unwrap();
    let mut text = std::fs::read_to_string(&first).unwrap();
    text.push_str("\nforbid ??? when\n");
    std::fs::write(&first, text).unwrap();
    dir
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_bundle_that_fails_to_load_is_a_code_naming_the_file_and_line() {
    let broken = broken_bundle();
    let path = c(broken.path().to_str().unwrap());
    let mut e = null_mut();
    assert_eq!(
        talktrack_engine_new(path.as_ptr(), &mut e),
        TalktrackLoadFailed
    );
    let msg = last_error();
    assert!(msg.contains("was rejected"), "{msg}");
    assert!(
        msg.contains(".rules:"),
        "names the rule file and line: {msg}"
    );

    // On reload the bundle in service keeps serving.
    let e = engine();
    let mut before = null_mut();
    talktrack_engine_identity(e, &mut before);
    let before = take(before);
    assert_eq!(
        talktrack_engine_reload(e, path.as_ptr()),
        TalktrackLoadFailed
    );
    assert!(last_error().contains(".rules:"), "{}", last_error());
    let mut after = null_mut();
    talktrack_engine_identity(e, &mut after);
    assert_eq!(take(after), before);
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, c(REQUEST).as_ptr(), &mut out),
        TalktrackOk
    );
    take(out);
    // A valid bundle reloads.
    assert_eq!(talktrack_engine_reload(e, telecom().as_ptr()), TalktrackOk);
    talktrack_engine_free(e);
}

#[test]
fn the_last_error_is_per_thread() {
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(null(), null(), &mut out),
        TalktrackNullPointer
    );
    let other = std::thread::spawn(|| {
        let mut e = null_mut();
        talktrack_engine_new(c("/nonexistent/x").as_ptr(), &mut e);
        last_error()
    })
    .join()
    .unwrap();
    assert!(other.contains("/nonexistent/x"), "{other}");
    assert_eq!(last_error(), "`engine` is a null pointer");
}

/// Handles are numbers, not pointers: wrap one to move it between test threads.
#[derive(Clone, Copy)]
struct Handle(usize);

#[test]
fn many_threads_decide_on_one_engine_while_it_reloads() {
    let e = Handle(engine() as usize);
    let request = Arc::new(c(REQUEST));
    let deciders: Vec<_> = (0..6)
        .map(|_| {
            let request = Arc::clone(&request);
            std::thread::spawn(move || {
                let mut ok = 0;
                for _ in 0..40 {
                    let mut out = null_mut();
                    let status =
                        talktrack_engine_decide(e.0 as *const _, request.as_ptr(), &mut out);
                    assert_eq!(status, TalktrackOk, "{}", last_error());
                    take(out);
                    ok += 1;
                }
                ok
            })
        })
        .collect();
    for _ in 0..3 {
        assert_eq!(
            talktrack_engine_reload(e.0 as *const _, telecom().as_ptr()),
            TalktrackOk
        );
    }
    let decided: usize = deciders.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(decided, 6 * 40);
    assert_eq!(talktrack_engine_free(e.0 as *mut _), TalktrackOk);
}

#[test]
fn rollback_puts_the_previous_version_back_and_without_one_is_a_code() {
    let e = engine();
    assert_eq!(talktrack_engine_rollback(null()), TalktrackNullPointer);
    assert_eq!(talktrack_engine_rollback(e), TalktrackNothingToRollBack);
    assert!(last_error().contains("previous"), "{}", last_error());
    let digest = |e| {
        let mut out = null_mut();
        assert_eq!(talktrack_engine_identity(e, &mut out), TalktrackOk);
        let id: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
        id["digest"].as_str().unwrap().to_owned()
    };
    let first = digest(e);
    // A second version: the same bundle with one more rule.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("policies/telecom-upsell"), dir.path());
    let rules = dir.path().join("rules/business.rules");
    let mut text = std::fs::read_to_string(&rules).unwrap();
    text.push_str("\nrule extra\n  because \"a second version\"\n  boost track greet by 0.5\n");
    std::fs::write(&rules, text).unwrap();
    let path = c(dir.path().to_str().unwrap());
    assert_eq!(talktrack_engine_reload(e, path.as_ptr()), TalktrackOk);
    let second = digest(e);
    assert_ne!(first, second);
    assert_eq!(talktrack_engine_rollback(e), TalktrackOk);
    assert_eq!(digest(e), first);
    let mut out = null_mut();
    assert_eq!(
        talktrack_engine_decide(e, c(REQUEST).as_ptr(), &mut out),
        TalktrackOk
    );
    take(out);
    assert_eq!(talktrack_engine_free(e), TalktrackOk);
}
