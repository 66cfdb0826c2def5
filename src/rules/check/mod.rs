//! Syntax tree → typed rules (`typed.rs`): names resolved to schema slots, track
//! indices, tag sets and enum variant indices; types checked (`types.rs` names
//! the static types, `compare.rs` checks comparisons). The lints run after each
//! rule (`lints.rs`).
//!
//! Every error a person can make in a rules file is reported here, with the span
//! it concerns and a hint, and checking goes on after a problem so one run
//! reports all of them.

use crate::problem::Code;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use miette::NamedSource;

mod compare;
mod types;

use super::ast::*;
use super::lints::lint_rule;
use super::probe::{atom_spans, Sites};
use super::suggest::{clip, closest, did_you_mean};
use super::typed::{CVal, CheckedRule, ContactQuery, TExpr, TTargets, ValKind};
use super::{EffectKind, RuleEnv, RuleInfo};
use crate::problem::Problem;
use crate::trackset::TrackSet;
use types::Ty;

const BUILTINS: [&str; 5] = ["turn", "turns_left", "max_turns", "now", "last_reply"];

/// Checks rules across files: ids unique across all of them.
pub(crate) struct Checker<'e> {
    env: RuleEnv<'e>,
    pub problems: Vec<Problem>,
    seen: HashMap<String, FirstUse>,
    n_rules: usize,
}

/// Where a rule id was first used.
struct FirstUse {
    file: std::path::PathBuf,
    line: usize,
    column: usize,
    src: Arc<NamedSource<String>>,
    span: Span,
}

/// Most rules in one bundle.
pub const MAX_RULES: usize = 100_000;

struct Scope<'a> {
    path: &'a Path,
    src: &'a Arc<NamedSource<String>>,
    /// Inside a track predicate (`track.<attr>` is known).
    in_track: bool,
}

impl<'e> Checker<'e> {
    pub(crate) fn new(env: RuleEnv<'e>) -> Self {
        Self {
            env,
            problems: Vec::new(),
            seen: HashMap::new(),
            n_rules: 0,
        }
    }

    fn error(
        &mut self,
        sc: &Scope,
        code: Code,
        at: Span,
        msg: String,
        label: &str,
    ) -> &mut Problem {
        self.push(Problem::error(code, sc.path, msg).at(sc.src, at.pair(), label))
    }

    /// Records a problem and hands it back for a hint to be added.
    fn push(&mut self, p: Problem) -> &mut Problem {
        self.problems.push(p);
        let n = self.problems.len() - 1;
        &mut self.problems[n]
    }

    /// Checks the rules of one file.
    pub(crate) fn file(
        &mut self,
        file: &RulesFile,
        path: &Path,
        src: &Arc<NamedSource<String>>,
    ) -> Vec<CheckedRule> {
        let mut out = Vec::new();
        // Line starts, so each rule's line and column is a binary search, not a scan from the top.
        let text = src.inner();
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        for r in &file.rules {
            self.n_rules += 1;
            if self.n_rules == MAX_RULES + 1 {
                self.problems.push(
                    Problem::error(
                        Code::RulesTooManyRules,
                        path,
                        format!("the bundle has more than {MAX_RULES} rules"),
                    )
                    .at(src, r.id.span.pair(), "one too many"),
                );
            }
            if self.n_rules > MAX_RULES {
                break;
            }
            let line = line_starts.partition_point(|s| *s <= r.span.start).max(1);
            let start = line_starts.get(line - 1).copied().unwrap_or(0);
            let column = text
                .get(start..r.span.start)
                .map_or(1, |l| l.chars().count() + 1);
            if let Some(c) = self.rule(r, path, src, (line, column)) {
                out.push(c);
            }
        }
        out
    }

