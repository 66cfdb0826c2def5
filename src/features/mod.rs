//! The feature encoder: how the context and dialogue history of a turn become the
//! policy's observation vector.
//!
//! The trainer's simulator and the runtime both call [`FeatureEncoder::encode`] on
//! a [`TurnView`], so the observation a policy was trained on is, by construction,
//! the one it is served.

use serde::{Deserialize, Serialize};

use crate::context::{AttrType, Schema, Val};
use crate::turn_view::TurnView;

pub(crate) mod trace;

/// The widest embedding a feature spec may declare (`dim` of `kind = "embedding"`).
pub const MAX_EMBEDDING_DIM: usize = 1 << 16;

/// The widest observation vector a feature spec may lay out, all blocks together.
///
/// The runtime allocates one observation of this width per serving thread, so a
/// typo such as `dim = 20000000000` must be refused when the bundle loads.
pub const MAX_OBS_DIM: usize = 1 << 20;

/// One block of the observation vector, as written in `bundle.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Feature {
    /// One-hot of the turn index, `max_turns` wide (later turns count as the last).
    TurnOneHot,
    /// `turns_left / max_turns`, one float.
    TurnsLeft,
    /// One-hot of the last user reply category, one wider than the vocabulary:
    /// slot 0 means "no reply yet".
    LastReplyOneHot,
    /// A numeric, boolean or duration (in days) context attribute times `scale`;
    /// 0 when an optional attribute is absent.
    Attr {
        /// Attribute name.
        name: String,
        /// Multiplier applied to the value.
        #[serde(default = "one")]
        scale: f32,
    },
    /// One-hot of an enum context attribute (all zeros when absent).
    AttrOneHot {
        /// Attribute name.
        name: String,
    },
    /// Per catalog track, 1 when it was used earlier in the conversation.
    UsedTracks,
    /// The request's precomputed text embedding, `dim` floats.
    Embedding {
        /// Embedding width.
        dim: usize,
    },
}

fn one() -> f32 {
    1.0
}

#[derive(Clone, Debug)]
enum Block {
    TurnOneHot { at: usize, width: usize },
    TurnsLeft { at: usize },
    LastReply { at: usize },
    Numeric { at: usize, slot: usize, scale: f32 },
    OneHot { at: usize, slot: usize },
    Used { at: usize },
    Embedding { at: usize, dim: usize },
}

/// A feature spec checked against a bundle's schema and sizes.
#[derive(Clone, Debug)]
pub struct FeatureEncoder {
    blocks: Vec<Block>,
    dim: usize,
    embedding_dim: Option<usize>,
}

/// What the encoder needs to know about the bundle.
#[derive(Clone, Copy, Debug)]
pub struct FeatureEnv<'a> {
    /// The context schema.
    pub schema: &'a Schema,
    /// Number of catalog tracks.
    pub n_tracks: usize,
    /// Size of the reply vocabulary.
    pub n_replies: usize,
    /// Maximum agent turns.
    pub max_turns: u32,
}

