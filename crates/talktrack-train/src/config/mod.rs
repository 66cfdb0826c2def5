//! The trainer's config file: where the log is, the catalog and reply vocabulary
//! (`[data]`, in [`data`]), how to aggregate (`[aggregate]`), how to simulate (`[sim]`),
//! the algorithms' hyper-parameters (`[ppo]`, `[dqn]`) and what the job runs (`[job]`,
//! in [`job`]).
//!
//! Paths are relative to the directory of the config file.

pub mod cv;
pub mod data;
pub mod job;
pub mod pessimism;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::aggregate::{AggregateConfig, AggregateError, Aggregates};
use crate::log::{ReadOptions, Vocab};
use crate::sim::SimConfig;
use talktrack::tooling::BundleTemplate;
use talktrack::tooling::Feature;

pub use cv::CvSettings;
pub use data::DataConfig;
pub use job::{Algorithm, JobSettings, Overrides};
pub use pessimism::{PessimismSettings, SelectionRule};

/// A complete simulator specification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSetup {
    /// Log and vocabularies.
    pub data: DataConfig,
    /// Aggregation settings.
    #[serde(default)]
    pub aggregate: AggregateConfig,
    /// Simulator settings.
    #[serde(default)]
    pub sim: SimConfig,
    /// The observation without a template (default: one-hot turn + one-hot last
    /// reply); with a template, the template's feature spec is used.
    #[serde(default = "crate::sim::default_features")]
    pub features: Vec<Feature>,
    /// `[ppo]`: PPO hyper-parameters (documented defaults).
    #[serde(default)]
    pub ppo: crate::train::PpoConfig,
    /// `[dqn]`: DQN hyper-parameters (documented defaults).
    #[serde(default)]
    pub dqn: crate::train::DqnConfig,
    /// `[job]`: what `talktrack-train train` runs and exports.
    #[serde(default)]
    pub job: JobSettings,
    /// `[cv]`: the cross-validation by conversation.
    #[serde(default)]
    pub cv: CvSettings,
    /// `[shrink]`: how the training simulator pools thin cells toward their back-off
    /// parents (the privacy threshold `k` stays in `[aggregate]`).
    #[serde(default)]
    pub shrink: crate::aggregate::shrink::ShrinkConfig,
    /// `[pessimism]`: the penalty on thinly backed (state, track) pairs.
    #[serde(default)]
    pub pessimism: PessimismSettings,
}

/// Why a setup could not be loaded or built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The TOML is malformed.
    #[error("bad simulator config: {0}")]
    Toml(#[from] toml::de::Error),
    /// A setting is out of range.
    #[error("bad simulator config: {0}")]
    Invalid(String),
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Aggregation failed.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
    /// The simulator could not be built.
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    /// The bundle template is invalid or does not match the config.
    #[error("bundle template: {0}")]
    Template(String),
    /// The aggregate file is unreadable or does not match the config and template.
    #[error("aggregate file `{path}`: {reason}")]
    AggregateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to change.
        reason: String,
    },
}

/// Largest aggregate file `[data] aggregates` may name, in bytes.
pub const MAX_AGGREGATE_FILE_BYTES: u64 = 1 << 30;

