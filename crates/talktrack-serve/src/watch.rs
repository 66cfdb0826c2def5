//! `--watch`: reload the bundle when it changes on disk.
//!
//! The bundle directory is watched recursively, and so is the directory holding
//! the bundle path, so that flipping a `current` symlink to a new version directory
//! is seen too. Changes are debounced: the reload waits until nothing has changed
//! for the debounce time, so a half-written set of files is not loaded; and a
//! bundle that does not validate is rejected whole while the version in service
//! keeps serving.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::api::State;
use crate::error::StartError;
use crate::Config;

/// The watcher thread; stops when dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch_err(path: &Path, e: impl std::fmt::Display) -> StartError {
    StartError::Watch {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Starts watching `cfg.bundle` for `state`.
pub fn spawn(state: Arc<State>, cfg: &Config) -> Result<Watcher, StartError> {
    let path = cfg.bundle.clone();
    let (tx, rx) = channel();
    let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            if !matches!(ev.kind, EventKind::Access(_)) {
                let _ = tx.send(());
            }
        }
    })
    .map_err(|e| watch_err(&path, e))?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    w.watch(&parent, RecursiveMode::NonRecursive)
        .map_err(|e| watch_err(&path, e))?;
    let mut target = std::fs::canonicalize(&path).map_err(|e| watch_err(&path, e))?;
    w.watch(&target, RecursiveMode::Recursive)
        .map_err(|e| watch_err(&path, e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let debounce = cfg.debounce;
    let thread = std::thread::Builder::new()
        .name("bundle-watch".into())
        .spawn(move || {
            let tick = Duration::from_millis(50);
            while !stop2.load(Ordering::Relaxed) {
                match rx.recv_timeout(tick) {
                    Ok(()) => {}
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                // Debounce: wait until the files have been quiet for a while.
                loop {
                    match rx.recv_timeout(debounce) {
                        Ok(()) => continue,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                // Follow a flipped symlink: watch the directory it now points to.
                if let Ok(now) = std::fs::canonicalize(&path) {
                    if now != target {
                        let _ = w.unwatch(&target);
                        if w.watch(&now, RecursiveMode::Recursive).is_ok() {
                            target = now;
                        }
                    }
                }
                let _ = state.reload();
            }
        })
        .map_err(|e| watch_err(&cfg.bundle, e))?;
    Ok(Watcher {
        stop,
        thread: Some(thread),
    })
}
