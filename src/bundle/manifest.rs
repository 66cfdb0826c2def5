//! `bundle.toml`: the manifest that declares everything a bundle serves with.
//!
//! These types mirror the file one to one (serde, unknown keys rejected so a typo
//! is an error, not a silently ignored setting); [`super::Bundle::load`] turns them
//! into checked, indexed structures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::Track;
use crate::context::{parse_duration, AttrDecl, AttrType, Bound, Val, ValueRange};
use crate::features::Feature;
use crate::policy::ScoreKind;

/// The manifest format this version of talktrack reads.
pub const FORMAT_VERSION: u32 = 1;

/// The whole `bundle.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version (`FORMAT_VERSION`, 1).
    pub format: u32,
    /// Bundle name, e.g. `telecom-upsell`.
    pub name: String,
    /// Bundle version, e.g. `1.4.0`.
    pub version: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// Maximum number of agent turns in a conversation.
    pub max_turns: u32,
    /// The track used when no other track is allowed (e.g. a hand-over to a person).
    pub fallback: String,
    /// The vocabulary of user reply categories, in the policy's one-hot order.
    pub replies: Vec<String>,
    /// The vocabulary of past contacts' outcomes (`offered`, `declined`, ...) that
    /// requests send in `contacts[i].outcome` and rules count with `contacts(..)`;
    /// its own vocabulary, apart from the reply categories. At most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_outcomes: Vec<String>,
    /// Rule files, relative to the bundle directory.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Rule test case files, relative to the bundle directory.
    #[serde(default)]
    pub tests: Vec<String>,
    /// How a track is picked from the ranking.
    #[serde(default)]
    pub selection: Selection,
    /// The policy file and its tensors. A template may leave it out (the trainer
    /// writes it); a served bundle must declare every key (checked when it loads).
    #[serde(default)]
    pub policy: PolicyDecl,
    /// The context schema: attribute name → type.
    #[serde(default)]
    pub context: BTreeMap<String, AttrSpec>,
    /// Typed attributes that tracks may carry (e.g. `min_age`, `price`).
    #[serde(default)]
    pub track_attributes: BTreeMap<String, AttrSpec>,
    /// The observation layout, block by block.
    pub features: Vec<Feature>,
    /// The catalog, in policy output order.
    pub tracks: Vec<Track>,
    /// Where the policy came from (written by the trainer; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<toml::Table>,
}

/// Selection settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// `greedy` (the top track) or `softmax` (sampled at `temperature`).
    #[serde(default)]
    pub mode: SelectionMode,
    /// Softmax temperature (> 0).
    #[serde(default = "one")]
    pub temperature: f32,
    /// Probability of picking uniformly among the allowed tracks instead (exploration).
    #[serde(default)]
    pub epsilon: f32,
}

fn one() -> f32 {
    1.0
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            mode: SelectionMode::Greedy,
            temperature: 1.0,
            epsilon: 0.0,
        }
    }
}

/// How the chosen track is picked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectionMode {
    /// Always the top-ranked allowed track.
    #[default]
    Greedy,
    /// Sampled from the softmax of the final scores.
    Softmax,
}

/// The policy section. Keys a template leaves out take the defaults the trainer
/// writes (`policy.onnx`, `obs`, `scores`, `logits`, no checksum yet).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyDecl {
    /// ONNX file, relative to the bundle directory.
    pub file: String,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// Name of the observation input tensor.
    pub input: String,
    /// Name of the allowed-track mask input, for models that take one (fed
    /// with 1 for allowed tracks and 0 for masked ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask_input: Option<String>,
    /// Name of the score output tensor.
    pub output: String,
    /// What the scores are.
    pub scores: ScoreKind,
}

impl PolicyDecl {
    /// The keys a served bundle must declare in `[policy]`.
    pub const KEYS: [&'static str; 5] = ["file", "sha256", "input", "output", "scores"];
}

impl Default for PolicyDecl {
    fn default() -> Self {
        Self {
            file: "policy.onnx".into(),
            sha256: String::new(),
            input: "obs".into(),
            mask_input: None,
            output: "scores".into(),
            scores: ScoreKind::Logits,
        }
    }
}

/// An attribute type as written: `"int"` or `{ type = "enum", values = [...], optional = true }`.
///
/// Read as a string or as a table, so that an unknown key in the long form is
/// named (an untagged enum would only say that nothing matched).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum AttrSpec {
    /// Short form: just the type name.
    Short(String),
    /// Long form.
    Long(AttrSpecLong),
}