    fn rule(
        &mut self,
        r: &RuleDef,
        path: &Path,
        src: &Arc<NamedSource<String>>,
        (line, column): (usize, usize),
    ) -> Option<CheckedRule> {
        let sc = Scope {
            path,
            src,
            in_track: false,
        };
        let mut ok = true;
        match self.seen.get(&r.id.text) {
            Some(first) => {
                let help = format!(
                    "the first rule `{}` is at {}:{}:{}; rule ids must be unique across all files of a bundle",
                    clip(&r.id.text),
                    first.file.display(),
                    first.line,
                    first.column
                );
                let p = Problem::error(
                    Code::RulesDuplicateId,
                    sc.path,
                    format!("rule id `{}` is used twice", clip(&r.id.text)),
                )
                .at(sc.src, r.id.span.pair(), "second use")
                .with_help(help)
                .with_related(
                    &first.file,
                    &first.src,
                    first.span.pair(),
                    "first use",
                );
                self.push(p);
                ok = false;
            }
            None => {
                self.seen.insert(
                    r.id.text.clone(),
                    FirstUse {
                        file: path.to_owned(),
                        line,
                        column,
                        src: src.clone(),
                        span: r.id.span,
                    },
                );
            }
        }
        let mut sc = sc;
        let cond = match &r.when {
            None => None,
            Some(e) => {
                let c = self.boolean(e, &mut sc);
                if c.is_none() {
                    ok = false;
                }
                c
            }
        };
        let (effect, boost) = match &r.effect.kind {
            EffectAst::Forbid => (EffectKind::Forbid, 0.0),
            EffectAst::Only => (EffectKind::Only, 0.0),
            EffectAst::Boost(n) => (EffectKind::Boost, n.value as f32),
            EffectAst::Penalize(n) => (EffectKind::Boost, -(n.value as f32)),
        };
        if let EffectAst::Boost(n) | EffectAst::Penalize(n) = &r.effect.kind {
            if !(n.value as f32).is_finite() {
                self.error(
                    &sc,
                    Code::RulesBadNumber,
                    n.span,
                    format!("`{}` is too large for a score", clip(&n.text)),
                    "not finite",
                );
                ok = false;
            }
        }
        let targets = self.targets(&r.effect.targets, &mut sc);
        let may_fail_closed = lint_rule(self.env, r, path, src, &mut self.problems);
        let mut cond_atoms = Vec::new();
        if let Some(w) = &r.when {
            atom_spans(w, &mut cond_atoms);
        }
        let mut pred_atoms = Vec::new();
        if let Targets::Where(f)
        | Targets::Tagged {
            filter: Some(f), ..
        } = &r.effect.targets
        {
            atom_spans(f, &mut pred_atoms);
        }
        let (Some(targets), true) = (targets, ok) else {
            return None;
        };
        Some(CheckedRule {
            info: RuleInfo {
                id: r.id.text.clone(),
                reason: r
                    .because
                    .as_ref()
                    .map(|b| b.value.clone())
                    .unwrap_or_default(),
                meta: r
                    .meta
                    .iter()
                    .map(|(k, v)| (k.text.clone(), v.value.clone()))
                    .collect(),
                file: path.to_owned(),
                line: line as u32,
                column: column as u32,
                effect,
            },
            cond,
            boost,
            targets,
            src: src.clone(),
            effect_span: r.effect.span,
            sites: Sites {
                cond: cond_atoms.into(),
                pred: pred_atoms.into(),
                may_fail_closed,
            },
        })
    }

    fn targets(&mut self, t: &Targets, sc: &mut Scope) -> Option<TTargets> {
        let n = self.env.catalog.len();
        match t {
            Targets::All(_) => Some(TTargets::Set(TrackSet::full(n))),
            Targets::Ids(ids) => {
                let mut set = TrackSet::empty(n);
                let mut ok = true;
                for id in ids {
                    match self.track(id, sc) {
                        Some(i) => set.insert(i as usize),
                        None => ok = false,
                    }
                }
                ok.then_some(TTargets::Set(set))
            }
            Targets::Tagged { tags, filter } => {
                let mut set = TrackSet::empty(n);
                let mut ok = true;
                for tag in tags {
                    match self.tag(tag, sc) {
                        Some(s) => set.union_with(&s),
                        None => ok = false,
                    }
                }
                let pred = match filter {
                    Some(f) => Some(self.track_pred(f, sc)?),
                    None => None,
                };
                if !ok {
                    return None;
                }
                Some(match pred {
                    None => TTargets::Set(set),
                    Some(p) => TTargets::Pred(Some(set), p),
                })
            }
            Targets::Where(f) => Some(TTargets::Pred(None, self.track_pred(f, sc)?)),
        }
    }

