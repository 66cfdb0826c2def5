//! Reading C strings with a length bound, and freeing the strings this library
//! handed out. The only module with `unsafe` code.
#![allow(unsafe_code)] // reading memory C hands over is what a C ABI is for

use std::ffi::CString;
use std::os::raw::c_char;

use crate::error::{fail, TalktrackStatus};

/// Reads the NUL-terminated string at `ptr` as UTF-8, refusing more than `limit`
/// bytes without reading past `limit + 1` of them. `what` names the argument in
/// error messages.
pub(crate) fn read(
    ptr: *const c_char,
    limit: usize,
    what: &str,
) -> Result<String, TalktrackStatus> {
    if ptr.is_null() {
        return Err(fail(
            TalktrackStatus::TalktrackNullPointer,
            format!("`{what}` is a null pointer"),
        ));
    }
    let mut len = 0usize;
    loop {
        if len > limit {
            return Err(fail(
                TalktrackStatus::TalktrackTooLarge,
                format!("`{what}` is longer than the {limit} bytes allowed"),
            ));
        }
        // SAFETY: `ptr` is non-null and, by the documented contract of every entry
        // point, points to a NUL-terminated string; bytes `0..len` were not NUL, so
        // byte `len` is still inside that string (at most its terminator).
        let byte = unsafe { *ptr.add(len) };
        if byte == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the loop above read every byte of `ptr[0..len]` and found no NUL, so
    // the range is initialised, readable memory of the caller's string.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => Err(fail(
            TalktrackStatus::TalktrackInvalidUtf8,
            format!("`{what}` is not valid UTF-8 (byte {})", e.valid_up_to()),
        )),
    }
}

/// Frees a string produced by `CString::into_raw` in `handles::give_string`.
///
/// The caller must have checked (with `handles::take_string`) that `ptr` came from
/// there and has not been freed.
pub(crate) fn free_given(ptr: *mut c_char) {
    // SAFETY: the caller established that `ptr` was returned by `CString::into_raw`
    // and removed it from the record of live strings, so it is freed exactly once.
    drop(unsafe { CString::from_raw(ptr) });
}

/// Checks an out-pointer of the caller's and sets what it points to to NULL, so
/// that it holds NULL on every failure that follows; `name` names it in the error.
pub(crate) fn clear_out<T>(out: *mut *mut T, name: &str) -> Result<(), TalktrackStatus> {
    if out.is_null() {
        return Err(fail(
            TalktrackStatus::TalktrackNullPointer,
            format!("`{name}` is a null pointer"),
        ));
    }
    write_out(out, std::ptr::null_mut());
    Ok(())
}

/// Stores `value` through the out-pointer `out`.
///
/// `out` must be non-null; the caller checks it first.
pub(crate) fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: `out` was checked non-null by the caller and, by the documented
    // contract, points to writable storage for one `T`; `write` does not read or
    // drop the previous (possibly uninitialised) contents.
    unsafe { out.write(value) }
}
