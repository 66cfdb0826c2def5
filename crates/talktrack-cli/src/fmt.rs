//! `talktrack fmt [--check]`: rule files in their canonical form, never written outside their bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use talktrack::render;

/// The rule files `paths` stand for, each as the path to show and the path to
/// read and write: a file is itself; a bundle directory is the rule files its
/// `bundle.toml` lists; another directory is the `*.rules` files in it. A file a
/// directory names that leads outside it (`..`, an absolute path, a symlink out)
/// is never read or written. Such a file, a bundle whose manifest cannot be
/// read, or a directory with no rule file at all, is reported and makes the
/// result an error (the files found are still returned).
fn rule_files(paths: &[PathBuf]) -> (Vec<(PathBuf, PathBuf)>, bool) {
    let mut out = Vec::new();
    let mut bad = false;
    for p in paths {
        if !p.is_dir() {
            out.push((p.clone(), p.clone()));
            continue;
        }
        let manifest = p.join("bundle.toml");
        if manifest.exists() {
            match talktrack::tooling::listed_rule_files(p) {
                Ok((files, outside)) => {
                    if !outside.is_empty() {
                        eprint!("{}", render(&outside));
                        bad = true;
                    }
                    out.extend(files.into_iter().map(|f| (f.shown, f.real)));
                }
                Err(e) => {
                    eprint!("{}", render(&e.problems));
                    eprintln!(
                        "error: `{}` could not be read, so the rule files it lists were not checked",
                        manifest.display()
                    );
                    bad = true;
                }
            }
            continue;
        }
        let real_dir = match std::fs::canonicalize(p) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: cannot read directory `{}`: {e}", p.display());
                bad = true;
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
                        eprintln!(
                            "error: `{}` is a symlink that leads outside `{}`: not formatted",
                            f.display(),
                            p.display()
                        );
                        bad = true;
                        None
                    }
                })
                .collect(),
            Err(e) => {
                eprintln!("error: cannot read directory `{}`: {e}", p.display());
                bad = true;
                continue;
            }
        };
        if found.is_empty() {
            eprintln!(
                "error: `{}` has neither a bundle.toml nor any `.rules` file",
                p.display()
            );
            bad = true;
        }
        found.sort();
        out.extend(found);
    }
    (out, bad)
}

/// `talktrack fmt`: formats every rule file `paths` stand for, or checks them.
pub(crate) fn fmt(paths: &[PathBuf], check: bool) -> Result<(), ExitCode> {
    let (files, mut bad) = rule_files(paths);
    for (file, real) in files {
        let text = match talktrack::tooling::read_text(&real, &file) {
            Ok(t) => t,
            Err(p) => {
                eprint!("{}", render(&[p]));
                bad = true;
                continue;
            }
        };
        match talktrack::tooling::format_rules(&text, &file) {
            Err(ps) => {
                eprint!("{}", render(&ps));
                bad = true;
            }
            Ok(formatted) if formatted != text => {
                if check {
                    say!("not formatted: {}", file.display());
                    bad = true;
                } else if let Err(e) = std::fs::write(&real, formatted) {
                    eprintln!("error: cannot write `{}`: {e}", file.display());
                    bad = true;
                } else {
                    say!("formatted: {}", file.display());
                }
            }
            Ok(_) => {}
        }
    }
    if bad {
        Err(ExitCode::FAILURE)
    } else {
        Ok(())
    }
}
