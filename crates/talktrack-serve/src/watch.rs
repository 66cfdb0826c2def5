//! `--watch`: reload a deployment when its bundle or its deployment file changes
//! on disk.
//!
//! Each bundle directory is watched recursively, and so is the directory holding
//! each watched path, so that flipping a `current` symlink to a new version
//! directory, or replacing a deployment file, is seen too. Changes are debounced: the reload waits until nothing has changed
//! for the debounce time, so a half-written set of files is not loaded; and a
//! bundle that does not validate is rejected whole while the version in service
//! keeps serving.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::api::State;
use crate::deployment::Deployment;
use crate::error::StartError;

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

/// The paths watched for one deployment: for each path given, the directory
/// holding it (so a flipped symlink or a file replaced by a rename is seen) and,
/// recursively, the directory it resolves to.
#[derive(Default)]
struct Watched {
    parents: BTreeSet<PathBuf>,
    targets: BTreeSet<PathBuf>,
}

impl Watched {
    fn of(paths: &[PathBuf]) -> Self {
        let mut w = Self::default();
        for p in paths {
            w.parents.insert(
                p.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_owned),
            );
            if let Ok(t) = std::fs::canonicalize(p) {
                if t.is_dir() {
                    w.targets.insert(t);
                }
            }
        }
        w
    }

    /// Moves the watches from `self` to `next`; paths that cannot be watched (yet)
    /// are left out and tried again at the next change.
    fn update(&mut self, w: &mut notify::RecommendedWatcher, next: Watched) {
        for p in self.parents.difference(&next.parents) {
            let _ = w.unwatch(p);
        }
        for p in self.targets.difference(&next.targets) {
            let _ = w.unwatch(p);
        }
        let mut now = Watched::default();
        for p in next.parents {
            if self.parents.contains(&p) || w.watch(&p, RecursiveMode::NonRecursive).is_ok() {
                now.parents.insert(p);
            }
        }
        for p in next.targets {
            if self.targets.contains(&p) || w.watch(&p, RecursiveMode::Recursive).is_ok() {
                now.targets.insert(p);
            }
        }
        *self = now;
    }
}

/// Starts watching the paths of `dep` and reloads it through `state` on change.
pub fn spawn(
    state: Arc<State>,
    dep: Arc<Deployment>,
    debounce: Duration,
) -> Result<Watcher, StartError> {
    let paths = dep.watched();
    let first = paths.first().cloned().unwrap_or_default();
    let (tx, rx) = channel();
    let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            if !matches!(ev.kind, EventKind::Access(_)) {
                let _ = tx.send(());
            }
        }
    })
    .map_err(|e| watch_err(&first, e))?;
    let mut watched = Watched::default();
    let want = Watched::of(&paths);
    for p in want.parents.iter() {
        w.watch(p, RecursiveMode::NonRecursive)
            .map_err(|e| watch_err(p, e))?;
    }
    for p in want.targets.iter() {
        w.watch(p, RecursiveMode::Recursive)
            .map_err(|e| watch_err(p, e))?;
    }
    watched.parents = want.parents;
    watched.targets = want.targets;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name(format!("watch-{}", dep.name))
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
                // Follow a flipped symlink or a deployment file naming new bundles.
                watched.update(&mut w, Watched::of(&dep.watched()));
                let _ = state.reload(&dep);
            }
        })
        .map_err(|e| watch_err(&first, e))?;
    Ok(Watcher {
        stop,
        thread: Some(thread),
    })
}
