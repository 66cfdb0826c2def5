//! Problems that point into `bundle.toml`: at the line declaring a key, at a
//! located span, or at a listed file that would lead outside the bundle.

use std::fmt::Write as _;
use std::path::Path;

use super::locate::{Locator, Seg};
use super::Escape;
use crate::problem::{Code, Problem};

/// An error in `bundle.toml`, pointing at the line that declares `key` when there is one.
pub(super) fn manifest_problem(
    text: &str,
    src: &std::sync::Arc<miette::NamedSource<String>>,
    key: &str,
    code: Code,
    msg: String,
    help: Option<&str>,
) -> Problem {
    let mut p = Problem::error(code, Path::new("bundle.toml"), msg);
    if let Some(span) = find_key(text, key) {
        p = p.at(src, span, "declared here");
    }
    if let Some(h) = help {
        p = p.with_help(h);
    }
    p
}

/// An error in `bundle.toml`, pointing at `span` when the manifest has it.
pub(super) fn located_problem(
    src: &std::sync::Arc<miette::NamedSource<String>>,
    span: Option<std::ops::Range<usize>>,
    code: Code,
    msg: String,
    help: Option<&str>,
) -> Problem {
    let mut p = Problem::error(code, Path::new("bundle.toml"), msg);
    if let Some(span) = span {
        p = p.at(src, span, "declared here");
    }
    if let Some(h) = help {
        p = p.with_help(h);
    }
    p
}

/// Byte range of the first line of `text` that starts (after spaces) with `key`.
fn find_key(text: &str, key: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with(key) {
            let start = offset + (line.len() - trimmed.len());
            return Some((start, key.len()));
        }
        offset += line.len();
    }
    None
}

/// The problem with the file `rel` that the manifest names at `key`, which would
/// lead outside the bundle: it names the key and where it is declared, never
/// anything read from the file.
pub(super) fn outside_problem(
    src: &std::sync::Arc<miette::NamedSource<String>>,
    locator: &Locator<'_>,
    key: &[Seg<'_>],
    rel: &str,
    escape: Escape,
) -> Problem {
    let mut name = String::new();
    for seg in key {
        match seg {
            Seg::Key(k) if name.is_empty() => name.push_str(k),
            Seg::Key(k) => {
                let _ = write!(name, ".{k}");
            }
            Seg::Index(i) => {
                let _ = write!(name, "[{i}]");
            }
        }
    }
    located_problem(
        src,
        locator.find(key),
        Code::BundleOutside,
        format!("`{name}` names `{rel}`, which is outside the bundle directory ({escape})"),
        Some("a bundle's files live in its directory: name them by a path relative to it that stays inside"),
    )
}
