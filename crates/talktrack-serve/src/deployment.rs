//! Named deployments: one engine each, from a bundle directory or from a
//! deployment file that names a champion bundle and, optionally, a challenger with
//! its share of conversations and mode (split or shadow).
//!
//! ```toml
//! name = "retention"              # served at /v1/retention/decide
//! champion = "bundles/current"    # paths are relative to this file
//!
//! [challenger]                    # optional
//! bundle = "bundles/v5"
//! percent = 10                    # sticky by a hash of the conversation id
//! mode = "split"                  # or "shadow": it decides too, is logged, not served
//! ```
//!
//! The file is the one place the arms are set, so every node reading it agrees;
//! `--watch` picks up an edit. [`promote_file`] rewrites it (`talktrack promote`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;
use talktrack::serving::{ArmMode, Reloaded, Split, VerifyKey};
use talktrack::{Engine, LoadError};

/// Largest deployment file read, in bytes.
const MAX_FILE_BYTES: u64 = 64 << 10;

/// Route segments a deployment cannot be named after.
const RESERVED: [&str; 9] = [
    "decide",
    "outcome",
    "reload",
    "rollback",
    "unpin",
    "promote",
    "bundles",
    "openapi.json",
    "deployments",
];

/// Why a deployment file cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DeploymentError {
    /// The file cannot be read, or is not valid TOML of the right shape.
    #[error("deployment file `{path}`: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column when the TOML parser gives them.
        message: String,
    },
    /// Not a usable deployment name.
    #[error("deployment name `{0}`: use 1 to 64 lowercase letters, digits, `-` and `_`, and not a route name (decide, outcome, reload, rollback, unpin, promote, bundles, deployments)")]
    BadName(String),
    /// Two deployments with one name.
    #[error("deployment `{0}` is given twice")]
    Duplicate(String),
    /// The challenger is the champion's own bundle: there is nothing to compare.
    #[error("deployment file `{path}`: the challenger `{challenger}` is the champion's bundle (digest {digest}); nothing to compare, so the champion serves every conversation")]
    SameAsChampion {
        /// The file.
        path: PathBuf,
        /// The challenger's bundle directory.
        challenger: PathBuf,
        /// The digest both share.
        digest: String,
    },
    /// The file now names its deployment differently.
    #[error("deployment file `{path}` renames `{was}` to `{now}`; a rename needs a restart")]
    Renamed {
        /// The file.
        path: PathBuf,
        /// The name served.
        was: String,
        /// The name in the file.
        now: String,
    },
}

/// A deployment file, as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a deployment: `name`, `champion` and an optional `[challenger]` table"
)]
struct FileSpec {
    name: String,
    champion: PathBuf,
    #[serde(default)]
    challenger: Option<ChallengerSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a `[challenger]` table: `bundle`, `percent` and an optional `mode`"
)]
struct ChallengerSpec {
    bundle: PathBuf,
    percent: f64,
    #[serde(default)]
    mode: ArmMode,
}

/// A deployment file with its paths resolved against its directory.
#[derive(Debug)]
pub struct Spec {
    /// The deployment's name.
    pub name: String,
    /// The champion's bundle directory.
    pub champion: PathBuf,
    /// The challenger's bundle directory and split.
    pub challenger: Option<(PathBuf, Split)>,
}

fn file_err(path: &Path, message: impl Into<String>) -> DeploymentError {
    DeploymentError::File {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Checks a deployment name.
pub fn check_name(name: &str) -> Result<(), DeploymentError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !RESERVED.contains(&name);
    if ok {
        Ok(())
    } else {
        Err(DeploymentError::BadName(name.to_owned()))
    }
}

fn read_limited(path: &Path) -> Result<String, DeploymentError> {
    let meta = std::fs::metadata(path).map_err(|e| file_err(path, e.to_string()))?;
    if !meta.is_file() {
        return Err(file_err(path, "not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(file_err(
            path,
            format!(
                "{} bytes, more than the {MAX_FILE_BYTES} allowed",
                meta.len()
            ),
        ));
    }
    std::fs::read_to_string(path).map_err(|e| file_err(path, e.to_string()))
}

/// Reads and checks a deployment file.
pub fn read_spec(path: &Path) -> Result<Spec, DeploymentError> {
    let text = read_limited(path)?;
    let spec: FileSpec = toml::from_str(&text).map_err(|e| {
        let at = e.span().map(|s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line} column {col}: ")
        });
        file_err(
            path,
            format!("{}{}", at.unwrap_or_default(), e.message().trim_end()),
        )
    })?;
    check_name(&spec.name)?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let challenger = match spec.challenger {
        Some(c) => {
            let split = Split::new(c.mode, c.percent)
                .map_err(|e| file_err(path, format!("`challenger.percent`: {e}")))?;
            Some((base.join(c.bundle), split))
        }
        None => None,
    };
    Ok(Spec {
        name: spec.name,
        champion: base.join(spec.champion),
        challenger,
    })
}

