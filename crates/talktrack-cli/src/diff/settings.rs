//! The settings two bundles may differ in: fallback, `max_turns`, the context
//! schema and track attribute declarations, replies, contact outcomes, and the
//! catalog (tracks, their tags, product and attributes).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use talktrack::tooling::{AttrSpec, BundleTemplate, Track};

/// A value before and after.
#[derive(Serialize)]
pub(crate) struct Change<T: Serialize> {
    pub old: T,
    pub new: T,
}

/// Names added to and removed from a list.
#[derive(Serialize, Default)]
pub(crate) struct Names {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Names {
    fn of<'a>(
        old: impl IntoIterator<Item = &'a String>,
        new: impl IntoIterator<Item = &'a String>,
    ) -> Self {
        let old: BTreeSet<&String> = old.into_iter().collect();
        let new: BTreeSet<&String> = new.into_iter().collect();
        Self {
            added: new.difference(&old).map(|s| (*s).clone()).collect(),
            removed: old.difference(&new).map(|s| (*s).clone()).collect(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// An attribute declaration added, removed or changed (`None`: absent on that side).
#[derive(Serialize)]
pub(crate) struct AttrChange {
    pub name: String,
    pub old: Option<AttrSpec>,
    pub new: Option<AttrSpec>,
}

/// One track attribute value before and after (`None`: not set).
#[derive(Serialize)]
pub(crate) struct ValueChange {
    pub name: String,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
}

/// What changed in a track both catalogs have (its text aside: rules do not read it).
#[derive(Serialize)]
pub(crate) struct TrackChange {
    pub id: String,
    pub tags: Names,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<Change<Option<String>>>,
    pub attrs: Vec<ValueChange>,
}

/// Tracks added, removed and changed.
#[derive(Serialize, Default)]
pub(crate) struct Tracks {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<TrackChange>,
}

/// Every setting that differs.
#[derive(Serialize)]
pub(crate) struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Change<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<Change<u32>>,
    /// `[context]` attributes.
    pub context: Vec<AttrChange>,
    /// `[track_attributes]` declarations.
    pub track_attributes: Vec<AttrChange>,
    pub replies: Names,
    pub contact_outcomes: Names,
    pub tracks: Tracks,
}

impl Settings {
    /// Whether nothing differs.
    pub(crate) fn is_empty(&self) -> bool {
        self.fallback.is_none()
            && self.max_turns.is_none()
            && self.context.is_empty()
            && self.track_attributes.is_empty()
            && self.replies.is_empty()
            && self.contact_outcomes.is_empty()
            && self.tracks.added.is_empty()
            && self.tracks.removed.is_empty()
            && self.tracks.changed.is_empty()
    }
}

/// Two specs mean the same declaration (`"int"` and `{ type = "int" }` do).
fn same_spec(a: &AttrSpec, b: &AttrSpec) -> bool {
    let json = |s: &AttrSpec| match s {
        AttrSpec::Short(t) => {
            serde_json::json!({ "type": t, "values": [], "optional": false, "protected": false })
        }
        AttrSpec::Long(_) => serde_json::to_value(s).unwrap_or_default(),
    };
    json(a) == json(b)
}

fn attrs(old: &BTreeMap<String, AttrSpec>, new: &BTreeMap<String, AttrSpec>) -> Vec<AttrChange> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter_map(|n| {
            let (o, w) = (old.get(n), new.get(n));
            match (o, w) {
                (Some(a), Some(b)) if same_spec(a, b) => None,
                _ => Some(AttrChange {
                    name: n.clone(),
                    old: o.cloned(),
                    new: w.cloned(),
                }),
            }
        })
        .collect()
}

fn track_change(o: &Track, n: &Track) -> Option<TrackChange> {
    let tags = Names::of(&o.tags, &n.tags);
    let product = (o.product != n.product).then(|| Change {
        old: o.product.clone(),
        new: n.product.clone(),
    });
    let keys: BTreeSet<&String> = o.attrs.keys().chain(n.attrs.keys()).collect();
    let value = |v: Option<&talktrack::Value>| v.and_then(|v| serde_json::to_value(v).ok());
    let attrs: Vec<ValueChange> = keys
        .into_iter()
        .filter(|k| o.attrs.get(*k) != n.attrs.get(*k))
        .map(|k| ValueChange {
            name: k.clone(),
            old: value(o.attrs.get(k)),
            new: value(n.attrs.get(k)),
        })
        .collect();
    (!tags.is_empty() || product.is_some() || !attrs.is_empty()).then(|| TrackChange {
        id: n.id.clone(),
        tags,
        product,
        attrs,
    })
}

/// The settings of `old` and `new` that differ.
pub(crate) fn compare(old: &BundleTemplate, new: &BundleTemplate) -> Settings {
    let (om, nm) = (old.manifest(), new.manifest());
    let ot = old.catalog().tracks();
    let nt = new.catalog().tracks();
    let tracks = Tracks {
        added: nt
            .iter()
            .filter(|t| old.catalog().index(&t.id).is_none())
            .map(|t| t.id.clone())
            .collect(),
        removed: ot
            .iter()
            .filter(|t| new.catalog().index(&t.id).is_none())
            .map(|t| t.id.clone())
            .collect(),
        changed: nt
            .iter()
            .filter_map(|n| {
                let o = old.catalog().track(old.catalog().index(&n.id)?)?;
                track_change(o, n)
            })
            .collect(),
    };
    Settings {
        fallback: (om.fallback != nm.fallback).then(|| Change {
            old: om.fallback.clone(),
            new: nm.fallback.clone(),
        }),
        max_turns: (om.max_turns != nm.max_turns).then_some(Change {
            old: om.max_turns,
            new: nm.max_turns,
        }),
        context: attrs(&om.context, &nm.context),
        track_attributes: attrs(&om.track_attributes, &nm.track_attributes),
        replies: Names::of(&om.replies, &nm.replies),
        contact_outcomes: Names::of(&om.contact_outcomes, &nm.contact_outcomes),
        tracks,
    }
}

/// A declaration as a person writes it: `int`, `{ type = "int", min = 0 }`.
pub(crate) fn spec_text(s: &AttrSpec) -> String {
    match s {
        AttrSpec::Short(t) => t.clone(),
        AttrSpec::Long(l) => {
            let mut parts = vec![format!("type = {:?}", l.ty)];
            if !l.values.is_empty() {
                parts.push(format!("values = {:?}", l.values));
            }
            if l.optional {
                parts.push("optional = true".into());
            }
            if l.protected {
                parts.push("protected = true".into());
            }
            if let Some(m) = &l.min {
                parts.push(format!("min = {m}"));
            }
            if let Some(m) = &l.max {
                parts.push(format!("max = {m}"));
            }
            format!("{{ {} }}", parts.join(", "))
        }
    }
}
