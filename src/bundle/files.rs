//! Finding and reading a bundle's files: its real directory, `bundle.toml`, the
//! files the manifest lists (each checked to stay inside the bundle), and text
//! files with the size and UTF-8 checks every one gets.

use std::path::{Path, PathBuf};

use super::locate::{Locator, Seg};
use super::problems::outside_problem;
use super::{paths, read, read_bounded, rules, LoadError, Manifest, ReadError};
use super::{MAX_MANIFEST_BYTES, MAX_TEXT_FILE_BYTES};
use crate::problem::{named_source, Code, Problem};

/// Reads a text file with the size and UTF-8 checks every bundle file gets;
/// `shown` is the path problems name.
#[allow(clippy::result_large_err)] // cold path: a file is read once per load
pub fn read_text(path: &Path, shown: &Path) -> Result<String, Problem> {
    text_of(read_bounded(path, MAX_TEXT_FILE_BYTES), shown)
}

/// [`read_text`] for a file of the bundle whose real directory is `root`: `real`
/// is where [`paths::contained`] found it, and it must still be there once open.
#[allow(clippy::result_large_err)] // cold path: a file is read once per load
pub(crate) fn read_text_inside(root: &Path, real: &Path, shown: &Path) -> Result<String, Problem> {
    text_of(
        read::read_bounded_inside(root, real, MAX_TEXT_FILE_BYTES),
        shown,
    )
}

/// The text of bytes read for `shown`, or the problem that names it.
#[allow(clippy::result_large_err)] // cold path: a file is read once per load
fn text_of(read: Result<Vec<u8>, ReadError>, shown: &Path) -> Result<String, Problem> {
    let bytes = read.map_err(|e| match e {
        ReadError::TooLarge { .. } => Problem::error(Code::BundleTooLarge, shown, e.to_string())
            .with_help("split it into several files"),
        e => Problem::error(
            Code::BundleUnreadable,
            shown,
            format!("cannot read file: {e}"),
        ),
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        Problem::error(Code::BundleNotUtf8, shown, "file is not valid UTF-8").at(
            &named_source(shown, &text),
            (at, 1),
            "invalid byte here",
        )
    })
}

/// The real directory of the bundle in `dir`, every symlink on the way resolved
/// once, so that a `current` link flipped while loading cannot mix two bundles.
pub(super) fn real_dir(dir: &Path) -> Result<PathBuf, LoadError> {
    let fail =
        |msg: String| LoadError::single(dir, Problem::error(Code::BundleUnreadable, dir, msg));
    let root = std::fs::canonicalize(dir).map_err(|e| {
        fail(format!(
            "cannot read the bundle directory: {}",
            ReadError::from(e)
        ))
    })?;
    if !root.is_dir() {
        return Err(fail(
            "a bundle is a directory holding `bundle.toml`; this is a file".into(),
        ));
    }
    Ok(root)
}

/// The real path of the file `rel` that the manifest names at `key`, checked to be
/// inside the bundle's real directory `root`.
#[allow(clippy::result_large_err)] // cold path: a file is named once per load
pub(super) fn listed_file(
    root: &Path,
    text: &str,
    key: &[Seg<'_>],
    rel: &str,
) -> Result<PathBuf, Problem> {
    paths::contained(root, Path::new(rel)).map_err(|escape| {
        let src = named_source(Path::new("bundle.toml"), text);
        outside_problem(&src, &Locator::new(text), key, rel, escape)
    })
}

/// The rule files the bundle in `dir` lists. Entries that lead outside are left out and
/// reported in the second list; a manifest that cannot be read is an error.
pub fn listed_rule_files(dir: &Path) -> Result<(Vec<ListedFile>, Vec<Problem>), LoadError> {
    let root = real_dir(dir)?;
    let (manifest, text) = read_manifest_in(dir, &root)?;
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (i, rel) in manifest.rules.iter().enumerate() {
        match listed_file(&root, &text, &[Seg::Key("rules"), Seg::Index(i)], rel) {
            Ok(real) => files.push(ListedFile {
                shown: dir.join(rel),
                real,
            }),
            Err(p) => problems.push(p),
        }
    }
    Ok((files, problems))
}

/// A file a bundle lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedFile {
    /// The path to show: the bundle directory as given, joined with the manifest's entry.
    pub shown: PathBuf,
    /// The real path, inside the bundle's real directory: what to read and write.
    pub real: PathBuf,
}

/// A did-you-mean for an unknown key or kind (serde's "unknown field `tag`,
/// expected one of `id`, `text`, `tags`, ..."), when one of the expected names is
/// close to what was written.
fn misspelt_key_hint(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (word, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2);
    rules::closest(word, expected).map(|c| format!("did you mean `{c}`?"))
}

/// Reads and parses `bundle.toml` in the bundle's real directory `root` (without
/// checking what it refers to); the error points at the line and column where
/// reading or parsing failed.
pub(super) fn read_manifest_in(dir: &Path, root: &Path) -> Result<(Manifest, String), LoadError> {
    let shown = PathBuf::from("bundle.toml");
    let manifest_path = paths::contained(root, &shown).map_err(|escape| {
        LoadError::single(
            dir,
            Problem::error(
                Code::BundleOutside,
                &shown,
                format!("`bundle.toml` is outside the bundle directory ({escape})"),
            ),
        )
    })?;
    let text = text_of(
        read::read_bounded_inside(root, &manifest_path, MAX_MANIFEST_BYTES),
        &shown,
    )
    .map_err(|p| LoadError::single(dir, p))?;
    let src = named_source(&shown, &text);
    let manifest: Manifest = toml::from_str(&text).map_err(|e| {
        let mut p = Problem::error(Code::BundleManifest, &shown, e.message().to_owned());
        if let Some(span) = e.span() {
            p = p.at(&src, span.start..span.end.max(span.start + 1), "here");
        }
        let help = misspelt_key_hint(e.message())
            .unwrap_or_else(|| "see the bundle format in the README".to_owned());
        LoadError::single(dir, p.with_help(help))
    })?;
    Ok((manifest, text))
}
