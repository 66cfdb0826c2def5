//! The canonical layout of rules files, for `talktrack fmt`.
//!
//! One blank line between rules, clauses indented by two spaces in the order
//! `because`, metadata, `when`, effect, single spaces around operators, minimal
//! parentheses, `penalize` and `track`/`tracks` spelled by number. Comments stay
//! with the clause they precede or end. Formatting is idempotent and a formatted
//! file parses to the same syntax tree; it needs no schema. A tool that builds rules
//! as a syntax tree prints them in the same layout with [`print_rules`].

use std::path::Path;

use super::ast::*;
use super::parse::parse_with;
use crate::problem::{named_source, Problem};

struct Comment {
    start: usize,
    text: String,
    trailing: bool,
    blank_before: bool,
}

fn comments(text: &str) -> Vec<Comment> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                let start = i;
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
                out.push(Comment {
                    start,
                    text: text[start..i].trim_end().to_owned(),
                    trailing: !text[line_start..start].trim().is_empty(),
                    blank_before: blank_before(text, start),
                });
            }
            _ => i += 1,
        }
    }
    out
}

/// Whether the line before the one holding `offset` is blank.
fn blank_before(text: &str, offset: usize) -> bool {
    let line_start = text[..offset].rfind('\n').map_or(0, |p| p + 1);
    if line_start == 0 {
        return false;
    }
    let prev_start = text[..line_start - 1].rfind('\n').map_or(0, |p| p + 1);
    text[prev_start..line_start - 1].trim().is_empty()
}

/// Formats a rules file in canonical layout, keeping comments.
pub fn format_rules(text: &str, path: &Path) -> Result<String, Vec<Problem>> {
    super::on_own_stack(|| format_here(text, path))
}

fn format_here(text: &str, path: &Path) -> Result<String, Vec<Problem>> {
    let file = parse_with(text, path, &named_source(path, text))?;
    let cmts = comments(text);
    // Elements in source order: (start offset, rule index, slot in canonical order).
    let mut elems: Vec<(usize, usize, usize)> = Vec::new();
    let mut lines: Vec<Vec<(String, bool)>> = Vec::new();
    for (ri, r) in file.rules.iter().enumerate() {
        let l = rule_lines(r);
        // Where each line's clause starts, in the order `rule_lines` writes them.
        let starts = std::iter::once(r.span.start)
            .chain(r.because.iter().map(|b| b.span.start))
            .chain(r.meta.iter().map(|(k, _)| k.span.start))
            .chain(r.when.iter().map(|_| r.when_span.start))
            .chain(std::iter::once(r.effect.span.start));
        elems.extend(starts.enumerate().map(|(li, start)| (start, ri, li)));
        lines.push(l);
    }
    elems.sort_by_key(|e| e.0);
    // Comments attached to each element: (before, trailing).
    let mut before: Vec<Vec<Vec<&Comment>>> =
        lines.iter().map(|l| vec![Vec::new(); l.len()]).collect();
    let mut after: Vec<Vec<Vec<&Comment>>> = before.clone();
    let mut tail: Vec<&Comment> = Vec::new();
    for c in &cmts {
        if c.trailing {
            if let Some(e) = elems.iter().rev().find(|e| e.0 <= c.start) {
                after[e.1][e.2].push(c);
                continue;
            }
        }
        match elems.iter().find(|e| e.0 > c.start) {
            Some(e) => before[e.1][e.2].push(c),
            None => tail.push(c),
        }
    }
    let mut out = String::new();
    let blank = |out: &mut String| {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
    };
    for (ri, l) in lines.iter().enumerate() {
        for (li, (line, indented)) in l.iter().enumerate() {
            let pad = if *indented { "  " } else { "" };
            let bc = &before[ri][li];
            if li == 0 {
                for (ci, c) in bc.iter().enumerate() {
                    if ci == 0 || c.blank_before {
                        blank(&mut out);
                    }
                    out.push_str(&c.text);
                    out.push('\n');
                }
                let src_start = elems
                    .iter()
                    .find(|e| e.1 == ri && e.2 == 0)
                    .map_or(0, |e| e.0);
                if bc.is_empty() || blank_before(text, src_start) {
                    blank(&mut out);
                }
            } else {
                for c in bc {
                    out.push_str(pad);
                    out.push_str(&c.text);
                    out.push('\n');
                }
            }
            out.push_str(pad);
            out.push_str(line);
            for c in &after[ri][li] {
                out.push_str("  ");
                out.push_str(&c.text);
            }
            out.push('\n');
        }
    }
    for (ci, c) in tail.iter().enumerate() {
        if ci == 0 || c.blank_before {
            blank(&mut out);
        }
        out.push_str(&c.text);
        out.push('\n');
    }
    Ok(out)
}

/// The lines of one rule in canonical layout, each with whether it is indented:
/// `rule`, `because`, metadata, `when`, the effect.
fn rule_lines(r: &RuleDef) -> Vec<(String, bool)> {
    let mut l = vec![(format!("rule {}", r.id.text), false)];
    if let Some(b) = &r.because {
        l.push((format!("because {}", quote(&b.value)), true));
    }
    for (k, v) in &r.meta {
        l.push((format!("{} {}", k.text, quote(&v.value)), true));
    }
    if let Some(w) = &r.when {
        l.push((format!("when {}", expr(w, 0)), true));
    }
    l.push((effect(&r.effect), true));
    l
}

