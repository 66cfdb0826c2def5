//! Writes a multilayer perceptron as an ONNX file, the format the runtime loads.
//!
//! The trainer exports its networks with this, and so does the example-bundle
//! generator; one writer keeps what we produce identical to what we test. The
//! graph is plain ONNX (Gemm + activations, optional Softmax head) with a
//! symbolic `batch` dimension, so other runtimes (onnxruntime, netron) read it too.

use ndarray::{Array1, Array2};
use prost::Message;
use tract_onnx::pb;

use super::error::PolicyError;

/// The nonlinearity between hidden layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic function `1 / (1 + e^-x)`.
    Sigmoid,
}

impl Activation {
    fn op_type(self) -> &'static str {
        match self {
            Self::Relu => "Relu",
            Self::Tanh => "Tanh",
            Self::Sigmoid => "Sigmoid",
        }
    }
}

/// What follows the last layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// Raw outputs: Q-values or logits.
    Identity,
    /// Softmax over the last axis: probabilities.
    Softmax,
}

/// One fully connected layer computing `x · weights + bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Shape `[in, out]`.
    pub weights: Array2<f32>,
    /// Shape `[out]`.
    pub bias: Array1<f32>,
}

/// A multilayer perceptron to write: `hidden` between layers, `head` after the last.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    /// The layers, first to last; each one's `out` is the next one's `in`.
    pub layers: Vec<Dense>,
    /// Activation after every layer but the last.
    pub hidden: Activation,
    /// What follows the last layer.
    pub head: Head,
    /// Graph input name (the manifest's `input`).
    pub input: String,
    /// Graph output name (the manifest's `output`).
    pub output: String,
    /// ONNX opset version, [`MlpSpec::DEFAULT_OPSET`] unless a consumer needs another.
    pub opset: i64,
    /// Free text stored as the model's `doc_string` (e.g. how it was trained).
    pub doc: String,
}

impl MlpSpec {
    /// The opset written by default.
    pub const DEFAULT_OPSET: i64 = 17;
    /// The oldest opset the writer produces (Softmax semantics changed at 13).
    pub const MIN_OPSET: i64 = 13;
    /// The newest opset the writer produces.
    pub const MAX_OPSET: i64 = 22;

    /// A spec with input `obs`, output `scores`, the default opset and no doc.
    pub fn new(layers: Vec<Dense>, hidden: Activation, head: Head) -> Self {
        Self {
            layers,
            hidden,
            head,
            input: "obs".to_owned(),
            output: "scores".to_owned(),
            opset: Self::DEFAULT_OPSET,
            doc: String::new(),
        }
    }
}

/// Prefix of every tensor and node name the writer invents, so they cannot
/// collide with the caller's input and output names.
const INTERNAL: &str = "talktrack/";

/// Encodes `spec` as ONNX bytes after checking that the layer shapes chain and
/// every weight is finite.
pub fn write_mlp(spec: &MlpSpec) -> Result<Vec<u8>, PolicyError> {
    check(spec)?;
    Ok(model(spec).encode_to_vec())
}

fn invalid(reason: String) -> PolicyError {
    PolicyError::InvalidMlp { reason }
}

fn check(spec: &MlpSpec) -> Result<(), PolicyError> {
    if spec.layers.is_empty() {
        return Err(invalid("no layers".to_owned()));
    }
    for (what, name) in [("input", &spec.input), ("output", &spec.output)] {
        if name.is_empty() || name.starts_with(INTERNAL) {
            return Err(invalid(format!(
                "{what} name `{name}` is empty or starts with `{INTERNAL}`"
            )));
        }
    }
    if spec.input == spec.output {
        return Err(invalid(format!(
            "input and output share the name `{}`",
            spec.input
        )));
    }
    if !(MlpSpec::MIN_OPSET..=MlpSpec::MAX_OPSET).contains(&spec.opset) {
        return Err(invalid(format!(
            "opset {} is outside {}..={}",
            spec.opset,
            MlpSpec::MIN_OPSET,
            MlpSpec::MAX_OPSET
        )));
    }
    let mut previous_out: Option<usize> = None;
    for (ix, layer) in spec.layers.iter().enumerate() {
        let (fan_in, fan_out) = layer.weights.dim();
        if fan_in == 0 || fan_out == 0 {
            return Err(invalid(format!(
                "layer {ix} has empty weights [{fan_in}, {fan_out}]"
            )));
        }
        if layer.bias.len() != fan_out {
            return Err(invalid(format!(
                "layer {ix} has weights [{fan_in}, {fan_out}] but bias of length {}",
                layer.bias.len()
            )));
        }
        if let Some(prev) = previous_out {
            if prev != fan_in {
                return Err(invalid(format!(
                    "layer {ix} takes {fan_in} inputs but layer {} produces {prev}",
                    ix - 1
                )));
            }
        }
        if !layer
            .weights
            .iter()
            .chain(layer.bias.iter())
            .all(|v| v.is_finite())
        {
            return Err(invalid(format!(
                "layer {ix} has a non-finite weight or bias"
            )));
        }
        previous_out = Some(fan_out);
    }
    Ok(())
}

