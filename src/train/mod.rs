//! Learning a policy: the environment contract and the DQN / PPO trainers.
//!
//! Only compiled with the `train` feature, so that an application embedding the
//! runtime does not build the autodiff stack.

pub mod env;
