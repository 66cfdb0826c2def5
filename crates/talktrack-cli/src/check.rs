//! `talktrack check` and `talktrack test`: a bundle validated, its analysis shown, its rule
//! cases run (a template's too) and, on request, their coverage of the rules.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde::Serialize;
use talktrack::tooling::{escape_controls, BundleTemplate};
use talktrack::{render, Bundle, LoadError};

use crate::diagnostics::{Diagnostic, Document, Severity};
use crate::{load, Format};

/// The analysis `check` runs: a smaller total budget than `analyze`, so that
/// `check` stays quick on large rule sets.
fn check_analysis(b: &Arc<Bundle>) -> talktrack_analyze::Report {
    let options = talktrack_analyze::Options {
        total_budget: 50_000_000,
        ..talktrack_analyze::Options::default()
    };
    talktrack_analyze::analyze_bundle(b.clone(), &options)
}

/// `talktrack check`: every problem, else a summary with the analysis findings on stderr.
pub(crate) fn check(bundle: &Path, format: Format) -> Result<(), ExitCode> {
    if format == Format::Json {
        return check_json(bundle);
    }
    let b = load(bundle)?;
    // The rule set's analysis, as warnings and notes.
    let report = check_analysis(&b);
    for f in &report.findings {
        eprint!("{}", talktrack_analyze::render_finding(f));
    }
    say!(
        "ok: {} {} — {} tracks, {} rules, {} warning(s), observation {} floats\ndigest {}",
        b.name(),
        b.version(),
        b.catalog().len(),
        b.rules().len(),
        b.warnings().len(),
        b.features().dim(),
        b.digest()
    );
    Ok(())
}

/// What `check --format json` reports about a bundle that loaded.
#[derive(Serialize)]
struct Checked {
    bundle: String,
    version: String,
    digest: String,
    tracks: usize,
    rules: usize,
    warnings: usize,
    observation: usize,
}

/// The bundle in `dir` with its warnings as diagnostics, or the diagnostics that rejected it.
pub(crate) fn load_for_json(dir: &Path) -> (Option<Arc<Bundle>>, Vec<Diagnostic>) {
    match Bundle::load(dir) {
        Ok(b) => {
            let diags = b
                .warnings()
                .iter()
                .map(|p| Diagnostic::of_problem(p, Some(dir)))
                .collect();
            (Some(Arc::new(b)), diags)
        }
        Err(e) => (None, rejected(dir, &e)),
    }
}

/// The problems that rejected a bundle or template, as diagnostics (one naming the
/// directory when the error carries none).
pub(crate) fn rejected(dir: &Path, e: &LoadError) -> Vec<Diagnostic> {
    let mut diags: Vec<Diagnostic> = e
        .problems
        .iter()
        .map(|p| Diagnostic::of_problem(p, Some(dir)))
        .collect();
    if !e.problems.iter().any(talktrack::Problem::is_error) {
        diags.push(Diagnostic::plain(
            talktrack::Code::BundleUnreadable,
            Severity::Error,
            Some(dir),
            e.to_string(),
        ));
    }
    diags
}

fn check_json(dir: &Path) -> Result<(), ExitCode> {
    let (b, mut diags) = load_for_json(dir);
    let Some(b) = b else {
        Document::<Checked>::new("check", false, diags, None).print();
        return Err(ExitCode::FAILURE);
    };
    let report = check_analysis(&b);
    diags.extend(
        report
            .findings
            .iter()
            .map(|f| Diagnostic::of_finding(f, dir)),
    );
    let result = Checked {
        bundle: b.name().to_owned(),
        version: b.version().to_owned(),
        digest: b.digest().to_owned(),
        tracks: b.catalog().len(),
        rules: b.rules().len(),
        warnings: b.warnings().len(),
        observation: b.features().dim(),
    };
    Document::new("check", true, diags, Some(result)).print();
    Ok(())
}

