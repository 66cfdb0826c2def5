//! Syntax tree → typed rules: names resolved to schema slots, track indices, tag
//! sets and enum variant indices; types checked; likely mistakes warned about.
//!
//! Everything a person can get wrong in a rules file is reported here, with the
//! span it concerns and a hint, and checking goes on after a problem so one run
//! reports all of them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use miette::NamedSource;

use super::ast::*;
use super::{EffectKind, RuleEnv, RuleInfo};
use crate::context::{AttrType, Val};
use crate::diag::{Code, Problem};
use crate::trackset::TrackSet;

/// A constant value, owned by the compiled rule set.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CVal {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    Enum(u32),
    Set(Box<[String]>),
    Time(i64),
    Dur(i64),
}

impl CVal {
    pub(crate) fn as_val(&self) -> Val<'_> {
        match self {
            CVal::Bool(b) => Val::Bool(*b),
            CVal::Int(i) => Val::Int(*i),
            CVal::Float(x) => Val::Float(*x),
            CVal::Str(s) => Val::Str(s),
            CVal::Enum(e) => Val::Enum(*e),
            CVal::Set(s) => Val::Set(s),
            CVal::Time(t) => Val::Time(*t),
            CVal::Dur(d) => Val::Dur(*d),
        }
    }

    pub(crate) fn from_val(v: Val<'_>) -> Self {
        match v {
            Val::Bool(b) => CVal::Bool(b),
            Val::Int(i) => CVal::Int(i),
            Val::Float(x) => CVal::Float(x),
            Val::Str(s) => CVal::Str(s.into()),
            Val::Enum(e) => CVal::Enum(e),
            Val::Set(s) => CVal::Set(s.into()),
            Val::Time(t) => CVal::Time(t),
            Val::Dur(d) => CVal::Dur(d),
        }
    }
}

/// The static type of an expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ty {
    Bool,
    Int,
    Float,
    Str,
    Enum(Vec<String>),
    Set,
    Time,
    Dur,
    /// `last_reply`: an index into the reply vocabulary.
    Reply,
    /// `track.id`: an index into the catalog.
    TrackId,
    /// A bare word, resolved by what it is compared with.
    Bare(String),
}

impl Ty {
    /// The name with its indefinite article: `an int`, `a string`.
    fn a(&self) -> String {
        let n = self.name();
        if n.starts_with(['a', 'e', 'i', 'o', 'u']) {
            format!("an {n}")
        } else {
            format!("a {n}")
        }
    }

    fn name(&self) -> String {
        match self {
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Float => "float".into(),
            Ty::Str => "string".into(),
            Ty::Enum(_) => "enum".into(),
            Ty::Set => "set".into(),
            Ty::Time => "timestamp".into(),
            Ty::Dur => "duration".into(),
            Ty::Reply => "reply category".into(),
            Ty::TrackId => "track id".into(),
            Ty::Bare(w) => format!("bare word `{w}`"),
        }
    }

    fn numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }

    fn of(t: &AttrType) -> Ty {
        match t {
            AttrType::Bool => Ty::Bool,
            AttrType::Int => Ty::Int,
            AttrType::Float => Ty::Float,
            AttrType::String => Ty::Str,
            AttrType::Enum(v) => Ty::Enum(v.clone()),
            AttrType::StringSet => Ty::Set,
            AttrType::Timestamp => Ty::Time,
            AttrType::Duration => Ty::Dur,
        }
    }
}

/// A resolved, type-checked expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TExpr {
    Const(CVal),
    /// A context attribute by slot, with the kind of value it must hold.
    Ctx(u32, ValKind),
    Turn,
    TurnsLeft,
    Now,
    /// `Val::Enum(index)`, or `Val::Enum(u32::MAX)` before the first reply.
    LastReply,
    Count(Box<[u32]>),
    Used(Box<[u32]>),
    TrackAttr(u32),
    TrackId,
    TrackProduct,
    TrackTagged(TrackSet),
    HasCtx(u32),
    HasReply,
    HasTrackAttr(u32),
    HasTrackProduct,
    Not(Box<TExpr>),
    And(Vec<TExpr>),
    Or(Vec<TExpr>),
    Cmp(CmpOp, Box<TExpr>, Box<TExpr>),
    In(bool, Box<TExpr>, Box<[CVal]>),
    Contains(Box<TExpr>, Box<TExpr>),
    Arith(ArithOp, Box<TExpr>, Box<TExpr>),
}