impl FeatureEncoder {
    /// Checks `spec` and lays the blocks out in order.
    ///
    /// Errors (all of them, as `(feature index, message)`): unknown attributes,
    /// attributes of a type the block cannot encode, protected attributes, which
    /// the policy must never see, an embedding wider than `MAX_EMBEDDING_DIM`
    /// and an observation wider than `MAX_OBS_DIM`.
    pub fn new(spec: &[Feature], env: FeatureEnv<'_>) -> Result<Self, Vec<(usize, String)>> {
        let mut blocks = Vec::with_capacity(spec.len());
        let mut errors = Vec::new();
        let mut at = 0usize;
        let mut embedding_dim = None;
        let mut too_wide = false;
        for (i, f) in spec.iter().enumerate() {
            let width = match f {
                Feature::TurnOneHot => {
                    let width = env.max_turns.max(1) as usize;
                    blocks.push(Block::TurnOneHot { at, width });
                    width
                }
                Feature::TurnsLeft => {
                    blocks.push(Block::TurnsLeft { at });
                    1
                }
                Feature::LastReplyOneHot => {
                    blocks.push(Block::LastReply { at });
                    env.n_replies + 1
                }
                Feature::UsedTracks => {
                    blocks.push(Block::Used { at });
                    env.n_tracks
                }
                Feature::Embedding { dim } => {
                    if embedding_dim.is_some() {
                        errors.push((i, "the embedding may appear only once".to_owned()));
                    }
                    if *dim == 0 || *dim > MAX_EMBEDDING_DIM {
                        errors.push((
                            i,
                            format!(
                                "embedding `dim = {dim}` must be between 1 and {MAX_EMBEDDING_DIM}"
                            ),
                        ));
                        0
                    } else {
                        embedding_dim = Some(*dim);
                        blocks.push(Block::Embedding { at, dim: *dim });
                        *dim
                    }
                }
                Feature::Attr { name, scale } => match attr_slot(env.schema, name) {
                    Err(e) => {
                        errors.push((i, e));
                        0
                    }
                    Ok((slot, ty)) => {
                        if !scale.is_finite() {
                            errors.push((i, format!("scale of `{name}` must be a finite number")));
                        }
                        match ty {
                            AttrType::Int
                            | AttrType::Float
                            | AttrType::Bool
                            | AttrType::Duration => {
                                blocks.push(Block::Numeric {
                                    at,
                                    slot,
                                    scale: *scale,
                                });
                                1
                            }
                            other => {
                                errors.push((
                                    i,
                                    format!(
                                        "`{name}` is {other}; `attr` encodes int, float, bool or duration (use `attr_one_hot` for enums)"
                                    ),
                                ));
                                0
                            }
                        }
                    }
                },
                Feature::AttrOneHot { name } => match attr_slot(env.schema, name) {
                    Err(e) => {
                        errors.push((i, e));
                        0
                    }
                    Ok((slot, AttrType::Enum(vs))) => {
                        blocks.push(Block::OneHot { at, slot });
                        vs.len()
                    }
                    Ok((_, other)) => {
                        errors.push((
                            i,
                            format!("`{name}` is {other}; `attr_one_hot` encodes enums only"),
                        ));
                        0
                    }
                },
            };
            at = at.saturating_add(width);
            if at > MAX_OBS_DIM && !too_wide {
                too_wide = true;
                errors.push((
                    i,
                    format!(
                        "the observation reaches {at} floats at this feature, more than the {MAX_OBS_DIM} allowed"
                    ),
                ));
            }
        }
        if at == 0 && errors.is_empty() {
            errors.push((
                0,
                "the feature spec is empty: the policy needs an input".to_owned(),
            ));
        }
        if errors.is_empty() {
            Ok(Self {
                blocks,
                dim: at,
                embedding_dim,
            })
        } else {
            Err(errors)
        }
    }

    /// Length of the observation vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Width of the embedding the requests must carry, if the spec includes one.
    pub fn embedding_dim(&self) -> Option<usize> {
        self.embedding_dim
    }

    /// What each slot of the observation holds, in order: the feature block
    /// that writes it (as written in `bundle.toml`) and the slot within it.
    /// `replies` and `tracks` name the one-hot slots of those blocks.
    pub fn slot_labels(
        &self,
        schema: &Schema,
        replies: &[String],
        tracks: &[&str],
    ) -> Vec<(String, String)> {
        let mut labels = Vec::with_capacity(self.dim);
        let attr = |slot: usize| schema.attrs().get(slot);
        for b in &self.blocks {
            match b {
                Block::TurnOneHot { width, .. } => {
                    for t in 0..*width {
                        let last = if t + 1 == *width { " or later" } else { "" };
                        // Numbered from 1, as explanations number turns.
                        labels.push(("turn_one_hot".to_owned(), format!("turn {}{last}", t + 1)));
                    }
                }
                Block::TurnsLeft { .. } => {
                    labels.push(("turns_left".to_owned(), "turns left / max_turns".to_owned()));
                }
                Block::LastReply { .. } => {
                    labels.push(("last_reply_one_hot".to_owned(), "no reply yet".to_owned()));
                    for r in replies {
                        labels.push(("last_reply_one_hot".to_owned(), r.clone()));
                    }
                }
                Block::Numeric { slot, scale, .. } => {
                    let name = attr(*slot).map_or("?", |a| a.name.as_str());
                    labels.push((format!("attr {name}"), format!("{name} × {scale}")));
                }
                Block::OneHot { slot, .. } => {
                    let name = attr(*slot).map_or("?", |a| a.name.as_str());
                    if let Some(AttrType::Enum(values)) = attr(*slot).map(|a| &a.ty) {
                        for v in values {
                            labels.push((format!("attr_one_hot {name}"), v.clone()));
                        }
                    }
                }
                Block::Used { .. } => {
                    for t in tracks {
                        labels.push(("used_tracks".to_owned(), (*t).to_owned()));
                    }
                }
                Block::Embedding { dim, .. } => {
                    for i in 0..*dim {
                        labels.push(("embedding".to_owned(), format!("[{i}]")));
                    }
                }
            }
        }
        labels
    }