    fn track_pred(&mut self, e: &Expr, sc: &mut Scope) -> Option<TExpr> {
        sc.in_track = true;
        let r = self.boolean(e, sc);
        sc.in_track = false;
        r
    }

    fn track(&mut self, id: &Name, sc: &Scope) -> Option<u32> {
        let cat = self.env.catalog;
        if let Some(i) = cat.index(&id.text) {
            return Some(i as u32);
        }
        let hint = did_you_mean(&id.text, cat.tracks().iter().map(|t| t.id.as_str()));
        let p = self.error(
            sc,
            Code::RulesUnknownTrack,
            id.span,
            format!("unknown track `{}`", clip(&id.text)),
            "not in the catalog",
        );
        p.help = hint;
        None
    }

    fn tag(&mut self, tag: &Name, sc: &Scope) -> Option<TrackSet> {
        let cat = self.env.catalog;
        if let Some(s) = cat.tagged(&tag.text) {
            return Some(s.clone());
        }
        let hint = did_you_mean(&tag.text, cat.tags());
        let p = self.error(
            sc,
            Code::RulesUnknownTag,
            tag.span,
            format!("no track is tagged `{}`", clip(&tag.text)),
            "unknown tag",
        );
        p.help = hint;
        None
    }

    fn hist_tracks(&mut self, h: &HistArg, sc: &Scope) -> Option<Box<[u32]>> {
        match h {
            HistArg::Track(n) => self.track(n, sc).map(|i| vec![i].into()),
            HistArg::Tagged(t) => self
                .tag(t, sc)
                .map(|s| s.iter().map(|i| i as u32).collect()),
        }
    }

    /// `contacts(..)`: the filter's tracks, the outcomes and the window, resolved.
    fn contacts(&mut self, c: &ContactsCall, sc: &Scope) -> Option<ContactQuery> {
        let cat = self.env.catalog;
        let (tracks, retired_may_match) = match &c.filter {
            ContactFilter::Track(n) => {
                let mut s = TrackSet::empty(cat.len());
                s.insert(self.track(n, sc)? as usize);
                (s, false)
            }
            ContactFilter::Tagged(t) => (self.tag(t, sc)?, true),
            ContactFilter::Product(p) => {
                let mut s = TrackSet::empty(cat.len());
                for (i, t) in cat.tracks().iter().enumerate() {
                    if t.product.as_deref() == Some(p.text.as_str()) {
                        s.insert(i);
                    }
                }
                if s.is_empty() {
                    let mut products: Vec<&str> = cat
                        .tracks()
                        .iter()
                        .filter_map(|t| t.product.as_deref())
                        .collect();
                    products.sort_unstable();
                    products.dedup();
                    let hint = did_you_mean(&p.text, products.iter().copied());
                    self.error(
                        sc,
                        Code::RulesUnknownProduct,
                        p.span,
                        format!("no track has the product `{}`", clip(&p.text)),
                        "unknown product",
                    )
                    .help = hint.or_else(|| {
                        Some(if products.is_empty() {
                            "no track of the catalog declares a `product`".to_owned()
                        } else {
                            format!("products in the catalog: {}", products.join(", "))
                        })
                    });
                    return None;
                }
                (s, true)
            }
        };
        let names: &[Name] = match &c.outcomes {
            None => &[],
            Some(ContactOutcomes::One(n)) => std::slice::from_ref(n),
            Some(ContactOutcomes::List(v)) => v,
        };
        let mut mask = 0u64;
        let mut ok = true;
        for n in names {
            match self.env.outcomes.iter().position(|o| *o == n.text) {
                Some(i) if i < 64 => mask |= 1 << i,
                _ => {
                    ok = false;
                    let outcomes = self.env.outcomes;
                    let hint = did_you_mean(&n.text, outcomes.iter().map(String::as_str));
                    self.error(
                        sc,
                        Code::RulesUnknownOutcome,
                        n.span,
                        format!("unknown contact outcome `{}`", clip(&n.text)),
                        "not in `contact_outcomes`",
                    )
                    .help = hint.or_else(|| {
                        Some(if outcomes.is_empty() {
                            "declare the outcomes in `bundle.toml`, e.g. `contact_outcomes = [\"offered\", \"declined\"]`".to_owned()
                        } else {
                            format!("contact outcomes: {}", outcomes.join(", "))
                        })
                    });
                }
            }
        }
        if !ok {
            return None;
        }
        Some(ContactQuery {
            tracks,
            retired_may_match,
            outcomes: c.outcomes.as_ref().map(|_| mask),
            within_ms: c.within_ms,
            text: super::fmt::contacts(c).into(),
        })
    }

