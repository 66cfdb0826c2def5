//! The engine a host embeds: decide per turn, swap bundle versions while serving,
//! roll back, and hand every decision to a decision-log sink.
//!
//! A new bundle is loaded and validated off the hot path, then published with one
//! atomic store ([`arc_swap`]); a decision in flight finishes on the version it
//! started with, and a bundle that fails to load never replaces the one serving.
//! The version before the one in service is kept for [`Engine::rollback`]; every
//! older one is freed as soon as no decision holds it (the per-thread buffers of a
//! version live in its bundle and go with it).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;

use super::decide;
use super::deploy::{Challenger, ChallengerStatus};
use super::{DecideError, Decision, Request};
use crate::bundle::{Bundle, LoadError, LoadOptions, VerifyKey};
use crate::engine::sink::{DecisionId, DecisionSink, Outcome};
use crate::problem::Problem;

/// The identity of one bundle version in service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Version {
    /// Bundle name (manifest).
    pub name: String,
    /// Bundle version (manifest).
    pub version: String,
    /// Hex SHA-256 over the manifest, the rule files and the policy.
    pub digest: String,
    /// When this engine published it, milliseconds since the Unix epoch.
    #[serde(serialize_with = "ser_time")]
    pub loaded_at: i64,
    /// The directory it was loaded from.
    pub source: PathBuf,
    /// Publication number in this engine: 1 for the first version, then +1 per swap
    /// (a rollback counts as a swap).
    pub serial: u64,
}

fn ser_time<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::context::format_timestamp(*ms))
}

/// A bundle with the identity it is served under.
#[derive(Debug)]
pub(super) struct Served {
    pub(super) bundle: Arc<Bundle>,
    pub(super) version: Version,
}

/// Why a reload did not publish the bundle it loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reloaded {
    /// The loaded version now serves.
    Published,
    /// The loaded bundle has the digest of the one in service: nothing to do.
    Unchanged,
    /// A rollback pinned the version in service and the bundle on disk is still the
    /// one it rolled back from: the pin holds.
    Pinned,
}

/// The last reload that failed.
#[derive(Clone, Debug)]
pub struct ReloadFailure {
    /// When, milliseconds since the Unix epoch.
    pub at: i64,
    /// The directory that was read.
    pub source: PathBuf,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// Why [`Engine::rollback`] could not roll back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RollbackError {
    /// Only one version has been served.
    #[error("there is no previous version to roll back to")]
    NoPrevious,
}

/// What the engine serves now, and what it could roll back to.
#[derive(Clone, Debug)]
pub struct Status {
    /// The version in service.
    pub current: Version,
    /// The version a rollback would restore.
    pub previous: Option<Version>,
    /// Whether a rollback pinned the version in service.
    pub pinned: bool,
    /// The last failed reload, cleared by the next successful one.
    pub last_error: Option<ReloadFailure>,
    /// The challenger beside the version in service, and its split.
    pub challenger: Option<ChallengerStatus>,
    /// Reloads that published or confirmed a version.
    pub reloads_ok: u64,
    /// Reloads rejected because the bundle did not validate.
    pub reloads_failed: u64,
}

/// State changed only by swaps (never on the decide path).
#[derive(Debug, Default)]
pub(super) struct Admin {
    previous: Option<Arc<Served>>,
    /// The digest a rollback (or a promotion) moved away from, while the pin holds.
    pub(super) pinned_from: Option<String>,
    pub(super) last_error: Option<ReloadFailure>,
    pub(super) serial: u64,
    pub(super) reloads_ok: u64,
    pub(super) reloads_failed: u64,
}

