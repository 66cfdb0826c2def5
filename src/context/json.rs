//! A [`Context`] in JSON: written as an object of attributes, read attribute by
//! attribute so that a value of the wrong shape is reported with its name.

use super::{Context, Value};
use serde::de::{DeserializeSeed, Error, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serializer};

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ContextVisitor)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_json_round_trip() {
        let ctx: Context = serde_json::from_str(r#"{"age": 3, "tags": ["x"], "f": 1.5}"#).unwrap();
        assert_eq!(ctx.get("age"), Some(&Value::Int(3)));
        assert_eq!(ctx.get("f"), Some(&Value::Float(1.5)));
        assert!(serde_json::from_str::<Context>(r#"{"a": 1, "a": 2}"#).is_err());
    }
}
