//! The typed context a host sends with every request, and the schema a bundle
//! declares for it.
//!
//! Attribute names are resolved to schema slots once per request
//! ([`Schema::resolve`]); rules and the feature encoder then read slots by index,
//! never by name. The same types describe the typed attributes of catalog tracks.

mod time_value;

use crate::name_table::{same, NameIndex};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use time_value::{format_duration, format_timestamp, parse_duration, parse_timestamp};

/// The type of a context or track attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AttrType {
    /// `true` / `false`.
    Bool,
    /// A 64-bit signed integer.
    Int,
    /// A 64-bit float (finite).
    Float,
    /// Free text.
    String,
    /// One of a closed list of strings.
    Enum(Vec<String>),
    /// A set of strings (e.g. products the customer already holds).
    StringSet,
    /// A point in time (RFC 3339 in JSON, milliseconds since the Unix epoch inside).
    Timestamp,
    /// A length of time (`14d`, `36h`, `90m`, `30s` in JSON and rules).
    Duration,
}

impl AttrType {
    /// The name used in manifests and diagnostics.
    pub fn name(&self) -> &'static str {
        match self {
            AttrType::Bool => "bool",
            AttrType::Int => "int",
            AttrType::Float => "float",
            AttrType::String => "string",
            AttrType::Enum(_) => "enum",
            AttrType::StringSet => "set",
            AttrType::Timestamp => "timestamp",
            AttrType::Duration => "duration",
        }
    }

    /// Whether values of this type compare as numbers (`int` and `float` mix).
    pub fn is_numeric(&self) -> bool {
        matches!(self, AttrType::Int | AttrType::Float)
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrType::Enum(v) => write!(f, "enum [{}]", v.join(", ")),
            t => f.write_str(t.name()),
        }
    }
}

/// One declared attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttrDecl {
    /// Name as written in rules (`customer.age` reads the attribute `age`).
    pub name: String,
    /// Its type.
    pub ty: AttrType,
    /// Whether a request may omit it (rules test it with `has`).
    pub optional: bool,
    /// Protected attributes (age, sex, ...) may be read by rules but never fed to the policy.
    pub protected: bool,
    /// The values an int, float or duration attribute may take: the space the
    /// rules are written for. A request outside it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ValueRange>,
}

/// The inclusive range of values a numeric or duration attribute may take; an
/// open end is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueRange {
    /// The smallest value allowed.
    pub min: Option<Bound>,
    /// The largest value allowed.
    pub max: Option<Bound>,
}

/// One end of a [`ValueRange`], in the attribute's own terms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// An integer (int attributes).
    Int(i64),
    /// A finite float (float attributes).
    Float(f64),
    /// Milliseconds (duration attributes).
    Duration(i64),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Int(i) => write!(f, "{i}"),
            Bound::Float(x) => write!(f, "{x}"),
            Bound::Duration(ms) => f.write_str(&format_duration(*ms)),
        }
    }
}

impl Bound {
    /// How `v` compares with this bound; `None` when they are not of one kind.
    fn cmp_val(&self, v: &Val<'_>) -> Option<std::cmp::Ordering> {
        match (v, self) {
            (Val::Int(x), Bound::Int(b)) | (Val::Dur(x), Bound::Duration(b)) => Some(x.cmp(b)),
            (Val::Float(x), Bound::Float(b)) => x.partial_cmp(b),
            (Val::Int(x), Bound::Float(b)) => (*x as f64).partial_cmp(b),
            (Val::Float(x), Bound::Int(b)) => x.partial_cmp(&(*b as f64)),
            _ => None,
        }
    }
}

impl ValueRange {
    /// Whether `v` lies inside the range (values of another kind are not range-checked).
    pub fn contains(&self, v: &Val<'_>) -> bool {
        use std::cmp::Ordering::{Greater, Less};
        let below = self.min.and_then(|b| b.cmp_val(v)) == Some(Less);
        let above = self.max.and_then(|b| b.cmp_val(v)) == Some(Greater);
        !below && !above
    }
}

impl fmt::Display for ValueRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) => write!(f, "{a} to {b}"),
            (Some(a), None) => write!(f, "at least {a}"),
            (None, Some(b)) => write!(f, "at most {b}"),
            (None, None) => f.write_str("any value"),
        }
    }
}

