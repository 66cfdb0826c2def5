//! The report as a person reads it: one block per finding with its code, where
//! the rule stands, why a claim is undecided, and every witness request as
//! one line of JSON ready for `talktrack decide --request`.

use std::fmt::Write as _;

use talktrack::tooling::escape_controls;

use crate::findings::{Finding, Report, Severity};

/// The report in words; the same report gives the same text, byte for byte.
pub fn render_report(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "analysis of {} {} (digest {})",
        escape_controls(&r.bundle),
        escape_controls(&r.version),
        r.digest
    );
    for f in &r.findings {
        out.push_str(&render_finding(f));
    }
    let warnings = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let _ = writeln!(
        out,
        "{} finding(s): {} warning(s), {} note(s)",
        r.findings.len(),
        warnings,
        r.findings.len() - warnings
    );
    out
}

/// One finding in words.
pub fn render_finding(f: &Finding) -> String {
    let mut out = String::new();
    let sev = match f.severity {
        Severity::Warning => "warning",
        Severity::Note => "note",
    };
    let _ = writeln!(out, "{sev}[{}]: {}", f.code, escape_controls(&f.message));
    if f.suppressed {
        let _ = writeln!(out, "  = acknowledged in the rule's metadata (`allow`)");
    }
    if let Some(r) = &f.rule {
        let _ = writeln!(
            out,
            "  --> {}:{}:{} (rule `{}`)",
            escape_controls(&r.file),
            r.line,
            r.column,
            escape_controls(&r.id)
        );
    }
    for why in &f.reasons {
        let _ = writeln!(out, "  = because {}", escape_controls(why));
    }
    for (i, w) in f.witnesses.iter().enumerate() {
        let json = serde_json::to_string(w).unwrap_or_default();
        let _ = writeln!(out, "  witness {}: {}", i + 1, escape_controls(&json));
        if let Some(fired) = f.fired.get(i) {
            let names = if fired.is_empty() {
                "none".to_owned()
            } else {
                fired
                    .iter()
                    .map(|x| format!("`{}`", escape_controls(x)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(out, "    rules fired: {names}");
        }
    }
    out
}
