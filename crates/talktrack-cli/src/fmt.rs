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
                } else if let Err(e) = std::fs::write(&real, formatted) {
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
