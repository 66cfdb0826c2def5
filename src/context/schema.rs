//! The schema a bundle declares for the context, and resolving a request's
//! context against it into slots (with the errors a context that does not fit
//! gets). Its own file because resolving is the per-request hot path.

use crate::name_table::NameIndex;

use super::{format_duration, AttrDecl, AttrType, Context, Val, Value, ValueRange};

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

fn show(v: &Val<'_>) -> String {
    match v {
        Val::Int(i) => i.to_string(),
        Val::Float(x) => x.to_string(),
        Val::Dur(ms) => format_duration(*ms),
        other => format!("{other:?}"),
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
    use crate::context::Bound;

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
}
