//! The talktrack trainer: learns a talk-track policy from conversation logs and
//! exports it as a bundle the runtime (`talktrack`) serves.
//!
//! Logs are read ([`log`]), reduced to privacy-preserving aggregates
//! ([`aggregate`]), turned into a simulator of the customer ([`sim`]), on which
//! PPO or DQN learn a policy ([`train`]); the policy is evaluated exactly or by
//! simulation ([`eval`]), written up ([`report`]) and exported as a bundle
//! ([`export`]). [`job`] runs the whole job from a config file ([`config`]).
//!
//! The learning side (the trainers, the job that trains and exports, the report's
//! plot, the `talktrack-train` command) needs the default `learn` feature; without it
//! the crate builds the logs, aggregates, simulator and evaluation only, for hosts
//! that bring their own learner (the Python package's gymnasium environment).

// Without `learn`, parts of the job's stages that only training reaches are unused.
#![cfg_attr(not(feature = "learn"), allow(dead_code, unused_imports))]

pub mod aggregate;
pub mod config;
pub mod eval;
pub mod export;
pub mod gate;
pub mod job;
pub mod log;
pub mod ope;
pub mod report;
pub mod sim;
pub mod train;