    /// Writes the observation of `view` into `out` (`out.len()` must be [`dim`](Self::dim);
    /// a shorter buffer gets a truncated observation rather than a panic).
    pub fn encode(&self, view: &TurnView<'_>, out: &mut [f32]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        for b in &self.blocks {
            match *b {
                Block::TurnOneHot { at, width } => {
                    let t = (view.turn as usize).min(width.saturating_sub(1));
                    set(out, at + t, 1.0);
                }
                Block::TurnsLeft { at } => {
                    let v = if view.max_turns == 0 {
                        0.0
                    } else {
                        view.turns_left() as f32 / view.max_turns as f32
                    };
                    set(out, at, v);
                }
                Block::LastReply { at } => {
                    let i = view.last_reply.map_or(0, |r| r as usize + 1);
                    set(out, at + i, 1.0);
                }
                Block::Numeric { at, slot, scale } => {
                    let v = match view.values.get(slot).copied().flatten() {
                        Some(Val::Int(i)) => i as f32,
                        Some(Val::Float(x)) => x as f32,
                        Some(Val::Bool(b)) => f32::from(u8::from(b)),
                        Some(Val::Dur(ms)) => ms as f32 / 86_400_000.0,
                        _ => 0.0,
                    };
                    set(out, at, v * scale);
                }
                Block::OneHot { at, slot } => {
                    if let Some(Val::Enum(e)) = view.values.get(slot).copied().flatten() {
                        set(out, at + e as usize, 1.0);
                    }
                }
                Block::Used { at } => {
                    for (i, &n) in view.used.iter().enumerate() {
                        if n > 0 {
                            set(out, at + i, 1.0);
                        }
                    }
                }
                Block::Embedding { at, dim } => {
                    if let Some(e) = view.embedding {
                        if let Some(dst) = out.get_mut(at..at + dim) {
                            for (d, s) in dst.iter_mut().zip(e) {
                                *d = *s;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[inline]
fn set(out: &mut [f32], i: usize, v: f32) {
    if let Some(x) = out.get_mut(i) {
        *x = v;
    }
}

fn attr_slot<'s>(schema: &'s Schema, name: &str) -> Result<(usize, &'s AttrType), String> {
    let slot = schema
        .slot(name)
        .ok_or_else(|| format!("unknown context attribute `{name}`"))?;
    let decl = &schema.attrs()[slot];
    if decl.protected {
        return Err(format!(
            "`{name}` is a protected attribute: rules may read it, the policy may not"
        ));
    }
    Ok((slot, &decl.ty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::AttrDecl;

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
                name: "tenure".into(),
                ty: AttrType::Float,
                optional: true,
                protected: false,
                range: None,
            },
            AttrDecl {
                name: "segment".into(),
                ty: AttrType::Enum(vec!["a".into(), "b".into()]),
                optional: false,
                protected: false,
                range: None,
            },
        ])
        .unwrap()
    }

    fn env(s: &Schema) -> FeatureEnv<'_> {
        FeatureEnv {
            schema: s,
            n_tracks: 3,
            n_replies: 2,
            max_turns: 4,
        }
    }

    #[test]
    fn encodes_blocks_in_order() {
        let s = schema();
        let spec = vec![
            Feature::TurnOneHot,
            Feature::LastReplyOneHot,
            Feature::Attr {
                name: "tenure".into(),
                scale: 0.5,
            },
            Feature::AttrOneHot {
                name: "segment".into(),
            },
            Feature::UsedTracks,
            Feature::TurnsLeft,
        ];
        let enc = FeatureEncoder::new(&spec, env(&s)).unwrap();
        assert_eq!(enc.dim(), 4 + 3 + 1 + 2 + 3 + 1);
        let values = [
            Some(Val::Int(30)),
            Some(Val::Float(4.0)),
            Some(Val::Enum(1)),
        ];
        let used = [0u16, 2, 0];
        let view = TurnView {
            values: &values,
            now_ms: 0,
            turn: 9,
            max_turns: 4,
            used: &used,
            last_reply: Some(1),
            embedding: None,
            contacts: crate::turn_view::ContactLog::empty(),
        };
        let mut out = vec![9.0; enc.dim()];
        enc.encode(&view, &mut out);
        assert_eq!(
            out,
            vec![0., 0., 0., 1., 0., 0., 1., 2., 0., 1., 0., 1., 0., 0.]
        );
    }

    #[test]
    fn rejects_protected_and_unknown_attributes() {
        let s = schema();
        let spec = vec![
            Feature::Attr {
                name: "age".into(),
                scale: 1.0,
            },
            Feature::AttrOneHot { name: "zip".into() },
            Feature::AttrOneHot {
                name: "tenure".into(),
            },
        ];
        let errs = FeatureEncoder::new(&spec, env(&s)).unwrap_err();
        assert_eq!(errs.len(), 3);
        assert!(errs[0].1.contains("protected"));
        assert!(errs[1].1.contains("unknown context attribute `zip`"));
        assert!(errs[2].1.contains("enums only"));
    }
}