fn show(v: &Val<'_>) -> String {
    match v {
        Val::Int(i) => i.to_string(),
        Val::Float(x) => x.to_string(),
        Val::Dur(ms) => format_duration(*ms),
        other => format!("{other:?}"),
    }
}

/// An ordered list of attribute declarations; the position is the slot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    attrs: Vec<AttrDecl>,
    names: NameIndex,
    /// Per slot: an enum's variants, packed for lookup (`None` for other types).
    variants: Vec<Option<NameIndex>>,
}

impl Schema {
    /// Builds a schema; a repeated name returns the name as the error.
    pub fn new(attrs: Vec<AttrDecl>) -> Result<Self, String> {
        let names = NameIndex::new(attrs.iter().map(|a| a.name.as_str()))?;
        // A list with a repeated variant is left to the linear search.
        let variants = attrs
            .iter()
            .map(|a| match &a.ty {
                AttrType::Enum(vs) => NameIndex::new(vs.iter().map(String::as_str)).ok(),
                _ => None,
            })
            .collect();
        Ok(Self {
            attrs,
            names,
            variants,
        })
    }

    /// The declarations in slot order.
    pub fn attrs(&self) -> &[AttrDecl] {
        &self.attrs
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// Whether no attribute is declared.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// Slot of the attribute `name`.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.names.get(name)
    }

    /// Declaration of the attribute `name`.
    pub fn get(&self, name: &str) -> Option<&AttrDecl> {
        self.slot(name).map(|i| &self.attrs[i])
    }

    /// Resolves a request's context against the schema into `out` (one entry per slot).
    ///
    /// Checks that every required attribute is present, no unknown attribute is
    /// sent, and each value has the declared type; enum values become their
    /// variant index.
    pub fn resolve<'a>(
        &self,
        ctx: &'a Context,
        out: &mut impl SlotBuffer<'a>,
    ) -> Result<(), ContextError> {
        out.reset(self.attrs.len());
        let out = out.slots_mut();
        // The names and text values live in separate allocations of the host's:
        // read one byte of each first, in a loop whose loads do not depend on
        // each other, so that their cache misses overlap instead of queueing.
        let mut touch = 0u8;
        for (name, value) in ctx.entries.iter() {
            touch ^= name.as_bytes().first().copied().unwrap_or(0);
            if let Value::Str(s) = value {
                touch ^= s.as_bytes().first().copied().unwrap_or(0);
            }
        }
        std::hint::black_box(touch);
        let mut guess = 0;
        for (name, value) in ctx.entries.iter() {
            // Hosts usually send attributes in runs of the schema's order: try
            // the slot after the previous one before hashing the name.
            let slot = if self.names.is_at(guess, name) {
                guess
            } else {
                match self.slot(name) {
                    Some(slot) => slot,
                    None => return Err(ContextError::Unknown { name: name.clone() }),
                }
            };
            guess = slot + 1;
            let decl = &self.attrs[slot];
            let typed = match (self.variants.get(slot), value) {
                (Some(Some(vs)), Value::Str(s)) => vs.get(s).map(|i| Val::Enum(i as u32)),
                _ => value.typed(&decl.ty),
            };
            let typed = typed.ok_or_else(|| ContextError::Type {
                name: name.clone(),
                expected: decl.ty.to_string(),
                found: found(&decl.ty, value),
            })?;
            if let Some(range) = &decl.range {
                if !range.contains(&typed) {
                    return Err(ContextError::OutOfRange {
                        name: name.clone(),
                        value: show(&typed),
                        range: *range,
                    });
                }
            }
            out[slot] = Some(typed);
        }
        for name in &ctx.nulls {
            match self.slot(name) {
                None => return Err(ContextError::Unknown { name: name.clone() }),
                Some(slot) => {
                    let decl = &self.attrs[slot];
                    if !decl.optional && out[slot].is_none() {
                        return Err(ContextError::Type {
                            name: name.clone(),
                            expected: decl.ty.to_string(),
                            found: "null (it is required)".to_owned(),
                        });
                    }
                }
            }
        }
        for (decl, v) in self.attrs.iter().zip(out.iter()) {
            if v.is_none() && !decl.optional {
                return Err(ContextError::Missing {
                    name: decl.name.clone(),
                });
            }
        }
        Ok(())
    }
}