impl SimSetup {
    /// Parses a setup from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, SetupError> {
        Ok(toml::from_str(text)?)
    }

    /// Reads a setup file; relative paths in it become relative to its directory.
    pub fn load(path: &Path) -> Result<Self, SetupError> {
        let text = std::fs::read_to_string(path).map_err(|source| SetupError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut s = Self::from_toml(&text)?;
        let turns_set = toml::from_str::<toml::Table>(&text)
            .ok()
            .and_then(|t| t.get("aggregate")?.get("max_turns").cloned())
            .is_some();
        if let Some(dir) = path.parent() {
            if !s.data.log.as_os_str().is_empty() {
                s.data.log = dir.join(&s.data.log);
            }
            s.data.aggregates = s.data.aggregates.map(|a| dir.join(a));
            s.data.template = s.data.template.map(|r| dir.join(r));
        }
        if let Some(tpl) = s.load_template()? {
            let ids: Vec<String> = tpl
                .catalog()
                .tracks()
                .iter()
                .map(|t| t.id.clone())
                .collect();
            let replies = tpl.manifest().replies.clone();
            let tpl_turns = tpl.manifest().max_turns;
            if !turns_set {
                s.aggregate.max_turns = tpl_turns;
            } else if s.aggregate.max_turns != tpl_turns {
                return Err(SetupError::Template(format!(
                    "`[aggregate] max_turns = {}` differs from `max_turns = {tpl_turns}` in `{}`: set `max_turns = {tpl_turns}` in [aggregate] (or leave it out to use the template's), or change the template's",
                    s.aggregate.max_turns,
                    tpl.dir().join("bundle.toml").display()
                )));
            }
            if s.data.tracks.is_empty() {
                s.data.tracks = ids;
            } else if s.data.tracks != ids {
                return Err(SetupError::Template(format!(
                    "`data.tracks` differs from the catalog of `{}`: leave it out to use the catalog",
                    tpl.dir().display()
                )));
            }
            if s.data.replies.is_empty() {
                s.data.replies = replies;
            } else if s.data.replies != replies {
                return Err(SetupError::Template(format!(
                    "`data.replies` differs from the replies of `{}`: leave it out to use the template's",
                    tpl.dir().display()
                )));
            }
        }
        if s.data.max_line_bytes == 0 {
            return Err(SetupError::Invalid(
                "`[data] max_line_bytes` is 0: set it to the longest log line to accept, in bytes (default 1048576)".into(),
            ));
        }
        if s.data.log.as_os_str().is_empty() && s.data.aggregates.is_none() {
            return Err(SetupError::Template(
                "`[data]` names neither a `log` nor an `aggregates` file: set one of them".into(),
            ));
        }
        if s.data.tracks.is_empty() || s.data.replies.is_empty() {
            return Err(SetupError::Template(
                "name a bundle `template` in `[data]` (or list `tracks` and `replies`)".into(),
            ));
        }
        Ok(s)
    }

    /// Loads the bundle template named in `[data]`, if any (validated like a bundle,
    /// without its policy).
    pub fn load_template(&self) -> Result<Option<BundleTemplate>, SetupError> {
        match &self.data.template {
            None => Ok(None),
            Some(dir) => BundleTemplate::load(dir).map(Some).map_err(|e| {
                SetupError::Template(format!("{e}\n{}", talktrack::render(&e.problems)))
            }),
        }
    }

    /// The vocabulary logs are checked against.
    pub fn vocab(&self) -> Vocab {
        Vocab::new(self.data.tracks.clone(), self.data.replies.clone())
    }

    /// Opens the configured log for reading.
    pub fn open_log(&self) -> Result<std::io::BufReader<std::fs::File>, SetupError> {
        if self.data.log.as_os_str().is_empty() {
            return Err(SetupError::Template(
                "`[data] log` is not set: name the conversation log to read".into(),
            ));
        }
        let f = std::fs::File::open(&self.data.log).map_err(|source| SetupError::Io {
            path: self.data.log.clone(),
            source,
        })?;
        Ok(std::io::BufReader::new(f))
    }

    /// Reads the aggregate file named in `[data] aggregates` (`None` when unset) and
    /// checks that it matches this setup: same catalog and replies, and the same `k`
    /// and `max_turns` as `[aggregate]`.
    pub fn read_aggregates(&self) -> Result<Option<Aggregates>, SetupError> {
        let Some(path) = &self.data.aggregates else {
            return Ok(None);
        };
        let bad = |reason: String| SetupError::AggregateFile {
            path: path.clone(),
            reason,
        };
        // Regular files only, never more than the limit (`/dev/zero` or a FIFO is
        // refused, not read until memory runs out or forever).
        let bytes = talktrack::tooling::read_bounded(path, MAX_AGGREGATE_FILE_BYTES)
            .map_err(|e| bad(format!("cannot read it: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            bad(format!(
                "not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        let agg = Aggregates::from_json(&text).map_err(|e| {
            bad(format!(
                "not an aggregate file written by `talktrack-train aggregate`: {e}"
            ))
        })?;
        let again =
            "aggregate the log again with this config (`talktrack-train aggregate --config ...`)";
        if agg.format != 1 {
            return Err(bad(format!(
                "format {} is not supported (expected 1): {again}",
                agg.format
            )));
        }
        if agg.tracks != self.data.tracks {
            return Err(bad(format!(
                "its tracks [{}] differ from the catalog [{}]: {again}",
                agg.tracks.join(", "),
                self.data.tracks.join(", ")
            )));
        }
        if agg.replies != self.data.replies {
            return Err(bad(format!(
                "its replies [{}] differ from the reply vocabulary [{}]: {again}",
                agg.replies.join(", "),
                self.data.replies.join(", ")
            )));
        }
        if agg.config.max_turns != self.aggregate.max_turns {
            return Err(bad(format!(
                "it was aggregated with max_turns = {} but `[aggregate] max_turns` is {}: {again}",
                agg.config.max_turns, self.aggregate.max_turns
            )));
        }
        if agg.config.k != self.aggregate.k {
            return Err(bad(format!(
                "it was published with k = {} but `[aggregate] k` is {}: set `k = {}` in [aggregate], or {again}",
                agg.config.k, self.aggregate.k, agg.config.k
            )));
        }
        Ok(Some(agg))
    }

    /// Aggregates the configured log file.
    pub fn aggregate_file(&self, opts: ReadOptions) -> Result<Aggregates, SetupError> {
        let f = self.open_log()?;
        let (agg, _) =
            crate::aggregate::aggregate_log(f, &self.vocab(), self.aggregate.clone(), opts)?;
        Ok(agg)
    }
}
