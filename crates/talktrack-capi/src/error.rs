//! Status codes and the thread-local message of the last error.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::raw::c_char;

/// The result of every fallible `talktrack_` function.
///
/// Codes are stable: new ones may be added at the end, none is renumbered.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TalktrackStatus {
    /// Success.
    TalktrackOk = 0,
    /// A required pointer argument was null.
    TalktrackNullPointer = 1,
    /// An engine handle or a string that this library did not hand out, or that was
    /// already freed.
    TalktrackInvalidHandle = 2,
    /// A string argument is not valid UTF-8.
    TalktrackInvalidUtf8 = 3,
    /// A string argument is longer than its limit (see `TALKTRACK_MAX_REQUEST_BYTES`
    /// and `TALKTRACK_MAX_PATH_BYTES`).
    TalktrackTooLarge = 4,
    /// The request could not be decided on: malformed JSON, unknown fields, a
    /// context that does not fit the bundle's schema, unknown tracks or replies.
    TalktrackBadRequest = 5,
    /// The bundle could not be loaded; the message lists every problem. On reload
    /// the bundle in service keeps serving.
    TalktrackLoadFailed = 6,
    /// A panic inside the library was caught at the boundary.
    TalktrackPanic = 7,
    /// Any other internal failure (e.g. a result that could not be encoded).
    TalktrackInternal = 8,
    /// `talktrack_engine_rollback` found no previous version to go back to.
    TalktrackNothingToRollBack = 9,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as the last error of the calling thread and returns `status`.
pub(crate) fn fail(status: TalktrackStatus, message: impl Into<String>) -> TalktrackStatus {
    let mut bytes = message.into().into_bytes();
    // A message is text; an interior NUL would cut it short in C, so it is replaced.
    for b in &mut bytes {
        if *b == 0 {
            *b = b'?';
        }
    }
    let c = CString::new(bytes).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = c);
    status
}

/// The message of the most recent failure on the calling thread (empty when none);
/// valid until the next failure on this thread.
pub(crate) fn last() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}
