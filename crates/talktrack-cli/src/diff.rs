//! `talktrack diff OLD NEW`: what a change of a bundle (or template) does, before it ships.
//!
//! Three parts, each computed from the two loaded sides:
//! - `diff/settings.rs`: the bundle's settings — fallback, `max_turns`, the context
//!   schema, replies, contact outcomes and the catalog;
//! - `diff/rules.rs`: rules matched by id — added, removed, changed in logic,
//!   changed only in reason or metadata, and rules written the same whose targets
//!   changed through the catalog;
//! - `diff/cases.rs`: the union of both sides' rule test cases run on both —
//!   tracks newly masked or allowed and the mask outcome, kept apart from the
//!   chosen track (which mixes in the policy).
//!
//! With `--analyze`, `diff/analysis.rs` adds what the change newly allows or
//! forbids over *all* requests (not only the cases), from the static analysis.
//!
//! `diff/human.rs` prints the report for a person; `--format json` prints it in
//! the diagnostics document.

mod analysis;
mod cases;
mod human;
mod rules;
mod settings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde::Serialize;
use talktrack::tooling::BundleTemplate;
use talktrack::{render, Bundle, LoadError};

use crate::check::rejected;
use crate::diagnostics::{Diagnostic, Document};
use crate::Format;

/// One side of the comparison: a bundle with its policy, or a template without one.
pub(crate) enum Side {
    /// A bundle: decisions, chosen track included.
    Bundle(Arc<Bundle>),
    /// A template (no policy file yet): masks only.
    Template(Box<BundleTemplate>),
}

impl Side {
    /// Everything but the policy.
    pub(crate) fn template(&self) -> &BundleTemplate {
        match self {
            Side::Bundle(b) => b.as_template(),
            Side::Template(t) => t,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Side::Bundle(_) => "bundle",
            Side::Template(_) => "template",
        }
    }
}

/// Loads `dir` as a bundle, or as a template when its manifest's policy file
/// does not exist; a bundle whose policy exists but fails is an error.
fn load_side(dir: &Path) -> Result<(Side, Vec<talktrack::Problem>), LoadError> {
    match Bundle::load(dir) {
        Ok(b) => {
            let warnings = b.warnings().to_vec();
            Ok((Side::Bundle(Arc::new(b)), warnings))
        }
        Err(bundle_error) => {
            let t = BundleTemplate::load(dir)?;
            if dir.join(&t.manifest().policy.file).exists() {
                return Err(bundle_error);
            }
            let warnings = t.warnings().to_vec();
            Ok((Side::Template(Box::new(t)), warnings))
        }
    }
}

/// Which side, in the report.
#[derive(Serialize)]
struct SideInfo {
    path: PathBuf,
    /// `bundle` or `template`.
    kind: &'static str,
    name: String,
    version: String,
}

impl SideInfo {
    fn of(path: &Path, s: &Side) -> Self {
        let m = s.template().manifest();
        Self {
            path: path.to_owned(),
            kind: s.kind(),
            name: m.name.clone(),
            version: m.version.clone(),
        }
    }
}

/// The whole comparison.
#[derive(Serialize)]
pub(crate) struct Report {
    old: SideInfo,
    new: SideInfo,
    settings: settings::Settings,
    rules: rules::RuleChanges,
    cases: cases::CaseChanges,
    /// With `--analyze`: what the change does over all requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    analysis: Option<analysis::Analysis>,
}

/// Compares two loaded sides.
fn compare(old_dir: &Path, old: &Side, new_dir: &Path, new: &Side, analyze: bool) -> Report {
    Report {
        old: SideInfo::of(old_dir, old),
        new: SideInfo::of(new_dir, new),
        settings: settings::compare(old.template(), new.template()),
        rules: rules::compare(old.template(), new.template()),
        cases: cases::compare(old, new),
        analysis: analyze.then(|| analysis::compare(old, new)),
    }
}

/// `talktrack diff`: exit 0 whatever changed; 1 only when an input fails to load.
pub(crate) fn diff(
    old_dir: &Path,
    new_dir: &Path,
    format: Format,
    analyze: bool,
) -> Result<(), ExitCode> {
    let mut diags = Vec::new();
    let mut sides = Vec::new();
    for dir in [old_dir, new_dir] {
        match load_side(dir) {
            Ok((side, warnings)) => {
                if format == Format::Human && !warnings.is_empty() {
                    eprint!("{}", render(&warnings));
                }
                diags.extend(
                    warnings
                        .iter()
                        .map(|p| Diagnostic::of_problem(p, Some(dir))),
                );
                sides.push(side);
            }
            Err(e) => {
                if format == Format::Human {
                    eprint!("{}", render(&e.problems));
                    eprintln!("{e}");
                }
                diags.extend(rejected(dir, &e));
            }
        }
    }
    let [old, new] = match <[Side; 2]>::try_from(sides) {
        Ok(s) => s,
        Err(_) => {
            if format == Format::Json {
                Document::<Report>::new("diff", false, diags, None).print();
            }
            return Err(ExitCode::FAILURE);
        }
    };
    let report = compare(old_dir, &old, new_dir, &new, analyze);
    match format {
        Format::Human => say_raw!("{}", human::render(&report)),
        Format::Json => Document::new("diff", true, diags, Some(report)).print(),
    }
    Ok(())
}
