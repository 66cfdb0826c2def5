//! The catalog of talk tracks a bundle offers: ids, text templates, tags,
//! products and typed track attributes.
//!
//! Track order is the policy's output order: track `i` gets score `i`.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use crate::name_table::NameIndex;

use serde::{Deserialize, Serialize};

use crate::context::{AttrDecl, AttrType, Schema, Val, Value};
use crate::trackset::TrackSet;

/// One talk track as the manifest declares it (unknown keys rejected: a `tag`
/// written for `tags` would silently leave a track out of the rules that target it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    /// Unique id, used in rules, requests and decisions.
    pub id: String,
    /// Text template; `{name}` is replaced by the context attribute `name`.
    #[serde(default)]
    pub text: String,
    /// Tags rules can target (`forbid tracks tagged credit`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Product the track sells, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Typed attributes declared in the bundle's `[track_attributes]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, Value>,
}

/// The tracks of a bundle, indexed for rules and decisions.
#[derive(Clone, Debug)]
pub struct Catalog {
    tracks: Vec<Track>,
    by_id: NameIndex,
    tags: BTreeMap<String, TrackSet>,
    attr_schema: Schema,
    /// `columns[attr_slot][track]`: the track attribute values, `None` where a track leaves it out.
    columns: Vec<Vec<Option<Value>>>,
}

/// Why a catalog could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// No track at all.
    #[error("the catalog has no tracks")]
    Empty,
    /// A track id appears twice.
    #[error("track id `{id}` is declared twice")]
    DuplicateId {
        /// The repeated id.
        id: String,
        /// Position of the later track in the catalog.
        index: usize,
    },
    /// A track attribute is declared twice.
    #[error("track attribute `{0}` is declared twice")]
    DuplicateAttr(String),
    /// An attribute a track sets is not declared.
    #[error("track `{track}` sets undeclared attribute `{attr}`")]
    UnknownAttr {
        /// Track id.
        track: String,
        /// Position of the track in the catalog.
        index: usize,
        /// Attribute name.
        attr: String,
    },
    /// A track attribute of the wrong type.
    #[error("track `{track}` attribute `{attr}` must be {expected}")]
    AttrType {
        /// Track id.
        track: String,
        /// Position of the track in the catalog.
        index: usize,
        /// Attribute name.
        attr: String,
        /// Declared type.
        expected: String,
    },
    /// A required track attribute is missing.
    #[error("track `{track}` lacks required attribute `{attr}`")]
    MissingAttr {
        /// Track id.
        track: String,
        /// Position of the track in the catalog.
        index: usize,
        /// Attribute name.
        attr: String,
    },
}

impl Catalog {
    /// Indexes `tracks`, checking ids and attributes against `attr_decls`.
    pub fn new(tracks: Vec<Track>, attr_decls: Vec<AttrDecl>) -> Result<Self, Vec<CatalogError>> {
        let mut errors = Vec::new();
        if tracks.is_empty() {
            errors.push(CatalogError::Empty);
        }
        let attr_schema = match Schema::new(attr_decls) {
            Ok(s) => s,
            Err(name) => {
                errors.push(CatalogError::DuplicateAttr(name));
                Schema::default()
            }
        };
        let mut seen: HashMap<&str, ()> = HashMap::default();
        let mut tags: BTreeMap<String, TrackSet> = BTreeMap::new();
        let mut columns = vec![vec![None; tracks.len()]; attr_schema.len()];
        for (i, t) in tracks.iter().enumerate() {
            if seen.insert(t.id.as_str(), ()).is_some() {
                errors.push(CatalogError::DuplicateId {
                    id: t.id.clone(),
                    index: i,
                });
            }
            for tag in &t.tags {
                tags.entry(tag.clone())
                    .or_insert_with(|| TrackSet::empty(tracks.len()))
                    .insert(i);
            }
            for (name, v) in &t.attrs {
                match attr_schema.slot(name) {
                    None => errors.push(CatalogError::UnknownAttr {
                        track: t.id.clone(),
                        index: i,
                        attr: name.clone(),
                    }),
                    Some(slot) => {
                        let decl = &attr_schema.attrs()[slot];
                        if v.typed(&decl.ty).is_none() {
                            errors.push(CatalogError::AttrType {
                                track: t.id.clone(),
                                index: i,
                                attr: name.clone(),
                                expected: decl.ty.to_string(),
                            });
                        }
                        columns[slot][i] = Some(v.clone());
                    }
                }
            }
            for (slot, decl) in attr_schema.attrs().iter().enumerate() {
                if !decl.optional && columns[slot][i].is_none() {
                    errors.push(CatalogError::MissingAttr {
                        track: t.id.clone(),
                        index: i,
                        attr: decl.name.clone(),
                    });
                }
            }
        }
        drop(seen);
        let by_id = match NameIndex::new(tracks.iter().map(|t| t.id.as_str())) {
            Ok(ix) if errors.is_empty() => ix,
            _ => return Err(errors),
        };
        Ok(Self {
            tracks,
            by_id,
            tags,
            attr_schema,
            columns,
        })
    }