/// Where a deployment's arms come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// One bundle directory (or `current` symlink): `--bundle`.
    Bundle(PathBuf),
    /// A deployment file: `--deployment`.
    File(PathBuf),
}

/// Why a deployment's reload did not happen.
#[derive(Debug)]
pub enum ReloadError {
    /// A bundle does not validate.
    Bundle(LoadError),
    /// The deployment file is unusable.
    File(DeploymentError),
}

/// One named deployment and its engine.
pub struct Deployment {
    /// Its name (`default` for `--bundle`).
    pub name: String,
    /// The engine serving its arms.
    pub engine: Engine,
    /// Where its arms come from.
    pub source: Source,
    /// The last failure to use the deployment file, cleared by a good reload.
    file_error: Mutex<Option<DeploymentError>>,
}

/// Why a deployment could not start.
#[derive(Debug)]
pub enum OpenError {
    /// A bundle does not validate.
    Bundle(LoadError),
    /// The deployment file is unusable.
    File(DeploymentError),
}

impl Deployment {
    /// A deployment serving the bundle in `dir`, signed by one of `keys` when there
    /// are any.
    pub fn from_bundle(name: &str, dir: &Path, keys: &[VerifyKey]) -> Result<Self, OpenError> {
        let engine = Engine::load_verified(dir, keys.to_vec()).map_err(OpenError::Bundle)?;
        Ok(Self {
            name: name.to_owned(),
            engine,
            source: Source::Bundle(dir.to_owned()),
            file_error: Mutex::new(None),
        })
    }

    /// A deployment from a deployment file: its champion, and its challenger if any,
    /// each signed by one of `keys` when there are any.
    pub fn from_file(path: &Path, keys: &[VerifyKey]) -> Result<Self, OpenError> {
        let spec = read_spec(path).map_err(OpenError::File)?;
        let engine =
            Engine::load_verified(&spec.champion, keys.to_vec()).map_err(OpenError::Bundle)?;
        if let Some((dir, split)) = &spec.challenger {
            engine
                .load_challenger(dir, *split)
                .map_err(OpenError::Bundle)?;
            same_as_champion(&engine, path, dir).map_err(OpenError::File)?;
        }
        Ok(Self {
            name: spec.name,
            engine,
            source: Source::File(path.to_owned()),
            file_error: Mutex::new(None),
        })
    }

    /// The paths to watch: the bundle directory, or the file and its bundles.
    pub fn watched(&self) -> Vec<PathBuf> {
        match &self.source {
            Source::Bundle(dir) => vec![dir.clone()],
            Source::File(path) => {
                let mut out = vec![path.clone()];
                if let Ok(spec) = read_spec(path) {
                    out.push(spec.champion);
                    out.extend(spec.challenger.map(|c| c.0));
                }
                out
            }
        }
    }