/// `talktrack test`: the rule test cases the bundle lists, or a template's (a
/// bundle directory whose policy file does not exist yet); with `coverage` (or a
/// threshold), what they exercise of the rules.
pub(crate) fn test(
    dir: &Path,
    format: Format,
    coverage: bool,
    fail_under: Option<u32>,
) -> Result<(), ExitCode> {
    if format == Format::Json {
        return test_json(dir);
    }
    let template = template_of(dir);
    let (run, tpl_of_bundle) = match &template {
        Some(t) => {
            if !t.warnings().is_empty() {
                eprint!("{}", render(t.warnings()));
            }
            say!(
                "template: no policy yet (`{}` not found); expectations about `chosen` are skipped",
                escape_controls(&t.manifest().policy.file)
            );
            (talktrack::tooling::run_all_template(t), None)
        }
        None => {
            let b = load(dir)?;
            (talktrack::tooling::run_all(&b), Some(b))
        }
    };
    let failed = match run {
        Err(ps) => {
            eprint!("{}", render(&ps));
            return Err(ExitCode::FAILURE);
        }
        Ok((report, _, failed)) => {
            say_raw!("{report}");
            failed
        }
    };
    let mut code = if failed > 0 {
        Err(ExitCode::FAILURE)
    } else {
        Ok(())
    };
    if coverage || fail_under.is_some() {
        let tpl = match (&template, &tpl_of_bundle) {
            (Some(t), _) => t,
            (None, Some(b)) => b.as_template(),
            (None, None) => return code,
        };
        let c = talktrack::tooling::coverage(tpl).map_err(|ps| {
            eprint!("{}", render(&ps));
            ExitCode::FAILURE
        })?;
        say!("");
        say_raw!("{}", c.render());
        if !c.disagreements.is_empty() {
            code = Err(ExitCode::FAILURE);
        }
        if let Some(p) = fail_under {
            if !c.meets(p) {
                eprintln!(
                    "error: coverage {}/{} is below {p}% ({} × 100 < {p} × {})",
                    c.covered(),
                    c.total(),
                    c.covered(),
                    c.total()
                );
                code = Err(ExitCode::FAILURE);
            }
        }
    }
    code
}

/// One case in `test --format json`.
#[derive(Serialize)]
struct CaseOutcome {
    name: String,
    file: String,
    passed: bool,
    /// Expected against actual, one line per difference (empty when the case passed).
    diffs: Vec<String>,
}

/// What `test --format json` reports.
#[derive(Serialize)]
struct Tested {
    passed: usize,
    failed: usize,
    cases: Vec<CaseOutcome>,
}

fn test_json(dir: &Path) -> Result<(), ExitCode> {
    let (run, mut diags) = match template_of(dir) {
        Some(t) => {
            let diags = t
                .warnings()
                .iter()
                .map(|p| Diagnostic::of_problem(p, Some(dir)))
                .collect();
            (Some(talktrack::tooling::run_cases_template(&t)), diags)
        }
        None => {
            let (b, diags) = load_for_json(dir);
            (b.map(|b| talktrack::tooling::run_cases(&b)), diags)
        }
    };
    let results = match run {
        Some(Ok(r)) => r,
        Some(Err(ps)) => {
            diags.extend(ps.iter().map(|p| Diagnostic::of_problem(p, Some(dir))));
            Document::<Tested>::new("test", false, diags, None).print();
            return Err(ExitCode::FAILURE);
        }
        None => {
            Document::<Tested>::new("test", false, diags, None).print();
            return Err(ExitCode::FAILURE);
        }
    };
    let mut cases = Vec::with_capacity(results.len());
    for r in results {
        let file = dir.join(&r.file);
        if !r.passed() {
            diags.push(
                Diagnostic::plain(
                    talktrack::Code::CasesFailed,
                    Severity::Error,
                    Some(&file),
                    format!("case `{}` failed", r.name),
                )
                .with_help(r.diffs.join("\n")),
            );
        }
        cases.push(CaseOutcome {
            passed: r.passed(),
            name: r.name,
            file: file.display().to_string(),
            diffs: r.diffs,
        });
    }
    let failed = cases.iter().filter(|c| !c.passed).count();
    let result = Tested {
        passed: cases.len() - failed,
        failed,
        cases,
    };
    Document::new("test", failed == 0, diags, Some(result)).print();
    if failed > 0 {
        Err(ExitCode::FAILURE)
    } else {
        Ok(())
    }
}

/// The template in `dir` when it is a bundle directory whose policy file does not
/// exist yet (its cases run through the rules alone).
fn template_of(dir: &Path) -> Option<BundleTemplate> {
    match BundleTemplate::load(dir) {
        Ok(t) if !t.dir().join(&t.manifest().policy.file).exists() => Some(t),
        _ => None,
    }
}
