//! `talktrack fmt [--check]`: rule files in their canonical form, never written outside their bundle.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use talktrack::{render, Code, Problem};

use crate::diagnostics::{Diagnostic, Document, Severity};
use crate::Format;

/// Something that stops a file from being checked or formatted.
enum Trouble {
    /// A problem from the runtime; its file is relative to the directory given, if any.
    Problem(Problem, Option<PathBuf>),
    /// A problem outside any file's text.
    Message {
        code: Code,
        file: PathBuf,
        message: String,
    },
}

impl Trouble {
    fn message(code: Code, file: &Path, message: String) -> Self {
        Trouble::Message {
            code,
            file: file.to_owned(),
            message,
        }
    }

    /// Prints it for a person, on stderr.
    fn show(&self) {
        match self {
            Trouble::Problem(p, _) => eprint!("{}", render(std::slice::from_ref(p))),
            Trouble::Message { message, .. } => eprintln!("error: {message}"),
        }
    }

    fn diagnostic(&self) -> Diagnostic {
        match self {
            Trouble::Problem(p, base) => Diagnostic::of_problem(p, base.as_deref()),
            Trouble::Message {
                code,
                file,
                message,
            } => Diagnostic::plain(*code, Severity::Error, Some(file), message.clone()),
        }
    }
}

/// The rule files `paths` stand for, each as the path to show and the path to
/// read and write: a file is itself; a bundle directory is the rule files its
/// `bundle.toml` lists; another directory is the `*.rules` files in it. A file a
/// directory names that leads outside it (`..`, an absolute path, a symlink out)
/// is never read or written. Such a file, a bundle whose manifest cannot be
/// read, or a directory with no rule file at all, is returned as a trouble (the
/// files found are still returned).
fn rule_files(paths: &[PathBuf]) -> (Vec<(PathBuf, PathBuf)>, Vec<Trouble>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push((p.clone(), p.clone()));
            continue;
        }
        let manifest = p.join("bundle.toml");
        if manifest.exists() {
            match talktrack::tooling::listed_rule_files(p) {
                Ok((files, outside)) => {
                    bad.extend(
                        outside
                            .into_iter()
                            .map(|o| Trouble::Problem(o, Some(p.clone()))),
                    );
                    out.extend(files.into_iter().map(|f| (f.shown, f.real)));
                }
                Err(e) => {
                    bad.extend(
                        e.problems
                            .into_iter()
                            .map(|o| Trouble::Problem(o, Some(p.clone()))),
                    );
                    bad.push(Trouble::message(
                        Code::BundleManifest,
                        &manifest,
                        format!(
                            "`{}` could not be read, so the rule files it lists were not checked",
                            manifest.display()
                        ),
                    ));
                }
            }
            continue;
        }
        let real_dir = match std::fs::canonicalize(p) {
            Ok(d) => d,
            Err(e) => {
                bad.push(Trouble::message(
                    Code::BundleUnreadable,
                    p,
                    format!("cannot read directory `{}`: {e}", p.display()),
                ));
                continue;
            }
        };
        let mut found: Vec<(PathBuf, PathBuf)> = match std::fs::read_dir(p) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "rules"))
                .filter_map(|f| {
                    let real = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
                    if real.starts_with(&real_dir) {
                        Some((f, real))
                    } else {
                        bad.push(Trouble::message(
                            Code::BundleOutside,
                            &f,
                            format!(
                                "`{}` is a symlink that leads outside `{}`: not formatted",
                                f.display(),
                                p.display()
                            ),
                        ));
                        None
                    }
                })
                .collect(),
            Err(e) => {
                bad.push(Trouble::message(
                    Code::BundleUnreadable,
                    p,
                    format!("cannot read directory `{}`: {e}", p.display()),
                ));
                continue;
            }
        };
        if found.is_empty() {
            bad.push(Trouble::message(
                Code::BundleRules,
                p,
                format!(
                    "`{}` has neither a bundle.toml nor any `.rules` file",
                    p.display()
                ),
            ));
        }
        found.sort();
        out.extend(found);
    }
    (out, bad)
}

/// The first line where `text` and `formatted` differ, 1-based, with its length in characters.
fn first_difference(text: &str, formatted: &str) -> (usize, usize) {
    let mut a = text.split('\n');
    let mut b = formatted.split('\n');
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (x, _) => return (line, x.map_or(0, |l| l.chars().count())),
        }
    }
}

