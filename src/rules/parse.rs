//! Text → syntax tree with the pest grammar (`grammar/rules.pest`).
//!
//! The nesting of the raw text is checked (`limits.rs`) before pest sees it;
//! depth (counting every operator of a chain) and size are checked here while
//! the tree is built, so no later stage ever meets a tree over the limits.
//! Syntax errors are put into words in `syntax_error.rs`.

use crate::problem::Code;
use std::path::Path;
use std::sync::Arc;

use miette::NamedSource;
use pest::iterators::Pair;
use pest::Parser;

use super::ast::*;
use super::limits::{too_deep, MAX_DEPTH, MAX_FILE_BYTES, MAX_LIST_ITEMS, MAX_NESTING, MAX_NODES};
use super::suggest::clip;
use super::syntax_error::syntax_problem;
use crate::problem::{named_source, Problem};

/// A byte order mark: accepted at the start of a file (editors on Windows write
/// one), as in `bundle.toml`.
pub(super) const BOM: char = '\u{feff}';

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/rules.pest"]
pub(crate) struct RulesParser;

/// Parses one rules file into its syntax tree, or every problem found.
pub fn parse(text: &str, path: &Path) -> Result<RulesFile, Vec<Problem>> {
    super::on_own_stack(|| {
        let src = named_source(path, text);
        parse_with(text, path, &src)
    })
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
        nodes: 0,
        height: 0,
        cond_start: 0,
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

/// Milliseconds of a duration literal (`14d`; the grammar guarantees digits and
/// a unit), or why it has none.
fn duration_ms(text: &str) -> Result<i64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let per: i64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 7 * 86_400_000,
    };
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(per))
        .ok_or_else(|| {
            format!(
                "`{}` is too large: a duration is at most {}{unit} (about 292 million years)",
                clip(text),
                i64::MAX / per
            )
        })
}

