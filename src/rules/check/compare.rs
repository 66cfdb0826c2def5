//! Checking comparisons: which types compare with which, and literals or bare
//! words resolved against the type they are compared with (an enum variant, a
//! reply category, a track id).

use super::types::Ty;
use super::{Checker, Scope};
use crate::problem::Code;
use crate::rules::ast::*;
use crate::rules::suggest::{clip, did_you_mean};
use crate::rules::typed::{CVal, TExpr};

impl Checker<'_> {
    /// Resolves a literal or bare word as a value of type `ty` (enum variant, reply, track id...).
    pub(super) fn constant_as(
        &mut self,
        it: &Expr,
        ty: &Ty,
        lhs: &Span,
        sc: &Scope,
    ) -> Option<CVal> {
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
                        format!("`{}` is not a variant of this enum", clip(w)),
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
                        format!("unknown reply category `{}`", clip(w)),
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
                    ExprKind::Bare(w) => format!("`{}`", clip(w)),
                    ExprKind::Path(s) if s.len() == 1 => format!("`{}`", clip(&s[0].text)),
                    ExprKind::Str(s) => format!("the string \"{}\"", clip(s)),
                    ExprKind::Int(_) => "an int".into(),
                    ExprKind::Float(..) => "a float".into(),
                    ExprKind::Duration(..) => "a duration".into(),
                    ExprKind::Bool(_) => "a bool".into(),
                    _ => "an expression".into(),
                };
                let help = match (ty, &it.kind) {
                    (Ty::Str, ExprKind::Bare(_) | ExprKind::Path(_)) => {
                        word.map(|w| format!("write strings in double quotes: \"{}\"", clip(w)))
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

    pub(super) fn compare(
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
                format!("unknown attribute `{}`", clip(w)),
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
                            format!("`{}` is neither an attribute nor a string", clip(w)),
                            "bare word",
                        )
                        .help = Some(format!("write strings in double quotes: \"{}\"", clip(w)));
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
        Some((TExpr::Cmp(op, Box::new(ta), Box::new(tb)), Ty::Bool))
    }
}
