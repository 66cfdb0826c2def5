//! The live engines and the strings handed to C, by address.
//!
//! An engine handle is an opaque number, never dereferenced: a handle C made up, or
//! one already freed, is not found here and gives an error code instead of a crash.
//! Strings handed out are recorded too, so `talktrack_string_free` can refuse a
//! pointer it did not allocate rather than freeing it.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use talktrack::Engine;

/// Handles start high and only grow, so a freed handle is never handed out again.
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(0x7a11_0000);

fn engines() -> &'static RwLock<HashMap<usize, Arc<Engine>>> {
    static ENGINES: OnceLock<RwLock<HashMap<usize, Arc<Engine>>>> = OnceLock::new();
    ENGINES.get_or_init(|| RwLock::new(HashMap::new()))
}

fn strings() -> &'static Mutex<HashSet<usize>> {
    static STRINGS: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    STRINGS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Registers `engine`; returns its handle.
pub(crate) fn insert_engine(engine: Engine) -> usize {
    let id = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    // A poisoned lock only means another thread panicked while holding it; the map
    // itself is always consistent (single insert/remove operations).
    let mut map = engines().write().unwrap_or_else(|e| e.into_inner());
    map.insert(id, Arc::new(engine));
    id
}

/// The engine behind `handle`, if it is live. The clone keeps it alive for the
/// caller even if another thread frees the handle meanwhile.
pub(crate) fn engine(handle: usize) -> Option<Arc<Engine>> {
    let map = engines().read().unwrap_or_else(|e| e.into_inner());
    map.get(&handle).cloned()
}

/// Unregisters `handle`; false if it was not live.
pub(crate) fn remove_engine(handle: usize) -> bool {
    let mut map = engines().write().unwrap_or_else(|e| e.into_inner());
    map.remove(&handle).is_some()
}

/// Hands `s` to C: the pointer is recorded for [`take_string`].
pub(crate) fn give_string(s: CString) -> *mut c_char {
    let ptr = s.into_raw();
    let mut set = strings().lock().unwrap_or_else(|e| e.into_inner());
    set.insert(ptr as usize);
    ptr
}

/// Takes back a pointer from [`give_string`]; false if this library did not hand it
/// out or it was already taken back.
pub(crate) fn take_string(ptr: *mut c_char) -> bool {
    let mut set = strings().lock().unwrap_or_else(|e| e.into_inner());
    set.remove(&(ptr as usize))
}