/// Serves decisions from the current bundle version; `Send + Sync`, share it with
/// an `Arc`.
pub struct Engine {
    pub(super) current: ArcSwap<Served>,
    /// A second version serving a share of conversations, or shadowing them (`deploy`).
    pub(super) challenger: ArcSwapOption<Challenger>,
    admin: Mutex<Admin>,
    /// Keys a bundle loaded from disk must be signed with (`trust`); none: unsigned is fine.
    pub(super) trusted: ArcSwap<Vec<VerifyKey>>,
    pub(super) sink: ArcSwapOption<Box<dyn DecisionSink>>,
    /// How bundles are loaded on [`Engine::reload`].
    pub(super) options: LoadOptions,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("current", &self.current.load().version)
            .finish_non_exhaustive()
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Engine {
    /// An engine serving `bundle`.
    pub fn new(bundle: Bundle) -> Self {
        Self::with_bundle(Arc::new(bundle))
    }

    /// An engine serving a bundle already shared elsewhere (e.g. one the trainer
    /// evaluates, or one a test checks).
    pub fn with_bundle(bundle: Arc<Bundle>) -> Self {
        let served = served(bundle, 1);
        Self {
            current: ArcSwap::from_pointee(served),
            challenger: ArcSwapOption::empty(),
            trusted: ArcSwap::from_pointee(Vec::new()),
            admin: Mutex::new(Admin {
                serial: 1,
                ..Admin::default()
            }),
            sink: ArcSwapOption::empty(),
            options: LoadOptions::default(),
        }
    }

    /// Loads the bundle in `dir` and serves it.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::load_with(dir, LoadOptions::default())
    }

    /// Loads the bundle in `dir` with `options` and serves it; every
    /// [reload](Engine::reload) loads with the same options.
    pub fn load_with(dir: impl AsRef<Path>, options: LoadOptions) -> Result<Self, LoadError> {
        let bundle = Bundle::load_with(dir, &options)?;
        Ok(Self::new(bundle).with_options(options))
    }

    /// The same engine, loading the bundles of later [reloads](Engine::reload)
    /// with `options`.
    pub fn with_options(mut self, options: LoadOptions) -> Self {
        self.options = options;
        self
    }

    /// Decides the next track for `req` with the version in service.
    ///
    /// With a [decision sink](Engine::set_sink), the decision is handed to it under
    /// a fresh id; [`Engine::decide_with_id`] returns that id too.
    pub fn decide(&self, req: &Request) -> Result<Decision, DecideError> {
        if self.sink.load().is_none() && self.challenger.load().is_none() {
            let served = self.current.load_full();
            return decide::decide(&served.bundle, req);
        }
        self.decide_with_id(req).map(|(_, d)| d)
    }

    /// Decides like [`Engine::decide`] and returns the decision's id (a UUIDv7),
    /// the id its decision-log record carries. With a challenger, the arm the
    /// conversation is assigned to decides ([`Engine::decide_assigned`]).
    pub fn decide_with_id(&self, req: &Request) -> Result<(DecisionId, Decision), DecideError> {
        self.decide_assigned(req).map(|a| (a.id, a.decision))
    }

    /// Hands `outcome` to the decision sink, if there is one.
    pub fn record_outcome(&self, outcome: &Outcome) {
        if let Some(sink) = &*self.sink.load() {
            sink.outcome(outcome);
        }
    }

    /// Sets (or with `None` removes) the sink every decision is handed to.
    pub fn set_sink(&self, sink: Option<Box<dyn DecisionSink>>) {
        self.sink.store(sink.map(Arc::new));
    }

    /// The bundle in service.
    pub fn bundle(&self) -> Arc<Bundle> {
        Arc::clone(&self.current.load().bundle)
    }

    /// The identity of the version in service.
    pub fn version(&self) -> Version {
        self.current.load().version.clone()
    }

    /// The bundle in service with its identity, read together (one version).
    pub fn serving(&self) -> (Arc<Bundle>, Version) {
        let s = self.current.load();
        (Arc::clone(&s.bundle), s.version.clone())
    }

    /// What serves, what a rollback would restore, the pin and the last failure.
    pub fn status(&self) -> Status {
        let a = self.admin();
        Status {
            current: self.current.load().version.clone(),
            previous: a.previous.as_ref().map(|p| p.version.clone()),
            pinned: a.pinned_from.is_some(),
            last_error: a.last_error.clone(),
            challenger: self.challenger(),
            reloads_ok: a.reloads_ok,
            reloads_failed: a.reloads_failed,
        }
    }

