//! Serves a loaded ONNX policy one observation at a time (and, through the same
//! per-thread states, the batched plan of [`super::batch`]).
//!
//! The expensive work (decode, type, bound, optimise, plan) happens once, in
//! [`super::load`]; each serving thread then keeps its own tract state and
//! input tensors in a [`ThreadLocal`], so [`Policy::scores`] takes no lock shared
//! with other threads and does not re-plan. A panic inside tract is caught and
//! drops that thread's state, so the next call starts from a fresh one.

use std::cell::RefCell;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use thread_local::ThreadLocal;
use tract_onnx::prelude::*;

use super::error::{chain, PolicyError};
use super::limits::PolicyLimits;
use super::load::{build_plan, guarded, MaskType};
use super::probe;
use crate::trackset::TrackSet;

/// The largest policy file [`Policy::from_file`] reads (256 MiB).
pub const MAX_POLICY_BYTES: u64 = 256 * 1024 * 1024;

/// What the scores a policy produces mean; the engine turns them into a choice.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// Action values (DQN-style): higher is better, unbounded.
    QValues,
    /// Unnormalised log-probabilities (policy-gradient heads).
    #[default]
    Logits,
    /// Probabilities that already sum to one (a softmax head inside the model).
    Probabilities,
}

impl ScoreKind {
    /// The name written in `bundle.toml` (`scores = "..."`).
    pub fn name(self) -> &'static str {
        match self {
            Self::QValues => "q_values",
            Self::Logits => "logits",
            Self::Probabilities => "probabilities",
        }
    }
}

/// The contract between a bundle manifest and its ONNX file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyIo {
    /// Name of the graph input that receives the observation.
    pub input: String,
    /// Name of the graph input that receives the allowed-track mask, if the
    /// model takes one: `[batch, n_tracks]`, 1 allowed and 0 masked, in the
    /// element type the model declares (bool, float or int64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_input: Option<String>,
    /// Name of the graph output that holds one score per track.
    pub output: String,
    /// Observation width: the input is `f32 [batch, obs_dim]`.
    pub obs_dim: usize,
    /// Number of catalog tracks: the output is `[batch, n_tracks]`.
    pub n_tracks: usize,
    /// What the scores are; checked on a probe run when the policy loads.
    #[serde(default)]
    pub scores: ScoreKind,
}

impl PolicyIo {
    /// A contract with no mask input and logits scores.
    pub fn new(
        input: impl Into<String>,
        output: impl Into<String>,
        obs_dim: usize,
        n_tracks: usize,
    ) -> Self {
        Self {
            input: input.into(),
            mask_input: None,
            output: output.into(),
            obs_dim,
            n_tracks,
            scores: ScoreKind::Logits,
        }
    }
}

/// The optimised tract plan of a policy network.
pub(crate) type Plan = Arc<TypedRunnableModel>;

/// What one serving thread keeps between calls.
#[derive(Debug)]
struct Slot {
    state: TypedSimpleState,
    // Shared with tract only for the duration of a run; exclusive again after,
    // so the next call can refill them in place instead of allocating.
    input: Arc<Tensor>,
    mask: Option<Arc<Tensor>>,
}

/// One optimised plan at a fixed batch, with each serving thread's state for it.
#[derive(Debug)]
pub(super) struct Pass {
    plan: Plan,
    /// The batch the plan is bound to.
    pub(super) rows: usize,
    // `None` after a panic in tract on that thread: the next call starts afresh.
    slots: ThreadLocal<RefCell<Option<Slot>>>,
}

impl Pass {
    fn new(plan: Plan, rows: usize) -> Self {
        Self {
            plan,
            rows,
            slots: ThreadLocal::new(),
        }
    }
}

/// Which tracks the mask input allows: one set per row, rows past the end (padding)
/// allowing every track; `None`: every track, every row.
pub(super) type Allowed<'a> = Option<&'a [TrackSet]>;

/// A loaded, optimised policy. Cheap to share (`Send + Sync`); each thread that
/// calls [`Policy::scores`] lazily gets its own tract state.
#[derive(Debug)]
pub struct Policy {
    pub(super) io: PolicyIo,
    pub(super) origin: String,
    pub(super) single: Pass,
    /// The plan bound to [`PolicyLimits::max_batch`] rows, when that is above 1
    /// and the model's batch is symbolic (see [`Policy::scores_batch`]).
    pub(super) batched: Option<Pass>,
    mask: Option<MaskType>,
}

impl Policy {
    /// Loads a policy from the bytes of an ONNX file, within the default
    /// [`PolicyLimits`].
    pub fn from_bytes(bytes: &[u8], io: &PolicyIo) -> Result<Policy, PolicyError> {
        Self::load(bytes, io, "<bytes>".to_owned(), &PolicyLimits::default())
    }

