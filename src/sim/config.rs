//! The file that fully specifies a simulator: where the log is, the catalog and reply
//! vocabulary, how to aggregate (`[aggregate]`) and how to simulate (`[sim]`).
//!
//! Paths are relative to the directory of the config file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::aggregate::{AggregateConfig, AggregateError, Aggregates};
use crate::log::{ReadOptions, Vocab};

use super::SimConfig;
use crate::features::Feature;

/// `[data]`: the log and its vocabularies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The JSONL conversation log.
    pub log: PathBuf,
    /// Catalog track ids, in action order.
    pub tracks: Vec<String>,
    /// Reply categories.
    pub replies: Vec<String>,
    /// The rules file the masks come from.
    #[serde(default)]
    pub rules: Option<PathBuf>,
}

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
    /// The observation (default: one-hot turn + one-hot last reply).
    #[serde(default = "super::default_features")]
    pub features: Vec<Feature>,
}

/// Why a setup could not be loaded or built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The TOML is malformed.
    #[error("bad simulator config: {0}")]
    Toml(#[from] toml::de::Error),
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
    Sim(#[from] super::SimError),
}

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
        if let Some(dir) = path.parent() {
            s.data.log = dir.join(&s.data.log);
            s.data.rules = s.data.rules.map(|r| dir.join(r));
        }
        Ok(s)
    }

    /// The vocabulary logs are checked against.
    pub fn vocab(&self) -> Vocab {
        Vocab::new(self.data.tracks.clone(), self.data.replies.clone())
    }

    /// Aggregates the configured log file.
    pub fn aggregate_file(&self, opts: ReadOptions) -> Result<Aggregates, SetupError> {
        let f = std::fs::File::open(&self.data.log).map_err(|source| SetupError::Io {
            path: self.data.log.clone(),
            source,
        })?;
        let (agg, _) = crate::aggregate::aggregate_log(
            std::io::BufReader::new(f),
            &self.vocab(),
            self.aggregate.clone(),
            opts,
        )?;
        Ok(agg)
    }
}
