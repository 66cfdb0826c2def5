//! Sealing a bundle: writing its policy's SHA-256 into `bundle.toml`.
//!
//! The checksum ties the manifest to the exact policy file it was written for;
//! after a policy is replaced by hand (not exported by the trainer), `talktrack
//! seal` records the new one. Only `policy.sha256` changes: comments, order and
//! layout of the rest of the file are kept as written.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::locate::Seg;
use super::{listed_file, read_manifest_in, real_dir, LoadError, ReadError};
use crate::problem::{Code, Problem};

/// What sealing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The policy file, as the manifest names it.
    pub policy: PathBuf,
    /// `policy.sha256` before (empty when it was not set).
    pub before: String,
    /// `policy.sha256` now.
    pub after: String,
}

impl Sealed {
    /// Whether the manifest already held the policy's checksum (nothing was written).
    pub fn unchanged(&self) -> bool {
        self.before == self.after
    }
}

/// Computes the SHA-256 of the policy file the bundle in `dir` names and writes it
/// into `bundle.toml` as `policy.sha256`, leaving the rest of the file as it is.
///
/// The manifest must parse and the policy file must be inside the bundle; the
/// rest of the bundle is not checked (run `talktrack check` for that).
pub fn seal(dir: &Path) -> Result<Sealed, LoadError> {
    let root = real_dir(dir)?;
    let (manifest, text) = read_manifest_in(dir, &root)?;
    let single = |p: Problem| LoadError::single(dir, p);
    let shown = Path::new("bundle.toml");
    let rel = manifest.policy.file.clone();
    let policy =
        listed_file(&root, &text, &[Seg::Key("policy"), Seg::Key("file")], &rel).map_err(single)?;
    let bytes = super::read::read_bounded_inside(&root, &policy, crate::policy::MAX_POLICY_BYTES)
        .map_err(|e| {
        single(Problem::error(
            Code::BundlePolicy,
            Path::new(&rel),
            match e {
                e @ ReadError::TooLarge { .. } => format!("policy {e}"),
                e => format!("cannot read policy file: {e}"),
            },
        ))
    })?;
    let after = hex::encode(Sha256::digest(&bytes));
    let before = manifest.policy.sha256.clone();
    let sealed = Sealed {
        policy: PathBuf::from(rel),
        before,
        after,
    };
    if sealed.unchanged() {
        return Ok(sealed);
    }
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        single(Problem::error(
            Code::BundleManifest,
            shown,
            e.message().to_owned(),
        ))
    })?;
    let table = doc
        .entry("policy")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or_else(|| {
            single(Problem::error(
                Code::BundleManifest,
                shown,
                "`policy` is not a table",
            ))
        })?;
    match table.get_mut("sha256") {
        Some(item) => {
            // Keep the decoration (spaces, comment) around the value.
            let decor = item.as_value().map(|v| v.decor().clone());
            let mut value = toml_edit::Value::from(sealed.after.as_str());
            if let Some(d) = decor {
                *value.decor_mut() = d;
            }
            *item = toml_edit::Item::Value(value);
        }
        None => {
            table.insert("sha256", toml_edit::value(sealed.after.as_str()));
        }
    }
    let manifest_path = super::paths::contained(&root, shown).unwrap_or_else(|_| root.join(shown));
    write_replacing(&manifest_path, doc.to_string().as_bytes())
        .map_err(|e| single(Problem::error(Code::BundleUnwritable, shown, e)))?;
    Ok(sealed)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so that a reader sees the old manifest or the new one, never half of it.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("toml.sealing");
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write `{}`: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot replace `bundle.toml`: {e}")
    })
}
