//! Rules matched by id across two rule sets: added, removed, changed in logic
//! (condition, effect or targets as written), changed only in reason or
//! metadata, and written the same but targeting other tracks because the
//! catalog changed (tags, product, attributes).
//!
//! "As written" is the syntax tree, which ignores layout and comments, so a
//! reformatted rule is unchanged.

use std::collections::BTreeMap;

use serde::Serialize;
use talktrack::tooling::ast::RuleDef;
use talktrack::tooling::{listed_rule_files, parse, read_text, BundleTemplate, RuleInfo, TrackSet};

/// Where a rule stands.
#[derive(Serialize)]
pub(crate) struct Place {
    pub id: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl Place {
    fn of(r: &RuleInfo) -> Self {
        Self {
            id: r.id.clone(),
            file: r.file.display().to_string(),
            line: r.line,
            column: r.column,
        }
    }
}

/// A part of a rule's logic.
#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Part {
    /// `when ...`.
    Condition,
    /// `forbid`, `only`, `boost ... by n`, `penalize ... by n`.
    Effect,
    /// The tracks the effect names.
    Targets,
}

/// A rule both sides have whose logic changed.
#[derive(Serialize)]
pub(crate) struct LogicChange {
    #[serde(flatten)]
    pub at: Place,
    pub parts: Vec<Part>,
}

/// A rule both sides have with the same logic and another reason or metadata.
#[derive(Serialize)]
pub(crate) struct TextChange {
    #[serde(flatten)]
    pub at: Place,
    /// `because` and the metadata keys that differ.
    pub fields: Vec<String>,
}

/// A rule written the same whose targets, as the catalog decides them, changed.
#[derive(Serialize)]
pub(crate) struct TargetChange {
    #[serde(flatten)]
    pub at: Place,
    /// Tracks it now targets and did not.
    pub added: Vec<String>,
    /// Tracks it targeted and no longer does.
    pub removed: Vec<String>,
}

/// Every rule change.
#[derive(Serialize, Default)]
pub(crate) struct RuleChanges {
    pub added: Vec<Place>,
    pub removed: Vec<Place>,
    pub logic: Vec<LogicChange>,
    pub reason_or_metadata: Vec<TextChange>,
    pub targets_through_catalog: Vec<TargetChange>,
    /// Rules written the same whose targets depend on the request (`tracks where`
    /// reading the context), so that the catalog alone does not decide them: not compared.
    pub targets_not_compared: Vec<String>,
}

/// The syntax tree of every rule in the files `t` lists, by id.
fn written(t: &BundleTemplate) -> BTreeMap<String, RuleDef> {
    let mut out = BTreeMap::new();
    let Ok((files, _)) = listed_rule_files(t.dir()) else {
        return out;
    };
    for f in files {
        let Ok(text) = read_text(&f.real, &f.shown) else {
            continue;
        };
        if let Ok(parsed) = parse(&text, &f.shown) {
            for r in parsed.rules {
                out.entry(r.id.text.clone()).or_insert(r);
            }
        }
    }
    out
}

/// Track ids of a set of `t`'s catalog.
fn ids(t: &BundleTemplate, s: &TrackSet) -> Vec<String> {
    s.iter()
        .filter_map(|i| t.catalog().track(i).map(|t| t.id.clone()))
        .collect()
}

/// The tracks rule `i` of `t` targets, by id, the catalog alone deciding
/// (tracks its predicate cannot be evaluated on included: they fail closed).
fn targets(t: &BundleTemplate, i: usize) -> Option<Vec<String>> {
    let (mut targeted, undecided) = t.rules().catalog_targets(i)?;
    targeted.union_with(&undecided);
    let mut v = ids(t, &targeted);
    v.sort();
    Some(v)
}

/// The rule changes from `old` to `new`.
pub(crate) fn compare(old: &BundleTemplate, new: &BundleTemplate) -> RuleChanges {
    let (ow, nw) = (written(old), written(new));
    let index = |t: &BundleTemplate| -> BTreeMap<String, usize> {
        t.rules()
            .rules()
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect()
    };
    let (oi, ni) = (index(old), index(new));
    let mut out = RuleChanges::default();
    for (id, &i) in &ni {
        let info = new.rules().rule(i);
        let Some(&j) = oi.get(id) else {
            out.added.push(Place::of(info));
            continue;
        };
        let (Some(o), Some(n)) = (ow.get(id), nw.get(id)) else {
            continue;
        };
        let mut parts = Vec::new();
        if o.when != n.when {
            parts.push(Part::Condition);
        }
        if o.effect.kind != n.effect.kind {
            parts.push(Part::Effect);
        }
        if o.effect.targets != n.effect.targets {
            parts.push(Part::Targets);
        }
        if !parts.is_empty() {
            out.logic.push(LogicChange {
                at: Place::of(info),
                parts,
            });
            continue;
        }
        let mut fields = Vec::new();
        if o.because.as_ref().map(|b| &b.value) != n.because.as_ref().map(|b| &b.value) {
            fields.push("because".to_owned());
        }
        let meta = |r: &RuleDef| -> BTreeMap<String, String> {
            r.meta
                .iter()
                .map(|(k, v)| (k.text.clone(), v.value.clone()))
                .collect()
        };
        let (om, nm) = (meta(o), meta(n));
        for k in om
            .keys()
            .chain(nm.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            if om.get(k) != nm.get(k) {
                fields.push(k.clone());
            }
        }
        if !fields.is_empty() {
            out.reason_or_metadata.push(TextChange {
                at: Place::of(info),
                fields,
            });
        }
        match (targets(old, j), targets(new, i)) {
            (Some(a), Some(b)) if a != b => out.targets_through_catalog.push(TargetChange {
                at: Place::of(info),
                added: b.iter().filter(|x| !a.contains(x)).cloned().collect(),
                removed: a.iter().filter(|x| !b.contains(x)).cloned().collect(),
            }),
            (Some(_), Some(_)) => {}
            _ => out.targets_not_compared.push(id.clone()),
        }
    }
    for (id, &j) in &oi {
        if !ni.contains_key(id) {
            out.removed.push(Place::of(old.rules().rule(j)));
        }
    }
    let by_place = |a: &Place, b: &Place| (&a.file, a.line).cmp(&(&b.file, b.line));
    out.added.sort_by(by_place);
    out.removed.sort_by(by_place);
    out.logic.sort_by(|a, b| by_place(&a.at, &b.at));
    out.reason_or_metadata
        .sort_by(|a, b| by_place(&a.at, &b.at));
    out.targets_through_catalog
        .sort_by(|a, b| by_place(&a.at, &b.at));
    out
}
