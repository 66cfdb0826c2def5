//! Exporting a trained policy as a complete bundle that `talktrack check` accepts
//! unchanged.
//!
//! The bundle is assembled in a temporary directory next to the destination —
//! template files, the policy written by the library's ONNX writer, the manifest
//! with the policy's checksum and the training metadata, and any generated rule
//! file — then loaded and validated exactly as the runtime would, and only then
//! renamed into place. A failed export never leaves a partial bundle behind as if
//! it were complete.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use talktrack::tooling::BundleTemplate;
use talktrack::tooling::ScoreKind;
use talktrack::tooling::{write_mlp, Activation, Dense, Head, MlpSpec};
use talktrack::Bundle;

/// What to export.
#[derive(Debug)]
pub struct ExportSpec<'a> {
    /// The template the policy was trained on.
    pub template: &'a BundleTemplate,
    /// The network, input layer first.
    pub layers: Vec<Dense>,
    /// Nonlinearity between layers.
    pub hidden: Activation,
    /// What the network's outputs are.
    pub scores: ScoreKind,
    /// Bundle version (default: the template's).
    pub version: Option<String>,
    /// A generated rule file `(file name, text)`, added to the bundle's rules.
    pub generated_rules: Option<(String, String)>,
    /// Training metadata for the manifest's `[training]` table.
    pub training: toml::Table,
}

/// Why an export failed; nothing was written at the destination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Writing files failed.
    #[error("cannot write `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The ONNX writer refused the network.
    #[error("cannot write the policy: {0}")]
    Policy(#[from] talktrack::tooling::PolicyError),
    /// The manifest could not be serialised.
    #[error("cannot write the manifest: {0}")]
    Manifest(String),
    /// The assembled bundle does not load; the messages say why.
    #[error("the exported bundle does not load:\n{0}")]
    Invalid(String),
    /// The assembled bundle loads but failed the caller's check (nothing was published).
    #[error("the exported bundle failed its check, nothing was published: {0}")]
    Check(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

fn copy_tree(from: &Path, to: &Path, skip: &[PathBuf]) -> Result<(), ExportError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let p = entry.path();
        if skip.contains(&p) {
            continue;
        }
        let dst = to.join(entry.file_name());
        if p.is_dir() {
            copy_tree(&p, &dst, skip)?;
        } else {
            std::fs::copy(&p, &dst).map_err(io(&p))?;
        }
    }
    Ok(())
}

/// Writes the bundle to `out` (replacing a bundle already there) and returns it loaded.
pub fn export_bundle(spec: ExportSpec<'_>, out: &Path) -> Result<Bundle, ExportError> {
    export_bundle_checked(spec, out, |_| Ok(()))
}

/// [`export_bundle`], with one more check before the bundle is published: `check`
/// runs on the assembled bundle, loaded from its temporary directory; when it fails,
/// nothing is written at `out` (a bundle already there stays).
pub fn export_bundle_checked(
    spec: ExportSpec<'_>,
    out: &Path,
    check: impl FnOnce(&Bundle) -> Result<(), String>,
) -> Result<Bundle, ExportError> {
    let tpl = spec.template;
    let mut manifest = tpl.manifest().clone();
    let policy = write_mlp(&MlpSpec {
        layers: spec.layers,
        hidden: spec.hidden,
        head: Head::Identity,
        input: manifest.policy.input.clone(),
        output: manifest.policy.output.clone(),
        opset: 17,
        doc: format!("talktrack-train policy for `{}`", manifest.name),
    })?;

    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = out
        .file_name()
        .map_or_else(|| "bundle".into(), |n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    let result = (|| {
        let skip = [
            tpl.dir().join("bundle.toml"),
            tpl.dir().join(&manifest.policy.file),
        ];
        copy_tree(tpl.dir(), &tmp, &skip)?;
        let policy_path = tmp.join(&manifest.policy.file);
        std::fs::write(&policy_path, &policy).map_err(io(&policy_path))?;
        manifest.policy.sha256 = hex::encode(Sha256::digest(&policy));
        manifest.policy.scores = spec.scores;
        if let Some(v) = &spec.version {
            manifest.version = v.clone();
        }
        if let Some((file, text)) = &spec.generated_rules {
            let path = tmp.join(file);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
            std::fs::write(&path, text).map_err(io(&path))?;
            if !manifest.rules.contains(file) {
                manifest.rules.push(file.clone());
            }
        }
        manifest.training = Some(spec.training.clone());
        let text = toml::to_string(&manifest).map_err(|e| ExportError::Manifest(e.to_string()))?;
        let text = format!(
            "# Written by talktrack-train from the template `{}`.\n{text}",
            tpl.dir().display()
        );
        let mpath = tmp.join("bundle.toml");
        std::fs::write(&mpath, text).map_err(io(&mpath))?;
        let assembled =
            Bundle::load(&tmp).map_err(|e| ExportError::Invalid(talktrack::render(&e.problems)))?;
        check(&assembled).map_err(ExportError::Check)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(io(out))?;
        std::fs::rename(&tmp, out).map_err(io(out))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, out).map_err(io(out))?;
    }
    Bundle::load(out).map_err(|e| ExportError::Invalid(talktrack::render(&e.problems)))
}
