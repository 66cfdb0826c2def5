//! What a line takes from its bundle, computed once per bundle on the writer
//! thread: the thresholds and modes of its protected attributes, its `bundle`
//! object, and each track's closing of a `ranked` and of a `masked` entry.

use std::collections::BTreeMap;

use talktrack::Bundle;

use super::line::BundleLine;
use crate::log::intervals::rule_thresholds;
use crate::log::{LogConfig, Protected};

/// What a line takes from its bundle, computed once per bundle: the thresholds of
/// its protected attributes, its `bundle` object, and each track's closing of a
/// `ranked` and of a `masked` entry, escaped once.
pub(super) struct Parts {
    /// Per schema attribute (by slot): how the context writes it.
    pub(super) attrs: Vec<AttrPart>,
    /// The line's `protected` object: the mode each protected attribute is logged in.
    pub(super) protected: Vec<u8>,
    /// `{"digest":..,"name":..,"version":..}`.
    pub(super) bundle: Vec<u8>,
    /// Per catalog track: `,"track":"<id>"}`.
    pub(super) ranked_tail: Tails,
    /// Per catalog track: `],"track":"<id>"}`.
    pub(super) masked_tail: Tails,
}

/// One context attribute of a bundle's schema, as a line writes it.
pub(super) struct AttrPart {
    /// `"<name>":`, escaped once.
    pub(super) key: Vec<u8>,
    /// The attribute's place among the schema's names in sorted order.
    pub(super) rank: u32,
    /// How it is logged: `Raw` for an attribute that is not protected; `Intervals`
    /// only for a numeric one (another protected attribute is omitted instead).
    pub(super) mode: Protected,
    /// The values the bundle's rules compare it with (`Intervals` only).
    pub(super) thresholds: Vec<f64>,
}

impl Parts {
    pub(super) fn new(b: &Bundle, cfg: &LogConfig) -> serde_json::Result<Self> {
        let schema = b.schema().attrs();
        let mut thresholds = rule_thresholds(b);
        let mut by_name: Vec<usize> = (0..schema.len()).collect();
        by_name.sort_unstable_by(|&x, &y| schema[x].name.cmp(&schema[y].name));
        let mut rank = vec![0u32; schema.len()];
        for (r, &slot) in by_name.iter().enumerate() {
            rank[slot] = r as u32;
        }
        let mut protected = BTreeMap::new();
        let mut attrs = Vec::with_capacity(schema.len());
        for (slot, a) in schema.iter().enumerate() {
            let mode = match (cfg.mode(&a.name), &a.ty) {
                _ if !a.protected => Protected::Raw,
                (Protected::Intervals, t) if !t.is_numeric() => Protected::Omit,
                (m, _) => m,
            };
            if a.protected {
                protected.insert(a.name.as_str(), mode);
            }
            let mut key = serde_json::to_vec(&a.name)?;
            key.push(b':');
            attrs.push(AttrPart {
                key,
                rank: rank[slot],
                mode,
                thresholds: match mode {
                    Protected::Intervals => thresholds.remove(&a.name).unwrap_or_default(),
                    _ => Vec::new(),
                },
            });
        }
        let bundle = serde_json::to_vec(&BundleLine {
            digest: b.digest(),
            name: b.name(),
            version: b.version(),
        })?;
        let cat = b.catalog();
        let (mut ranked_tail, mut masked_tail) = (Tails::default(), Tails::default());
        for t in 0..cat.len() {
            let id = serde_json::to_vec(cat.track(t).map_or("?", |x| x.id.as_str()))?;
            for (tails, open) in [
                (&mut ranked_tail, &b",\"track\":"[..]),
                (&mut masked_tail, &b"],\"track\":"[..]),
            ] {
                tails.bytes.extend_from_slice(open);
                tails.bytes.extend_from_slice(&id);
                tails.bytes.push(b'}');
                tails.ends.push(tails.bytes.len());
            }
        }
        Ok(Self {
            attrs,
            protected: serde_json::to_vec(&protected)?,
            bundle,
            ranked_tail,
            masked_tail,
        })
    }
}

/// One part per catalog track, end to end in one buffer.
#[derive(Default)]
pub(super) struct Tails {
    bytes: Vec<u8>,
    /// Where each track's part ends in `bytes`.
    ends: Vec<usize>,
}

/// Appends track `t`'s part from `tails`, or `missing` for a track the catalog
/// does not have (not expected: a decision's tracks are its bundle's).
pub(super) fn tail(out: &mut Vec<u8>, tails: &Tails, t: usize, missing: &[u8]) {
    let start = match t {
        0 => Some(0),
        _ => tails.ends.get(t - 1).copied(),
    };
    let part = match (start, tails.ends.get(t)) {
        (Some(a), Some(&b)) => tails.bytes.get(a..b),
        _ => None,
    };
    out.extend_from_slice(part.unwrap_or(missing));
}
