//! `talktrack check` and `talktrack test`: a bundle validated, its analysis shown, its rule
//! cases run (a template's too) and, on request, their coverage of the rules.

use std::path::Path;
use std::process::ExitCode;

use talktrack::render;
use talktrack::tooling::{escape_controls, BundleTemplate};

use crate::load;

/// `talktrack check`: every problem, else a summary with the analysis findings on stderr.
pub(crate) fn check(bundle: &Path) -> Result<(), ExitCode> {
    let b = load(bundle)?;
    // The rule set's analysis, as warnings and notes.
    // A smaller total budget than `analyze`: `check` stays quick on large rule sets.
    let options = talktrack_analyze::Options {
        total_budget: 1_000_000,
        ..talktrack_analyze::Options::default()
    };
    let report = talktrack_analyze::analyze_bundle(b.clone(), &options);
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

/// `talktrack test`: the rule test cases the bundle lists, or a template's (a
/// bundle directory whose policy file does not exist yet); with `coverage` (or a
/// threshold), what they exercise of the rules.
pub(crate) fn test(dir: &Path, coverage: bool, fail_under: Option<u32>) -> Result<(), ExitCode> {
    let template = match BundleTemplate::load(dir) {
        Ok(t) if !t.dir().join(&t.manifest().policy.file).exists() => Some(t),
        _ => None,
    };
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
