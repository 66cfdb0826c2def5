//! Lints: likely mistakes in rules that are well-formed and well-typed — a rule
//! without a reason, an optional attribute read without `has`, an optional track
//! attribute some targeted tracks do not set, an attribute compared with itself,
//! a division by a literal zero, bounds that contradict each other. A pass of its
//! own over each rule, after the type checker (`check.rs`); every lint is a
//! warning, so it never rejects a bundle.

use crate::problem::Code;
use std::path::Path;
use std::sync::Arc;

use miette::NamedSource;

use super::ast::*;
use super::suggest::clip;
use super::{EffectKind, RuleEnv};
use crate::problem::Problem;
use crate::trackset::TrackSet;

/// The guard `has track.product` pushes (track attribute slots are below it).
const PRODUCT: u32 = u32::MAX;

/// Where a lint walk stands in a condition.
#[derive(Default)]
struct Ctx {
    /// Inside a track predicate (`track.<attr>` reads the track under test).
    in_track: bool,
    /// Optional context slots a surrounding `has` guards.
    guards: Vec<u32>,
    /// Optional track attribute slots a surrounding `has track.<name>` guards.
    track_guards: Vec<u32>,
    /// The tracks a `tracks tagged ... where` predicate is tested on (`None`: all).
    track_base: Option<TrackSet>,
}

/// Lints one rule. (Whether its condition can ever hold is the static analysis'
/// question, `analyze::never-fires`, asked by `talktrack check` and `analyze`.)
///
/// Returns whether some request can leave the rule unevaluable, so that it fails
/// closed: it reads an optional context attribute without `has`, a track attribute
/// or product some targeted track lacks without `has`, counts `contacts(tagged ..)`
/// or `contacts(product ..)` (a retired track's contact), or divides by anything
/// but a non-zero literal. Arithmetic overflow is left out: no realistic request
/// reaches it.
pub(super) fn lint_rule(
    env: RuleEnv<'_>,
    r: &RuleDef,
    path: &Path,
    src: &Arc<NamedSource<String>>,
    out: &mut Vec<Problem>,
) -> bool {
    let mut l = Lints {
        env,
        path,
        src,
        out,
        effect: match r.effect.kind {
            EffectAst::Forbid => EffectKind::Forbid,
            EffectAst::Only => EffectKind::Only,
            EffectAst::Boost(_) | EffectAst::Penalize(_) => EffectKind::Boost,
        },
        has_when: r.when.is_some(),
        may_fail: false,
    };
    if r.because.is_none() {
        l.warn(
            Code::RulesMissingBecause,
            r.id.span,
            format!("rule `{}` gives no reason", clip(&r.id.text)),
            "no `because`",
        )
        .help = Some(
            "add `because \"...\"`: the reason is shown to agents and auditors when the rule applies"
                .into(),
        );
    }
    if let Some(w) = &r.when {
        l.walk(w, &mut Ctx::default());
    }
    match &r.effect.targets {
        Targets::Tagged {
            tags,
            filter: Some(f),
        } => {
            let cat = env.catalog;
            let mut base = TrackSet::empty(cat.len());
            for t in tags {
                if let Some(s) = cat.tagged(&t.text) {
                    base.union_with(s);
                }
            }
            let mut ctx = Ctx {
                in_track: true,
                track_base: Some(base),
                ..Ctx::default()
            };
            l.walk(f, &mut ctx);
        }
        Targets::Where(f) => l.walk(
            f,
            &mut Ctx {
                in_track: true,
                ..Ctx::default()
            },
        ),
        _ => {}
    }
    l.may_fail
}

struct Lints<'e, 'o> {
    env: RuleEnv<'e>,
    path: &'o Path,
    src: &'o Arc<NamedSource<String>>,
    out: &'o mut Vec<Problem>,
    /// What the rule does, for the consequences a warning spells out.
    effect: EffectKind,
    /// Whether the rule has a `when` condition.
    has_when: bool,
    /// Whether some request can leave the rule unevaluable (see [`lint_rule`]).
    may_fail: bool,
}

impl Lints<'_, '_> {
    /// Records a warning and hands it back for a hint to be added.
    fn warn(&mut self, code: Code, at: Span, msg: String, label: &str) -> &mut Problem {
        self.out
            .push(Problem::warning(code, self.path, msg).at(self.src, at.pair(), label));
        let n = self.out.len() - 1;
        &mut self.out[n]
    }

