//! `talktrack analyze`: the rule set's static analysis, for a person or as JSON.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use talktrack::render;
use talktrack::tooling::escape_controls;
use talktrack::Bundle;

use crate::Format;

/// `talktrack analyze`: a bundle, else a template; fails on warnings.
pub(crate) fn analyze(dir: &Path, format: Format, baseline: Option<&Path>) -> Result<(), ExitCode> {
    let options = talktrack_analyze::Options::default();
    let baseline = match baseline {
        None => Default::default(),
        Some(p) => talktrack::tooling::read_text(p, p)
            .map_err(|e| e.message.clone())
            .and_then(|t| talktrack_analyze::Report::baseline_keys(&t))
            .map_err(|e| {
                eprintln!(
                    "error: baseline `{}`: {}",
                    escape_controls(&p.to_string_lossy()),
                    escape_controls(&e)
                );
                ExitCode::FAILURE
            })?,
    };
    let report = match Bundle::load(dir) {
        Ok(b) => talktrack_analyze::analyze_bundle(Arc::new(b), &options),
        Err(_) => match talktrack::tooling::BundleTemplate::load(dir) {
            Ok(t) => talktrack_analyze::analyze_template(&t, &options),
            Err(e) => {
                eprint!("{}", render(&e.problems));
                eprintln!("{e}");
                return Err(ExitCode::FAILURE);
            }
        },
    };
    match format {
        Format::Human => say_raw!("{}", talktrack_analyze::render_report(&report)),
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
    }
    if report.failing(&baseline).next().is_some() {
        Err(ExitCode::FAILURE)
    } else {
        Ok(())
    }
}
