//! `talktrack check` and `talktrack test`: a bundle validated, its analysis shown, its rule cases run.

use std::path::Path;
use std::process::ExitCode;

use talktrack::render;

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

/// `talktrack test`: the rule test cases the bundle lists.
pub(crate) fn test(bundle: &Path) -> Result<(), ExitCode> {
    let b = load(bundle)?;
    match talktrack::tooling::run_all(&b) {
        Err(ps) => {
            eprint!("{}", render(&ps));
            Err(ExitCode::FAILURE)
        }
        Ok((report, _, failed)) => {
            say_raw!("{report}");
            if failed > 0 {
                Err(ExitCode::FAILURE)
            } else {
                Ok(())
            }
        }
    }
}