/// Prints a rules file built as a syntax tree in the canonical layout of
/// [`format_rules`] (which gives the same text back for it), without comments.
///
/// Rule ids and metadata keys are printed as they are: a tool building rules gives
/// them ids of ASCII letters, digits, `_` and `-` (starting with a letter, digit or
/// `_`) and keys that are identifiers; track ids, tags and strings are quoted where
/// they need it.
pub fn print_rules(file: &RulesFile) -> String {
    let mut out = String::new();
    for (ri, r) in file.rules.iter().enumerate() {
        if ri > 0 {
            out.push('\n');
        }
        for (line, indented) in rule_lines(r) {
            if indented {
                out.push_str("  ");
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

const KEYWORDS: [&str; 24] = [
    "rule", "because", "when", "forbid", "only", "boost", "penalize", "penalise", "by", "tracks",
    "track", "tagged", "where", "all", "and", "or", "not", "in", "contains", "has", "used",
    "count", "true", "false",
];

fn name(n: &str) -> String {
    let mut chars = n.chars();
    let bare = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !KEYWORDS.contains(&n);
    if bare {
        n.to_owned()
    } else {
        quote(n)
    }
}

fn names(v: &[Name]) -> String {
    v.iter()
        .map(|n| name(&n.text))
        .collect::<Vec<_>>()
        .join(", ")
}

fn effect(e: &Effect) -> String {
    let t = match &e.targets {
        Targets::All(_) => "all tracks".to_owned(),
        Targets::Ids(ids) if ids.len() == 1 => format!("track {}", names(ids)),
        Targets::Ids(ids) => format!("tracks {}", names(ids)),
        Targets::Tagged { tags, filter } => match filter {
            None => format!("tracks tagged {}", names(tags)),
            Some(f) => format!("tracks tagged {} where {}", names(tags), expr(f, 0)),
        },
        Targets::Where(f) => format!("tracks where {}", expr(f, 0)),
    };
    match &e.kind {
        EffectAst::Forbid => format!("forbid {t}"),
        EffectAst::Only => format!("only {t}"),
        EffectAst::Boost(n) => format!("boost {t} by {}", n.text),
        EffectAst::Penalize(n) => format!("penalize {t} by {}", n.text),
    }
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Or(_) => 1,
        ExprKind::And(_) => 2,
        ExprKind::Not(_) => 3,
        ExprKind::Cmp(..) | ExprKind::In { .. } | ExprKind::Contains(..) => 4,
        ExprKind::Arith(ArithOp::Add | ArithOp::Sub, ..) => 5,
        ExprKind::Arith(..) => 6,
        _ => 7,
    }
}

/// `contacts(tagged credit, [offered, declined], within 30d)`.
pub(super) fn contacts(c: &ContactsCall) -> String {
    let filter = match &c.filter {
        ContactFilter::Track(n) => format!("track {}", name(&n.text)),
        ContactFilter::Tagged(n) => format!("tagged {}", name(&n.text)),
        ContactFilter::Product(n) => format!("product {}", name(&n.text)),
    };
    let outcomes = match &c.outcomes {
        None => String::new(),
        // A bare `within` here would read as the window's keyword.
        Some(ContactOutcomes::One(n)) if n.text == "within" => format!(", {}", quote(&n.text)),
        Some(ContactOutcomes::One(n)) => format!(", {}", name(&n.text)),
        Some(ContactOutcomes::List(v)) => format!(", [{}]", names(v)),
    };
    format!("contacts({filter}{outcomes}, within {})", c.within)
}

fn hist(h: &HistArg) -> String {
    match h {
        HistArg::Track(n) => name(&n.text),
        HistArg::Tagged(t) => format!("tagged {}", name(&t.text)),
    }
}

/// Prints `e`, parenthesized when it binds looser than `min`.
fn expr(e: &Expr, min: u8) -> String {
    let s = match &e.kind {
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Int(i) => i.to_string(),
        ExprKind::Float(_, t) | ExprKind::Duration(_, t) => t.clone(),
        ExprKind::Str(s) => quote(s),
        ExprKind::Bare(w) => w.clone(),
        ExprKind::List(v) => format!(
            "[{}]",
            v.iter().map(|x| expr(x, 0)).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Path(p) => path(p),
        ExprKind::Has(p) => format!("has {}", path(p)),
        ExprKind::Used(h) => format!("used({})", hist(h)),
        ExprKind::Count(h) => format!("count({})", hist(h)),
        ExprKind::Contacts(c) => contacts(c),
        ExprKind::TrackTagged(t) => format!("track tagged {}", name(&t.text)),
        ExprKind::Not(x) => format!("not {}", expr(x, 3)),
        ExprKind::And(v) => v
            .iter()
            .map(|x| expr(x, 3))
            .collect::<Vec<_>>()
            .join(" and "),
        ExprKind::Or(v) => v
            .iter()
            .map(|x| expr(x, 2))
            .collect::<Vec<_>>()
            .join(" or "),
        ExprKind::Cmp(op, a, b) => format!("{} {} {}", expr(a, 5), op.as_str(), expr(b, 5)),
        ExprKind::In {
            negated,
            value,
            list,
        } => format!(
            "{} {} {}",
            expr(value, 5),
            if *negated { "not in" } else { "in" },
            expr(list, 0)
        ),
        ExprKind::Contains(a, b) => format!("{} contains {}", expr(a, 5), expr(b, 5)),
        ExprKind::Arith(op, a, b) => {
            let p = prec(e);
            format!("{} {} {}", expr(a, p), op.as_str(), expr(b, p + 1))
        }
    };
    if prec(e) < min {
        format!("({s})")
    } else {
        s
    }
}

fn path(p: &[Name]) -> String {
    p.iter()
        .map(|n| n.text.as_str())
        .collect::<Vec<_>>()
        .join(".")
}
