//! The typed context a host sends with every request, and the schema a bundle
//! declares for it.
//!
//! Attribute names are resolved to schema slots once per request
//! ([`Schema::resolve`]); rules and the feature encoder then read slots by index,
//! never by name. The same types describe the typed attributes of catalog tracks.

mod attr;
mod json;
mod schema;
mod time_value;
mod value;

use std::sync::Arc;

use serde::Serialize;

pub use attr::{AttrDecl, AttrType, Bound, ValueRange};
pub use schema::{ContextError, Resolved, Schema};
pub use time_value::{format_duration, format_timestamp, parse_duration, parse_timestamp};
pub use value::{Val, Value};

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
    #[serde(with = "json")]
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
