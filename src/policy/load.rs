//! From ONNX bytes to a bounded, optimised tract plan.
//!
//! The stages: decode the protobuf → check the stored tensors
//! ([`super::tensors`]) → check names, inputs and operators against
//! the manifest → import with tract (the file's intermediate shape annotations
//! are ignored: tract infers its own, so a symbolic batch in hidden layers
//! cannot clash with the batch the loader binds) → infer shapes with every
//! operator bounded ([`super::limits`]) → bind the batch to 1 and check every
//! tensor → optimise and plan. Every tract call runs under [`guarded`]: a panic
//! in tract becomes an error for this one policy.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::error::{chain, PolicyError};
use super::limits::{bound_inference, check_typed, find_limit_error, LimitError, PolicyLimits};
use super::runner::{Plan, PolicyIo};
use super::shape_constants::check_shape_constants;
use super::tensors::check_stored_tensors;
use super::wording;

/// What the loader learnt about the mask input, if the manifest maps one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MaskType {
    /// `bool`: true allowed.
    Bool,
    /// `float`: 1.0 allowed, 0.0 masked.
    Float,
    /// `int64`: 1 allowed, 0 masked.
    Int64,
}

impl MaskType {
    pub(crate) fn datum_type(self) -> DatumType {
        match self {
            Self::Bool => bool::datum_type(),
            Self::Float => f32::datum_type(),
            Self::Int64 => i64::datum_type(),
        }
    }
}

/// A plan and how to feed it.
pub(crate) struct Loaded {
    /// The plan at batch 1.
    pub(crate) plan: Plan,
    /// The plan at [`PolicyLimits::max_batch`] rows and that number, when asked for
    /// and the model's batch is symbolic.
    pub(crate) batched: Option<(Plan, usize)>,
    pub(crate) mask: Option<MaskType>,
}

/// Runs one tract call, turning a panic into `Err(())`.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| ())
}

/// Decodes, checks names and shapes against `io`, bounds, optimises and plans.
pub(crate) fn build_plan(
    bytes: &[u8],
    io: &PolicyIo,
    origin: &str,
    limits: &PolicyLimits,
) -> Result<Loaded, PolicyError> {
    let not_onnx = |reason: String| PolicyError::NotOnnx {
        origin: origin.to_owned(),
        reason,
    };
    let panicked = |stage: &'static str| PolicyError::Panicked {
        origin: origin.to_owned(),
        stage,
    };
    check_io(io, origin)?;
    if limits.max_batch > PolicyLimits::MAX_BATCH {
        return Err(PolicyError::TooCostly {
            origin: origin.to_owned(),
            reason: LimitError::batch(limits.max_batch).to_string(),
        });
    }
    let proto = pb::ModelProto::decode(bytes).map_err(|e| not_onnx(e.to_string()))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| not_onnx("the file has no graph".to_owned()))?;
    check_graph(graph).map_err(not_onnx)?;
    check_stored_tensors(graph).map_err(not_onnx)?;
    let onnx = tract_onnx::onnx()
        .with_ignore_value_info(true)
        .with_ignore_output_shapes(true);
    check_operators(graph, &onnx, origin)?;
    let declared = check_names_and_inputs(graph, io, origin)?;
    check_shape_constants(graph, limits).map_err(|e| PolicyError::TooCostly {
        origin: origin.to_owned(),
        reason: e.to_string(),
    })?;

    let imported = guarded(|| onnx.model_for_proto_model(&proto))
        .map_err(|()| panicked("importing the model"))?
        .map_err(|e| not_onnx(wording::reason(&chain(&e))))?;

    let prepare = |e: anyhow::Error| match find_limit_error(&e) {
        Some(limit) => PolicyError::TooCostly {
            origin: origin.to_owned(),
            reason: limit.to_string(),
        },
        None => PolicyError::Optimize {
            origin: origin.to_owned(),
            reason: wording::reason(&chain(&e)),
        },
    };
    // One batch for every input: the declared one if it is a number, else a
    // symbol the hidden layers may share, bound to 1 before the plan is made.
    let batch_symbol = imported.symbols.sym("batch");
    let batch = match declared.batch {
        Some(n) => TDim::Val(n),
        None => TDim::Sym(batch_symbol.clone()),
    };
    let mut names = vec![io.input.clone()];
    names.extend(io.mask_input.iter().cloned());
    let typed = guarded(|| -> TractResult<TypedModel> {
        let mut model = imported.with_input_names(&names)?.with_input_fact(
            0,
            InferenceFact::dt_shape(f32::datum_type(), tvec!(batch.clone(), io.obs_dim.into())),
        )?;
        if let Some(mask) = declared.mask {
            model = model.with_input_fact(
                1,
                InferenceFact::dt_shape(
                    mask.datum_type(),
                    tvec!(batch.clone(), io.n_tracks.into()),
                ),
            )?;
        }
        let mut model = model.with_outputs_by_name([&io.output])?;
        bound_inference(&mut model, limits);
        model.into_typed()
    })
    .map_err(|()| panicked("inferring shapes"))?
    .map_err(prepare)?;

    let costly = |e: super::limits::LimitError| PolicyError::TooCostly {
        origin: origin.to_owned(),
        reason: e.to_string(),
    };
    let plan_at = |rows: usize| {
        guarded(|| -> Result<Plan, PolicyError> {
            let dim = i64::try_from(rows).map_err(|_| costly(LimitError::batch(rows)))?;
            let bound = typed
                .set_symbols(&HashMap::from([(batch_symbol.clone(), TDim::Val(dim))]))
                .map_err(prepare)?;
            check_typed(&bound, limits, rows).map_err(costly)?;
            let optimized = bound.into_optimized().map_err(prepare)?;
            check_typed(&optimized, limits, rows).map_err(costly)?;
            optimized.into_runnable().map_err(prepare)
        })
        .map_err(|()| panicked("optimising the model"))?
    };
    let plan = plan_at(1)?;
    let batched = match (limits.max_batch, declared.batch) {
        (rows @ 2.., None) => Some((plan_at(rows)?, rows)),
        _ => None,
    };
    Ok(Loaded {
        plan,
        batched,
        mask: declared.mask,
    })
}