    fn boolean(&mut self, e: &Expr, sc: &mut Scope) -> Option<TExpr> {
        let (t, ty) = self.expr(e, sc)?;
        if ty != Ty::Bool {
            let help = match &ty {
                Ty::Bare(w) => self.attr_hint(w),
                _ => Some("compare it with something, e.g. `customer.age < 18`".into()),
            };
            let msg = match &ty {
                Ty::Bare(w) => format!("unknown attribute `{}`", clip(w)),
                t => format!("expected a condition (true or false), found {}", t.a()),
            };
            let code = if matches!(ty, Ty::Bare(_)) {
                Code::RulesUnknownAttribute
            } else {
                Code::RulesTypeMismatch
            };
            self.error(sc, code, e.span, msg, "not a condition").help = help;
            return None;
        }
        Some(t)
    }

    fn attr_hint(&self, w: &str) -> Option<String> {
        if self.env.schema.slot(w).is_some() {
            return Some(format!("context attributes are read as `customer.{w}`"));
        }
        let names = self
            .env
            .schema
            .attrs()
            .iter()
            .map(|a| a.name.as_str())
            .chain(BUILTINS);
        closest(w, names).map(|c| {
            if BUILTINS.contains(&c) {
                format!("did you mean `{c}`?")
            } else {
                format!("did you mean `customer.{c}`?")
            }
        })
    }

