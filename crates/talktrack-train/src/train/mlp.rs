//! The multi-layer perceptron twice: a burn module that learns (autodiff) and a
//! plain `f32` copy of the same weights that acts.
//!
//! Acting happens once per environment step on a single observation; burn's per-op
//! overhead (tensor allocation, autodiff graph) dominates at that size, so rollouts
//! run [`PlainMlp::forward`], a straight loop over the weights that skips zero inputs
//! (observations are mostly one-hot). Gradients only ever come from burn. After each
//! optimiser step the trainer copies the burn weights into the plain copy
//! ([`BurnMlp::to_plain`]); the copy is also what gets exported (ONNX writer) and
//! what [`GreedyPolicy`] evaluates.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{relu, tanh};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;
use rand::Rng;

use talktrack::tooling as onnx_writer;

use super::config::Activation;
use super::env::ActionPolicy;
use super::TrainError;

/// One dense layer in plain form: `y = x · weights + bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseWeights {
    /// Input width.
    pub n_in: usize,
    /// Output width.
    pub n_out: usize,
    /// Row-major `[n_in, n_out]` (the layout ONNX `MatMul` and the writer expect).
    pub weights: Vec<f32>,
    /// `[n_out]`.
    pub bias: Vec<f32>,
}

/// A trained network as plain numbers: the export format and the acting path.
#[derive(Clone, Debug, PartialEq)]
pub struct PlainMlp {
    /// Layers from input to output; hidden layers are followed by `activation`, the
    /// last one is linear.
    pub layers: Vec<DenseWeights>,
    /// Nonlinearity after each hidden layer.
    pub activation: Activation,
}

impl PlainMlp {
    /// Input width (0 for a network without layers).
    pub fn n_in(&self) -> usize {
        self.layers.first().map_or(0, |l| l.n_in)
    }

    /// Output width (0 for a network without layers).
    pub fn n_out(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_out)
    }

    /// The network as the ONNX writer's spec (`head`: identity for Q-values and
    /// logits, softmax for probabilities); the caller sets input/output names.
    pub fn to_mlp_spec(&self, head: onnx_writer::Head) -> Result<onnx_writer::MlpSpec, TrainError> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let weights = Array2::from_shape_vec((l.n_in, l.n_out), l.weights.clone())
                    .map_err(|e| TrainError::Backend(format!("layer shape: {e}")))?;
                Ok(onnx_writer::Dense {
                    weights,
                    bias: Array1::from_vec(l.bias.clone()),
                })
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        let hidden = match self.activation {
            Activation::Relu => onnx_writer::Activation::Relu,
            Activation::Tanh => onnx_writer::Activation::Tanh,
        };
        Ok(onnx_writer::MlpSpec::new(layers, hidden, head))
    }

    /// Whether every weight and bias is finite.
    pub fn is_finite(&self) -> bool {
        self.layers
            .iter()
            .all(|l| l.weights.iter().chain(&l.bias).all(|v| v.is_finite()))
    }

    /// Forward pass of one observation; `scratch` is reused between calls.
    pub fn forward(&self, obs: &[f32], scratch: &mut Scratch, out: &mut [f32]) {
        scratch.a.clear();
        scratch.a.extend_from_slice(obs);
        let last = self.layers.len().saturating_sub(1);
        for (k, layer) in self.layers.iter().enumerate() {
            scratch.b.clear();
            scratch.b.extend_from_slice(&layer.bias);
            for (x, row) in scratch
                .a
                .iter()
                .zip(layer.weights.chunks_exact(layer.n_out))
            {
                // One-hot observations make most of the first layer's rows irrelevant.
                if *x == 0.0 {
                    continue;
                }
                for (y, w) in scratch.b.iter_mut().zip(row) {
                    *y += x * w;
                }
            }
            if k < last {
                match self.activation {
                    Activation::Relu => scratch.b.iter_mut().for_each(|v| *v = v.max(0.0)),
                    Activation::Tanh => scratch.b.iter_mut().for_each(|v| *v = v.tanh()),
                }
            }
            std::mem::swap(&mut scratch.a, &mut scratch.b);
        }
        for (o, v) in out.iter_mut().zip(&scratch.a) {
            *o = *v;
        }
    }

    /// Polyak update towards `online`: `self = tau * online + (1 - tau) * self`.
    pub(crate) fn polyak(&mut self, online: &PlainMlp, tau: f32) {
        for (t, o) in self.layers.iter_mut().zip(&online.layers) {
            for (a, b) in t
                .weights
                .iter_mut()
                .zip(&o.weights)
                .chain(t.bias.iter_mut().zip(&o.bias))
            {
                *a = tau * b + (1.0 - tau) * *a;
            }
        }
    }
}

