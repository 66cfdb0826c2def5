//! A policy file cannot make the host allocate without bound: every tensor of
//! the graph, at batch 1, has a concrete shape within [`PolicyLimits`], checked
//! before tract evaluates anything large; what exceeds them is refused at load
//! with the node named.
//!
//! The hostile models are a few hundred bytes each, built here with tract's
//! protobuf types: an honest `obs · W` head plus a side branch that would cost
//! gigabytes, added into the scores so that it cannot be pruned as dead code.

// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

use prost::Message;
use talktrack::tooling::{Policy, PolicyError, PolicyIo, PolicyLimits};
use tract_onnx::pb;

const OBS: usize = 3;
const TRACKS: usize = 2;

fn io() -> PolicyIo {
    PolicyIo::new("obs", "scores", OBS, TRACKS)
}

fn attr_int(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_tensor(name: &str, t: pb::TensorProto) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Tensor as i32,
        t: Some(t),
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attrs: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], data: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: data,
        ..Default::default()
    }
}

fn ints(name: &str, data: Vec<i64>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: vec![data.len() as i64],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: data,
        ..Default::default()
    }
}

fn value(name: &str, dims: &[&str]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d.parse::<i64>() {
                                Ok(v) => Value::DimValue(v),
                                Err(_) => Value::DimParam((*d).into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `scores = obs · W + side`, where `side` is the `[1, 1]` output of `branch`.
fn model(branch: Vec<pb::NodeProto>, mut inits: Vec<pb::TensorProto>) -> Vec<u8> {
    let mut nodes = vec![node("MatMul", "head", &["obs", "W"], "head_out", vec![])];
    nodes.extend(branch);
    nodes.push(node(
        "Add",
        "combine",
        &["head_out", "side"],
        "scores",
        vec![],
    ));
    inits.push(floats(
        "W",
        &[OBS as i64, TRACKS as i64],
        vec![0.5; OBS * TRACKS],
    ));
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(pb::GraphProto {
            name: "hostile".into(),
            node: nodes,
            initializer: inits,
            input: vec![value("obs", &["batch", &OBS.to_string()])],
            output: vec![value("scores", &["batch", &TRACKS.to_string()])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// `side = ReduceSum(ConstantOfShape(shape))`.
fn constant_of_shape(shape: Vec<i64>) -> Vec<u8> {
    model(
        vec![
            node(
                "ConstantOfShape",
                "huge",
                &["shape"],
                "big",
                vec![attr_tensor("value", floats("", &[1], vec![1.0]))],
            ),
            node(
                "ReduceSum",
                "sum",
                &["big"],
                "side",
                vec![attr_int("keepdims", 1)],
            ),
        ],
        vec![ints("shape", shape)],
    )
}

fn refused(bytes: &[u8], limits: &PolicyLimits) -> String {
    let err =
        Policy::from_bytes_with_limits(bytes, &io(), std::path::Path::new("hostile.onnx"), limits)
            .unwrap_err();
    assert!(matches!(err, PolicyError::TooCostly { .. }), "{err:?}");
    assert_eq!(err.code(), "policy::too-costly");
    err.to_string()
}

#[test]
fn the_honest_part_alone_loads() {
    let bytes = constant_of_shape(vec![1, 1]);
    let policy = Policy::from_bytes(&bytes, &io()).unwrap();
    let mut out = [0.0; TRACKS];
    policy.scores(&[1.0, 2.0, 3.0], &mut out).unwrap();
    assert_eq!(out, [3.0 + 1.0, 3.0 + 1.0]);
    // Within the bounds, the same branch simply counts its elements.
    let policy = Policy::from_bytes(&constant_of_shape(vec![1, 1000]), &io()).unwrap();
    policy.scores(&[1.0, 2.0, 3.0], &mut out).unwrap();
    assert_eq!(out, [3.0 + 1000.0, 3.0 + 1000.0]);
}

#[test]
fn a_constant_of_200_million_elements_is_refused_before_it_is_built() {
    let message = refused(
        &constant_of_shape(vec![1, 200_000_000]),
        &PolicyLimits::default(),
    );
    insta::assert_snapshot!(message, @"`hostile.onnx` is refused: node `huge` (ConstantOfShape) produces a tensor of shape [1, 200000000]: 200000000 elements, more than the 16777216 allowed");
}

#[test]
fn a_dimension_past_32_bits_is_refused_not_truncated() {
    // tract reads a dimension modulo 2^32: the file's own number is checked
    // first, so the refusal quotes the shape the file holds.
    let message = refused(
        &constant_of_shape(vec![1, 2_000_000_000_000_000_000]),
        &PolicyLimits::default(),
    );
    insta::assert_snapshot!(message, @"`hostile.onnx` is refused: node `huge` (ConstantOfShape) produces a tensor of shape [1, 2000000000000000000]: 2000000000000000000 elements, more than the 16777216 allowed");
}

#[test]
fn a_reshape_to_a_dimension_past_32_bits_is_refused_as_written() {
    // side = ReduceSum(Reshape(ConstantOfShape([1, 1]), shape)), the shape
    // given by a `Constant` node rather than an initializer.
    let bytes = model(
        vec![
            node(
                "Constant",
                "dims",
                &[],
                "target",
                vec![attr_tensor("value", ints("", vec![1, 6_000_000_000, -1]))],
            ),
            node(
                "ConstantOfShape",
                "one",
                &["unit_shape"],
                "unit",
                vec![attr_tensor("value", floats("", &[1], vec![1.0]))],
            ),
            node("Reshape", "reshape", &["unit", "target"], "big", vec![]),
            node(
                "ReduceSum",
                "sum",
                &["big"],
                "side",
                vec![attr_int("keepdims", 1)],
            ),
        ],
        vec![ints("unit_shape", vec![1, 1])],
    );
    let message = refused(&bytes, &PolicyLimits::default());
    insta::assert_snapshot!(message, @"`hostile.onnx` is refused: node `reshape` (Reshape) asks for shape [1, 6000000000, -1]: a dimension of 6000000000, more than the 16777216 elements a tensor may have");
}

#[test]
fn a_shape_read_from_the_observation_is_refused() {
    // side = ReduceSum(Expand(1.0, [1, int(max(obs) * 1e8)])): the size of the
    // tensor is chosen by each request.
    let bytes = model(
        vec![
            node(
                "ReduceMax",
                "peak",
                &["obs"],
                "peak_out",
                vec![attr_int("keepdims", 0)],
            ),
            node("Mul", "scale", &["peak_out", "k"], "scaled", vec![]),
            node(
                "Cast",
                "to_int",
                &["scaled"],
                "n",
                vec![attr_int("to", pb::tensor_proto::DataType::Int64 as i64)],
            ),
            node("Unsqueeze", "as_list", &["n", "axis0"], "n1", vec![]),
            node(
                "Concat",
                "dims",
                &["one", "n1"],
                "dyn_shape",
                vec![attr_int("axis", 0)],
            ),
            node("Expand", "grow", &["unit", "dyn_shape"], "big", vec![]),
            node(
                "ReduceSum",
                "sum",
                &["big"],
                "side",
                vec![attr_int("keepdims", 1)],
            ),
        ],
        vec![
            floats("k", &[], vec![1e8]),
            ints("axis0", vec![0]),
            ints("one", vec![1]),
            floats("unit", &[], vec![1.0]),
        ],
    );
    let err = Policy::from_bytes(&bytes, &io()).unwrap_err();
    assert!(
        matches!(
            err,
            PolicyError::TooCostly { .. } | PolicyError::Optimize { .. }
        ),
        "{err:?}"
    );
    insta::assert_snapshot!(err.to_string(), @r#"`<bytes>` cannot be prepared for inference: cannot prepare node #12 "grow" MultiBroadcastTo: shape input is variable, of variable length (output can not have variable rank)"#);
}

#[test]
fn a_broadcast_of_two_small_constants_is_refused() {
    // [8192, 1] + [1, 8192]: two 32 KiB weights, a 256 MiB sum.
    let n = 8192;
    let bytes = model(
        vec![
            node("Add", "outer", &["col", "row"], "big", vec![]),
            node(
                "ReduceSum",
                "sum",
                &["big"],
                "side",
                vec![attr_int("keepdims", 1)],
            ),
        ],
        vec![
            floats("col", &[n, 1], vec![1.0; n as usize]),
            floats("row", &[1, n], vec![1.0; n as usize]),
        ],
    );
    let message = refused(&bytes, &PolicyLimits::default());
    assert!(message.contains("`outer`"), "{message}");
}

#[test]
fn the_bounds_are_configurable() {
    let bytes = constant_of_shape(vec![1, 1000]);
    assert!(Policy::from_bytes(&bytes, &io()).is_ok());
    let tight = PolicyLimits {
        max_tensor_elements: 999,
        ..PolicyLimits::default()
    };
    let message = refused(&bytes, &tight);
    assert!(
        message.contains("1000 elements, more than the 999 allowed"),
        "{message}"
    );
    let small_total = PolicyLimits {
        // The weights alone are 24 bytes.
        max_total_bytes: 16,
        ..PolicyLimits::default()
    };
    let message = refused(&bytes, &small_total);
    assert!(message.contains("more than the 16 allowed"), "{message}");
}

#[test]
fn loading_a_hostile_model_on_a_small_stack_thread_is_an_error() {
    let bytes = constant_of_shape(vec![1, 200_000_000]);
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || Policy::from_bytes(&bytes, &io()).map(|_| ()))
        .unwrap();
    assert!(handle.join().unwrap().is_err());
}

/// `side = data[int(max(obs) + offset)]`: the observation picks the index, and
/// tract panics on an index past the end.
fn gather_by_observation(offset: f32) -> Vec<u8> {
    model(
        vec![
            node(
                "ReduceMax",
                "peak",
                &["obs"],
                "peak_out",
                vec![attr_int("keepdims", 0)],
            ),
            node("Add", "shift", &["peak_out", "offset"], "shifted", vec![]),
            node(
                "Cast",
                "to_int",
                &["shifted"],
                "index",
                vec![attr_int("to", pb::tensor_proto::DataType::Int64 as i64)],
            ),
            node("Gather", "pick", &["data", "index"], "side", vec![]),
        ],
        vec![
            floats("offset", &[], vec![offset]),
            floats("data", &[4], vec![10.0, 20.0, 30.0, 40.0]),
        ],
    )
}

#[test]
fn a_panic_in_tract_while_scoring_is_an_error_and_the_thread_serves_again() {
    let policy = Policy::from_bytes(&gather_by_observation(0.0), &io()).unwrap();
    let mut out = [0.0; TRACKS];
    policy.scores(&[1.0, 0.0, 0.0], &mut out).unwrap();
    assert_eq!(out, [0.5 + 20.0, 0.5 + 20.0]);
    let err = policy.scores(&[1000.0, 0.0, 0.0], &mut out).unwrap_err();
    assert_eq!(err.code(), "policy::panicked");
    insta::assert_snapshot!(err.to_string(), @"`<bytes>`: the onnx runtime failed unexpectedly while scoring");
    // The thread's state was dropped and is rebuilt.
    policy.scores(&[2.0, 0.0, 0.0], &mut out).unwrap();
    assert_eq!(out, [1.0 + 30.0, 1.0 + 30.0]);
}

#[test]
fn a_panic_in_tract_during_the_load_time_probe_refuses_the_policy() {
    // The probe's zero observation picks index 100.
    let err = Policy::from_bytes(&gather_by_observation(100.0), &io()).unwrap_err();
    assert_eq!(err.code(), "policy::panicked");
    assert!(err.to_string().contains("load-time probe"), "{err}");
}