/// The long form of an attribute type.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttrSpecLong {
    /// `bool`, `int`, `float`, `string`, `enum`, `set`, `timestamp` or `duration`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Variants of an enum.
    #[serde(default)]
    pub values: Vec<String>,
    /// Whether a request may omit it.
    #[serde(default)]
    pub optional: bool,
    /// Readable by rules, never by the policy.
    #[serde(default)]
    pub protected: bool,
    /// The smallest value a request may send (int, float and duration context attributes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<toml::Value>,
    /// The largest value a request may send (int, float and duration context attributes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<toml::Value>,
}

impl<'de> Deserialize<'de> for AttrSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Spec;
        impl<'de> serde::de::Visitor<'de> for Spec {
            type Value = AttrSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a type name such as \"int\", or a table such as { type = \"enum\", values = [...] }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AttrSpec, E> {
                Ok(AttrSpec::Short(v.to_owned()))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, m: M) -> Result<AttrSpec, M::Error> {
                AttrSpecLong::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(AttrSpec::Long)
            }
        }
        d.deserialize_any(Spec)
    }
}

impl AttrSpec {
    /// The declaration this spec stands for, or a message saying what is wrong.
    pub fn to_decl(&self, name: &str) -> Result<AttrDecl, String> {
        let (ty, values, optional, protected, min, max) = match self {
            AttrSpec::Short(t) => (t.as_str(), &[][..], false, false, None, None),
            AttrSpec::Long(l) => (
                l.ty.as_str(),
                &l.values[..],
                l.optional,
                l.protected,
                l.min.as_ref(),
                l.max.as_ref(),
            ),
        };
        let ty = match ty {
            "bool" => AttrType::Bool,
            "int" => AttrType::Int,
            "float" => AttrType::Float,
            "string" => AttrType::String,
            "set" => AttrType::StringSet,
            "timestamp" => AttrType::Timestamp,
            "duration" => AttrType::Duration,
            "enum" => {
                if values.is_empty() {
                    return Err(format!("enum attribute `{name}` needs `values = [...]`"));
                }
                AttrType::Enum(values.to_vec())
            }
            other => {
                return Err(format!(
                    "attribute `{name}` has unknown type `{other}` (expected bool, int, float, string, enum, set, timestamp or duration)"
                ))
            }
        };
        if !matches!(ty, AttrType::Enum(_)) && !values.is_empty() {
            return Err(format!(
                "`values` only applies to enum attributes (`{name}`)"
            ));
        }
        let range = if min.is_none() && max.is_none() {
            None
        } else {
            let min = min.map(|v| bound(name, "min", &ty, v)).transpose()?;
            let max = max.map(|v| bound(name, "max", &ty, v)).transpose()?;
            let range = ValueRange { min, max };
            if let (Some(a), Some(b)) = (min, max) {
                if !range.contains(&bound_val(a)) || !range.contains(&bound_val(b)) {
                    return Err(format!("attribute `{name}` has `min` {a} above `max` {b}"));
                }
            }
            Some(range)
        };
        Ok(AttrDecl {
            name: name.to_owned(),
            ty,
            optional,
            protected,
            range,
        })
    }

    /// Whether the declaration sets `min` or `max`.
    pub fn has_range(&self) -> bool {
        matches!(self, AttrSpec::Long(l) if l.min.is_some() || l.max.is_some())
    }
}

/// One end of a range as written for an attribute of type `ty`.
fn bound(name: &str, key: &str, ty: &AttrType, v: &toml::Value) -> Result<Bound, String> {
    let b = match (ty, v) {
        (AttrType::Int, toml::Value::Integer(i)) => Some(Bound::Int(*i)),
        (AttrType::Float, toml::Value::Integer(i)) => Some(Bound::Float(*i as f64)),
        (AttrType::Float, toml::Value::Float(x)) if x.is_finite() => Some(Bound::Float(*x)),
        (AttrType::Duration, toml::Value::String(s)) => parse_duration(s).ok().map(Bound::Duration),
        (AttrType::Int | AttrType::Float | AttrType::Duration, _) => None,
        _ => {
            return Err(format!(
                "`{key}` only applies to int, float and duration attributes (`{name}` is {})",
                ty.name()
            ))
        }
    };
    b.ok_or_else(|| {
        let want = match ty {
            AttrType::Int => "a whole number",
            AttrType::Float => "a finite number",
            _ => "a duration such as `30d`",
        };
        format!("`{key}` of attribute `{name}` must be {want}, found `{v}`")
    })
}

/// The bound as a value, to compare it with the other bound.
fn bound_val(b: Bound) -> Val<'static> {
    match b {
        Bound::Int(i) => Val::Int(i),
        Bound::Float(x) => Val::Float(x),
        Bound::Duration(ms) => Val::Dur(ms),
    }
}
