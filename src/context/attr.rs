//! What an attribute is: its type, its declaration in a schema and the range of
//! values it may take. Its own file because bundles, catalogs and rule checks
//! read these declarations without resolving any request.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{format_duration, Val};

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
