//! Signed bundles in service: the keys an [`Engine`] trusts, and the check every
//! bundle it loads from disk passes before it may serve.
//!
//! With trusted keys set, a bundle whose `bundle.sig` is missing, is for another
//! digest, is by an untrusted key or does not verify is refused like an invalid
//! bundle (code `bundle::signature`) and the versions in service keep serving.
//! Bundles handed over in memory ([`Engine::publish`], [`Engine::set_challenger`])
//! are the host's own: verify them with [`Bundle::verify`] first.

use std::path::Path;
use std::sync::Arc;

use super::Engine;
use crate::bundle::{Bundle, LoadError, VerifyKey};

impl Engine {
    /// Loads the bundle in `dir`, which must be signed by one of `keys`, and serves
    /// it; every later reload is held to the same keys (see [`Engine::trust`]).
    pub fn load_verified(dir: impl AsRef<Path>, keys: Vec<VerifyKey>) -> Result<Self, LoadError> {
        let b = Bundle::load(dir)?;
        b.verify(&keys)?;
        let engine = Self::new(b);
        engine.trust(keys);
        Ok(engine)
    }

    /// From now on, bundles loaded from disk (reloads, challengers) must be signed by
    /// one of `keys` (several, for key rotation); no keys accepts unsigned bundles.
    /// The version in service is not checked again.
    pub fn trust(&self, keys: Vec<VerifyKey>) {
        self.trusted.store(Arc::new(keys));
    }

    /// Loads and validates the bundle in `dir` and checks its signature against the
    /// trusted keys.
    pub(super) fn load_checked(&self, dir: &Path) -> Result<Bundle, LoadError> {
        let b = Bundle::load_with(dir, &self.options)?;
        b.verify(&self.trusted.load())?;
        Ok(b)
    }
}