    /// The last failure to use the deployment file.
    pub fn file_error(&self) -> Option<DeploymentError> {
        self.file_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_file_error(&self, e: Option<DeploymentError>) {
        *self.file_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }

    /// Reloads the champion from disk and, for a deployment file, the challenger and
    /// its split as the file now says. Returns what became of the champion.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let path = match &self.source {
            Source::Bundle(dir) => {
                return self.engine.reload_from(dir).map_err(ReloadError::Bundle)
            }
            Source::File(path) => path,
        };
        let spec = match read_spec(path).and_then(|s| {
            if s.name == self.name {
                Ok(s)
            } else {
                Err(DeploymentError::Renamed {
                    path: path.clone(),
                    was: self.name.clone(),
                    now: s.name,
                })
            }
        }) {
            Ok(s) => s,
            Err(e) => {
                self.set_file_error(Some(e.clone()));
                return Err(ReloadError::File(e));
            }
        };
        self.set_file_error(None);
        let champion = self
            .engine
            .reload_from(&spec.champion)
            .map_err(ReloadError::Bundle)?;
        match &spec.challenger {
            Some((dir, split)) => {
                self.engine
                    .load_challenger(dir, *split)
                    .map_err(ReloadError::Bundle)?;
                if let Err(e) = same_as_champion(&self.engine, path, dir) {
                    // After a promotion the file still names the promoted bundle as
                    // challenger while the pin holds: it already serves everyone.
                    if champion != Reloaded::Pinned {
                        self.set_file_error(Some(e.clone()));
                        return Err(ReloadError::File(e));
                    }
                }
            }
            None => {
                self.engine.clear_challenger();
            }
        }
        Ok(champion)
    }
}

/// Refuses a challenger that is the champion's own bundle (same digest): it is
/// removed, so the champion serves every conversation and the split's figures are
/// never read as a comparison.
fn same_as_champion(engine: &Engine, path: &Path, dir: &Path) -> Result<(), DeploymentError> {
    let champion = engine.version().digest;
    match engine.challenger() {
        Some(c) if c.version.digest == champion => {
            engine.clear_challenger();
            Err(DeploymentError::SameAsChampion {
                path: path.to_owned(),
                challenger: dir.to_owned(),
                digest: champion,
            })
        }
        _ => Ok(()),
    }
}

/// Rewrites a deployment file so that its challenger is the champion, for every
/// conversation, and it has no challenger; the rest of the file (comments
/// included) is kept. Returns the new champion path as written in the file.
pub fn promote_file(path: &Path) -> Result<String, DeploymentError> {
    read_spec(path)?;
    let text = read_limited(path)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| file_err(path, e.to_string()))?;
    let bundle = doc
        .get("challenger")
        .and_then(|c| c.get("bundle"))
        .and_then(|b| b.as_str())
        .map(str::to_owned)
        .ok_or_else(|| file_err(path, "there is no challenger to promote"))?;
    doc["champion"] = toml_edit::value(bundle.clone());
    doc.remove("challenger");
    let tmp = path.with_extension("toml.promote");
    std::fs::write(&tmp, doc.to_string()).map_err(|e| file_err(&tmp, e.to_string()))?;
    // One rename: a watcher never sees a half-written file.
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e.to_string()))?;
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/telecom-upsell");

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deployment.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_challenger_of_the_wrong_shape_is_named_as_the_file_spells_it() {
        let (_d, path) = file("name = \"retention\"\nchampion = \"v1\"\nchallenger = \"v2\"\n");
        let e = read_spec(&path).unwrap_err().to_string();
        assert!(
            e.contains("line 3 column 14") && e.contains("a `[challenger]` table"),
            "{e}"
        );
        assert!(!e.contains("ChallengerSpec"), "{e}");
        let (_d, path) = file("[name]\n");
        let e = read_spec(&path).unwrap_err().to_string();
        assert!(!e.contains("FileSpec"), "{e}");
    }

    #[test]
    fn a_challenger_that_is_the_champion_is_refused_and_removed() {
        let text = format!(
            "name = \"retention\"\nchampion = {EXAMPLE:?}\n[challenger]\nbundle = {EXAMPLE:?}\npercent = 10\n"
        );
        let (_d, path) = file(&text);
        match Deployment::from_file(&path, &[]) {
            Err(OpenError::File(DeploymentError::SameAsChampion { digest, .. })) => {
                assert_eq!(digest, talktrack::Bundle::load(EXAMPLE).unwrap().digest());
            }
            Err(e) => panic!("wrong error: {e:?}"),
            Ok(_) => panic!("a challenger equal to the champion was accepted"),
        }

        // On reload, the deployment keeps serving its champion alone and says why.
        let other = file(&format!("name = \"retention\"\nchampion = {EXAMPLE:?}\n"));
        let d = Deployment::from_file(&other.1, &[]).unwrap();
        std::fs::write(&other.1, &text).unwrap();
        assert!(matches!(
            d.reload(),
            Err(ReloadError::File(DeploymentError::SameAsChampion { .. }))
        ));
        assert!(d.engine.challenger().is_none());
        assert!(d.file_error().is_some());
    }
}
