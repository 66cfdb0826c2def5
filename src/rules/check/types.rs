//! The static types the checker gives expressions, and how a diagnostic names them.

use crate::context::AttrType;
use crate::rules::suggest::clip;

/// The static type of an expression.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Ty {
    Bool,
    Int,
    Float,
    Str,
    Enum(Vec<String>),
    Set,
    Time,
    Dur,
    /// `last_reply`: an index into the reply vocabulary.
    Reply,
    /// `track.id`: an index into the catalog.
    TrackId,
    /// A bare word, resolved by what it is compared with.
    Bare(String),
}

impl Ty {
    /// The name with its indefinite article: `an int`, `a string`.
    pub(super) fn a(&self) -> String {
        let n = self.name();
        if n.starts_with(['a', 'e', 'i', 'o', 'u']) {
            format!("an {n}")
        } else {
            format!("a {n}")
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Float => "float".into(),
            Ty::Str => "string".into(),
            Ty::Enum(_) => "enum".into(),
            Ty::Set => "set".into(),
            Ty::Time => "timestamp".into(),
            Ty::Dur => "duration".into(),
            Ty::Reply => "reply category".into(),
            Ty::TrackId => "track id".into(),
            Ty::Bare(w) => format!("bare word `{}`", clip(w)),
        }
    }

    pub(super) fn numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }

    pub(super) fn of(t: &AttrType) -> Ty {
        match t {
            AttrType::Bool => Ty::Bool,
            AttrType::Int => Ty::Int,
            AttrType::Float => Ty::Float,
            AttrType::String => Ty::Str,
            AttrType::Enum(v) => Ty::Enum(v.clone()),
            AttrType::StringSet => Ty::Set,
            AttrType::Timestamp => Ty::Time,
            AttrType::Duration => Ty::Dur,
        }
    }
}