struct Builder<'a> {
    path: &'a Path,
    src: &'a Arc<NamedSource<String>>,
    problems: Vec<Problem>,
    /// Nodes of the condition being built.
    nodes: usize,
    /// Height of the expression built last.
    height: usize,
    /// Where the condition being built starts.
    cond_start: usize,
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
                            format!("rule `{}` has two `because` clauses", clip(&id.text)),
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
                            format!("rule `{}` has two `when` clauses", clip(&id.text)),
                            "second condition",
                        )
                        .help = Some("combine the conditions with `and` or `or`".into());
                    }
                    when_span = csp;
                    if let Some(e) = c.into_inner().nth(1) {
                        when = self.condition(e);
                    }
                }
                Rule::effect => {
                    let csp = span(&c);
                    if let Some(first) = &effect {
                        let (l, col) = crate::problem::line_col(self.src.inner(), first.span.start);
                        let (path, src, first_span) = (self.path, self.src.clone(), first.span);
                        let p = self.err(
                            Code::RulesTwoEffects,
                            csp,
                            format!("rule `{}` has two effects", clip(&id.text)),
                            "second effect",
                        );
                        p.help = Some(format!(
                            "a rule has exactly one effect (the first is at line {l}, column {col}); split it into two rules"
                        ));
                        p.related.push(crate::problem::Related {
                            file: path.to_owned(),
                            source_text: src,
                            span: first_span.pair().into(),
                            message: "first effect".to_owned(),
                        });
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
                format!("rule `{}` has no effect", clip(&id.text)),
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
                        format!("`{}` is not a finite number", clip(&text)),
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
            Rule::where_targets => Targets::Where(self.condition(inner.into_inner().nth(2)?)?),
            _ => {
                let mut tags = Vec::new();
                let mut filter = None;
                for x in inner.into_inner() {
                    match x.as_rule() {
                        Rule::name => tags.push(self.name(x)),
                        Rule::expr => filter = Some(self.condition(x)?),
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

    fn contacts(&mut self, p: Pair<Rule>) -> Option<ContactsCall> {
        let mut filter = None;
        let mut outcomes = None;
        let mut within = None;
        for x in p.into_inner() {
            match x.as_rule() {
                Rule::contact_filter => {
                    let mut it = x.into_inner();
                    let kw = it.next()?.as_rule();
                    let n = self.name(it.next()?);
                    filter = Some(match kw {
                        Rule::kw_track => ContactFilter::Track(n),
                        Rule::kw_tagged => ContactFilter::Tagged(n),
                        _ => ContactFilter::Product(n),
                    });
                }
                Rule::contact_outcomes => {
                    let o = x.into_inner().next()?;
                    outcomes = Some(if o.as_rule() == Rule::outcome_list {
                        ContactOutcomes::List(o.into_inner().map(|n| self.name(n)).collect())
                    } else {
                        ContactOutcomes::One(self.name(o))
                    });
                }
                Rule::duration => {
                    let sp = span(&x);
                    match duration_ms(x.as_str()) {
                        Ok(ms) => within = Some((ms, x.as_str().to_owned())),
                        Err(e) => {
                            self.err(Code::RulesBadNumber, sp, e, "too large");
                            return None;
                        }
                    }
                }
                _ => {}
            }
        }
        let (within_ms, within) = within?;
        Some(ContactsCall {
            filter: filter?,
            outcomes,
            within_ms,
            within,
        })
    }

    /// Builds one whole condition (`when ...`, `tracks where ...`); its size is
    /// counted from zero.
    fn condition(&mut self, p: Pair<Rule>) -> Option<Expr> {
        self.nodes = 0;
        self.cond_start = p.as_span().start();
        self.height = 0;
        self.expr(p)
    }

    /// Records a new node whose deepest child is `below` levels deep, or reports
    /// (at `at`) that the condition is over [`MAX_DEPTH`] or [`MAX_NODES`].
    fn node(&mut self, kind: ExprKind, span: Span, below: usize, at: Span) -> Option<Expr> {
        self.nodes += 1;
        // Values (a list too) are not levels; each operator above them is one.
        let operator = matches!(
            kind,
            ExprKind::Not(_)
                | ExprKind::And(_)
                | ExprKind::Or(_)
                | ExprKind::Cmp(..)
                | ExprKind::In { .. }
                | ExprKind::Contains(..)
                | ExprKind::Arith(..)
        );
        self.height = if operator { below + 1 } else { 0 };
        if self.height > MAX_DEPTH {
            self.err(
                Code::RulesTooDeep,
                at,
                format!("condition is more than {MAX_DEPTH} operators deep"),
                "too deep here",
            )
            .help = Some(
                "every operator counts, each `+`, `-`, `*` or `/` of a chain such as `a + b + c` too; split the condition into several rules or simplify it"
                    .into(),
            );
            return None;
        }
        if self.nodes > MAX_NODES {
            let start = Span {
                start: self.cond_start,
                end: self.cond_start + 1,
            };
            self.err(
                Code::RulesConditionTooLarge,
                start,
                format!("condition has more than {MAX_NODES} values and operators"),
                "this condition",
            )
            .help = Some("split the condition into several rules".into());
            return None;
        }
        Some(Expr { kind, span })
    }

    /// Builds a sub-expression and returns it with its height.
    fn sub(&mut self, p: Pair<Rule>) -> Option<(Expr, usize)> {
        let e = self.expr(p)?;
        Some((e, self.height))
    }

    fn expr(&mut self, p: Pair<Rule>) -> Option<Expr> {
        let sp = span(&p);
        let first_byte = Span {
            start: sp.start,
            end: sp.start + 1,
        };
        let mut below = 0;
        let kind = match p.as_rule() {
            Rule::expr | Rule::paren => return self.expr(p.into_inner().next()?),
            Rule::disj | Rule::conj => {
                let is_or = p.as_rule() == Rule::disj;
                let mut parts = Vec::new();
                for x in p.into_inner() {
                    if !matches!(x.as_rule(), Rule::kw_or | Rule::kw_and) {
                        let (e, h) = self.sub(x)?;
                        below = below.max(h);
                        parts.push(e);
                    }
                }
                if parts.len() == 1 {
                    self.height = below;
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
                    let (e, h) = self.sub(it.next()?)?;
                    below = h;
                    ExprKind::Not(Box::new(e))
                } else {
                    return self.expr(first);
                }
            }
            Rule::comparison => {
                let mut it = p.into_inner();
                let (lhs, hl) = self.sub(it.next()?)?;
                let Some(op) = it.next() else {
                    return Some(lhs);
                };
                let (rhs, hr) = self.sub(it.next()?)?;
                below = hl.max(hr);
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
                // The tree is left-deep: each operator of the chain is one level.
                let mut it = p.into_inner();
                let (mut acc, mut h) = self.sub(it.next()?)?;
                while let Some(op) = it.next() {
                    let (rhs, hr) = self.sub(it.next()?)?;
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
                    acc = self.node(
                        ExprKind::Arith(o, Box::new(acc), Box::new(rhs)),
                        s,
                        h.max(hr),
                        span(&op),
                    )?;
                    h = self.height;
                }
                self.height = h;
                return Some(acc);
            }
            Rule::has_test => ExprKind::Has(self.path(p.into_inner().nth(1)?)),
            Rule::used_call => ExprKind::Used(self.hist(p)?),
            Rule::count_call => ExprKind::Count(self.hist(p)?),
            Rule::contacts_call => ExprKind::Contacts(Box::new(self.contacts(p)?)),
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
                    let (e, h) = self.sub(x)?;
                    below = below.max(h);
                    items.push(e);
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
                        format!(
                            "`{}` is too large for a 64-bit integer (at most {})",
                            clip(p.as_str()),
                            i64::MAX
                        ),
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
                        format!("`{}` is not a finite number", clip(p.as_str())),
                        "too large",
                    );
                    return None;
                }
                ExprKind::Float(v, p.as_str().to_owned())
            }
            Rule::duration => match duration_ms(p.as_str()) {
                Ok(ms) => ExprKind::Duration(ms, p.as_str().to_owned()),
                Err(e) => {
                    self.err(Code::RulesBadNumber, sp, e, "too large");
                    return None;
                }
            },
            _ => {
                return self.expr(p.into_inner().next()?);
            }
        };
        self.node(kind, sp, below, first_byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