    fn path(&mut self, segs: &[Name], span: Span, sc: &Scope) -> Option<(TExpr, Ty)> {
        let head = segs.first()?;
        let max = self.env.max_turns;
        if segs.len() == 1 {
            return Some(match head.text.as_str() {
                "turn" => (TExpr::Turn, Ty::Int),
                "turns_left" => (TExpr::TurnsLeft, Ty::Int),
                "max_turns" => (TExpr::Const(CVal::Int(i64::from(max))), Ty::Int),
                "now" => (TExpr::Now, Ty::Time),
                "last_reply" => (TExpr::LastReply, Ty::Reply),
                w => (TExpr::Const(CVal::Bool(false)), Ty::Bare(w.to_owned())),
            });
        }
        let attr = segs.get(1)?;
        match head.text.as_str() {
            "customer" | "context" if segs.len() == 2 => {
                let schema = self.env.schema;
                match schema.slot(&attr.text) {
                    Some(slot) => {
                        let decl = &schema.attrs()[slot];
                        Some((
                            TExpr::Ctx(slot as u32, ValKind::of(&decl.ty)),
                            Ty::of(&decl.ty),
                        ))
                    }
                    None => {
                        let hint = did_you_mean(
                            &attr.text,
                            schema.attrs().iter().map(|a| a.name.as_str()),
                        );
                        self.error(
                            sc,
                            Code::RulesUnknownAttribute,
                            attr.span,
                            format!("unknown context attribute `{}`", clip(&attr.text)),
                            "not in the context schema",
                        )
                        .help = hint.or_else(|| {
                            Some(format!(
                                "declared attributes: {}",
                                schema
                                    .attrs()
                                    .iter()
                                    .map(|a| a.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        });
                        None
                    }
                }
            }
            "track" if segs.len() == 2 => {
                if !sc.in_track {
                    self.error(
                        sc,
                        Code::RulesTrackOutsideTargets,
                        span,
                        format!(
                            "`track.{}` is only known inside `tracks where ...`",
                            attr.text
                        ),
                        "no track here",
                    )
                    .help = Some("move the test into the effect: `forbid tracks where ...`".into());
                    return None;
                }
                match attr.text.as_str() {
                    "id" => Some((TExpr::TrackId, Ty::TrackId)),
                    "product" => Some((TExpr::TrackProduct, Ty::Str)),
                    a => {
                        let schema = self.env.catalog.attr_schema();
                        match schema.slot(a) {
                            Some(slot) => {
                                let decl = &schema.attrs()[slot];
                                Some((TExpr::TrackAttr(slot as u32), Ty::of(&decl.ty)))
                            }
                            None => {
                                let hint = did_you_mean(
                                    a,
                                    schema
                                        .attrs()
                                        .iter()
                                        .map(|d| d.name.as_str())
                                        .chain(["id", "product"]),
                                );
                                self.error(
                                    sc,
                                    Code::RulesUnknownTrackAttribute,
                                    attr.span,
                                    format!("unknown track attribute `{}`", clip(a)),
                                    "not declared in the catalog",
                                )
                                .help = hint;
                                None
                            }
                        }
                    }
                }
            }
            h => {
                let whole: Vec<&str> = segs.iter().map(|s| s.text.as_str()).collect();
                let hint = if segs.len() == 2 {
                    closest(h, ["customer", "context", "track"].into_iter())
                        .map(|c| format!("did you mean `{c}.{}`?", clip(&attr.text)))
                } else {
                    None
                };
                self.error(
                    sc,
                    Code::RulesUnknownAttribute,
                    span,
                    format!("unknown attribute `{}`", clip(&whole.join("."))),
                    "unknown",
                )
                .help = hint.or(Some(
                    "attributes are `customer.<name>`, `track.<name>` (inside `tracks where`) or a builtin (`turn`, `turns_left`, `max_turns`, `now`, `last_reply`)".into(),
                ));
                None
            }
        }
    }

    fn expr(&mut self, e: &Expr, sc: &mut Scope) -> Option<(TExpr, Ty)> {
        Some(match &e.kind {
            ExprKind::Bool(b) => (TExpr::Const(CVal::Bool(*b)), Ty::Bool),
            ExprKind::Int(i) => (TExpr::Const(CVal::Int(*i)), Ty::Int),
            ExprKind::Float(x, _) => (TExpr::Const(CVal::Float(*x)), Ty::Float),
            ExprKind::Str(s) => (TExpr::Const(CVal::Str(s.as_str().into())), Ty::Str),
            ExprKind::Duration(d, _) => (TExpr::Const(CVal::Dur(*d)), Ty::Dur),
            ExprKind::Bare(w) => (TExpr::Const(CVal::Bool(false)), Ty::Bare(w.clone())),
            ExprKind::List(_) => {
                self.error(
                    sc,
                    Code::RulesTypeMismatch,
                    e.span,
                    "a list can only follow `in` or `not in`".into(),
                    "list here",
                );
                return None;
            }
            ExprKind::Path(segs) => self.path(segs, e.span, sc)?,
            ExprKind::Has(segs) => {
                let t = match segs.iter().map(|s| s.text.as_str()).collect::<Vec<_>>()[..] {
                    ["last_reply"] => TExpr::HasReply,
                    ["customer" | "context", a] => match self.env.schema.slot(a) {
                        Some(slot) if self.env.schema.attrs()[slot].optional => {
                            TExpr::HasCtx(slot as u32)
                        }
                        Some(_) => TExpr::Const(CVal::Bool(true)),
                        None => {
                            self.path(segs, e.span, sc)?;
                            return None;
                        }
                    },
                    ["track", "product"] if sc.in_track => TExpr::HasTrackProduct,
                    ["track", a] if sc.in_track => match self.env.catalog.attr_schema().slot(a) {
                        Some(slot) => TExpr::HasTrackAttr(slot as u32),
                        None => {
                            self.path(segs, e.span, sc)?;
                            return None;
                        }
                    },
                    _ => {
                        self.error(
                            sc,
                            Code::RulesBadHas,
                            e.span,
                            "`has` tests an attribute: `has customer.<name>`, `has last_reply` or `has track.<name>`".into(),
                            "not an attribute",
                        );
                        return None;
                    }
                };
                (t, Ty::Bool)
            }
            ExprKind::Used(h) => (TExpr::Used(self.hist_tracks(h, sc)?), Ty::Bool),
            ExprKind::Count(h) => (TExpr::Count(self.hist_tracks(h, sc)?), Ty::Int),
            ExprKind::Contacts(c) => (TExpr::Contacts(Box::new(self.contacts(c, sc)?)), Ty::Int),
            ExprKind::TrackTagged(t) => {
                if !sc.in_track {
                    self.error(
                        sc,
                        Code::RulesTrackOutsideTargets,
                        e.span,
                        "`track tagged` is only known inside `tracks where ...`".into(),
                        "no track here",
                    );
                    return None;
                }
                (TExpr::TrackTagged(self.tag(t, sc)?), Ty::Bool)
            }
            ExprKind::Not(inner) => (TExpr::Not(Box::new(self.boolean(inner, sc)?)), Ty::Bool),
            ExprKind::And(parts) | ExprKind::Or(parts) => {
                let is_and = matches!(e.kind, ExprKind::And(_));
                let mut out = Vec::with_capacity(parts.len());
                let mut ok = true;
                for p in parts {
                    match self.boolean(p, sc) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                (
                    if is_and {
                        TExpr::And(out)
                    } else {
                        TExpr::Or(out)
                    },
                    Ty::Bool,
                )
            }
            ExprKind::Cmp(op, a, b) => self.compare(*op, a, b, e.span, sc)?,
            ExprKind::In {
                negated,
                value,
                list,
            } => {
                let (v, vty) = self.expr(value, sc)?;
                if let Ty::Bare(w) = &vty {
                    let h = self.attr_hint(w);
                    self.error(
                        sc,
                        Code::RulesUnknownAttribute,
                        value.span,
                        format!("unknown attribute `{}`", clip(w)),
                        "unknown",
                    )
                    .help = h;
                    return None;
                }
                let ExprKind::List(items) = &list.kind else {
                    return None;
                };
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for it in items {
                    match self.constant_as(it, &vty, &value.span, sc) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                (TExpr::In(*negated, Box::new(v), out.into()), Ty::Bool)
            }
            ExprKind::Contains(a, b) => {
                let (ta, tya) = self.expr(a, sc)?;
                let (tb, tyb) = self.expr(b, sc)?;
                if tya != Ty::Set {
                    self.error(
                        sc,
                        Code::RulesTypeMismatch,
                        a.span,
                        format!(
                            "`contains` needs a set attribute on its left, found {}",
                            tya.a()
                        ),
                        "not a set",
                    );
                    return None;
                }
                if tyb != Ty::Str {
                    let help = matches!(tyb, Ty::Bare(_))
                        .then(|| "write the item as a string in double quotes".to_owned());
                    self.error(
                        sc,
                        Code::RulesTypeMismatch,
                        b.span,
                        format!("a set contains strings, found {}", tyb.a()),
                        "not a string",
                    )
                    .help = help;
                    return None;
                }
                (TExpr::Contains(Box::new(ta), Box::new(tb)), Ty::Bool)
            }
            ExprKind::Arith(op, a, b) => {
                let (ta, tya) = self.expr(a, sc)?;
                let (tb, tyb) = self.expr(b, sc)?;
                use ArithOp::*;
                let ty = match (op, &tya, &tyb) {
                    (_, Ty::Int, Ty::Int) => Ty::Int,
                    (_, x, y) if x.numeric() && y.numeric() => Ty::Float,
                    (Sub, Ty::Time, Ty::Time) => Ty::Dur,
                    (Add | Sub, Ty::Time, Ty::Dur) => Ty::Time,
                    (Add, Ty::Dur, Ty::Time) => Ty::Time,
                    (Add | Sub, Ty::Dur, Ty::Dur) => Ty::Dur,
                    _ => {
                        self.error(
                            sc,
                            Code::RulesTypeMismatch,
                            e.span,
                            format!(
                                "cannot apply `{}` to {} and {}",
                                op.as_str(),
                                tya.a(),
                                tyb.a()
                            ),
                            "type mismatch",
                        )
                        .help = Some("arithmetic works on numbers, timestamp - timestamp and timestamp ± duration".into());
                        return None;
                    }
                };
                (TExpr::Arith(*op, Box::new(ta), Box::new(tb)), ty)
            }
        })
    }
}