    /// Visits `e` in the order the checker does: operands before the operator.
    fn walk(&mut self, e: &Expr, ctx: &mut Ctx) {
        match &e.kind {
            ExprKind::Path(segs) => self.read(segs, e.span, ctx),
            ExprKind::Not(x) => self.walk(x, ctx),
            ExprKind::And(parts) | ExprKind::Or(parts) => {
                let is_and = matches!(e.kind, ExprKind::And(_));
                let mark = ctx.guards.len();
                let track_mark = ctx.track_guards.len();
                // `has x` guards x in the other operands of an `and`; `not has x`
                // in the other operands of an `or` (not below itself).
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
                                ctx.guards.push(slot as u32);
                            }
                        } else if h.text == "track" && ctx.in_track && a.text == "product" {
                            ctx.track_guards.push(PRODUCT);
                        } else if h.text == "track" && ctx.in_track {
                            if let Some(slot) = self.env.catalog.attr_schema().slot(&a.text) {
                                ctx.track_guards.push(slot as u32);
                            }
                        }
                    }
                }
                for p in parts {
                    self.walk(p, ctx);
                }
                ctx.guards.truncate(mark);
                ctx.track_guards.truncate(track_mark);
            }
            ExprKind::Cmp(op, a, b) => {
                self.walk(a, ctx);
                self.walk(b, ctx);
                self.self_compare(*op, a, b, e.span);
            }
            ExprKind::In { value, .. } => self.walk(value, ctx),
            ExprKind::Contains(a, b) => {
                self.walk(a, ctx);
                self.walk(b, ctx);
            }
            ExprKind::Arith(op, a, b) => {
                self.walk(a, ctx);
                self.walk(b, ctx);
                if *op == ArithOp::Div {
                    let nonzero = matches!(b.kind, ExprKind::Int(k) if k != 0)
                        || matches!(b.kind, ExprKind::Float(x, _) if x != 0.0);
                    self.may_fail |= !nonzero;
                    self.division_by_zero(b);
                }
            }
            ExprKind::Contacts(c) => {
                self.may_fail |= !matches!(c.filter, ContactFilter::Track(_));
            }
            _ => {}
        }
    }

    /// Warns about an optional context or track attribute read without `has`.
    fn read(&mut self, segs: &[Name], span: Span, ctx: &Ctx) {
        let [head, attr] = segs else { return };
        match head.text.as_str() {
            "customer" | "context" => {
                let schema = self.env.schema;
                let Some(slot) = schema.slot(&attr.text) else {
                    return;
                };
                if schema.attrs()[slot].optional && !ctx.guards.contains(&(slot as u32)) {
                    self.may_fail = true;
                    let name = format!("{}.{}", head.text, attr.text);
                    self.warn(
                        Code::RulesUnguardedOptional,
                        span,
                        format!("fails closed when `{name}` is absent"),
                        "optional attribute read without `has`",
                    )
                    .help = Some(format!(
                        "guard it: `has {name} and ...`; without the guard the rule applies (forbids, restricts) whenever the request leaves it out"
                    ));
                }
            }
            "track" if ctx.in_track => {
                let a = attr.text.as_str();
                if a == "product" && !ctx.track_guards.contains(&PRODUCT) {
                    self.may_fail |= self.env.catalog.tracks().iter().enumerate().any(|(i, t)| {
                        ctx.track_base.as_ref().is_none_or(|b| b.contains(i)) && t.product.is_none()
                    });
                }
                if matches!(a, "id" | "product") {
                    return;
                }
                let schema = self.env.catalog.attr_schema();
                let Some(slot) = schema.slot(a) else { return };
                if schema.attrs()[slot].optional && !ctx.track_guards.contains(&(slot as u32)) {
                    self.unguarded_track_attr(a, span, ctx);
                }
            }
            _ => {}
        }
    }

    /// Warns about `customer.x <op> customer.x`, which is always true or always false.
    fn self_compare(&mut self, op: CmpOp, a: &Expr, b: &Expr, span: Span) {
        let slot = |e: &Expr| match &e.kind {
            ExprKind::Path(segs) => match &segs[..] {
                [h, attr] if matches!(h.text.as_str(), "customer" | "context") => {
                    self.env.schema.slot(&attr.text)
                }
                _ => None,
            },
            _ => None,
        };
        let (Some(x), Some(y)) = (slot(a), slot(b)) else {
            return;
        };
        if x != y {
            return;
        }
        let always = matches!(op, CmpOp::Eq | CmpOp::Le | CmpOp::Ge);
        let name = self
            .env
            .schema
            .attrs()
            .get(x)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| "?".into());
        self.warn(
            Code::RulesSelfCompare,
            span,
            format!(
                "compares `customer.{name}` with itself, which is always {}",
                if always { "true" } else { "false" }
            ),
            "same attribute on both sides",
        );
    }

    /// Warns about a division by a literal zero: the rule always fails closed.
    fn division_by_zero(&mut self, divisor: &Expr) {
        let zero = matches!(divisor.kind, ExprKind::Int(0))
            || matches!(divisor.kind, ExprKind::Float(x, _) if x == 0.0);
        if !zero {
            return;
        }
        let effect = self.effect;
        self.warn(
            Code::RulesDivisionByZero,
            divisor.span,
            "division by zero".into(),
            "divides by zero",
        )
        .help = Some(format!(
            "this can never be evaluated, so the rule always fails closed ({})",
            match effect {
                EffectKind::Forbid => "it forbids its tracks",
                EffectKind::Only => "it restricts to its tracks",
                EffectKind::Boost => "its boost is never applied",
            }
        ));
    }

    /// Warns that a track predicate reads optional track attribute `name` without
    /// `has`, naming the targeted tracks that lack it and what the rule does to them.
    fn unguarded_track_attr(&mut self, name: &str, span: Span, ctx: &Ctx) {
        let lacking: Vec<&str> = self
            .env
            .catalog
            .tracks()
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                ctx.track_base.as_ref().is_none_or(|b| b.contains(*i))
                    && !t.attrs.contains_key(name)
            })
            .map(|(_, t)| t.id.as_str())
            .collect();
        if lacking.is_empty() {
            return;
        }
        self.may_fail = true;
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
        let when = if self.has_when {
            "whenever its condition holds"
        } else {
            "on every request"
        };
        let consequence = match self.effect {
            EffectKind::Forbid => format!("{have} forbidden by this rule {when}"),
            EffectKind::Only => format!("{have} left out by this rule {when}"),
            EffectKind::Boost => {
                format!("the rule cannot be evaluated for them and then changes no score {when}")
            }
        };
        let fix = match self.effect {
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
            Code::RulesUnguardedTrackAttribute,
            span,
            format!("{n} {they} no `{name}` ({shown})"),
            "optional track attribute read without `has`",
        )
        .help = Some(format!("{consequence}; {fix}"));
    }
}