/// What was sent, for an error saying it does not fit `ty`.
fn found(ty: &AttrType, value: &Value) -> String {
    // A JSON integer beyond i64 arrives as a float: say that it is out of range.
    match (ty, value) {
        (AttrType::Int, Value::Float(x)) if x.is_finite() && x.fract() == 0.0 => format!(
            "a whole number outside the int range ({} to {})",
            i64::MIN,
            i64::MAX
        ),
        _ => value.kind().to_owned(),
    }
}

/// Context values by schema slot; inline for up to 32 attributes, so resolving a
/// request does not allocate.
pub type Resolved<'a> = smallvec::SmallVec<[Option<Val<'a>>; 32]>;

/// Where [`Schema::resolve`] writes values: a `Vec` or an inline [`Resolved`].
pub trait SlotBuffer<'a> {
    /// Makes the buffer `n` empty slots long.
    fn reset(&mut self, n: usize);
    /// The slots.
    fn slots_mut(&mut self) -> &mut [Option<Val<'a>>];
}

impl<'a> SlotBuffer<'a> for Vec<Option<Val<'a>>> {
    fn reset(&mut self, n: usize) {
        self.clear();
        self.resize(n, None);
    }
    fn slots_mut(&mut self) -> &mut [Option<Val<'a>>] {
        self
    }
}

impl<'a> SlotBuffer<'a> for Resolved<'a> {
    fn reset(&mut self, n: usize) {
        self.clear();
        self.resize(n, None);
    }
    fn slots_mut(&mut self) -> &mut [Option<Val<'a>>] {
        self
    }
}

/// A value as a host sends it.
///
/// In JSON: booleans, numbers, strings (also for enums, timestamps in RFC 3339 and
/// durations such as `"14d"`) and arrays of strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text, an enum variant, an RFC 3339 timestamp or a duration like `14d`.
    Str(String),
    /// A set of strings.
    Set(Vec<String>),
    /// A timestamp in milliseconds since the Unix epoch (library callers only).
    #[serde(skip_deserializing)]
    Timestamp(i64),
    /// A duration in milliseconds (library callers only).
    #[serde(skip_deserializing)]
    Duration(i64),
}

impl Value {
    /// The JSON-ish kind name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Set(_) => "array of strings",
            Value::Timestamp(_) => "timestamp",
            Value::Duration(_) => "duration",
        }
    }

    /// Views the value as the declared type, or `None` when it does not fit.
    pub fn typed(&self, ty: &AttrType) -> Option<Val<'_>> {
        Some(match (ty, self) {
            (AttrType::Bool, Value::Bool(b)) => Val::Bool(*b),
            (AttrType::Int, Value::Int(i)) => Val::Int(*i),
            (AttrType::Float, Value::Float(x)) if x.is_finite() => Val::Float(*x),
            (AttrType::Float, Value::Int(i)) => Val::Float(*i as f64),
            (AttrType::String, Value::Str(s)) => Val::Str(s),
            (AttrType::Enum(vs), Value::Str(s)) => {
                Val::Enum(vs.iter().position(|v| same(v, s))? as u32)
            }
            (AttrType::StringSet, Value::Set(v)) => Val::Set(v),
            (AttrType::Timestamp, Value::Timestamp(t)) => Val::Time(*t),
            (AttrType::Timestamp, Value::Str(s)) => Val::Time(parse_timestamp(s).ok()?),
            (AttrType::Duration, Value::Duration(d)) => Val::Dur(*d),
            (AttrType::Duration, Value::Str(s)) => Val::Dur(parse_duration(s).ok()?),
            _ => return None,
        })
    }
}

