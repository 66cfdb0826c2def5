//! Attribute paths (`customer.<name>`, `track.<name>`, the builtins) resolved to
//! schema slots, with the hints an unknown name gets. Its own file because it
//! is where rules meet the context schema and the catalog's track attributes.

use super::types::Ty;
use super::{Checker, Scope};
use crate::problem::Code;
use crate::rules::ast::*;
use crate::rules::suggest::{clip, closest, did_you_mean};
use crate::rules::typed::{CVal, TExpr, ValKind};

const BUILTINS: [&str; 5] = ["turn", "turns_left", "max_turns", "now", "last_reply"];

impl Checker<'_> {
    pub(super) fn attr_hint(&self, w: &str) -> Option<String> {
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

    pub(super) fn path(&mut self, segs: &[Name], span: Span, sc: &Scope) -> Option<(TExpr, Ty)> {
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
}