/// Reusable buffers of [`PlainMlp::forward`].
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// Index of the largest `values[i]` with `mask[i]`; ties go to the lowest index.
pub fn masked_argmax(values: &[f32], mask: &[bool]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, (&v, &m)) in values.iter().zip(mask).enumerate() {
        if m && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// The deterministic policy "argmax of the network output over allowed actions".
#[derive(Clone, Debug)]
pub struct GreedyPolicy {
    /// Q-values (DQN) or logits (PPO) per action.
    pub net: PlainMlp,
}

impl ActionPolicy for GreedyPolicy {
    fn probs(&self, obs: &[f32], mask: &[bool], out: &mut [f32]) {
        let mut scratch = Scratch::default();
        let mut values = vec![0.0; self.net.n_out()];
        self.net.forward(obs, &mut scratch, &mut values);
        out.iter_mut().for_each(|p| *p = 0.0);
        if let Some(a) = masked_argmax(&values, mask) {
            if let Some(p) = out.get_mut(a) {
                *p = 1.0;
            }
        }
    }
}

/// The learning copy: a stack of burn [`Linear`] layers.
#[derive(Module, Debug)]
pub struct BurnMlp<B: Backend> {
    layers: Vec<Linear<B>>,
}

impl<B: Backend> BurnMlp<B> {
    /// Initialises `sizes[0] → … → sizes[n]` from `rng` alone (never burn's global RNG,
    /// which parallel runs would share): weights uniform in ±1/√fan_in, biases zero,
    /// the output layer scaled by `out_scale` (small for a policy head, so that the
    /// first policy is near uniform).
    pub fn init(sizes: &[usize], out_scale: f32, rng: &mut StdRng, device: &B::Device) -> Self {
        let n = sizes.len().saturating_sub(1);
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(k, w)| {
                let scale = if k + 1 == n { out_scale } else { 1.0 };
                dense(w[0], w[1], scale, rng, device)
            })
            .collect();
        Self { layers }
    }

    /// Forward pass with the activation after every layer (a trunk that heads sit on).
    pub fn forward_trunk(&self, x: Tensor<B, 2>, activation: Activation) -> Tensor<B, 2> {
        let mut x = x;
        for layer in &self.layers {
            x = activate(layer.forward(x), activation);
        }
        x
    }

    /// Forward pass of a batch `[batch, n_in]` → `[batch, n_out]`.
    pub fn forward(&self, x: Tensor<B, 2>, activation: Activation) -> Tensor<B, 2> {
        let last = self.layers.len().saturating_sub(1);
        let mut x = x;
        for (k, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if k < last {
                x = activate(x, activation);
            }
        }
        x
    }

    /// Copies the weights out as plain numbers; fails on NaN or infinite weights.
    pub fn to_plain(&self, activation: Activation) -> Result<PlainMlp, TrainError> {
        let layers = self
            .layers
            .iter()
            .map(dense_to_plain)
            .collect::<Result<_, _>>()?;
        Ok(PlainMlp { layers, activation })
    }
}

fn activate<B: Backend>(x: Tensor<B, 2>, activation: Activation) -> Tensor<B, 2> {
    match activation {
        Activation::Relu => relu(x),
        Activation::Tanh => tanh(x),
    }
}

/// A dense layer with weights uniform in ±scale/√fan_in and zero bias, drawn from `rng`.
pub(crate) fn dense<B: Backend>(
    n_in: usize,
    n_out: usize,
    scale: f32,
    rng: &mut StdRng,
    device: &B::Device,
) -> Linear<B> {
    let bound = 1.0 / (n_in.max(1) as f32).sqrt();
    let weights: Vec<f32> = (0..n_in * n_out)
        .map(|_| rng.random_range(-bound..=bound) * scale)
        .collect();
    let weight = Tensor::<B, 2>::from_data(TensorData::new(weights, [n_in, n_out]), device);
    let bias = Tensor::<B, 1>::zeros([n_out], device);
    Linear {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(bias)),
    }
}

/// The plain copy of one burn layer.
pub(crate) fn dense_to_plain<B: Backend>(layer: &Linear<B>) -> Result<DenseWeights, TrainError> {
    let w = layer.weight.val();
    let [n_in, n_out] = w.dims();
    let weights = w.into_data().into_vec::<f32>().map_err(data_err)?;
    let bias = match &layer.bias {
        Some(b) => b.val().into_data().into_vec::<f32>().map_err(data_err)?,
        None => vec![0.0; n_out],
    };
    Ok(DenseWeights {
        n_in,
        n_out,
        weights,
        bias,
    })
}

fn data_err(e: burn::tensor::DataError) -> TrainError {
    TrainError::Backend(format!("{e:?}"))
}

/// Layer widths `obs → hidden… → out`.
pub(crate) fn sizes(n_in: usize, hidden: &[usize], n_out: usize) -> Vec<usize> {
    let mut s = Vec::with_capacity(hidden.len() + 2);
    s.push(n_in);
    s.extend_from_slice(hidden);
    s.push(n_out);
    s
}
