//! Loads an ONNX policy with tract and serves one observation at a time.
//!
//! The expensive work (decode, type, declutter, optimise, plan) happens once in
//! [`Policy::from_bytes`]; each serving thread then keeps its own tract state and
//! input tensor in a [`ThreadLocal`], so [`Policy::scores`] takes no lock shared
//! with other threads and does not re-plan.

use std::cell::RefCell;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use prost::Message;
use thread_local::ThreadLocal;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::error::{chain, PolicyError};

/// The largest policy file [`Policy::from_file`] reads (256 MiB).
pub const MAX_POLICY_BYTES: u64 = 256 * 1024 * 1024;

/// What the scores a policy produces mean; the engine turns them into a choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// Action values (DQN-style): higher is better, unbounded.
    QValues,
    /// Unnormalised log-probabilities (policy-gradient heads).
    Logits,
    /// Probabilities that already sum to one (a softmax head inside the model).
    Probabilities,
}

/// The contract between a bundle manifest and its ONNX file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyIo {
    /// Name of the graph input that receives the observation.
    pub input: String,
    /// Name of the graph output that holds one score per track.
    pub output: String,
    /// Observation width: the input is `f32 [1, obs_dim]`.
    pub obs_dim: usize,
    /// Number of catalog tracks: the output is `[1, n_tracks]`.
    pub n_tracks: usize,
}

/// The optimised tract plan of a policy network.
pub(crate) type Plan = Arc<TypedRunnableModel>;

/// What one serving thread keeps between calls.
#[derive(Debug)]
struct Slot {
    state: TypedSimpleState,
    // Shared with tract only for the duration of a run; exclusive again after,
    // so the next call can refill it in place instead of allocating.
    input: Arc<Tensor>,
}

/// A loaded, optimised policy. Cheap to share (`Send + Sync`); each thread that
/// calls [`Policy::scores`] lazily gets its own tract state.
#[derive(Debug)]
pub struct Policy {
    io: PolicyIo,
    origin: String,
    plan: Plan,
    slots: ThreadLocal<RefCell<Slot>>,
}

impl Policy {
    /// Loads a policy from the bytes of an ONNX file.
    pub fn from_bytes(bytes: &[u8], io: &PolicyIo) -> Result<Policy, PolicyError> {
        Self::load(bytes, io, "<bytes>".to_owned())
    }

    /// Like [`Policy::from_bytes`] for bytes read from `origin` (e.g. the policy
    /// file a bundle names): errors name `origin` instead of `<bytes>`.
    pub fn from_bytes_of(
        bytes: &[u8],
        io: &PolicyIo,
        origin: &Path,
    ) -> Result<Policy, PolicyError> {
        Self::load(bytes, io, origin.display().to_string())
    }

    /// Loads a policy from an ONNX file, refusing files over [`MAX_POLICY_BYTES`]
    /// before reading them.
    pub fn from_file(path: &Path, io: &PolicyIo) -> Result<Policy, PolicyError> {
        let bytes = read_limited(path, MAX_POLICY_BYTES)?;
        Self::load(&bytes, io, path.display().to_string())
    }

    fn load(bytes: &[u8], io: &PolicyIo, origin: String) -> Result<Policy, PolicyError> {
        let plan = build_plan(bytes, io, &origin)?;
        let policy = Policy {
            io: io.clone(),
            origin,
            plan,
            slots: ThreadLocal::new(),
        };
        policy.probe()?;
        Ok(policy)
    }

    /// The manifest contract this policy was loaded with.
    pub fn io(&self) -> &PolicyIo {
        &self.io
    }

