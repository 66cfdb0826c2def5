//! What a policy network may cost: the per-tensor and total memory bounds, and
//! where they are enforced.
//!
//! A model file is small, but a `ConstantOfShape [1, 2e8]` or an `Expand` to a
//! shape read from the input makes tract allocate gigabytes, at load time (tract
//! evaluates constant subgraphs while it infers shapes) or at every decision. So
//! the bounds are checked twice: [`Bounded`] wraps every operator during shape
//! inference and refuses an output over the bound *before* tract evaluates it,
//! and [`check_typed`] requires every tensor of the batch-bound typed graph to
//! have a concrete shape within the bounds before the graph is optimised.

use std::collections::HashMap;

use tract_onnx::tract_core::optim::CONST_FOLD_MEM_BUDGET;
use tract_onnx::tract_hir::internal::*;

/// The bounds a policy network must fit, checked when it loads.
///
/// Every intermediate tensor, at batch 1, must have a concrete shape (one that
/// does not depend on the observation's values) of at most
/// [`max_tensor_elements`](Self::max_tensor_elements) elements, and all of them
/// together, weights included, at most [`max_total_bytes`](Self::max_total_bytes).
/// With [`max_batch`](Self::max_batch) above 1, the batched plan must fit the same
/// bounds at that batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyLimits {
    /// Largest number of elements in one tensor (default 16 Mi).
    pub max_tensor_elements: u64,
    /// Largest number of bytes of all tensors of the graph together (default 256 MiB).
    pub max_total_bytes: u64,
    /// Rows one forward pass of [`Policy::scores_batch`](super::Policy::scores_batch)
    /// scores (default 1: no batched plan is built, and batches are scored row by
    /// row). Above 1, a model with a symbolic batch gets a second plan bound to this
    /// many rows (a model that fixes its batch keeps scoring row by row); at most
    /// [`MAX_BATCH`](Self::MAX_BATCH).
    pub max_batch: usize,
}

impl PolicyLimits {
    /// The largest [`max_batch`](Self::max_batch): 4,096 rows.
    pub const MAX_BATCH: usize = 4096;
    /// The default per-tensor bound: 16 Mi elements (64 MiB of f32).
    pub const DEFAULT_MAX_TENSOR_ELEMENTS: u64 = 16 << 20;
    /// The default bound on all tensors together: 256 MiB.
    pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 256 << 20;
}

impl Default for PolicyLimits {
    fn default() -> Self {
        Self {
            max_tensor_elements: Self::DEFAULT_MAX_TENSOR_ELEMENTS,
            max_total_bytes: Self::DEFAULT_MAX_TOTAL_BYTES,
            max_batch: 1,
        }
    }
}

/// Why a graph does not fit its [`PolicyLimits`]; carried through tract's
/// `anyhow` errors and recovered by the loader.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitError {
    /// A tensor whose shape is only known once the model runs.
    #[error("node `{node}` ({op}) produces a tensor of shape {shape}, which depends on the observation's values")]
    NotConcrete {
        /// Node name.
        node: String,
        /// Operator name.
        op: String,
        /// The shape as far as it is known.
        shape: String,
    },
    /// A tensor with more elements than allowed.
    #[error("node `{node}` ({op}) produces a tensor of shape {shape}: {elements} elements, more than the {limit} allowed")]
    TensorTooLarge {
        /// Node name.
        node: String,
        /// Operator name.
        op: String,
        /// The shape.
        shape: String,
        /// Its number of elements.
        elements: u128,
        /// The bound.
        limit: u64,
    },
    /// A dimension written in the file larger than a whole tensor may be.
    #[error("node `{node}` ({op}) asks for shape {shape}: a dimension of {dim}, more than the {limit} elements a tensor may have")]
    DimensionTooLarge {
        /// Node name.
        node: String,
        /// Operator name.
        op: String,
        /// The shape as the file writes it.
        shape: String,
        /// The largest dimension.
        dim: u128,
        /// The bound.
        limit: u64,
    },
    /// All tensors together over the bound.
    #[error(
        "the tensors of the graph take {bytes} bytes at batch {rows}, more than the {limit} allowed"
    )]
    TotalTooLarge {
        /// Bytes of all tensors together.
        bytes: u128,
        /// The batch the graph is bound to.
        rows: usize,
        /// The bound.
        limit: u64,
    },
    /// A batched plan larger than talktrack builds.
    #[error("a batch of {rows} rows was asked for (`max_batch`), more than the {limit} allowed")]
    BatchTooLarge {
        /// The batch asked for.
        rows: usize,
        /// The bound.
        limit: usize,
    },
}