    /// Like [`Policy::from_bytes`] for bytes read from `origin` (e.g. the policy
    /// file a bundle names): errors name `origin` instead of `<bytes>`.
    pub fn from_bytes_of(
        bytes: &[u8],
        io: &PolicyIo,
        origin: &Path,
    ) -> Result<Policy, PolicyError> {
        Self::load(
            bytes,
            io,
            origin.display().to_string(),
            &PolicyLimits::default(),
        )
    }

    /// Like [`Policy::from_bytes_of`] within `limits` instead of the defaults.
    pub fn from_bytes_with_limits(
        bytes: &[u8],
        io: &PolicyIo,
        origin: &Path,
        limits: &PolicyLimits,
    ) -> Result<Policy, PolicyError> {
        Self::load(bytes, io, origin.display().to_string(), limits)
    }

    /// Loads a policy from an ONNX file, refusing files over [`MAX_POLICY_BYTES`]
    /// before reading them.
    pub fn from_file(path: &Path, io: &PolicyIo) -> Result<Policy, PolicyError> {
        let bytes = read_limited(path, MAX_POLICY_BYTES)?;
        Self::load(
            &bytes,
            io,
            path.display().to_string(),
            &PolicyLimits::default(),
        )
    }

    fn load(
        bytes: &[u8],
        io: &PolicyIo,
        origin: String,
        limits: &PolicyLimits,
    ) -> Result<Policy, PolicyError> {
        let loaded = build_plan(bytes, io, &origin, limits)?;
        let policy = Policy {
            io: io.clone(),
            origin,
            single: Pass::new(loaded.plan, 1),
            batched: loaded.batched.map(|(plan, rows)| Pass::new(plan, rows)),
            mask: loaded.mask,
        };
        policy.probe()?;
        policy.probe_batch()?;
        Ok(policy)
    }

    /// The manifest contract this policy was loaded with.
    pub fn io(&self) -> &PolicyIo {
        &self.io
    }

    /// Scores for one observation (batch 1), every track allowed: `obs.len() ==
    /// obs_dim`, `out.len() == n_tracks`. Scores may be NaN if the network
    /// produces NaN; deciding what to do then is the caller's business.
    pub fn scores(&self, obs: &[f32], out: &mut [f32]) -> Result<(), PolicyError> {
        self.check_lengths(obs, out, 1)?;
        self.run(&self.single, obs, None, out)
    }

    /// Like [`Policy::scores`], feeding `allowed` to the model's mask input when
    /// the manifest maps one (ignored otherwise). `allowed` spans the catalog.
    pub fn scores_masked(
        &self,
        obs: &[f32],
        allowed: &TrackSet,
        out: &mut [f32],
    ) -> Result<(), PolicyError> {
        if allowed.universe() != self.io.n_tracks {
            return Err(PolicyError::BufferLength {
                what: "allowed-track set",
                expected: self.io.n_tracks,
                found: allowed.universe(),
            });
        }
        self.check_lengths(obs, out, 1)?;
        self.run(&self.single, obs, Some(std::slice::from_ref(allowed)), out)
    }

    /// Checks that `obs` holds `rows` observations and `out` room for their scores.
    pub(super) fn check_lengths(
        &self,
        obs: &[f32],
        out: &[f32],
        rows: usize,
    ) -> Result<(), PolicyError> {
        let expected = self.io.obs_dim.saturating_mul(rows);
        if obs.len() != expected {
            return Err(PolicyError::BufferLength {
                what: "observation",
                expected,
                found: obs.len(),
            });
        }
        let expected = self.io.n_tracks.saturating_mul(rows);
        if out.len() != expected {
            return Err(PolicyError::BufferLength {
                what: "scores buffer",
                expected,
                found: out.len(),
            });
        }
        Ok(())
    }

    /// Runs `pass` on `obs` (exactly `pass.rows` observations) into `out`.
    pub(super) fn run(
        &self,
        pass: &Pass,
        obs: &[f32],
        allowed: Allowed<'_>,
        out: &mut [f32],
    ) -> Result<(), PolicyError> {
        let cell = pass.slots.get_or(|| RefCell::new(None));
        // INVARIANT: `scores` never calls back into itself on the same thread, so
        // the borrow is always free; an error rather than a panic if that changes.
        let mut guard = cell
            .try_borrow_mut()
            .map_err(|_| self.runtime("re-entrant call"))?;
        let slot = match guard.as_mut() {
            Some(slot) => slot,
            None => guard.insert(self.new_slot(pass)?),
        };
        match guarded(|| self.run_slot(pass, slot, obs, allowed)) {
            Ok(output) => copy_scores(&output?, out).map_err(|e| self.runtime(&chain(&e))),
            Err(()) => {
                // tract's state may be half-updated: never run it again.
                *guard = None;
                Err(self.panicked("scoring"))
            }
        }
    }

