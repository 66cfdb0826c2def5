//! `[data]` of the trainer config: the log, or the aggregate file, and the vocabularies
//! a log is checked against.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::log::ReadOptions;

/// `[data]`: the log and its vocabularies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The JSONL conversation log (may be left out when `aggregates` is set).
    #[serde(default)]
    pub log: PathBuf,
    /// An aggregate file written by `talktrack-train aggregate`: when set, training and
    /// evaluation build the simulator from it alone and never read the log. What needs
    /// individual conversations (the cross-validation, the cost of the noise) is then
    /// skipped, and the report says so.
    #[serde(default)]
    pub aggregates: Option<PathBuf>,
    /// Stop at the first bad log line instead of skipping and counting it (default false).
    #[serde(default)]
    pub strict: bool,
    /// The longest log line, in bytes (default 1 MiB, 1048576): a longer line is a bad
    /// line, skipped (or fatal with `strict`) without being read into memory whole.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// The bundle template (a bundle directory; its policy may be absent): catalog,
    /// replies, rules and feature spec come from it.
    #[serde(default)]
    pub template: Option<PathBuf>,
    /// Catalog track ids, in action order (default: the template's catalog).
    #[serde(default)]
    pub tracks: Vec<String>,
    /// Reply categories (default: the template's).
    #[serde(default)]
    pub replies: Vec<String>,
}

fn default_max_line_bytes() -> usize {
    crate::log::lines::DEFAULT_MAX_LINE_BYTES
}

impl DataConfig {
    /// How to read the log: `strict` and `max_line_bytes` from here, examples kept as
    /// [`ReadOptions`]' default.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            strict: self.strict,
            max_line_bytes: self.max_line_bytes,
            ..ReadOptions::default()
        }
    }
}