    /// Scores for one observation (batch 1): `obs.len() == obs_dim`,
    /// `out.len() == n_tracks`. Scores may be NaN if the network produces NaN;
    /// deciding what to do then is the caller's business.
    pub fn scores(&self, obs: &[f32], out: &mut [f32]) -> Result<(), PolicyError> {
        if obs.len() != self.io.obs_dim {
            return Err(PolicyError::BufferLength {
                what: "observation",
                expected: self.io.obs_dim,
                found: obs.len(),
            });
        }
        if out.len() != self.io.n_tracks {
            return Err(PolicyError::BufferLength {
                what: "scores buffer",
                expected: self.io.n_tracks,
                found: out.len(),
            });
        }
        let cell = self
            .slots
            .get_or_try(|| self.new_slot().map(RefCell::new))?;
        // INVARIANT: `scores` never calls back into itself on the same thread, so
        // the borrow is always free; an error rather than a panic if that changes.
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| self.runtime("re-entrant call"))?;
        let output = self.run_slot(&mut slot, obs)?;
        copy_scores(&output, out).map_err(|e| self.runtime(&chain(&e)))
    }

    fn new_slot(&self) -> Result<Slot, PolicyError> {
        let state = self.plan.spawn().map_err(|e| self.runtime(&chain(&e)))?;
        let input =
            Tensor::zero::<f32>(&[1, self.io.obs_dim]).map_err(|e| self.runtime(&chain(&e)))?;
        Ok(Slot {
            state,
            input: Arc::new(input),
        })
    }

    fn run_slot(&self, slot: &mut Slot, obs: &[f32]) -> Result<TValue, PolicyError> {
        let fill = |t: &mut Tensor| -> TractResult<()> {
            t.try_as_plain_ram_mut()?
                .as_slice_mut::<f32>()?
                .copy_from_slice(obs);
            Ok(())
        };
        match Arc::get_mut(&mut slot.input) {
            Some(t) => fill(t),
            None => {
                // Only if tract kept a reference past the previous run.
                let mut t = Tensor::zero::<f32>(&[1, self.io.obs_dim])
                    .map_err(|e| self.runtime(&chain(&e)))?;
                let filled = fill(&mut t);
                slot.input = Arc::new(t);
                filled
            }
        }
        .map_err(|e| self.runtime(&chain(&e)))?;
        let input = TValue::from_const(Arc::clone(&slot.input));
        let mut outputs = slot
            .state
            .run(tvec!(input))
            .map_err(|e| self.runtime(&chain(&e)))?;
        outputs
            .pop()
            .ok_or_else(|| self.runtime("the model produced no output"))
    }

    /// Runs zeros through the plan and checks the output is `f32 [1, n_tracks]`.
    fn probe(&self) -> Result<(), PolicyError> {
        let mut slot = self.new_slot()?;
        let zeros = vec![0.0; self.io.obs_dim];
        let output = self.run_slot(&mut slot, &zeros)?;
        let shape = output.shape();
        let width_ok = matches!(shape, [1, n] | [n] if *n == self.io.n_tracks);
        if output.datum_type() != f32::datum_type() || !width_ok {
            return Err(PolicyError::OutputShape {
                origin: self.origin.clone(),
                name: self.io.output.clone(),
                n_tracks: self.io.n_tracks,
                found: format!(
                    "{} {shape:?}",
                    format!("{:?}", output.datum_type()).to_lowercase()
                ),
            });
        }
        Ok(())
    }

    fn runtime(&self, reason: &str) -> PolicyError {
        PolicyError::Runtime {
            origin: self.origin.clone(),
            reason: reason.to_owned(),
        }
    }
}

fn copy_scores(output: &TValue, out: &mut [f32]) -> TractResult<()> {
    let view = output.try_as_plain_ram()?;
    let scores = view.as_slice::<f32>()?;
    if scores.len() != out.len() {
        anyhow::bail!("output has {} values, expected {}", scores.len(), out.len());
    }
    out.copy_from_slice(scores);
    Ok(())
}

/// Reads a whole file, refusing it before reading if it is over `limit` bytes.
pub(crate) fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, PolicyError> {
    let io_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            PolicyError::NotFound {
                path: path.to_owned(),
            }
        } else {
            PolicyError::Io {
                path: path.to_owned(),
                source,
            }
        }
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let size = file.metadata().map_err(io_err)?.len();
    let too_large = |size| PolicyError::TooLarge {
        path: path.to_owned(),
        size,
        limit,
    };
    if size > limit {
        return Err(too_large(size));
    }
    // The file may grow between the stat and the read: never read past the limit.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Decodes, checks names and shapes against `io`, optimises and plans.