/// What `fmt --check --format json` reports.
#[derive(Serialize)]
struct Checked {
    /// Rule files read.
    checked: usize,
    /// The files not in canonical form.
    unformatted: Vec<String>,
}

/// `talktrack fmt`: formats every rule file `paths` stand for, or checks them.
pub(crate) fn fmt(paths: &[PathBuf], check: bool, format: Format) -> Result<(), ExitCode> {
    let json = format == Format::Json;
    let (files, mut troubles) = rule_files(paths);
    if !json {
        troubles.iter().for_each(Trouble::show);
    }
    let mut bad = !troubles.is_empty();
    let mut diags: Vec<Diagnostic> = troubles.drain(..).map(|t| t.diagnostic()).collect();
    let mut result = Checked {
        checked: 0,
        unformatted: Vec::new(),
    };
    for (file, real) in files {
        let text = talktrack::tooling::read_text(&real, &file);
        if text.is_ok() {
            result.checked += 1;
        }
        match text.map(|t| (talktrack::tooling::format_rules(&t, &file), t)) {
            // Unreadable (a special file, not UTF-8): reported below like any trouble.
            Err(p) => troubles.push(Trouble::Problem(p, None)),
            Ok((Err(ps), _)) => troubles.extend(ps.into_iter().map(|p| Trouble::Problem(p, None))),
            Ok((Ok(formatted), text)) if formatted != text => {
                if check {
                    bad = true;
                    if json {
                        let (line, chars) = first_difference(&text, &formatted);
                        diags.push(
                            Diagnostic::plain(
                                Code::RulesUnformatted,
                                Severity::Error,
                                Some(&file),
                                format!("`{}` is not formatted", file.display()),
                            )
                            .on_line(line, chars)
                            .with_help(format!(
                                "`talktrack fmt {}` writes it in canonical form",
                                file.display()
                            )),
                        );
                        result.unformatted.push(file.display().to_string());
                    } else {
                        say!("not formatted: {}", file.display());
                    }
                } else if let Err(e) = replace_file(&real, formatted.as_bytes()) {
                    troubles.push(Trouble::message(
                        Code::BundleUnwritable,
                        &file,
                        format!("cannot write `{}`: {e}", file.display()),
                    ));
                } else {
                    say!("formatted: {}", file.display());
                }
            }
            Ok(_) => {}
        }
        bad |= !troubles.is_empty();
        for t in troubles.drain(..) {
            if json {
                diags.push(t.diagnostic());
            } else {
                t.show();
            }
        }
    }
    if json {
        Document::new("fmt", !bad, diags, Some(result)).print();
    }
    if bad {
        Err(ExitCode::FAILURE)
    } else {
        Ok(())
    }
}

/// Replaces the file at `real` (a path already checked to be inside its bundle)
/// with `bytes`: written to a new file beside it, then renamed over it. A rename
/// replaces the directory entry itself, so a symlink swapped in at `real` after the
/// check is replaced, never followed out of the bundle; the new file is created
/// exclusively, so it cannot be a link either. The file keeps its permissions.
fn replace_file(real: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = real
        .parent()
        .ok_or_else(|| std::io::Error::other("the file has no directory"))?;
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.fmt-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if let Ok(meta) = std::fs::symlink_metadata(real) {
            if meta.file_type().is_file() {
                f.set_permissions(meta.permissions())?;
            }
        }
        f.sync_all()?;
        std::fs::rename(&tmp, real)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::replace_file;

    #[test]
    fn replacing_keeps_permissions_and_leaves_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.rules");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&file, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the rule file is left");
    }

    #[test]
    fn a_symlink_swapped_in_after_the_check_is_replaced_not_followed() {
        // The race: the path was checked while it was a file of the bundle, then a
        // link to a file outside took its place before the write.
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("secret.txt");
        std::fs::write(&target, "keep me").unwrap();
        let bundle = tempfile::tempdir().unwrap();
        let file = bundle.path().join("a.rules");
        std::os::unix::fs::symlink(&target, &file).unwrap();
        replace_file(&file, b"formatted").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert!(std::fs::symlink_metadata(&file)
            .unwrap()
            .file_type()
            .is_file());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "formatted");
    }
}