impl LimitError {
    /// A `max_batch` over [`PolicyLimits::MAX_BATCH`].
    pub(crate) fn batch(rows: usize) -> Self {
        Self::BatchTooLarge {
            rows,
            limit: PolicyLimits::MAX_BATCH,
        }
    }
}

/// Finds a [`LimitError`] anywhere in an `anyhow` chain.
pub(crate) fn find_limit_error(e: &anyhow::Error) -> Option<LimitError> {
    e.chain()
        .find_map(|c| c.downcast_ref::<LimitError>())
        .cloned()
}

fn shape_text(dims: &[String]) -> String {
    format!("[{}]", dims.join(", "))
}

/// Elements of a shape, or `None` if one dimension is not a known integer.
fn inferred_elements(fact: &InferenceFact) -> Option<(u128, Vec<String>)> {
    let dims = fact.shape.concretize()?;
    let mut n: u128 = 1;
    let mut text = Vec::with_capacity(dims.len());
    for d in dims.iter() {
        let v = u128::try_from(d.to_i64().ok()?).ok()?;
        n = n.saturating_mul(v);
        text.push(v.to_string());
    }
    Some((n, text))
}

/// An inference operator wrapped so that its outputs are checked against the
/// bounds before tract evaluates it on constant inputs.
///
/// Downcasts see through the wrapper ([`InferenceOp::as_op`] is the inner op's),
/// so tract's passes that look for a `Source` or a `Const` still find them.
#[derive(Debug, Clone)]
pub(crate) struct Bounded {
    inner: Box<dyn InferenceOp>,
    node: String,
    max_elements: u64,
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node && self.inner.as_op() == other.inner.as_op()
    }
}
impl Eq for Bounded {}

impl Op for Bounded {
    fn name(&self) -> StaticName {
        self.inner.as_op().name()
    }
    fn info(&self) -> TractResult<Vec<String>> {
        self.inner.as_op().info()
    }
    fn as_typed(&self) -> Option<&dyn TypedOp> {
        self.inner.as_op().as_typed()
    }
}

impl EvalOp for Bounded {
    fn eval(&self, ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.inner.as_op().eval(ctx, inputs)
    }
    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        self.inner.as_op().eval_out_of_plan(inputs)
    }
    fn state(&self, ctx: &EvalContext) -> TractResult<Option<Box<dyn OpState>>> {
        self.inner.as_op().state(ctx)
    }
}

fn tensor_mem(t: &Tensor) -> u64 {
    (t.volume() as u64).saturating_mul(t.datum_type().size_of() as u64)
}

impl InferenceOp for Bounded {
    fn infer(
        &mut self,
        inputs: TVec<&InferenceFact>,
        outputs: TVec<&InferenceFact>,
        observed: TVec<&InferenceFact>,
    ) -> TractResult<(
        TVec<InferenceFact>,
        TVec<InferenceFact>,
        TVec<InferenceFact>,
    )> {
        let (inputs, outputs, observed) = self
            .inner
            .infer_facts(inputs, outputs, observed)
            .context("Infering facts")?;
        let mut all_known = !outputs.is_empty();
        for o in &outputs {
            match inferred_elements(o) {
                Some((n, dims)) if n > u128::from(self.max_elements) => {
                    return Err(LimitError::TensorTooLarge {
                        node: self.node.clone(),
                        op: self.inner.as_op().name().to_string(),
                        shape: shape_text(&dims),
                        elements: n,
                        limit: self.max_elements,
                    }
                    .into());
                }
                Some(_) => {}
                None => all_known = false,
            }
        }
        // The same eager evaluation as tract's own, but only once the outputs are
        // known to fit: what cannot be sized is left for the typed check.
        if !all_known || inputs.is_empty() {
            return Ok((inputs, outputs, observed));
        }
        let Some(values) = inputs
            .iter()
            .map(|i| {
                i.value
                    .concretize()
                    .filter(|t| t.is_plain_ram() && tensor_mem(t) <= CONST_FOLD_MEM_BUDGET)
                    .map(|t| t.into_tvalue())
            })
            .collect::<Option<TVec<_>>>()
        else {
            return Ok((inputs, outputs, observed));
        };
        let input_mem: u64 = values.iter().map(|t| tensor_mem(t)).sum();
        match self.inner.as_op().eval_out_of_plan(values) {
            Ok(Some(values)) => {
                let output_mem: u64 = values.iter().map(|t| tensor_mem(t)).sum();
                if output_mem <= input_mem.max(CONST_FOLD_MEM_BUDGET) {
                    let values = values
                        .into_iter()
                        .map(|t| t.into_arc_tensor().try_into())
                        .collect::<TractResult<TVec<_>>>()?;
                    return Ok((inputs, values, observed));
                }
                Ok((inputs, outputs, observed))
            }
            Ok(None) => Ok((inputs, outputs, observed)),
            Err(e)
                if e.root_cause()
                    .downcast_ref::<tract_onnx::tract_core::prelude::tract_data::TooEarly>()
                    .is_some() =>
            {
                Ok((inputs, outputs, observed))
            }
            Err(e) => Err(e).context("Eager eval during inference"),
        }
    }

