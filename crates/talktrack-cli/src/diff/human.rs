//! The diff report for a person: settings, rules, then cases, each part saying
//! "unchanged" when nothing differs. Names from the bundles pass through
//! `escape_controls`, so that a bundle cannot drive the reader's terminal.

use std::fmt::Write as _;

use talktrack::tooling::escape_controls as shown;

use super::cases::CaseFrom;
use super::rules::Place;
use super::settings::{spec_text, Names};
use super::Report;

fn quoted(v: &[String]) -> String {
    v.iter()
        .map(|s| format!("`{}`", shown(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(out: &mut String, what: &str, n: &Names) {
    if n.is_empty() {
        return;
    }
    let mut parts = Vec::new();
    if !n.added.is_empty() {
        parts.push(format!("added {}", quoted(&n.added)));
    }
    if !n.removed.is_empty() {
        parts.push(format!("removed {}", quoted(&n.removed)));
    }
    let _ = writeln!(out, "  {what}: {}", parts.join("; "));
}

fn place(p: &Place) -> String {
    format!(
        "`{}` ({}:{}:{})",
        shown(&p.id),
        shown(&p.file),
        p.line,
        p.column
    )
}

fn from(f: CaseFrom) -> &'static str {
    match f {
        CaseFrom::Both => "",
        CaseFrom::Old => " [old cases]",
        CaseFrom::New => " [new cases]",
    }
}

fn value(v: &Option<serde_json::Value>) -> String {
    v.as_ref()
        .map_or("unset".to_owned(), |v| shown(&v.to_string()).into_owned())
}

/// The report as text.
pub(crate) fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "old: {} `{}` {} ({})\nnew: {} `{}` {} ({})\n",
        r.old.kind,
        shown(&r.old.name),
        shown(&r.old.version),
        shown(&r.old.path.to_string_lossy()),
        r.new.kind,
        shown(&r.new.name),
        shown(&r.new.version),
        shown(&r.new.path.to_string_lossy()),
    );

    let s = &r.settings;
    if s.is_empty() {
        let _ = writeln!(out, "settings: unchanged");
    } else {
        let _ = writeln!(out, "settings:");
        if let Some(c) = &s.fallback {
            let _ = writeln!(out, "  fallback: `{}` → `{}`", shown(&c.old), shown(&c.new));
        }
        if let Some(c) = &s.max_turns {
            let _ = writeln!(out, "  max_turns: {} → {}", c.old, c.new);
        }
        for (what, changes) in [
            ("context", &s.context),
            ("track attribute", &s.track_attributes),
        ] {
            for c in changes {
                let spec = |x: &Option<_>| x.as_ref().map_or("absent".to_owned(), spec_text);
                let _ = writeln!(
                    out,
                    "  {what} `{}`: {} → {}",
                    shown(&c.name),
                    shown(&spec(&c.old)),
                    shown(&spec(&c.new))
                );
            }
        }
        names(&mut out, "replies", &s.replies);
        names(&mut out, "contact outcomes", &s.contact_outcomes);
        if !s.tracks.added.is_empty() {
            let _ = writeln!(out, "  tracks added: {}", quoted(&s.tracks.added));
        }
        if !s.tracks.removed.is_empty() {
            let _ = writeln!(out, "  tracks removed: {}", quoted(&s.tracks.removed));
        }
        for t in &s.tracks.changed {
            let mut parts = Vec::new();
            if !t.tags.added.is_empty() {
                parts.push(format!("tags + {}", quoted(&t.tags.added)));
            }
            if !t.tags.removed.is_empty() {
                parts.push(format!("tags - {}", quoted(&t.tags.removed)));
            }
            if let Some(p) = &t.product {
                let o = p
                    .old
                    .as_deref()
                    .map_or("none".to_owned(), |x| format!("`{}`", shown(x)));
                let n = p
                    .new
                    .as_deref()
                    .map_or("none".to_owned(), |x| format!("`{}`", shown(x)));
                parts.push(format!("product {o} → {n}"));
            }
            for a in &t.attrs {
                parts.push(format!(
                    "{} {} → {}",
                    shown(&a.name),
                    value(&a.old),
                    value(&a.new)
                ));
            }
            let _ = writeln!(out, "  track `{}`: {}", shown(&t.id), parts.join("; "));
        }
    }

    let ru = &r.rules;
    let _ = writeln!(
        out,
        "\nrules: {} added, {} removed, {} changed in logic, {} changed only in reason or metadata, {} with other targets through the catalog",
        ru.added.len(),
        ru.removed.len(),
        ru.logic.len(),
        ru.reason_or_metadata.len(),
        ru.targets_through_catalog.len()
    );
    for p in &ru.added {
        let _ = writeln!(out, "  added    {}", place(p));
    }
    for p in &ru.removed {
        let _ = writeln!(out, "  removed  {} (where it was)", place(p));
    }
    for c in &ru.logic {
        let parts: Vec<&str> = c
            .parts
            .iter()
            .map(|p| match p {
                super::rules::Part::Condition => "condition",
                super::rules::Part::Effect => "effect",
                super::rules::Part::Targets => "targets",
            })
            .collect();
        let _ = writeln!(out, "  logic    {}: {}", place(&c.at), parts.join(", "));
    }
    for c in &ru.reason_or_metadata {
        let fields: Vec<String> = c.fields.iter().map(|f| shown(f).into_owned()).collect();
        let _ = writeln!(out, "  text     {}: {}", place(&c.at), fields.join(", "));
    }
    for c in &ru.targets_through_catalog {
        let mut parts = Vec::new();
        if !c.added.is_empty() {
            parts.push(format!("now also {}", quoted(&c.added)));
        }
        if !c.removed.is_empty() {
            parts.push(format!("no longer {}", quoted(&c.removed)));
        }
        let _ = writeln!(out, "  targets  {}: {}", place(&c.at), parts.join("; "));
    }
    if !ru.targets_not_compared.is_empty() {
        let _ = writeln!(
            out,
            "  (targets read the request, not compared: {})",
            quoted(&ru.targets_not_compared)
        );
    }

    let c = &r.cases;
    let _ = writeln!(
        out,
        "\ncases: {} in the union, {} run on both sides; mask changed in {}; invalid in the old only {}, in the new only {}, in both {}",
        c.total,
        c.compared,
        c.mask.len(),
        c.invalid_in_old,
        c.invalid_in_new,
        c.invalid_in_both
    );
    for u in &c.unreadable {
        let _ = writeln!(out, "  unreadable: {}", shown(u));
    }
    for m in &c.mask {
        let _ = writeln!(out, "  case `{}`{}", shown(&m.case), from(m.from));
        if !m.newly_masked.is_empty() {
            let _ = writeln!(out, "    newly masked:  {}", quoted(&m.newly_masked));
        }
        if !m.newly_allowed.is_empty() {
            let _ = writeln!(out, "    newly allowed: {}", quoted(&m.newly_allowed));
        }
        if let Some(o) = &m.outcome {
            let _ = writeln!(
                out,
                "    mask outcome:  {} → {}",
                o.old.word(),
                o.new.word()
            );
        }
    }
    for i in &c.invalid {
        let _ = writeln!(out, "  invalid `{}`{}", shown(&i.case), from(i.from));
        for (side, why) in [("old", &i.old), ("new", &i.new)] {
            if let Some(w) = why {
                let _ = writeln!(out, "    {side}: {}", shown(w));
            }
        }
    }
    if c.chosen_compared {
        let _ = writeln!(
            out,
            "\nchosen track (rules and policy together): changed in {} of {} cases",
            c.chosen.len(),
            c.compared
        );
        for ch in &c.chosen {
            let t = |x: &Option<String>| {
                x.as_deref()
                    .map_or("none".to_owned(), |x| format!("`{}`", shown(x)))
            };
            let _ = writeln!(
                out,
                "  case `{}`{}: {} → {}",
                shown(&ch.case),
                from(ch.from),
                t(&ch.old),
                t(&ch.new)
            );
        }
    } else {
        let _ = writeln!(
            out,
            "\nchosen track: not compared (a side is a template, with no policy)"
        );
    }
    if let Some(a) = &r.analysis {
        super::analysis::render(&mut out, a);
    }
    out
}