/// The variant a context value must have (checked when it is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValKind {
    Bool,
    Num,
    Str,
    Enum,
    Set,
    Time,
    Dur,
}

impl ValKind {
    fn of(t: &AttrType) -> Self {
        match t {
            AttrType::Bool => ValKind::Bool,
            AttrType::Int | AttrType::Float => ValKind::Num,
            AttrType::Enum(_) => ValKind::Enum,
            AttrType::StringSet => ValKind::Set,
            AttrType::Timestamp => ValKind::Time,
            AttrType::Duration => ValKind::Dur,
            _ => ValKind::Str,
        }
    }
}

impl TExpr {
    /// Whether the value depends on the request (context, time, turn, history).
    pub(crate) fn reads_request(&self) -> bool {
        match self {
            TExpr::Ctx(..)
            | TExpr::Turn
            | TExpr::TurnsLeft
            | TExpr::Now
            | TExpr::LastReply
            | TExpr::Count(_)
            | TExpr::Used(_)
            | TExpr::HasCtx(_)
            | TExpr::HasReply => true,
            TExpr::Not(e) | TExpr::In(_, e, _) => e.reads_request(),
            TExpr::And(v) | TExpr::Or(v) => v.iter().any(TExpr::reads_request),
            TExpr::Cmp(_, a, b) | TExpr::Contains(a, b) | TExpr::Arith(_, a, b) => {
                a.reads_request() || b.reads_request()
            }
            _ => false,
        }
    }

    /// Whether `f` holds for this node or any node below it.
    pub(crate) fn any(&self, f: &dyn Fn(&TExpr) -> bool) -> bool {
        f(self)
            || match self {
                TExpr::Not(e) | TExpr::In(_, e, _) => e.any(f),
                TExpr::And(v) | TExpr::Or(v) => v.iter().any(|e| e.any(f)),
                TExpr::Cmp(_, a, b) | TExpr::Contains(a, b) | TExpr::Arith(_, a, b) => {
                    a.any(f) || b.any(f)
                }
                _ => false,
            }
    }

    /// Whether the value depends on the track being tested.
    pub(crate) fn reads_track(&self) -> bool {
        match self {
            TExpr::TrackAttr(_)
            | TExpr::TrackId
            | TExpr::TrackProduct
            | TExpr::TrackTagged(_)
            | TExpr::HasTrackAttr(_)
            | TExpr::HasTrackProduct => true,
            TExpr::Not(e) | TExpr::In(_, e, _) => e.reads_track(),
            TExpr::And(v) | TExpr::Or(v) => v.iter().any(TExpr::reads_track),
            TExpr::Cmp(_, a, b) | TExpr::Contains(a, b) | TExpr::Arith(_, a, b) => {
                a.reads_track() || b.reads_track()
            }
            _ => false,
        }
    }
}

/// Which tracks a checked rule targets.
#[derive(Clone, Debug)]
pub(crate) enum TTargets {
    /// Known at load time.
    Set(TrackSet),
    /// `base` (all tracks when `None`) filtered by a per-track predicate.
    Pred(Option<TrackSet>, TExpr),
}

/// A rule after checking.
#[derive(Clone, Debug)]
pub(crate) struct CheckedRule {
    pub info: RuleInfo,
    pub cond: Option<TExpr>,
    pub boost: f32,
    pub targets: TTargets,
    pub src: Arc<NamedSource<String>>,
    pub cond_span: Span,
    pub effect_span: Span,
}

/// Levenshtein distance, for did-you-mean hints.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if close enough to be a likely typo.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= limit && *c != word)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn did_you_mean<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

const BUILTINS: [&str; 5] = ["turn", "turns_left", "max_turns", "now", "last_reply"];

/// Checks rules across files: ids unique across all of them.
pub(crate) struct Checker<'e> {
    env: RuleEnv<'e>,
    pub problems: Vec<Problem>,
    seen: HashMap<String, (std::path::PathBuf, usize, usize)>,
    n_rules: usize,
}