    pub(super) fn admin(&self) -> MutexGuard<'_, Admin> {
        // A panic while holding the lock cannot leave `Admin` half-updated in a way
        // that matters (every field is replaced whole), so a poisoned lock is used as is.
        self.admin.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `bundle`; returns the one it replaces. Clears a rollback pin.
    pub fn publish(&self, bundle: Bundle) -> Arc<Bundle> {
        let mut a = self.admin();
        a.pinned_from = None;
        self.swap_in(&mut a, Arc::new(bundle))
    }

    pub(super) fn swap_in(&self, a: &mut Admin, bundle: Arc<Bundle>) -> Arc<Bundle> {
        a.serial += 1;
        let old = self.current.swap(Arc::new(served(bundle, a.serial)));
        let replaced = Arc::clone(&old.bundle);
        a.previous = Some(old);
        replaced
    }

    /// Loads `dir` and publishes it if it is valid; otherwise the version in service
    /// keeps serving and the error lists every problem. Returns the bundle in service
    /// afterwards.
    ///
    /// A bundle with the digest of the one in service is not republished; while a
    /// [rollback](Engine::rollback) pin holds, the bundle it rolled back from is not
    /// republished either (see [`Engine::reload_from`]).
    pub fn reload(&self, dir: impl AsRef<Path>) -> Result<Arc<Bundle>, LoadError> {
        self.reload_from(dir).map(|_| self.bundle())
    }

    /// Like [`Engine::reload`], saying what happened: published, unchanged, or held
    /// by a rollback pin. Any other bundle ends the pin.
    pub fn reload_from(&self, dir: impl AsRef<Path>) -> Result<Reloaded, LoadError> {
        let dir = dir.as_ref();
        let loaded = self.load_checked(dir);
        let mut a = self.admin();
        match loaded {
            Err(e) => {
                a.reloads_failed += 1;
                a.last_error = Some(ReloadFailure {
                    at: now_ms(),
                    source: dir.to_owned(),
                    problems: e.problems.clone(),
                });
                Err(e)
            }
            Ok(b) => {
                a.reloads_ok += 1;
                a.last_error = None;
                if a.pinned_from.as_deref() == Some(b.digest()) {
                    return Ok(Reloaded::Pinned);
                }
                if a.pinned_from.is_none() && self.current.load().version.digest == b.digest() {
                    return Ok(Reloaded::Unchanged);
                }
                a.pinned_from = None;
                self.swap_in(&mut a, Arc::new(b));
                Ok(Reloaded::Published)
            }
        }
    }

    /// Serves the previous version again and pins it until a different bundle is
    /// reloaded or published, or [`Engine::unpin`]. Rolling back twice returns to
    /// the version rolled back from.
    pub fn rollback(&self) -> Result<Version, RollbackError> {
        let mut a = self.admin();
        let prev = a.previous.take().ok_or(RollbackError::NoPrevious)?;
        a.serial += 1;
        let back = Arc::new(served(Arc::clone(&prev.bundle), a.serial));
        let version = back.version.clone();
        let old = self.current.swap(back);
        // Rolling back onto the version a pin was holding off ends the pin.
        a.pinned_from = if a.pinned_from.as_deref() == Some(version.digest.as_str()) {
            None
        } else {
            Some(old.version.digest.clone())
        };
        a.previous = Some(old);
        Ok(version)
    }

    /// Ends a rollback pin: the next reload publishes whatever is on disk.
    pub fn unpin(&self) {
        self.admin().pinned_from = None;
    }
}

pub(super) fn served(bundle: Arc<Bundle>, serial: u64) -> Served {
    let version = Version {
        name: bundle.name().to_owned(),
        version: bundle.version().to_owned(),
        digest: bundle.digest().to_owned(),
        loaded_at: now_ms(),
        source: bundle.dir().to_owned(),
        serial,
    };
    Served { bundle, version }
}