    fn new_slot(&self, pass: &Pass) -> Result<Slot, PolicyError> {
        let made = guarded(|| -> TractResult<Slot> {
            let state = pass.plan.spawn()?;
            let input = Tensor::zero::<f32>(&[pass.rows, self.io.obs_dim])?;
            let mask = self
                .mask
                .map(|m| Tensor::zero_dt(m.datum_type(), &[pass.rows, self.io.n_tracks]))
                .transpose()?;
            Ok(Slot {
                state,
                input: Arc::new(input),
                mask: mask.map(Arc::new),
            })
        });
        match made {
            Ok(slot) => slot.map_err(|e| self.runtime(&chain(&e))),
            Err(()) => Err(self.panicked("preparing a serving state")),
        }
    }

    fn run_slot(
        &self,
        pass: &Pass,
        slot: &mut Slot,
        obs: &[f32],
        allowed: Allowed<'_>,
    ) -> Result<TValue, PolicyError> {
        let rt = |e: anyhow::Error| self.runtime(&chain(&e));
        refill(
            &mut slot.input,
            f32::datum_type(),
            &[pass.rows, self.io.obs_dim],
            |t| {
                t.try_as_plain_ram_mut()?
                    .as_slice_mut::<f32>()?
                    .copy_from_slice(obs);
                Ok(())
            },
        )
        .map_err(rt)?;
        let mut inputs = tvec!(TValue::from_const(Arc::clone(&slot.input)));
        if let (Some(kind), Some(mask)) = (self.mask, slot.mask.as_mut()) {
            let n = self.io.n_tracks;
            refill(mask, kind.datum_type(), &[pass.rows, n], |t| {
                let mut view = t.try_as_plain_ram_mut()?;
                match kind {
                    MaskType::Bool => {
                        fill_mask(view.as_slice_mut::<bool>()?, n, allowed, true, false)
                    }
                    MaskType::Float => fill_mask(view.as_slice_mut::<f32>()?, n, allowed, 1.0, 0.0),
                    MaskType::Int64 => fill_mask(view.as_slice_mut::<i64>()?, n, allowed, 1, 0),
                }
                Ok(())
            })
            .map_err(rt)?;
            inputs.push(TValue::from_const(Arc::clone(mask)));
        }
        let mut outputs = slot.state.run(inputs).map_err(rt)?;
        outputs
            .pop()
            .ok_or_else(|| self.runtime("the model produced no output"))
    }

    /// Runs zeros (every track allowed) through the plan and checks the output
    /// is `f32 [1, n_tracks]` and of the declared score kind.
    fn probe(&self) -> Result<(), PolicyError> {
        let mut slot = self.new_slot(&self.single)?;
        let zeros = vec![0.0; self.io.obs_dim];
        let output = guarded(|| self.run_slot(&self.single, &mut slot, &zeros, None))
            .map_err(|()| self.panicked("running the load-time probe"))??;
        let shape = output.shape();
        let width_ok = matches!(shape, [1, n] | [n] if *n == self.io.n_tracks);
        if output.datum_type() != f32::datum_type() || !width_ok {
            return Err(PolicyError::OutputShape {
                origin: self.origin.clone(),
                name: self.io.output.clone(),
                n_tracks: self.io.n_tracks,
                found: format!(
                    "{} {}",
                    format!("{:?}", output.datum_type()).to_lowercase(),
                    super::wording::shape(shape)
                ),
            });
        }
        let mut scores = vec![0.0; self.io.n_tracks];
        copy_scores(&output, &mut scores).map_err(|e| self.runtime(&chain(&e)))?;
        probe::check_kind(&scores, self.io.scores).map_err(|reason| PolicyError::ScoreKind {
            origin: self.origin.clone(),
            declared: self.io.scores.name(),
            reason,
        })
    }

    pub(super) fn runtime(&self, reason: &str) -> PolicyError {
        PolicyError::Runtime {
            origin: self.origin.clone(),
            reason: super::wording::reason(reason),
        }
    }

    pub(super) fn panicked(&self, stage: &'static str) -> PolicyError {
        PolicyError::Panicked {
            origin: self.origin.clone(),
            stage,
        }
    }
}

/// Writes `on` for each allowed track and `off` for each masked one, row by row
/// (`n` tracks a row).
fn fill_mask<T: Copy>(mask: &mut [T], n: usize, allowed: Allowed<'_>, on: T, off: T) {
    for (row, values) in mask.chunks_mut(n).enumerate() {
        let set = allowed.and_then(|rows| rows.get(row));
        for (t, x) in values.iter_mut().enumerate() {
            *x = if set.is_none_or(|a| a.contains(t)) {
                on
            } else {
                off
            };
        }
    }
}

/// Refills a tensor in place, or a fresh one if tract kept a reference past
/// the previous run.
fn refill(
    tensor: &mut Arc<Tensor>,
    dt: DatumType,
    shape: &[usize],
    fill: impl Fn(&mut Tensor) -> TractResult<()>,
) -> TractResult<()> {
    match Arc::get_mut(tensor) {
        Some(t) => fill(t),
        None => {
            let mut t = Tensor::zero_dt(dt, shape)?;
            fill(&mut t)?;
            *tensor = Arc::new(t);
            Ok(())
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
