//! Syntax errors a person can act on: what was expected, named as the language
//! names it (not pest's grammar rules), what was found instead, and a hint for
//! the usual slips (a misspelt keyword read as a metadata key, a missing effect).

use crate::problem::Code;
use std::path::Path;
use std::sync::Arc;

use miette::NamedSource;

use super::parse::{Rule, BOM};
use super::suggest::clip;
use crate::problem::Problem;

fn describe(rule: Rule) -> &'static str {
    use Rule::*;
    match rule {
        effect | forbid | only | boost | penalize | kw_forbid | kw_only | kw_boost
        | kw_penalize => "an effect (`forbid`, `only`, `boost`, `penalize`)",
        kw_rule | rule_def => "a new `rule`",
        because | kw_because => "`because \"reason\"`",
        meta | meta_key => "a metadata line (`key \"text\"`)",
        when_clause | kw_when => "`when <condition>`",
        EOI => "the end of the file",
        targets | all_tracks | tagged_targets | where_targets | track_list | kw_tracks
        | kw_track | kw_all => {
            "the tracks it applies to (`track a`, `tracks a, b`, `tracks tagged t`, `tracks where ...`, `all tracks`)"
        }
        cmp_op => "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
        kw_in | not_in | kw_contains => "`in`, `not in` or `contains`",
        kw_and | kw_or => "`and` or `or`",
        add_op | mul_op => "an operator (`+`, `-`, `*`, `/`)",
        string | string_inner => "a string in double quotes",
        number | int | float => "a number",
        duration => "a duration such as `14d`",
        rule_id => "a rule id",
        name | bare | id_chars => "a track or tag id",
        history_arg => "a track id or `tagged <tag>`",
        kw_by => "`by <number>`",
        kw_tagged | kw_where => "`tagged` or `where`",
        list => "a list `[a, b]`",
        kw_within => "`within <duration>` (the window `contacts(..)` counts in)",
        contact_filter | kw_product => {
            "what `contacts(..)` counts: `track <id>`, `tagged <tag>` or `product <name>`"
        }
        contact_outcomes | outcome_list => "an outcome or a list of outcomes `[o1, o2]`",
        _ => "an expression",
    }
}

/// A `contacts(..)` call without its window: parsing stops inside the call and
/// would ask for an outcome, when what is missing is `within <duration>`. `Some`
/// when the error at `pos` lies inside a call whose parentheses hold no `within`.
fn contacts_without_window(
    text: &str,
    pos: usize,
    path: &Path,
    src: &Arc<NamedSource<String>>,
) -> Option<Problem> {
    let before = text.get(..pos)?;
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.';
    // The last `contacts (` before the error that is a call, not part of a name.
    let (start, open) = before.rmatch_indices("contacts").find_map(|(i, _)| {
        let prev_ok = before[..i].chars().next_back().is_none_or(|c| !word(c));
        let after = &before[i + "contacts".len()..];
        let paren = after.len() - after.trim_start().len();
        (prev_ok && after[paren..].starts_with('(')).then_some((i, i + "contacts".len() + paren))
    })?;
    if before[open..].contains(')') {
        return None;
    }
    let close = open + text[open..].find(')')?;
    let inside = &text[open + 1..close];
    if inside.split(|c: char| !word(c)).any(|w| w == "within") {
        return None;
    }
    let call: Vec<&str> = text[start..close].split_whitespace().collect();
    let mut example = format!("{}, within 30d)", call.join(" "));
    // The call itself, unless it is too long to quote whole.
    if example.chars().count() > 100 {
        example = "contacts(tagged credit, offered, within 30d)".to_owned();
    }
    Some(
        Problem::error(
            Code::RulesSyntax,
            path,
            "`contacts(..)` needs its window: `within <duration>`".to_owned(),
        )
        .at(src, (start, close + 1 - start), "no `within <duration>`")
        .with_help(format!(
            "the window is required and ends at the request time, e.g. `{example}`"
        )),
    )
}

pub(super) fn syntax_problem(
    e: &pest::error::Error<Rule>,
    text: &str,
    path: &Path,
    src: &Arc<NamedSource<String>>,
) -> Problem {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    if let Some(p) = contacts_without_window(text, pos, path, src) {
        return p;
    }
    let mut wanted: Vec<&'static str> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            let d = describe(*r);
            if !wanted.contains(&d) {
                wanted.push(d);
            }
        }
    }
    wanted.sort_by_key(|d| !d.starts_with("an effect"));
    let expected = match wanted.len() {
        0 => "something else".to_owned(),
        1 => wanted[0].to_owned(),
        n => format!("{} or {}", wanted[..n - 1].join(", "), wanted[n - 1]),
    };
    let rest = text.get(pos..).unwrap_or("");
    let word = rest
        .char_indices()
        .find(|(_, c)| c.is_whitespace())
        .map_or(rest, |(i, _)| &rest[..i]);
    let (found_desc, len) = if rest.is_empty() {
        ("the end of the file".to_owned(), 0)
    } else if rest.starts_with(BOM) {
        (
            "a byte order mark (U+FEFF), which may only start the file".to_owned(),
            BOM.len_utf8(),
        )
    } else if word.is_empty() {
        ("a line break".to_owned(), 1)
    } else {
        // The token up to the next space, at most 24 characters of it.
        let cut = word.char_indices().nth(24).map_or(word.len(), |(i, _)| i);
        let more = if cut < word.len() { "…" } else { "" };
        (format!("`{}{more}`", &word[..cut]), cut)
    };
    let mut p = Problem::error(
        Code::RulesSyntax,
        path,
        format!("expected {expected}, found {found_desc}"),
    )
    .at(
        src,
        (pos, len),
        format!("expected {}", wanted.first().copied().unwrap_or("more")),
    );
    // A misspelt keyword parses as a metadata key and then fails for want of a string.
    let before = text.get(..pos).unwrap_or("").trim_end();
    let prev: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if wanted.iter().any(|w| w.starts_with("a string")) && !prev.is_empty() {
        let keywords = [
            "because", "when", "forbid", "only", "boost", "penalize", "rule",
        ];
        if let Some(k) = super::suggest::closest(&prev, keywords.iter().copied()) {
            p = p.with_help(format!(
                "`{}` is read as a metadata key; did you mean the keyword `{k}`?",
                clip(&prev)
            ));
        } else {
            p = p.with_help(
                "metadata lines are a key and a string, e.g. `owner \"compliance@bank\"`",
            );
        }
    } else if wanted.iter().any(|w| w.starts_with("an effect")) {
        p = p.with_help(
            "each rule ends with one effect, e.g. `forbid tracks tagged credit` or `boost track a by 0.5`",
        );
    }
    p
}