fn check_io(io: &PolicyIo, origin: &str) -> Result<(), PolicyError> {
    let invalid = |reason: String| PolicyError::InvalidIo {
        origin: origin.to_owned(),
        reason,
    };
    if io.obs_dim == 0 || io.n_tracks == 0 {
        return Err(invalid(format!(
            "obs_dim ({}) and n_tracks ({}) must be positive",
            io.obs_dim, io.n_tracks
        )));
    }
    // The probe and every serving thread allocate an observation of this width.
    if io.obs_dim > crate::features::MAX_OBS_DIM {
        return Err(invalid(format!(
            "obs_dim ({}) is more than the {} allowed",
            io.obs_dim,
            crate::features::MAX_OBS_DIM
        )));
    }
    if io.mask_input.as_deref() == Some(io.input.as_str()) {
        return Err(invalid(format!(
            "the observation and the mask are both mapped to input `{}`",
            io.input
        )));
    }
    Ok(())
}

/// Checks what tract's importer assumes without checking: every graph output
/// is produced by a node, is an input, or is an initializer.
fn check_graph(graph: &pb::GraphProto) -> Result<(), String> {
    let produced = |name: &str| {
        graph.input.iter().any(|i| i.name == name)
            || graph.initializer.iter().any(|i| i.name == name)
            || graph
                .node
                .iter()
                .any(|n| n.output.iter().any(|o| o == name))
    };
    match graph.output.iter().find(|o| !produced(&o.name)) {
        Some(o) => Err(format!(
            "graph output `{}` is not produced by any node",
            o.name
        )),
        None => Ok(()),
    }
}

/// Refuses operators tract does not implement, naming them with their domain.
fn check_operators(
    graph: &pb::GraphProto,
    onnx: &tract_onnx::Onnx,
    origin: &str,
) -> Result<(), PolicyError> {
    let mut unsupported: Vec<String> = Vec::new();
    for node in &graph.node {
        if onnx.op_register.0.contains_key(&node.op_type) {
            continue;
        }
        let domain = if node.domain.is_empty() {
            "ai.onnx"
        } else {
            node.domain.as_str()
        };
        let named = format!("`{}` (domain `{domain}`)", node.op_type);
        if !unsupported.contains(&named) {
            unsupported.push(named);
        }
    }
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(PolicyError::UnsupportedOperators {
            origin: origin.to_owned(),
            operators: unsupported,
        })
    }
}

/// What the model declares about the inputs the manifest maps.
struct Declared {
    /// The observation's batch, when the model fixes it.
    batch: Option<i64>,
    /// The mask's element type, when the manifest maps a mask.
    mask: Option<MaskType>,
}

