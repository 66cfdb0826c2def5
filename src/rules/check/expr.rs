//! Expressions checked and typed: conditions, literals, `has`, history
//! functions, `and`/`or`/`not`, `in` lists, `contains` and arithmetic
//! (comparisons are in `compare.rs`).

use super::types::Ty;
use super::{Checker, Scope};
use crate::problem::Code;
use crate::rules::ast::*;
use crate::rules::suggest::clip;
use crate::rules::typed::{CVal, TExpr};

impl Checker<'_> {
    pub(super) fn boolean(&mut self, e: &Expr, sc: &mut Scope) -> Option<TExpr> {
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

    pub(super) fn expr(&mut self, e: &Expr, sc: &mut Scope) -> Option<(TExpr, Ty)> {
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
