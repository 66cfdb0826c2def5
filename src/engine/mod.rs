//! The engine a host embeds: decide per turn, swap bundles while serving.
//!
//! A new bundle is loaded and validated off the hot path, then published with one
//! atomic store ([`arc_swap`]); a decision in flight finishes on the bundle it
//! started with, and a bundle that fails to load never replaces the one serving.

mod decide;
mod decision;
mod explain;
mod mask;
mod request;
mod resolve;
mod score;
mod scratch;
mod select;

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

pub(crate) use decide::decide;
pub use decision::{Decision, MaskReason, Masked, PolicyUse, Ranked};
pub use mask::{mask, MaskOutcome};
pub use request::{DecideError, History, Request, MAX_HISTORY, MAX_REQUEST_BYTES};
pub(crate) use scratch::Scratch;

use crate::bundle::{Bundle, LoadError};

/// Serves decisions from the current bundle; `Send + Sync`, share it with an `Arc`.
pub struct Engine {
    current: ArcSwap<Bundle>,
}

impl Engine {
    /// An engine serving `bundle`.
    pub fn new(bundle: Bundle) -> Self {
        Self {
            current: ArcSwap::from_pointee(bundle),
        }
    }

    /// An engine serving a bundle already shared elsewhere (e.g. one the trainer
    /// evaluates, or one a test checks).
    pub fn with_bundle(bundle: Arc<Bundle>) -> Self {
        Self {
            current: ArcSwap::new(bundle),
        }
    }

    /// Loads the bundle in `dir` and serves it.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        Bundle::load(dir).map(Self::new)
    }

    /// Decides the next track for `req` with the bundle in service.
    pub fn decide(&self, req: &Request) -> Result<Decision, DecideError> {
        let bundle = self.current.load_full();
        decide::decide(&bundle, req)
    }

    /// The bundle in service.
    pub fn bundle(&self) -> Arc<Bundle> {
        self.current.load_full()
    }

    /// Publishes `bundle`; returns the one it replaces.
    pub fn publish(&self, bundle: Bundle) -> Arc<Bundle> {
        self.current.swap(Arc::new(bundle))
    }

    /// Loads `dir` and publishes it if it is valid; otherwise the bundle in service
    /// keeps serving and the error lists every problem.
    pub fn reload(&self, dir: impl AsRef<Path>) -> Result<Arc<Bundle>, LoadError> {
        let b = Bundle::load(dir)?;
        self.publish(b);
        Ok(self.current.load_full())
    }
}
