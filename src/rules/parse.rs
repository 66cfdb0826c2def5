//! Text → syntax tree: size and nesting limits, the pest grammar
//! (`grammar/rules.pest`), and syntax errors a person can act on.
//!
//! Limits are checked on the raw text *before* pest sees it: pest parses by
//! recursive descent, so a condition nested ten thousand parentheses deep would
//! overflow the stack instead of returning an error.

use std::path::Path;
use std::sync::Arc;

use miette::NamedSource;
use pest::iterators::Pair;
use pest::Parser;

use super::ast::*;
use crate::diag::{named_source, Code, Problem};

/// Largest rules file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Deepest nesting of parentheses and `not`s in one condition.
pub const MAX_NESTING: usize = 64;
/// Most items in one `[..]` list.
pub const MAX_LIST_ITEMS: usize = 4096;
/// Most operators in one `a + b - c ...` chain (the tree is left-deep).
pub const MAX_CHAIN: usize = 256;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/rules.pest"]
pub(crate) struct RulesParser;

/// Parses one rules file into its syntax tree, or every problem found.
pub fn parse(text: &str, path: &Path) -> Result<RulesFile, Vec<Problem>> {
    let src = named_source(path, text);
    parse_with(text, path, &src)
}

pub(crate) fn parse_with(
    text: &str,
    path: &Path,
    src: &Arc<NamedSource<String>>,
) -> Result<RulesFile, Vec<Problem>> {
    if text.len() > MAX_FILE_BYTES {
        return Err(vec![Problem::error(
            Code::RulesTooLarge,
            path,
            format!(
                "rules file is {} bytes, more than the limit of {MAX_FILE_BYTES}",
                text.len()
            ),
        )
        .with_help("split the rules into several files")]);
    }
    if let Some(at) = too_deep(text) {
        return Err(vec![Problem::error(
            Code::RulesTooDeep,
            path,
            format!("condition is nested more than {MAX_NESTING} levels deep"),
        )
        .at(src, (at, 1), "too deep here")
        .with_help(
            "split the condition into several rules or remove redundant parentheses",
        )]);
    }
    let mut pairs = match RulesParser::parse(Rule::file, text) {
        Ok(p) => p,
        Err(e) => return Err(vec![syntax_problem(&e, text, path, src)]),
    };
    let mut b = Builder {
        path,
        src,
        problems: Vec::new(),
    };
    let mut file = RulesFile::default();
    if let Some(f) = pairs.next() {
        for p in f.into_inner() {
            if p.as_rule() == Rule::rule_def {
                if let Some(r) = b.rule(p) {
                    file.rules.push(r);
                }
            }
        }
    }
    if b.problems.is_empty() {
        Ok(file)
    } else {
        Err(b.problems)
    }
}