    fn infer_facts(
        &mut self,
        inputs: TVec<&InferenceFact>,
        outputs: TVec<&InferenceFact>,
        observed: TVec<&InferenceFact>,
    ) -> TractResult<(
        TVec<InferenceFact>,
        TVec<InferenceFact>,
        TVec<InferenceFact>,
    )> {
        self.inner.infer_facts(inputs, outputs, observed)
    }

    fn observe_outlets(
        &self,
        model: &InferenceModel,
        node: &InferenceNode,
    ) -> TractResult<Vec<OutletId>> {
        self.inner.observe_outlets(model, node)
    }

    fn incorporate(
        &self,
        model: &InferenceModel,
        node: &InferenceNode,
    ) -> TractResult<Option<InferenceModelPatch>> {
        self.inner.incorporate(model, node)
    }

    fn nboutputs(&self) -> TractResult<usize> {
        self.inner.nboutputs()
    }

    fn as_op(&self) -> &dyn Op {
        self.inner.as_op()
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self.inner.as_op_mut()
    }

    fn to_typed(
        &self,
        source: &InferenceModel,
        node: &InferenceNode,
        target: &mut TypedModel,
        mapping: &HashMap<OutletId, OutletId>,
    ) -> TractResult<TVec<OutletId>> {
        self.inner.to_typed(source, node, target, mapping)
    }
}

/// Wraps every operator of `model` but its sources in [`Bounded`].
pub(crate) fn bound_inference(model: &mut InferenceModel, limits: &PolicyLimits) {
    for node in model.nodes_mut() {
        if InferenceModel::is_source(&node.op) {
            continue;
        }
        let placeholder: Box<dyn InferenceOp> =
            Box::new(tract_onnx::tract_core::ops::dummy::Dummy::new());
        let inner = std::mem::replace(&mut node.op, placeholder);
        node.op = Box::new(Bounded {
            inner,
            node: node.name.clone(),
            max_elements: limits.max_tensor_elements,
        });
    }
}

/// Checks that every tensor of a batch-bound typed graph has a concrete shape
/// within the bounds.
pub(crate) fn check_typed(
    model: &TypedModel,
    limits: &PolicyLimits,
    rows: usize,
) -> Result<(), LimitError> {
    let mut total: u128 = 0;
    for node in model.nodes() {
        for out in &node.outputs {
            let fact = &out.fact;
            let op = || node.op.name().to_string();
            let Some(dims) = fact.shape.as_concrete() else {
                return Err(LimitError::NotConcrete {
                    node: node.name.clone(),
                    op: op(),
                    shape: crate::policy::wording::shape(fact.shape.iter()),
                });
            };
            let elements = dims.iter().fold(1u128, |n, d| n.saturating_mul(*d as u128));
            if elements > u128::from(limits.max_tensor_elements) {
                return Err(LimitError::TensorTooLarge {
                    node: node.name.clone(),
                    op: op(),
                    shape: shape_text(&dims.iter().map(ToString::to_string).collect::<Vec<_>>()),
                    elements,
                    limit: limits.max_tensor_elements,
                });
            }
            total =
                total.saturating_add(elements.saturating_mul(fact.datum_type.size_of() as u128));
        }
    }
    if total > u128::from(limits.max_total_bytes) {
        return Err(LimitError::TotalTooLarge {
            bytes: total,
            rows,
            limit: limits.max_total_bytes,
        });
    }
    Ok(())
}