fn build_plan(bytes: &[u8], io: &PolicyIo, origin: &str) -> Result<Plan, PolicyError> {
    let not_onnx = |reason: String| PolicyError::NotOnnx {
        origin: origin.to_owned(),
        reason,
    };
    if io.obs_dim == 0 || io.n_tracks == 0 {
        return Err(PolicyError::InvalidIo {
            origin: origin.to_owned(),
            reason: format!(
                "obs_dim ({}) and n_tracks ({}) must be positive",
                io.obs_dim, io.n_tracks
            ),
        });
    }
    // The probe and every serving thread allocate an observation of this width.
    if io.obs_dim > crate::features::MAX_OBS_DIM {
        return Err(PolicyError::InvalidIo {
            origin: origin.to_owned(),
            reason: format!(
                "obs_dim ({}) is more than the {} allowed",
                io.obs_dim,
                crate::features::MAX_OBS_DIM
            ),
        });
    }
    let proto = pb::ModelProto::decode(bytes).map_err(|e| not_onnx(e.to_string()))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| not_onnx("the file has no graph".to_owned()))?;
    check_graph(graph).map_err(not_onnx)?;
    check_names_and_input(graph, io, origin)?;

    // tract's importer and optimiser are not ours: a panic on a malformed graph
    // must become an error for this one bundle, not take down the host.
    let imported = catch_unwind(AssertUnwindSafe(|| onnx().model_for_proto_model(&proto)))
        .map_err(|_| not_onnx("the onnx importer panicked".to_owned()))?
        .map_err(|e| not_onnx(chain(&e)))?;

    let optimize = |e: anyhow::Error| PolicyError::Optimize {
        origin: origin.to_owned(),
        reason: chain(&e),
    };
    let prepared = catch_unwind(AssertUnwindSafe(|| -> TractResult<Plan> {
        let model = imported
            .with_input_names([&io.input])?
            .with_input_fact(
                0,
                InferenceFact::dt_shape(f32::datum_type(), tvec!(1, io.obs_dim)),
            )?
            .with_outputs_by_name([&io.output])?;
        model.into_optimized()?.into_runnable()
    }))
    .map_err(|_| optimize(anyhow::anyhow!("the optimiser panicked")))?;
    prepared.map_err(optimize)
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

fn check_names_and_input(
    graph: &pb::GraphProto,
    io: &PolicyIo,
    origin: &str,
) -> Result<(), PolicyError> {
    // Older exporters list initializers among the inputs; they are weights.
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !graph.initializer.iter().any(|init| init.name == i.name))
        .collect();
    let Some(input) = inputs.iter().find(|i| i.name == io.input) else {
        return Err(PolicyError::UnknownInput {
            origin: origin.to_owned(),
            name: io.input.clone(),
            available: inputs.iter().map(|i| i.name.clone()).collect(),
        });
    };
    if !graph.output.iter().any(|o| o.name == io.output) {
        return Err(PolicyError::UnknownOutput {
            origin: origin.to_owned(),
            name: io.output.clone(),
            available: graph.output.iter().map(|o| o.name.clone()).collect(),
        });
    }
    check_input_type(input, io.obs_dim).map_err(|found| PolicyError::InputShape {
        origin: origin.to_owned(),
        name: io.input.clone(),
        obs_dim: io.obs_dim,
        found,
    })
}

/// Whether a declared input accepts `f32 [1, obs_dim]`; unknown or symbolic
/// dimensions accept anything. On mismatch, returns the declared type.
fn check_input_type(input: &pb::ValueInfoProto, obs_dim: usize) -> Result<(), String> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    let Some(pb::type_proto::Value::TensorType(t)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err("a non-tensor type".to_owned());
    };
    let elem = pb::tensor_proto::DataType::try_from(t.elem_type)
        .map(|d| d.as_str_name().to_lowercase())
        .unwrap_or_else(|_| format!("type {}", t.elem_type));
    let dims: Option<Vec<String>> = t.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(Dim::DimValue(v)) => v.to_string(),
                Some(Dim::DimParam(p)) => p.clone(),
                None => "?".to_owned(),
            })
            .collect()
    });
    let found = || match &dims {
        Some(d) => format!("{elem} [{}]", d.join(", ")),
        None => format!("{elem} of unknown shape"),
    };
    if t.elem_type != pb::tensor_proto::DataType::Float as i32 {
        return Err(found());
    }
    if let Some(shape) = &t.shape {
        let fits = |d: &pb::tensor_shape_proto::Dimension, want: usize| match &d.value {
            Some(Dim::DimValue(v)) => usize::try_from(*v).is_ok_and(|v| v == want),
            _ => true,
        };
        let ok = match shape.dim.as_slice() {
            [batch, width] => fits(batch, 1) && fits(width, obs_dim),
            _ => false,
        };
        if !ok {
            return Err(found());
        }
    }
    Ok(())
}
