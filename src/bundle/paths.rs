//! Where a file a bundle names really is: always inside the bundle directory.
//!
//! The bundle directory is resolved once (it may itself be a symlink, such as a
//! `current` link a deploy tool flips), then every file the manifest names
//! (`rules`, `tests`, the policy `file`) must lie inside that real directory: an
//! absolute path, a `..` that climbs out, or a symlink whose target is outside is
//! refused before anything is read, so that neither a diagnostic nor a checksum
//! ever says anything about a file outside the bundle, and `talktrack fmt` never
//! writes one. Symlinks whose targets stay inside are followed.

use std::path::{Component, Path, PathBuf};

/// How a named file would leave the bundle directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Escape {
    /// An absolute path.
    Absolute,
    /// A `..` that climbs above the bundle directory.
    Parent,
    /// A symlink (the file or a directory on its way) whose target is outside.
    Symlink,
}

impl std::fmt::Display for Escape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Escape::Absolute => "an absolute path",
            Escape::Parent => "`..` climbs out of it",
            Escape::Symlink => "a symlink leads out of it",
        })
    }
}

/// The real path of `rel` inside the real directory `root` ([`std::fs::canonicalize`]d),
/// or how it would leave it. A file that does not exist is returned as joined, so
/// that reading it reports it missing.
pub(crate) fn contained(root: &Path, rel: &Path) -> Result<PathBuf, Escape> {
    let mut depth = 0usize;
    for c in rel.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => return Err(Escape::Absolute),
            Component::CurDir => {}
            Component::ParentDir => depth = depth.checked_sub(1).ok_or(Escape::Parent)?,
            Component::Normal(_) => depth += 1,
        }
    }
    let joined = root.join(rel);
    match std::fs::canonicalize(&joined) {
        Ok(real) if real.starts_with(root) => Ok(real),
        Ok(_) => Err(Escape::Symlink),
        // Missing, or a dangling symlink: reading it reports it missing.
        Err(_) => Ok(joined),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside_and_escapes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("rules")).unwrap();
        std::fs::write(root.join("rules/a.rules"), "").unwrap();
        let at = |p: &str| contained(&root, Path::new(p));
        assert_eq!(at("rules/a.rules"), Ok(root.join("rules/a.rules")));
        assert_eq!(
            at("./rules/../rules/a.rules"),
            Ok(root.join("rules/a.rules"))
        );
        assert_eq!(
            at("rules/missing.rules"),
            Ok(root.join("rules/missing.rules"))
        );
        assert_eq!(at("/etc/passwd"), Err(Escape::Absolute));
        assert_eq!(at("../x"), Err(Escape::Parent));
        assert_eq!(at("rules/../../x"), Err(Escape::Parent));
    }
}
