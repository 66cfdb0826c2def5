//! The file that fully specifies a simulator: where the log is, the catalog and reply
//! vocabulary, how to aggregate (`[aggregate]`) and how to simulate (`[sim]`).
//!
//! Paths are relative to the directory of the config file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::aggregate::{AggregateConfig, AggregateError, Aggregates};
use crate::bundle::BundleTemplate;
use crate::log::{ReadOptions, Vocab};

use super::SimConfig;
use crate::features::Feature;

/// `[data]`: the log and its vocabularies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The JSONL conversation log.
    pub log: PathBuf,
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
    #[serde(default = "super::default_features")]
    pub features: Vec<Feature>,
    /// `[ppo]`: PPO hyper-parameters (documented defaults).
    #[serde(default)]
    pub ppo: crate::train::PpoConfig,
    /// `[dqn]`: DQN hyper-parameters (documented defaults).
    #[serde(default)]
    pub dqn: crate::train::DqnConfig,
    /// `[job]`: what `talktrack-train train` runs and exports.
    #[serde(default)]
    pub job: crate::pipeline::JobSettings,
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
    /// The bundle template is invalid or does not match the config.
    #[error("bundle template: {0}")]
    Template(String),
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
                SetupError::Template(format!("{e}\n{}", crate::diag::render(&e.problems)))
            }),
        }
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
