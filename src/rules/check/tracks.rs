//! What rules say about tracks: effect targets (ids, tags, `tracks where`),
//! track ids and tags looked up in the catalog, and `contacts(..)` queries with
//! their products and outcomes. Its own file because these resolve against the
//! catalog and the bundle's outcomes, not the context schema.

use super::{Checker, Scope};
use crate::problem::Code;
use crate::rules::ast::*;
use crate::rules::suggest::{clip, did_you_mean};
use crate::rules::typed::{ContactQuery, TExpr, TTargets};
use crate::trackset::TrackSet;

impl Checker<'_> {
    pub(super) fn targets(&mut self, t: &Targets, sc: &mut Scope) -> Option<TTargets> {
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

    pub(super) fn track(&mut self, id: &Name, sc: &Scope) -> Option<u32> {
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

    pub(super) fn tag(&mut self, tag: &Name, sc: &Scope) -> Option<TrackSet> {
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

    pub(super) fn hist_tracks(&mut self, h: &HistArg, sc: &Scope) -> Option<Box<[u32]>> {
        match h {
            HistArg::Track(n) => self.track(n, sc).map(|i| vec![i].into()),
            HistArg::Tagged(t) => self
                .tag(t, sc)
                .map(|s| s.iter().map(|i| i as u32).collect()),
        }
    }

    /// `contacts(..)`: the filter's tracks, the outcomes and the window, resolved.
    pub(super) fn contacts(&mut self, c: &ContactsCall, sc: &Scope) -> Option<ContactQuery> {
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
            text: crate::rules::fmt::contacts(c).into(),
        })
    }
}