/// A resolved, typed view of one attribute value; cheap to copy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val<'a> {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A finite float.
    Float(f64),
    /// Text.
    Str(&'a str),
    /// Index of an enum variant in the declared list.
    Enum(u32),
    /// A set of strings.
    Set(&'a [String]),
    /// Milliseconds since the Unix epoch.
    Time(i64),
    /// Milliseconds.
    Dur(i64),
}

/// The context attributes of one request, by name.
///
/// In JSON, `null` means "not sent": an optional attribute that is `null` is
/// absent, and a required one is refused by [`Schema::resolve`] with an error that
/// names it. A value of a type no attribute can have names the attribute too
/// (`context.credit_score`, `context.products[1]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Context {
    /// Shared, so that a copy of the context (the decision log keeps one per
    /// decision) costs a reference count; [`Context::set`] copies on write.
    #[serde(with = "entries_as_map")]
    entries: Arc<Vec<(String, Value)>>,
    /// Attributes sent as `null`: checked against the schema, never read.
    #[serde(skip)]
    nulls: Vec<String>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an attribute (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set(name, value);
        self
    }

    /// Adds or replaces an attribute.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        self.nulls.retain(|n| *n != name);
        let entries = Arc::make_mut(&mut self.entries);
        match entries.iter_mut().find(|(n, _)| *n == name) {
            Some(e) => e.1 = value,
            None => entries.push((name, value)),
        }
    }

    /// The value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// All attributes in insertion order.
    pub fn entries(&self) -> &[(String, Value)] {
        &self.entries
    }

    /// The attributes sent as `null` (treated as not sent).
    pub fn nulls(&self) -> &[String] {
        &self.nulls
    }
}

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(entries_as_map::ContextVisitor)
    }
}

mod entries_as_map {
    use super::Value;
    use serde::de::{DeserializeSeed, Error, MapAccess, SeqAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        e: &super::Arc<Vec<(String, Value)>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(e.len()))?;
        for (k, v) in e.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }

    /// Reads a context object attribute by attribute, so that a value of the wrong
    /// shape is reported with the attribute's name rather than as "did not match
    /// any variant".
    pub(super) struct ContextVisitor;

    impl<'de> Visitor<'de> for ContextVisitor {
        type Value = super::Context;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of context attributes")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            let (mut entries, mut nulls) = (Vec::new(), Vec::new());
            while let Some(k) = a.next_key::<String>()? {
                if entries.iter().any(|(n, _)| *n == k) || nulls.contains(&k) {
                    return Err(Error::custom(format!("attribute `{k}` is given twice")));
                }
                match a.next_value_seed(AttrSeed { name: &k })? {
                    Some(v) => entries.push((k, v)),
                    None => nulls.push(k),
                }
            }
            Ok(super::Context {
                entries: super::Arc::new(entries),
                nulls,
            })
        }
    }

    /// One attribute's value; `None` for `null`.
    struct AttrSeed<'n> {
        name: &'n str,
    }

    impl<'de> DeserializeSeed<'de> for AttrSeed<'_> {
        type Value = Option<Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for AttrSeed<'_> {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(
                f,
                "a boolean, number, string or array of strings for `context.{}`",
                self.name
            )
        }
        fn visit_bool<E: Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(Value::Bool(v)))
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Value::Int(v)))
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(match i64::try_from(v) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Float(v as f64),
            }))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(Value::Float(v)))
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Value::Str(v.to_owned())))
        }
        fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Value::Str(v)))
        }
        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(a.size_hint().unwrap_or(0).min(1024));
            while let Some(s) = a.next_element_seed(ItemSeed {
                name: self.name,
                index: items.len(),
            })? {
                items.push(s);
            }
            Ok(Some(Value::Set(items)))
        }
    }

    /// One string of a set attribute.
    struct ItemSeed<'n> {
        name: &'n str,
        index: usize,
    }

    impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
        type Value = String;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for ItemSeed<'_> {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a string for `context.{}[{}]`", self.name, self.index)
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(v)
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v as i64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value::Set(v)
    }
}