/// The ONNX IR version that goes with an opset (from the onnx versioning table).
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

fn model(spec: &MlpSpec) -> pb::ModelProto {
    let n_in = spec.layers.first().map_or(0, |l| l.weights.nrows());
    let n_out = spec.layers.last().map_or(0, |l| l.weights.ncols());
    let last = spec.layers.len().saturating_sub(1);

    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    let mut current = spec.input.clone();
    for (ix, layer) in spec.layers.iter().enumerate() {
        let layer_name = format!("{INTERNAL}fc{}", ix + 1);
        let weight = format!("{layer_name}/weight");
        let bias = format!("{layer_name}/bias");
        initializers.push(float_tensor(
            &weight,
            &[layer.weights.nrows(), layer.weights.ncols()],
            layer.weights.iter(),
        ));
        initializers.push(float_tensor(&bias, &[layer.bias.len()], layer.bias.iter()));
        let is_last = ix == last;
        let gemm_out = if is_last && spec.head == Head::Identity {
            spec.output.clone()
        } else {
            format!("{layer_name}/gemm")
        };
        nodes.push(node(
            "Gemm",
            &format!("{layer_name}/Gemm"),
            &[&current, &weight, &bias],
            &gemm_out,
            vec![],
        ));
        current = gemm_out;
        if !is_last {
            let act_out = format!("{layer_name}/act");
            nodes.push(node(
                spec.hidden.op_type(),
                &format!("{layer_name}/{}", spec.hidden.op_type()),
                &[&current],
                &act_out,
                vec![],
            ));
            current = act_out;
        }
    }
    if spec.head == Head::Softmax {
        let axis = pb::AttributeProto {
            name: "axis".to_owned(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: -1,
            ..Default::default()
        };
        nodes.push(node(
            "Softmax",
            &format!("{INTERNAL}head/Softmax"),
            &[&current],
            &spec.output,
            vec![axis],
        ));
    }

    pb::ModelProto {
        ir_version: ir_version(spec.opset),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: spec.opset,
        }],
        producer_name: "talktrack".to_owned(),
        producer_version: env!("CARGO_PKG_VERSION").to_owned(),
        doc_string: spec.doc.clone(),
        graph: Some(pb::GraphProto {
            name: "talktrack_mlp".to_owned(),
            node: nodes,
            initializer: initializers,
            input: vec![batch_value(&spec.input, n_in)],
            output: vec![batch_value(&spec.output, n_out)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(
    op_type: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op_type.to_owned(),
        name: name.to_owned(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        attribute,
        ..Default::default()
    }
}

fn float_tensor<'a>(
    name: &str,
    dims: &[usize],
    values: impl Iterator<Item = &'a f32>,
) -> pb::TensorProto {
    // ONNX raw_data is little-endian whatever the host.
    let raw_data = values.flat_map(|v| v.to_le_bytes()).collect();
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data,
        ..Default::default()
    }
}

/// `f32 [batch, width]` with a symbolic batch dimension.
fn batch_value(name: &str, width: usize) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = |value| Dimension {
        value: Some(value),
        ..Default::default()
    };
    pb::ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        dim(Value::DimParam("batch".to_owned())),
                        dim(Value::DimValue(width as i64)),
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
