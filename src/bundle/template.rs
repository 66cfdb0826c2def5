//! Track text templates: `"Hi {first_name}, your plan costs {price}"`.
//!
//! Placeholders name context attributes and are checked when the bundle loads;
//! `{{` and `}}` stand for literal braces. An optional attribute the request does
//! not send renders as nothing, or as the fallback after `|`:
//! `"Hello {first_name|there}"` says "Hello there" to a caller whose name is unknown.

use std::fmt::Write as _;

use crate::context::{format_duration, format_timestamp, AttrType, Schema, Val};

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Slot {
        slot: usize,
        ty: AttrType,
        /// Text rendered when the attribute is absent.
        fallback: String,
    },
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// A template with no placeholders.
    pub fn literal(text: &str) -> Self {
        Self {
            parts: vec![Part::Text(text.to_owned())],
        }
    }

    /// Parses `text`, resolving placeholders against `schema`.
    pub fn parse(text: &str, schema: &Schema) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("unclosed `{{` at character {}", i + 1))?;
                    let inner = &rest[..end];
                    let (name, fallback) = match inner.split_once('|') {
                        Some((n, f)) => (n.trim(), f.trim().to_owned()),
                        None => (inner.trim(), String::new()),
                    };
                    if fallback.contains('{') {
                        return Err(format!(
                            "the fallback of `{{{name}|...}}` may not contain `{{`"
                        ));
                    }
                    let slot = schema.slot(name).ok_or_else(|| {
                        format!("template placeholder `{{{name}}}` is not a context attribute")
                    })?;
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Slot {
                        slot,
                        ty: schema.attrs()[slot].ty.clone(),
                        fallback,
                    });
                    for _ in 0..=end {
                        chars.next();
                    }
                }
                '}' => return Err(format!("unmatched `}}` at character {}", i + 1)),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Self { parts })
    }

    /// Renders with the request's values; an absent optional attribute renders as
    /// its fallback (empty when the placeholder gives none).
    pub fn render(&self, values: &[Option<Val<'_>>]) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Slot { slot, ty, fallback } => match values.get(*slot).copied().flatten() {
                    None => out.push_str(fallback),
                    Some(Val::Bool(b)) => out.push_str(if b { "yes" } else { "no" }),
                    Some(Val::Int(i)) => {
                        let _ = write!(out, "{i}");
                    }
                    Some(Val::Float(x)) => {
                        let _ = write!(out, "{x}");
                    }
                    Some(Val::Str(s)) => out.push_str(s),
                    Some(Val::Enum(e)) => {
                        if let AttrType::Enum(vs) = ty {
                            out.push_str(vs.get(e as usize).map_or("", String::as_str));
                        }
                    }
                    Some(Val::Set(v)) => out.push_str(&v.join(", ")),
                    Some(Val::Time(t)) => out.push_str(&format_timestamp(t)),
                    Some(Val::Dur(d)) => out.push_str(&format_duration(d)),
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::AttrDecl;

    #[test]
    fn renders_and_rejects() {
        let s = Schema::new(vec![AttrDecl {
            name: "name".into(),
            ty: AttrType::String,
            optional: true,
            protected: false,
            range: None,
        }])
        .unwrap();
        let t = Template::parse("Hi {name}, {{braces}}", &s).unwrap();
        assert_eq!(t.render(&[Some(Val::Str("Ada"))]), "Hi Ada, {braces}");
        assert_eq!(t.render(&[None]), "Hi , {braces}");
        assert!(Template::parse("Hi {nam}", &s)
            .unwrap_err()
            .contains("`{nam}`"));
        assert!(Template::parse("Hi {name", &s).is_err());
    }

    #[test]
    fn absent_attributes_render_their_fallback() {
        let s = Schema::new(vec![AttrDecl {
            name: "first_name".into(),
            ty: AttrType::String,
            optional: true,
            protected: false,
            range: None,
        }])
        .unwrap();
        let t = Template::parse("Hello {first_name|there}, thanks for calling", &s).unwrap();
        assert_eq!(
            t.render(&[Some(Val::Str("Sam"))]),
            "Hello Sam, thanks for calling"
        );
        assert_eq!(t.render(&[None]), "Hello there, thanks for calling");
        // Spaces around the name and the fallback are ignored.
        let t = Template::parse("Dear { first_name | valued customer }.", &s).unwrap();
        assert_eq!(t.render(&[None]), "Dear valued customer.");
        assert!(Template::parse("Hi {nam|there}", &s)
            .unwrap_err()
            .contains("`{nam}`"));
        assert!(Template::parse("Hi {first_name|{x}", &s).is_err());
    }
}