/// A request context that does not fit the bundle's schema.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// An attribute the schema does not declare.
    #[error("unknown context attribute `{name}`")]
    Unknown {
        /// The attribute name as sent.
        name: String,
    },
    /// A required attribute was not sent.
    #[error("missing required context attribute `{name}`")]
    Missing {
        /// The attribute name.
        name: String,
    },
    /// A value of the wrong type.
    #[error("context attribute `{name}` must be {expected}, found {found}")]
    Type {
        /// The attribute name.
        name: String,
        /// The declared type.
        expected: String,
        /// What was sent.
        found: String,
    },
    /// A value outside the attribute's declared range.
    #[error("context attribute `{name}` is {value}, outside its range ({range})")]
    OutOfRange {
        /// The attribute name.
        name: String,
        /// The value sent.
        value: String,
        /// The declared range.
        range: ValueRange,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            AttrDecl {
                name: "age".into(),
                ty: AttrType::Int,
                optional: false,
                protected: true,
                range: None,
            },
            AttrDecl {
                name: "segment".into(),
                ty: AttrType::Enum(vec!["a".into(), "b".into()]),
                optional: true,
                protected: false,
                range: None,
            },
        ])
        .unwrap()
    }

    #[test]
    fn resolves_by_slot() {
        let ctx = Context::new().with("segment", "b").with("age", 40);
        let mut out = Resolved::new();
        schema().resolve(&ctx, &mut out).unwrap();
        assert_eq!(out.to_vec(), vec![Some(Val::Int(40)), Some(Val::Enum(1))]);
    }

    #[test]
    fn reports_bad_contexts() {
        let s = schema();
        let err = |ctx: Context| {
            let mut out = Resolved::new();
            s.resolve(&ctx, &mut out).unwrap_err().to_string()
        };
        assert_eq!(
            err(Context::new()),
            "missing required context attribute `age`"
        );
        assert_eq!(
            err(Context::new().with("age", "x")),
            "context attribute `age` must be int, found string"
        );
        assert_eq!(
            err(Context::new().with("age", 1).with("zip", 1)),
            "unknown context attribute `zip`"
        );
        assert!(
            err(Context::new().with("age", 1).with("segment", "c")).contains("must be enum [a, b]")
        );
        let big: Context = serde_json::from_str(r#"{"age": 9223372036854775808}"#).unwrap();
        assert_eq!(
            err(big),
            "context attribute `age` must be int, found a whole number outside the int range (-9223372036854775808 to 9223372036854775807)"
        );
        let small: Context = serde_json::from_str(r#"{"age": -9223372036854775809}"#).unwrap();
        assert!(err(small).contains("outside the int range"));
        assert_eq!(
            err(Context::new().with("age", 1.5)),
            "context attribute `age` must be int, found float"
        );
    }

    #[test]
    fn values_outside_a_declared_range_are_refused_by_name() {
        let decl = |name: &str, ty: AttrType, min: Option<Bound>, max: Option<Bound>| AttrDecl {
            name: name.into(),
            ty,
            optional: true,
            protected: false,
            range: Some(ValueRange { min, max }),
        };
        let s = Schema::new(vec![
            decl(
                "age",
                AttrType::Int,
                Some(Bound::Int(0)),
                Some(Bound::Int(130)),
            ),
            decl("spend", AttrType::Float, Some(Bound::Float(0.0)), None),
            decl(
                "wait",
                AttrType::Duration,
                None,
                Some(Bound::Duration(86_400_000)),
            ),
        ])
        .unwrap();
        let check = |ctx: Context| {
            let mut out = Resolved::new();
            s.resolve(&ctx, &mut out).map_err(|e| e.to_string())
        };
        // Both ends are inclusive.
        assert!(check(Context::new().with("age", 0).with("spend", 0.0)).is_ok());
        assert!(check(Context::new().with("age", 130).with("wait", "1d")).is_ok());
        assert_eq!(
            check(Context::new().with("age", -1)).unwrap_err(),
            "context attribute `age` is -1, outside its range (0 to 130)"
        );
        assert_eq!(
            check(Context::new().with("age", 131)).unwrap_err(),
            "context attribute `age` is 131, outside its range (0 to 130)"
        );
        assert_eq!(
            check(Context::new().with("spend", -0.01)).unwrap_err(),
            "context attribute `spend` is -0.01, outside its range (at least 0)"
        );
        assert_eq!(
            check(Context::new().with("wait", "25h")).unwrap_err(),
            "context attribute `wait` is 25h, outside its range (at most 1d)"
        );
    }

    #[test]
    fn context_json_round_trip() {
        let ctx: Context = serde_json::from_str(r#"{"age": 3, "tags": ["x"], "f": 1.5}"#).unwrap();
        assert_eq!(ctx.get("age"), Some(&Value::Int(3)));
        assert_eq!(ctx.get("f"), Some(&Value::Float(1.5)));
        assert!(serde_json::from_str::<Context>(r#"{"a": 1, "a": 2}"#).is_err());
    }
}
