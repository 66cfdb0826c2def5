//! Attribute values: [`Value`] as a host sends it, and [`Val`], the typed view
//! rules and features read once a value is resolved against its declaration.

use crate::name_table::same;

use serde::{Deserialize, Serialize};

use super::{parse_duration, parse_timestamp, AttrType};

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