fn check_names_and_inputs(
    graph: &pb::GraphProto,
    io: &PolicyIo,
    origin: &str,
) -> Result<Declared, PolicyError> {
    // Older exporters list initializers among the inputs; they are weights.
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !graph.initializer.iter().any(|init| init.name == i.name))
        .collect();
    let find = |name: &str| {
        inputs
            .iter()
            .find(|i| i.name == name)
            .copied()
            .ok_or_else(|| PolicyError::UnknownInput {
                origin: origin.to_owned(),
                name: name.to_owned(),
                available: inputs.iter().map(|i| i.name.clone()).collect(),
            })
    };
    let input = find(&io.input)?;
    let mask = io.mask_input.as_deref().map(find).transpose()?;
    if !graph.output.iter().any(|o| o.name == io.output) {
        return Err(PolicyError::UnknownOutput {
            origin: origin.to_owned(),
            name: io.output.clone(),
            available: graph.output.iter().map(|o| o.name.clone()).collect(),
        });
    }
    let unmapped: Vec<String> = inputs
        .iter()
        .filter(|i| i.name != io.input && Some(i.name.as_str()) != io.mask_input.as_deref())
        .map(|i| i.name.clone())
        .collect();
    if !unmapped.is_empty() {
        return Err(PolicyError::UnmappedInputs {
            origin: origin.to_owned(),
            names: unmapped,
        });
    }
    let obs = declared_tensor(input);
    let batch = obs.as_ref().ok().and_then(|t| t.batch());
    match &obs {
        Ok(t) if t.elem == pb::tensor_proto::DataType::Float && t.fits(1, io.obs_dim) => {}
        _ => {
            return Err(PolicyError::InputShape {
                origin: origin.to_owned(),
                name: io.input.clone(),
                obs_dim: io.obs_dim,
                found: describe(&obs),
            })
        }
    }
    let mask = match mask {
        None => None,
        Some(m) => {
            let t = declared_tensor(m);
            let kind = t.as_ref().ok().and_then(|t| match t.elem {
                pb::tensor_proto::DataType::Bool => Some(MaskType::Bool),
                pb::tensor_proto::DataType::Float => Some(MaskType::Float),
                pb::tensor_proto::DataType::Int64 => Some(MaskType::Int64),
                _ => None,
            });
            let fits = t
                .as_ref()
                .is_ok_and(|t| t.fits(batch.unwrap_or(1), io.n_tracks));
            match kind {
                Some(kind) if fits => Some(kind),
                _ => {
                    return Err(PolicyError::MaskShape {
                        origin: origin.to_owned(),
                        name: m.name.clone(),
                        n_tracks: io.n_tracks,
                        found: describe(&t),
                    })
                }
            }
        }
    };
    Ok(Declared { batch, mask })
}

/// One dimension as a model declares it.
enum Dim {
    Value(i64),
    Named(String),
    Unknown,
}

/// A tensor input's declared element type and shape.
struct DeclaredTensor {
    elem: pb::tensor_proto::DataType,
    elem_raw: i32,
    dims: Option<Vec<Dim>>,
}

impl DeclaredTensor {
    /// A fixed batch dimension, if the model declares one.
    fn batch(&self) -> Option<i64> {
        match self.dims.as_ref()?.first()? {
            Dim::Value(v) => Some(*v),
            _ => None,
        }
    }

    /// Whether the shape accepts `[batch, width]`; named or unknown dims accept anything.
    fn fits(&self, batch: i64, width: usize) -> bool {
        let Some(dims) = &self.dims else { return true };
        let ok = |d: &Dim, want: i64| match d {
            Dim::Value(v) => *v == want,
            _ => true,
        };
        match dims.as_slice() {
            [b, w] => ok(b, batch) && i64::try_from(width).is_ok_and(|w2| ok(w, w2)),
            _ => false,
        }
    }
}

fn declared_tensor(input: &pb::ValueInfoProto) -> Result<DeclaredTensor, ()> {
    use pb::tensor_shape_proto::dimension::Value as D;
    let Some(pb::type_proto::Value::TensorType(t)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(());
    };
    let dims = t.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(D::DimValue(v)) => Dim::Value(*v),
                Some(D::DimParam(p)) if !p.is_empty() => Dim::Named(p.clone()),
                _ => Dim::Unknown,
            })
            .collect()
    });
    Ok(DeclaredTensor {
        elem: pb::tensor_proto::DataType::try_from(t.elem_type)
            .unwrap_or(pb::tensor_proto::DataType::Undefined),
        elem_raw: t.elem_type,
        dims,
    })
}

/// The declared type and shape in the loader's wording, e.g. `int32 [batch, 12]`.
fn describe(t: &Result<DeclaredTensor, ()>) -> String {
    let Ok(t) = t else {
        return "a non-tensor type".to_owned();
    };
    let elem = match t.elem {
        pb::tensor_proto::DataType::Undefined => format!("type {}", t.elem_raw),
        e => e.as_str_name().to_lowercase(),
    };
    match &t.dims {
        None => format!("{elem} of unknown shape"),
        Some(dims) => format!(
            "{elem} {}",
            wording::shape(dims.iter().map(|d| match d {
                Dim::Value(v) => v.to_string(),
                Dim::Named(n) => n.clone(),
                Dim::Unknown => "?".to_owned(),
            }))
        ),
    }
}
