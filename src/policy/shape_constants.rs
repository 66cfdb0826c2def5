//! Shapes written into the model file as constants, checked as the file states
//! them, before tract reads them.
//!
//! tract reads a dimension modulo 2^32, so a `ConstantOfShape [1, 2e18]` would
//! reach the bounds of [`super::limits`] as some other, smaller number, and a
//! refusal would quote a shape the file does not hold. The shape inputs of the
//! operators that build a tensor from a shape (`ConstantOfShape`, `Expand`) and
//! the dimensions of `Reshape` and `Tile` are read here from the initializers and
//! `Constant` nodes, in 64 bits, and refused with the numbers the file holds.

use std::collections::HashMap;

use tract_onnx::pb;

use super::limits::{LimitError, PolicyLimits};

/// Which input of an operator is a shape, and whether the output has at least
/// as many elements as that shape has (so the product of the shape is bounded
/// too, not only each dimension).
fn shape_input(op_type: &str) -> Option<(usize, bool)> {
    match op_type {
        "ConstantOfShape" => Some((0, true)),
        "Expand" => Some((1, true)),
        "Reshape" | "Tile" => Some((1, false)),
        _ => None,
    }
}

/// The int64 values of a tensor stored in the file, if it is an int64 tensor.
fn int64_values(t: &pb::TensorProto) -> Option<Vec<i64>> {
    if t.data_type != pb::tensor_proto::DataType::Int64 as i32 {
        return None;
    }
    if !t.int64_data.is_empty() {
        return Some(t.int64_data.clone());
    }
    Some(
        t.raw_data
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                i64::from_le_bytes(b)
            })
            .collect(),
    )
}

/// Refuses a constant shape with a dimension, or (for operators that build
/// the shape) a number of elements, above `limits.max_tensor_elements`.
pub(crate) fn check_shape_constants(
    graph: &pb::GraphProto,
    limits: &PolicyLimits,
) -> Result<(), LimitError> {
    let mut constants: HashMap<&str, &pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    for node in graph.node.iter().filter(|n| n.op_type == "Constant") {
        let value = node.attribute.iter().find(|a| a.name == "value");
        if let (Some(out), Some(t)) = (node.output.first(), value.and_then(|a| a.t.as_ref())) {
            constants.insert(out.as_str(), t);
        }
    }
    let limit = limits.max_tensor_elements;
    for node in &graph.node {
        let Some((input, whole)) = shape_input(&node.op_type) else {
            continue;
        };
        let Some(dims) = node
            .input
            .get(input)
            .and_then(|name| constants.get(name.as_str()))
            .and_then(|t| int64_values(t))
        else {
            continue;
        };
        // Reshape's 0 and -1 take their size from the input: only positive
        // dimensions say how large the output is.
        let sizes = dims.iter().filter(|&&d| d > 0).map(|&d| d as u128);
        let largest = sizes.clone().max().unwrap_or(0);
        let elements = sizes.fold(1u128, u128::saturating_mul);
        let over = if whole { elements } else { largest };
        if over > u128::from(limit) {
            let shape = dims
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let name = if node.name.is_empty() {
                node.output.first().cloned().unwrap_or_default()
            } else {
                node.name.clone()
            };
            let (op, shape) = (node.op_type.clone(), format!("[{shape}]"));
            return Err(if whole {
                LimitError::TensorTooLarge {
                    node: name,
                    op,
                    shape,
                    elements: over,
                    limit,
                }
            } else {
                LimitError::DimensionTooLarge {
                    node: name,
                    op,
                    shape,
                    dim: over,
                    limit,
                }
            });
        }
    }
    Ok(())
}