/// Most rules in one bundle.
pub const MAX_RULES: usize = 100_000;

struct Scope<'a> {
    path: &'a Path,
    src: &'a Arc<NamedSource<String>>,
    in_track: bool,
    /// Optional context slots a surrounding `has` guards.
    guards: Vec<u32>,
    /// Optional track attribute slots a surrounding `has track.<name>` guards.
    track_guards: Vec<u32>,
    /// The tracks a `tracks tagged ... where` predicate is tested on (`None`: all).
    track_base: Option<TrackSet>,
    /// What the rule does, for the consequences a warning spells out.
    effect: EffectKind,
    /// Whether the rule has a `when` condition.
    has_when: bool,
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

    fn warn(&mut self, sc: &Scope, code: Code, at: Span, msg: String, label: &str) -> &mut Problem {
        self.push(Problem::warning(code, sc.path, msg).at(sc.src, at.pair(), label))
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
            guards: Vec::new(),
            track_guards: Vec::new(),
            track_base: None,
            effect: match r.effect.kind {
                EffectAst::Forbid => EffectKind::Forbid,
                EffectAst::Only => EffectKind::Only,
                EffectAst::Boost(_) | EffectAst::Penalize(_) => EffectKind::Boost,
            },
            has_when: r.when.is_some(),
        };
        let mut ok = true;
        match self.seen.get(&r.id.text) {
            Some((f, l, c)) => {
                let help = format!(
                    "the first rule `{}` is at {}:{l}:{c}; rule ids must be unique across all files of a bundle",
                    r.id.text,
                    f.display()
                );
                self.error(
                    &sc,
                    Code::RulesDuplicateId,
                    r.id.span,
                    format!("rule id `{}` is used twice", r.id.text),
                    "second use",
                )
                .help = Some(help);
                ok = false;
            }
            None => {
                self.seen
                    .insert(r.id.text.clone(), (path.to_owned(), line, column));
            }
        }
        if r.because.is_none() {
            self.warn(
                &sc,
                Code::RulesMissingBecause,
                r.id.span,
                format!("rule `{}` gives no reason", r.id.text),
                "no `because`",
            )
            .help = Some(
                "add `because \"...\"`: the reason is shown to agents and auditors when the rule applies"
                    .into(),
            );
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
        if let Some(c) = &cond {
            self.never_matches(c, r, &sc);
        }
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
                    format!("`{}` is too large for a score", n.text),
                    "not finite",
                );
                ok = false;
            }
        }
        let targets = self.targets(&r.effect.targets, &mut sc);
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
            cond_span: c_span(r),
            effect_span: r.effect.span,
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
                    Some(f) => {
                        sc.track_base = Some(set.clone());
                        let p = self.track_pred(f, sc);
                        sc.track_base = None;
                        Some(p?)
                    }
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
            format!("unknown track `{}`", id.text),
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
            format!("no track is tagged `{}`", tag.text),
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

    fn boolean(&mut self, e: &Expr, sc: &mut Scope) -> Option<TExpr> {
        let (t, ty) = self.expr(e, sc)?;
        if ty != Ty::Bool {
            let help = match &ty {
                Ty::Bare(w) => self.attr_hint(w),
                _ => Some("compare it with something, e.g. `customer.age < 18`".into()),
            };
            let msg = match &ty {
                Ty::Bare(w) => format!("unknown attribute `{w}`"),
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
                        if decl.optional && !sc.guards.contains(&(slot as u32)) {
                            let name = format!("{}.{}", head.text, attr.text);
                            self.warn(
                                sc,
                                Code::RulesUnguardedOptional,
                                span,
                                format!("fails closed when `{name}` is absent"),
                                "optional attribute read without `has`",
                            )
                            .help = Some(format!(
                                "guard it: `has {name} and ...`; without the guard the rule applies (forbids, restricts) whenever the request leaves it out"
                            ));
                        }
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
                            format!("unknown context attribute `{}`", attr.text),
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
                                if decl.optional && !sc.track_guards.contains(&(slot as u32)) {
                                    self.unguarded_track_attr(a, span, sc);
                                }
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
                                    format!("unknown track attribute `{a}`"),
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
                        .map(|c| format!("did you mean `{c}.{}`?", attr.text))
                } else {
                    None
                };
                self.error(
                    sc,
                    Code::RulesUnknownAttribute,
                    span,
                    format!("unknown attribute `{}`", whole.join(".")),
                    "unknown",
                )
                .help = hint.or(Some(
                    "attributes are `customer.<name>`, `track.<name>` (inside `tracks where`) or a builtin (`turn`, `turns_left`, `max_turns`, `now`, `last_reply`)".into(),
                ));
                None
            }
        }
    }

    /// Warns that a track predicate reads optional track attribute `name` without
    /// `has`, naming the targeted tracks that lack it and what the rule does to them.
    fn unguarded_track_attr(&mut self, name: &str, span: Span, sc: &Scope) {
        let lacking: Vec<&str> = self
            .env
            .catalog
            .tracks()
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                sc.track_base.as_ref().is_none_or(|b| b.contains(*i)) && !t.attrs.contains_key(name)
            })
            .map(|(_, t)| t.id.as_str())
            .collect();
        if lacking.is_empty() {
            return;
        }
        let n = lacking.len();
        let mut shown = lacking
            .iter()
            .take(3)
            .map(|id| format!("`{id}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if n > 3 {
            shown.push_str(", ...");
        }
        let (they, have) = if n == 1 {
            ("track has", "it is")
        } else {
            ("tracks have", "they are")
        };
        let when = if sc.has_when {
            "whenever its condition holds"
        } else {
            "on every request"
        };
        let consequence = match sc.effect {
            EffectKind::Forbid => format!("{have} forbidden by this rule {when}"),
            EffectKind::Only => format!("{have} left out by this rule {when}"),
            EffectKind::Boost => {
                format!("the rule cannot be evaluated for them and then changes no score {when}")
            }
        };
        let fix = match sc.effect {
            EffectKind::Forbid => format!(
                "guard the read with `has track.{name} and ...` to leave them allowed, or write `not has track.{name} or ...` to forbid them on purpose"
            ),
            EffectKind::Only => format!(
                "guard the read with `has track.{name} and ...` to leave them out on purpose, or write `not has track.{name} or ...` to keep them"
            ),
            EffectKind::Boost => format!(
                "guard the read with `has track.{name} and ...` so the tracks that set it still get it"
            ),
        };
        self.warn(
            sc,
            Code::RulesUnguardedTrackAttribute,
            span,
            format!("{n} {they} no `{name}` ({shown})"),
            "optional track attribute read without `has`",
        )
        .help = Some(format!("{consequence}; {fix}"));
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
                            sc.guards.push(u32::MAX);
                            let r = self.path(segs, e.span, sc);
                            sc.guards.pop();
                            r?;
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
            ExprKind::Not(inner) => {
                // `not has x` guards x in the other branches of an `or`, not below itself.
                (TExpr::Not(Box::new(self.boolean(inner, sc)?)), Ty::Bool)
            }
            ExprKind::And(parts) | ExprKind::Or(parts) => {
                let is_and = matches!(e.kind, ExprKind::And(_));
                let mark = sc.guards.len();
                let track_mark = sc.track_guards.len();
                for p in parts {
                    let guarded = match (&p.kind, is_and) {
                        (ExprKind::Has(s), true) => Some(s),
                        (ExprKind::Not(n), false) => match &n.kind {
                            ExprKind::Has(s) => Some(s),
                            _ => None,
                        },
                        _ => None,
                    };
                    if let Some([h, a]) = guarded.map(|s| &s[..]) {
                        if matches!(h.text.as_str(), "customer" | "context") {
                            if let Some(slot) = self.env.schema.slot(&a.text) {
                                sc.guards.push(slot as u32);
                            }
                        } else if h.text == "track" && sc.in_track {
                            if let Some(slot) = self.env.catalog.attr_schema().slot(&a.text) {
                                sc.track_guards.push(slot as u32);
                            }
                        }
                    }
                }
                let mut out = Vec::with_capacity(parts.len());
                let mut ok = true;
                for p in parts {
                    match self.boolean(p, sc) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                sc.guards.truncate(mark);
                sc.track_guards.truncate(track_mark);
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
                        format!("unknown attribute `{w}`"),
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

    /// Resolves a literal or bare word as a value of type `ty` (enum variant, reply, track id...).
    fn constant_as(&mut self, it: &Expr, ty: &Ty, lhs: &Span, sc: &Scope) -> Option<CVal> {
        let word = match &it.kind {
            ExprKind::Bare(w) => Some(w.as_str()),
            ExprKind::Path(segs) if segs.len() == 1 => segs.first().map(|s| s.text.as_str()),
            ExprKind::Str(s) => Some(s.as_str()),
            _ => None,
        };
        let is_str = matches!(it.kind, ExprKind::Str(_));
        let _ = lhs;
        match (ty, &it.kind, word) {
            (Ty::Enum(vs), _, Some(w)) => match vs.iter().position(|v| v == w) {
                Some(i) => Some(CVal::Enum(i as u32)),
                None => {
                    let hint = did_you_mean(w, vs.iter().map(String::as_str))
                        .unwrap_or_else(|| format!("the variants are: {}", vs.join(", ")));
                    self.error(
                        sc,
                        Code::RulesUnknownVariant,
                        it.span,
                        format!("`{w}` is not a variant of this enum"),
                        "unknown variant",
                    )
                    .help = Some(hint);
                    None
                }
            },
            (Ty::Reply, _, Some(w)) => match self.env.replies.iter().position(|v| v == w) {
                Some(i) => Some(CVal::Enum(i as u32)),
                None => {
                    let hint = did_you_mean(w, self.env.replies.iter().map(String::as_str))
                        .unwrap_or_else(|| {
                            format!("the reply categories are: {}", self.env.replies.join(", "))
                        });
                    self.error(
                        sc,
                        Code::RulesUnknownReply,
                        it.span,
                        format!("unknown reply category `{w}`"),
                        "not in the reply vocabulary",
                    )
                    .help = Some(hint);
                    None
                }
            },
            (Ty::TrackId, _, Some(w)) => {
                let n = Name {
                    text: w.to_owned(),
                    span: it.span,
                };
                self.track(&n, sc).map(CVal::Enum)
            }
            (Ty::Str, _, Some(w)) if is_str => Some(CVal::Str(w.into())),
            (Ty::Int, ExprKind::Int(i), _) => Some(CVal::Int(*i)),
            (Ty::Int | Ty::Float, ExprKind::Float(x, _), _) => Some(CVal::Float(*x)),
            (Ty::Float, ExprKind::Int(i), _) => Some(CVal::Float(*i as f64)),
            (Ty::Dur, ExprKind::Duration(d, _), _) => Some(CVal::Dur(*d)),
            (Ty::Bool, ExprKind::Bool(b), _) => Some(CVal::Bool(*b)),
            _ => {
                let found = match &it.kind {
                    ExprKind::Bare(w) => format!("`{w}`"),
                    ExprKind::Path(s) if s.len() == 1 => format!("`{}`", s[0].text),
                    ExprKind::Str(s) => format!("the string \"{s}\""),
                    ExprKind::Int(_) => "an int".into(),
                    ExprKind::Float(..) => "a float".into(),
                    ExprKind::Duration(..) => "a duration".into(),
                    ExprKind::Bool(_) => "a bool".into(),
                    _ => "an expression".into(),
                };
                let help = match (ty, &it.kind) {
                    (Ty::Str, ExprKind::Bare(_) | ExprKind::Path(_)) => {
                        word.map(|w| format!("write strings in double quotes: \"{w}\""))
                    }
                    _ => None,
                };
                self.error(
                    sc,
                    Code::RulesTypeMismatch,
                    it.span,
                    format!("expected {} value here, found {found}", ty.a()),
                    "wrong type",
                )
                .help = help;
                None
            }
        }
    }

    fn compare(
        &mut self,
        op: CmpOp,
        a: &Expr,
        b: &Expr,
        span: Span,
        sc: &mut Scope,
    ) -> Option<(TExpr, Ty)> {
        let (ta, tya) = self.expr(a, sc)?;
        let (tb, tyb) = self.expr(b, sc)?;
        let eq_only = matches!(op, CmpOp::Eq | CmpOp::Ne);
        // A bare word or string against an enum, reply or track id is resolved to its index.
        let resolvable = |t: &Ty| matches!(t, Ty::Enum(_) | Ty::Reply | Ty::TrackId);
        let literal_word =
            |e: &Expr, t: &Ty| matches!(t, Ty::Bare(_)) || matches!(e.kind, ExprKind::Str(_));
        let bare_err = |this: &mut Self, sc: &Scope, e: &Expr, w: &str| {
            let h = this.attr_hint(w);
            this.error(
                sc,
                Code::RulesUnknownAttribute,
                e.span,
                format!("unknown attribute `{w}`"),
                "unknown",
            )
            .help = h;
        };
        let (ta, tb) = if resolvable(&tya) && literal_word(b, &tyb) {
            let c = self.constant_as(b, &tya, &a.span, sc)?;
            (ta, TExpr::Const(c))
        } else if resolvable(&tyb) && literal_word(a, &tya) {
            let c = self.constant_as(a, &tyb, &b.span, sc)?;
            (TExpr::Const(c), tb)
        } else {
            for (x, other, e) in [(&tya, &tyb, a), (&tyb, &tya, b)] {
                if let (Ty::Bare(w), Ty::Str) = (x, other) {
                    if self.attr_hint(w).is_none() {
                        self.error(
                            sc,
                            Code::RulesTypeMismatch,
                            e.span,
                            format!("`{w}` is neither an attribute nor a string"),
                            "bare word",
                        )
                        .help = Some(format!("write strings in double quotes: \"{w}\""));
                        return None;
                    }
                }
            }
            if let Ty::Bare(w) = &tya {
                bare_err(self, sc, a, w);
                return None;
            }
            if let Ty::Bare(w) = &tyb {
                bare_err(self, sc, b, w);
                return None;
            }
            let fine = match (&tya, &tyb) {
                (x, y) if x.numeric() && y.numeric() => true,
                (Ty::Time, Ty::Time) | (Ty::Dur, Ty::Dur) => true,
                (Ty::Str, Ty::Str)
                | (Ty::Bool, Ty::Bool)
                | (Ty::Reply, Ty::Reply)
                | (Ty::TrackId, Ty::TrackId) => eq_only,
                (Ty::Enum(x), Ty::Enum(y)) => eq_only && x == y,
                _ => false,
            };
            if !fine {
                let msg = if tya == tyb || (tya.numeric() == tyb.numeric() && tya.numeric()) {
                    format!("`{}` cannot order {} values", op.as_str(), tya.name())
                } else {
                    format!("cannot compare {} with {}", tya.a(), tyb.a())
                };
                let help = match (&tya, &tyb) {
                    (Ty::Enum(vs), _) | (_, Ty::Enum(vs)) => Some(format!(
                        "an enum compares with `==`, `!=` or `in` against one of: {}",
                        vs.join(", ")
                    )),
                    (Ty::Time, Ty::Dur) | (Ty::Dur, Ty::Time) => Some(
                        "compare the age of a timestamp: `now - customer.last_purchase < 14d`"
                            .into(),
                    ),
                    (Ty::Set, _) | (_, Ty::Set) => Some(
                        "test membership with `contains`: `customer.products contains \"fiber\"`"
                            .into(),
                    ),
                    (n, Ty::Str) | (Ty::Str, n) if n.numeric() => {
                        Some("write numbers without quotes: `customer.age == 18`".into())
                    }
                    _ => None,
                };
                self.error(sc, Code::RulesTypeMismatch, span, msg, "type mismatch")
                    .help = help;
                return None;
            }
            (ta, tb)
        };
        if let (TExpr::Ctx(x, _), TExpr::Ctx(y, _)) = (&ta, &tb) {
            if x == y {
                let always = matches!(op, CmpOp::Eq | CmpOp::Le | CmpOp::Ge);
                self.warn(
                    sc,
                    Code::RulesSelfCompare,
                    span,
                    format!(
                        "compares `customer.{}` with itself, which is always {}",
                        self.env
                            .schema
                            .attrs()
                            .get(*x as usize)
                            .map(|d| d.name.as_str())
                            .unwrap_or("?"),
                        if always { "true" } else { "false" }
                    ),
                    "same attribute on both sides",
                );
            }
        }
        Some((TExpr::Cmp(op, Box::new(ta), Box::new(tb)), Ty::Bool))
    }

    /// Warns when a condition's bounds on one quantity contradict each other or the
    /// builtin ranges (`turns_left < 0`, `customer.age < 18 and customer.age > 65`).
    fn never_matches(&mut self, c: &TExpr, r: &RuleDef, sc: &Scope) {
        let mut conj: Vec<&TExpr> = Vec::new();
        match c {
            TExpr::And(v) => conj.extend(v.iter()),
            other => conj.push(other),
        }
        let max = f64::from(self.env.max_turns);
        let mut bounds: Vec<(String, f64, bool, f64, bool)> = Vec::new();
        let mut dead = matches!(c, TExpr::Const(CVal::Bool(false)));
        let mut builtin = false;
        for leaf in conj {
            let TExpr::Cmp(op, a, b) = leaf else { continue };
            let (key, op, k) = match (&**a, &**b) {
                (x, TExpr::Const(k)) => (quantity(x), *op, num(k)),
                (TExpr::Const(k), x) => (quantity(x), op.flip(), num(k)),
                _ => continue,
            };
            let (Some(key), Some(k)) = (key, k) else {
                continue;
            };
            let idx = match bounds.iter().position(|b| b.0 == key) {
                Some(i) => i,
                None => {
                    // A host may keep a conversation going past `max_turns` (a hard-stop
                    // rule such as `when turn >= max_turns forbid all tracks` is how a
                    // bundle ends it), so `turn` has no upper bound and `turns_left`
                    // reaches 0.
                    let init = match key.as_str() {
                        "turn" => (0.0, true, f64::from(u32::MAX), true),
                        "turns_left" => (0.0, true, max, true),
                        k if k.starts_with("count") => (0.0, true, f64::from(u16::MAX), true),
                        _ => (f64::NEG_INFINITY, true, f64::INFINITY, true),
                    };
                    bounds.push((key, init.0, init.1, init.2, init.3));
                    bounds.len() - 1
                }
            };
            let b = &mut bounds[idx];
            let mut lower = |v: f64, incl: bool| {
                if v > b.1 || (v == b.1 && !incl) {
                    b.1 = v;
                    b.2 = incl;
                }
            };
            match op {
                CmpOp::Gt => lower(k, false),
                CmpOp::Ge => lower(k, true),
                CmpOp::Eq => lower(k, true),
                _ => {}
            }
            let mut upper = |v: f64, incl: bool| {
                if v < b.3 || (v == b.3 && !incl) {
                    b.3 = v;
                    b.4 = incl;
                }
            };
            match op {
                CmpOp::Lt => upper(k, false),
                CmpOp::Le => upper(k, true),
                CmpOp::Eq => upper(k, true),
                _ => {}
            }
            if b.1 > b.3 || (b.1 == b.3 && !(b.2 && b.4)) {
                dead = true;
                builtin |= b.0.starts_with("turn") || b.0.starts_with("count");
            }
        }
        if dead {
            self.warn(
                sc,
                Code::RulesNeverMatches,
                c_span(r),
                format!("rule `{}` can never match", r.id.text),
                "this condition is never true",
            )
            .help = Some(if builtin {
                format!(
                    "`turn` counts up from 0 and `turns_left` from {} down to 0 (it stays 0 once `turn` reaches `max_turns`)",
                    self.env.max_turns
                )
            } else {
                "the bounds on the same value contradict each other".to_owned()
            });
        }
    }
}

fn c_span(r: &RuleDef) -> Span {
    r.when.as_ref().map(|w| w.span).unwrap_or(r.id.span)
}

fn quantity(e: &TExpr) -> Option<String> {
    match e {
        TExpr::Ctx(s, ValKind::Num) => Some(format!("ctx{s}")),
        TExpr::Turn => Some("turn".into()),
        TExpr::TurnsLeft => Some("turns_left".into()),
        TExpr::Count(v) => Some(format!("count{v:?}")),
        _ => None,
    }
}

fn num(c: &CVal) -> Option<f64> {
    match c {
        CVal::Int(i) => Some(*i as f64),
        CVal::Float(x) => Some(*x),
        _ => None,
    }
}
