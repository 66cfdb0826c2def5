//! What a host may set about loading a bundle: the bounds its policy network
//! must fit.

use crate::policy::PolicyLimits;

/// Options for [`Bundle::load_with`](crate::Bundle::load_with) and
/// [`Engine::load_with`](crate::Engine::load_with).
///
/// The defaults are those of [`Bundle::load`](crate::Bundle::load). A host that
/// loads bundles on a small machine lowers the policy bounds; one that serves a
/// large network raises them:
///
/// ```
/// use talktrack::serving::{LoadOptions, PolicyLimits};
///
/// let options = LoadOptions::new().policy_limits(PolicyLimits {
///     max_tensor_elements: 1 << 20,
///     max_total_bytes: 32 << 20,
///     ..PolicyLimits::default()
/// });
/// assert_eq!(options.limits().max_total_bytes, 32 << 20);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    policy_limits: PolicyLimits,
}

impl LoadOptions {
    /// The defaults: [`PolicyLimits::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the bounds the policy network must fit (checked when it loads).
    pub fn policy_limits(mut self, limits: PolicyLimits) -> Self {
        self.policy_limits = limits;
        self
    }

    /// The bounds the policy network must fit.
    pub fn limits(&self) -> &PolicyLimits {
        &self.policy_limits
    }
}