/// Byte offset where nesting first exceeds [`MAX_NESTING`], skipping strings and comments.
fn too_deep(text: &str) -> Option<usize> {
    // One frame per open parenthesis, counting the `not`s applied in it; `and`,
    // `or` and clause keywords end a chain of `not`s.
    let mut frames: Vec<usize> = vec![0];
    let mut nots = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' => {
                frames.push(0);
                if frames.len() - 1 + nots > MAX_NESTING {
                    return Some(i);
                }
            }
            b')' if frames.len() > 1 => {
                nots = nots.saturating_sub(frames.pop().unwrap_or(0));
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                match word {
                    "not" => {
                        if let Some(top) = frames.last_mut() {
                            *top += 1;
                        }
                        nots += 1;
                        if frames.len() - 1 + nots > MAX_NESTING {
                            return Some(start);
                        }
                    }
                    "and" | "or" | "rule" | "when" | "where" | "forbid" | "only" | "boost"
                    | "penalize" | "penalise" => {
                        if let Some(top) = frames.last_mut() {
                            nots = nots.saturating_sub(*top);
                            *top = 0;
                        }
                        if word == "rule" {
                            frames.truncate(1);
                            nots = 0;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

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
        _ => "an expression",
    }
}

fn syntax_problem(
    e: &pest::error::Error<Rule>,
    text: &str,
    path: &Path,
    src: &Arc<NamedSource<String>>,
) -> Problem {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
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
    let found: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(24)
        .collect();
    let (found_desc, len) = if rest.is_empty() {
        ("the end of the file".to_owned(), 0)
    } else if found.is_empty() {
        ("a line break".to_owned(), 1)
    } else {
        (format!("`{found}`"), found.len())
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
        if let Some(k) = super::check::closest(&prev, keywords.iter().copied()) {
            p = p.with_help(format!(
                "`{prev}` is read as a metadata key; did you mean the keyword `{k}`?"
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

struct Builder<'a> {
    path: &'a Path,
    src: &'a Arc<NamedSource<String>>,
    problems: Vec<Problem>,
}

/// The pair's span without the whitespace and comments pest skipped after its last token.
fn span(p: &Pair<Rule>) -> Span {
    let s = p.as_span();
    let end = p
        .clone()
        .into_inner()
        .flatten()
        .last()
        .map_or(s.end(), |last| last.as_span().end());
    Span {
        start: s.start(),
        end: end.max(s.start()),
    }
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Builder<'_> {
    fn err(&mut self, code: Code, at: Span, msg: String, label: &str) -> &mut Problem {
        self.problems
            .push(Problem::error(code, self.path, msg).at(self.src, at.pair(), label));
        let n = self.problems.len() - 1;
        &mut self.problems[n]
    }

    fn text(&self, p: Pair<Rule>) -> Text {
        let sp = span(&p);
        let inner = p
            .into_inner()
            .next()
            .map(|i| unescape(i.as_str()))
            .unwrap_or_default();
        Text {
            value: inner,
            span: sp,
        }
    }

    fn name(&self, p: Pair<Rule>) -> Name {
        let sp = span(&p);
        let inner = p.into_inner().next();
        let text = match inner {
            Some(i) if i.as_rule() == Rule::string => self.text(i).value,
            Some(i) => i.as_str().to_owned(),
            None => String::new(),
        };
        Name { text, span: sp }
    }

    fn rule(&mut self, p: Pair<Rule>) -> Option<RuleDef> {
        let sp = span(&p);
        let mut it = p.into_inner();
        it.next(); // `rule`
        let idp = it.next()?;
        let id = Name {
            text: idp.as_str().to_owned(),
            span: span(&idp),
        };
        let mut because = None;
        let mut meta = Vec::new();
        let mut when: Option<Expr> = None;
        let mut when_span = Span::default();
        let mut effect: Option<Effect> = None;
        let before = self.problems.len();
        for c in it {
            match c.as_rule() {
                Rule::because => {
                    let csp = span(&c);
                    if because.is_some() {
                        self.err(
                            Code::RulesDuplicateClause,
                            csp,
                            format!("rule `{}` has two `because` clauses", id.text),
                            "second reason",
                        );
                    }
                    let s = c.into_inner().nth(1).map(|s| self.text(s));
                    because = s;
                }
                Rule::meta => {
                    let mut m = c.into_inner();
                    if let (Some(k), Some(v)) = (m.next(), m.next()) {
                        meta.push((
                            Name {
                                text: k.as_str().to_owned(),
                                span: span(&k),
                            },
                            self.text(v),
                        ));
                    }
                }
                Rule::when_clause => {
                    let csp = span(&c);
                    if when.is_some() {
                        self.err(
                            Code::RulesDuplicateClause,
                            csp,
                            format!("rule `{}` has two `when` clauses", id.text),
                            "second condition",
                        )
                        .help = Some("combine the conditions with `and` or `or`".into());
                    }
                    when_span = csp;
                    if let Some(e) = c.into_inner().nth(1) {
                        when = self.expr(e);
                    }
                }
                Rule::effect => {
                    let csp = span(&c);
                    if let Some(first) = &effect {
                        let (l, col) = crate::diag::line_col(self.src.inner(), first.span.start);
                        self.err(
                            Code::RulesTwoEffects,
                            csp,
                            format!("rule `{}` has two effects", id.text),
                            "second effect",
                        )
                        .help = Some(format!(
                            "a rule has exactly one effect (the first is at line {l}, column {col}); split it into two rules"
                        ));
                    }
                    if let Some(e) = self.effect(c) {
                        effect.get_or_insert(e);
                    }
                }
                _ => {}
            }
        }
        let Some(effect) = effect else {
            self.err(
                Code::RulesMissingEffect,
                id.span,
                format!("rule `{}` has no effect", id.text),
                "this rule",
            )
            .help = Some(
                "end the rule with `forbid ...`, `only ...`, `boost ... by n` or `penalize ... by n`"
                    .into(),
            );
            return None;
        };
        if self.problems.len() > before {
            return None;
        }
        Some(RuleDef {
            id,
            span: sp,
            because,
            meta,
            when,
            when_span,
            effect,
        })
    }

    fn effect(&mut self, p: Pair<Rule>) -> Option<Effect> {
        let sp = span(&p);
        let inner = p.into_inner().next()?;
        let r = inner.as_rule();
        let mut it = inner.into_inner();
        it.next(); // keyword
        let targets = self.targets(it.next()?)?;
        let kind = match r {
            Rule::forbid => EffectAst::Forbid,
            Rule::only => EffectAst::Only,
            _ => {
                it.next(); // `by`
                let np = it.next()?;
                let nsp = span(&np);
                let text = np.as_str().to_owned();
                let value: f64 = text.parse().unwrap_or(f64::INFINITY);
                if !value.is_finite() {
                    self.err(
                        Code::RulesBadNumber,
                        nsp,
                        format!("`{text}` is not a finite number"),
                        "too large",
                    );
                    return None;
                }
                let n = Number {
                    value,
                    text,
                    span: nsp,
                };
                if r == Rule::boost {
                    EffectAst::Boost(n)
                } else {
                    EffectAst::Penalize(n)
                }
            }
        };
        Some(Effect {
            kind,
            targets,
            span: sp,
        })
    }

    fn targets(&mut self, p: Pair<Rule>) -> Option<Targets> {
        let inner = p.into_inner().next()?;
        let sp = span(&inner);
        Some(match inner.as_rule() {
            Rule::all_tracks => Targets::All(sp),
            Rule::track_list => Targets::Ids(
                inner
                    .into_inner()
                    .filter(|x| x.as_rule() == Rule::name)
                    .map(|x| self.name(x))
                    .collect(),
            ),
            Rule::where_targets => Targets::Where(self.expr(inner.into_inner().nth(2)?)?),
            _ => {
                let mut tags = Vec::new();
                let mut filter = None;
                for x in inner.into_inner() {
                    match x.as_rule() {
                        Rule::name => tags.push(self.name(x)),
                        Rule::expr => filter = Some(self.expr(x)?),
                        _ => {}
                    }
                }
                Targets::Tagged { tags, filter }
            }
        })
    }

    fn path(&self, p: Pair<Rule>) -> Vec<Name> {
        p.into_inner()
            .map(|s| Name {
                text: s.as_str().to_owned(),
                span: span(&s),
            })
            .collect()
    }

    fn hist(&self, p: Pair<Rule>) -> Option<HistArg> {
        let arg = p.into_inner().nth(1)?;
        let mut it = arg.into_inner();
        let first = it.next()?;
        Some(if first.as_rule() == Rule::kw_tagged {
            HistArg::Tagged(self.name(it.next()?))
        } else {
            HistArg::Track(self.name(first))
        })
    }

    fn expr(&mut self, p: Pair<Rule>) -> Option<Expr> {
        let sp = span(&p);
        let kind = match p.as_rule() {
            Rule::expr | Rule::paren => return self.expr(p.into_inner().next()?),
            Rule::disj | Rule::conj => {
                let is_or = p.as_rule() == Rule::disj;
                let mut parts = Vec::new();
                for x in p.into_inner() {
                    if !matches!(x.as_rule(), Rule::kw_or | Rule::kw_and) {
                        parts.push(self.expr(x)?);
                    }
                }
                if parts.len() == 1 {
                    return parts.pop();
                }
                if is_or {
                    ExprKind::Or(parts)
                } else {
                    ExprKind::And(parts)
                }
            }
            Rule::negation => {
                let mut it = p.into_inner();
                let first = it.next()?;
                if first.as_rule() == Rule::kw_not {
                    ExprKind::Not(Box::new(self.expr(it.next()?)?))
                } else {
                    return self.expr(first);
                }
            }
            Rule::comparison => {
                let mut it = p.into_inner();
                let lhs = self.expr(it.next()?)?;
                let Some(op) = it.next() else {
                    return Some(lhs);
                };
                let rhs = self.expr(it.next()?)?;
                match op.as_rule() {
                    Rule::cmp_op => {
                        let o = match op.as_str() {
                            "==" => CmpOp::Eq,
                            "!=" => CmpOp::Ne,
                            "<" => CmpOp::Lt,
                            "<=" => CmpOp::Le,
                            ">" => CmpOp::Gt,
                            _ => CmpOp::Ge,
                        };
                        ExprKind::Cmp(o, Box::new(lhs), Box::new(rhs))
                    }
                    Rule::kw_contains => ExprKind::Contains(Box::new(lhs), Box::new(rhs)),
                    r => ExprKind::In {
                        negated: r == Rule::not_in,
                        value: Box::new(lhs),
                        list: Box::new(rhs),
                    },
                }
            }
            Rule::sum | Rule::product => {
                let mut it = p.into_inner();
                let mut acc = self.expr(it.next()?)?;
                let mut n = 0;
                while let Some(op) = it.next() {
                    n += 1;
                    if n > MAX_CHAIN {
                        self.err(
                            Code::RulesTooLong,
                            sp,
                            format!("more than {MAX_CHAIN} operators in one arithmetic expression"),
                            "too long",
                        );
                        return None;
                    }
                    let rhs = self.expr(it.next()?)?;
                    let o = match op.as_str() {
                        "+" => ArithOp::Add,
                        "-" => ArithOp::Sub,
                        "*" => ArithOp::Mul,
                        _ => ArithOp::Div,
                    };
                    let s = Span {
                        start: acc.span.start,
                        end: rhs.span.end,
                    };
                    acc = Expr {
                        kind: ExprKind::Arith(o, Box::new(acc), Box::new(rhs)),
                        span: s,
                    };
                }
                return Some(acc);
            }
            Rule::has_test => ExprKind::Has(self.path(p.into_inner().nth(1)?)),
            Rule::used_call => ExprKind::Used(self.hist(p)?),
            Rule::count_call => ExprKind::Count(self.hist(p)?),
            Rule::track_tagged => ExprKind::TrackTagged(self.name(p.into_inner().nth(2)?)),
            Rule::list => {
                let mut items = Vec::new();
                for x in p.into_inner() {
                    if items.len() >= MAX_LIST_ITEMS {
                        self.err(
                            Code::RulesListTooLong,
                            sp,
                            format!("list has more than {MAX_LIST_ITEMS} items"),
                            "this list",
                        );
                        return None;
                    }
                    items.push(self.expr(x)?);
                }
                ExprKind::List(items)
            }
            Rule::bare => ExprKind::Bare(p.as_str().to_owned()),
            Rule::path => ExprKind::Path(self.path(p)),
            Rule::boolean => ExprKind::Bool(p.as_str().starts_with('t')),
            Rule::string => ExprKind::Str(self.text(p).value),
            Rule::int => match p.as_str().parse::<i64>() {
                Ok(v) => ExprKind::Int(v),
                Err(_) => {
                    self.err(
                        Code::RulesBadNumber,
                        sp,
                        format!("`{}` does not fit in a 64-bit integer", p.as_str()),
                        "too large",
                    );
                    return None;
                }
            },
            Rule::float => {
                let v: f64 = p.as_str().parse().unwrap_or(f64::INFINITY);
                if !v.is_finite() {
                    self.err(
                        Code::RulesBadNumber,
                        sp,
                        format!("`{}` is not a finite number", p.as_str()),
                        "too large",
                    );
                    return None;
                }
                ExprKind::Float(v, p.as_str().to_owned())
            }
            Rule::duration => match crate::context::parse_duration(p.as_str()) {
                Ok(ms) => ExprKind::Duration(ms, p.as_str().to_owned()),
                Err(e) => {
                    self.err(Code::RulesBadNumber, sp, e, "bad duration");
                    return None;
                }
            },
            _ => {
                return self.expr(p.into_inner().next()?);
            }
        };
        Some(Expr { kind, span: sp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_parentheses_and_chained_nots() {
        assert_eq!(too_deep("rule r when ((a)) forbid track t"), None);
        let deep = format!("when {}a", "(".repeat(MAX_NESTING + 1));
        assert_eq!(too_deep(&deep), Some(5 + MAX_NESTING));
        let nots = format!("when {}a", "not ".repeat(MAX_NESTING + 1));
        assert!(too_deep(&nots).is_some());
        // `and` ends a chain of `not`s; closing parentheses unwind.
        let flat = format!("when {}", vec!["not a"; 200].join(" and "));
        assert_eq!(too_deep(&flat), None);
        let seq = format!("when {}", vec!["(not (a))"; 200].join(" or "));
        assert_eq!(too_deep(&seq), None);
        // Parentheses in strings and comments do not count.
        let quoted = format!("because \"{}\" # {}", "(".repeat(100), "(".repeat(100));
        assert_eq!(too_deep(&quoted), None);
    }

    #[test]
    fn syntax_errors_name_what_was_expected_not_grammar_rules() {
        let e = parse("rule r when a < 1 forbid", Path::new("x")).unwrap_err();
        assert!(e[0].message.starts_with("expected "), "{}", e[0].message);
        assert!(!e[0].message.contains("kw_"), "{}", e[0].message);
        assert!(
            e[0].message.contains("`tracks tagged t`"),
            "{}",
            e[0].message
        );
        let e = parse("rule r\n  when a <\n", Path::new("x")).unwrap_err();
        assert_eq!(
            e[0].message,
            "expected an expression, found the end of the file"
        );
    }
}