    /// A catalog close to `tracks` that passes every check, for checking the rules of
    /// a catalog [`Catalog::new`] rejected without repeating its problems: a repeated
    /// id is replaced by one no rule can name (the first track keeps it), undeclared
    /// attributes are dropped, and an attribute of the wrong type or missing gets a
    /// stand-in value of its declared type. `None` when no catalog can stand in (no
    /// tracks, or a track attribute declared twice).
    pub(crate) fn salvage(tracks: &[Track], attr_decls: Vec<AttrDecl>) -> Option<Self> {
        let schema = Schema::new(attr_decls.clone()).ok()?;
        let mut ids: rustc_hash::FxHashSet<String> = tracks.iter().map(|t| t.id.clone()).collect();
        let mut seen: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
        let mut fixed = Vec::with_capacity(tracks.len());
        for (i, t) in tracks.iter().enumerate() {
            let mut t2 = t.clone();
            if !seen.insert(t.id.as_str()) {
                // Whitespace never appears in a track id a rule names.
                let mut id = format!("{} (track {})", t.id, i + 1);
                while ids.contains(&id) {
                    id.push('\'');
                }
                ids.insert(id.clone());
                t2.id = id;
            }
            t2.attrs.retain(|name, _| schema.slot(name).is_some());
            for decl in schema.attrs() {
                let fits = t2
                    .attrs
                    .get(&decl.name)
                    .map(|v| v.typed(&decl.ty).is_some());
                if fits == Some(false) || (fits.is_none() && !decl.optional) {
                    t2.attrs.insert(decl.name.clone(), stand_in(&decl.ty));
                }
            }
            fixed.push(t2);
        }
        Catalog::new(fixed, attr_decls).ok()
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// Whether the catalog is empty (never true for a built catalog).
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Tracks in policy output order.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Track `i`.
    pub fn track(&self, i: usize) -> Option<&Track> {
        self.tracks.get(i)
    }

    /// Index of the track with id `id`.
    #[inline]
    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id)
    }

    /// The tracks carrying `tag`, or `None` when no track has it.
    pub fn tagged(&self, tag: &str) -> Option<&TrackSet> {
        self.tags.get(tag)
    }

    /// All tags in use, in name order.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.tags.keys().map(String::as_str)
    }

    /// The declared track attributes.
    pub fn attr_schema(&self) -> &Schema {
        &self.attr_schema
    }

    /// The typed value of track attribute `slot` for `track`, `None` when unset.
    pub fn attr(&self, slot: usize, track: usize) -> Option<Val<'_>> {
        let decl = self.attr_schema.attrs().get(slot)?;
        self.columns
            .get(slot)?
            .get(track)?
            .as_ref()?
            .typed(&decl.ty)
    }
}

/// A value of type `ty`, standing in for one a track got wrong.
fn stand_in(ty: &AttrType) -> Value {
    match ty {
        AttrType::Bool => Value::Bool(false),
        AttrType::Int => Value::Int(0),
        AttrType::Float => Value::Float(0.0),
        AttrType::String => Value::Str(String::new()),
        AttrType::Enum(vs) => Value::Str(vs.first().cloned().unwrap_or_default()),
        AttrType::StringSet => Value::Set(Vec::new()),
        AttrType::Timestamp => Value::Timestamp(0),
        AttrType::Duration => Value::Duration(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: &str, attrs: &[(&str, Value)]) -> Track {
        Track {
            id: id.into(),
            text: String::new(),
            tags: vec!["t".into()],
            product: None,
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn a_salvaged_catalog_keeps_every_track_and_passes_the_checks() {
        let decls = vec![AttrDecl {
            name: "min_age".into(),
            ty: AttrType::Int,
            optional: false,
            protected: false,
            range: None,
        }];
        let tracks = vec![
            track("a", &[("min_age", Value::Int(3))]),
            track("a", &[("min_age", Value::Str("x".into()))]),
            track("b", &[("colour", Value::Bool(true))]),
        ];
        let errors = Catalog::new(tracks.clone(), decls.clone()).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        let c = Catalog::salvage(&tracks, decls).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.index("a"), Some(0));
        assert_eq!(c.index("b"), Some(2));
        assert_eq!(c.attr(0, 0), Some(Val::Int(3)));
        assert_eq!(c.attr(0, 1), Some(Val::Int(0)));
        assert_eq!(c.tagged("t").map(TrackSet::count), Some(3));
        assert!(Catalog::salvage(&[], Vec::new()).is_none());
    }
}
