//! The tensors a model file stores, checked as the file states them, before
//! tract reads them.
//!
//! tract turns each stored tensor (an initializer, a `Constant` node's value,
//! a tensor attribute, in the main graph and in every subgraph) into memory as
//! it imports the model. Some stored forms it does not check: raw bytes for a
//! string tensor stop the importer with a panic, which a host built with
//! `panic = "abort"` cannot catch. So every stored tensor is checked here
//! first, in the file's own terms: a known element type, no negative
//! dimension, raw bytes exactly as long as the shape says, no string stored
//! as raw bytes, and no data kept in another file (a policy is one
//! self-contained file; the bundle's digest covers only that file).

use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};

/// Bytes of one element stored as raw data, for the element types tract reads
/// from raw bytes; `None` for the types it cannot read that way.
fn raw_element_size(data_type: DataType) -> Option<u64> {
    match data_type {
        DataType::Bool | DataType::Uint8 | DataType::Int8 => Some(1),
        DataType::Uint16 | DataType::Int16 | DataType::Float16 => Some(2),
        DataType::Uint32 | DataType::Int32 | DataType::Float => Some(4),
        DataType::Uint64 | DataType::Int64 | DataType::Double => Some(8),
        _ => None,
    }
}

/// Whether tract reads this element type at all (from typed fields).
fn readable(data_type: DataType) -> bool {
    raw_element_size(data_type).is_some() || data_type == DataType::String
}

/// How a stored tensor is named in an error: its name, or where it sits.
fn label(t: &pb::TensorProto, place: &str) -> String {
    if t.name.is_empty() {
        format!("the tensor of {place}")
    } else {
        format!("tensor `{}` ({place})", t.name)
    }
}

/// Checks one stored tensor; `place` says where it was found.
fn check_tensor(t: &pb::TensorProto, place: &str) -> Result<(), String> {
    let name = || label(t, place);
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        let location = t
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map(|e| format!(" (`{}`)", e.value))
            .unwrap_or_default();
        return Err(format!(
            "{} keeps its data in another file{location}; a policy must be one \
             self-contained ONNX file: export it with the weights inside",
            name()
        ));
    }
    let Ok(data_type) = DataType::try_from(t.data_type) else {
        return Err(format!(
            "{} has element type {}, which ONNX does not define",
            name(),
            t.data_type
        ));
    };
    if !readable(data_type) {
        return Err(format!(
            "{} has element type {}, which a policy cannot hold",
            name(),
            data_type.as_str_name()
        ));
    }
    if let Some(d) = t.dims.iter().find(|d| **d < 0) {
        return Err(format!("{} has a negative dimension ({d})", name()));
    }
    if t.raw_data.is_empty() {
        return Ok(());
    }
    let Some(size) = raw_element_size(data_type) else {
        return Err(format!(
            "{} stores {} elements as raw bytes, which ONNX does not allow",
            name(),
            data_type.as_str_name()
        ));
    };
    let expected = t
        .dims
        .iter()
        .try_fold(size, |acc, d| acc.checked_mul(*d as u64));
    match expected {
        Some(n) if n == t.raw_data.len() as u64 => Ok(()),
        Some(n) => Err(format!(
            "{} holds {} bytes of raw data where its shape {:?} of {} needs {n}",
            name(),
            t.raw_data.len(),
            t.dims,
            data_type.as_str_name()
        )),
        None => Err(format!(
            "{} has a shape {:?} whose size overflows",
            name(),
            t.dims
        )),
    }
}

/// Checks every tensor stored in `graph` and in its subgraphs, nearest first.
pub(crate) fn check_stored_tensors(graph: &pb::GraphProto) -> Result<(), String> {
    // An explicit stack: subgraph nesting is bounded by the protobuf decoder,
    // but a walk that does not recurse needs no such argument.
    let mut graphs: Vec<&pb::GraphProto> = vec![graph];
    while let Some(g) = graphs.pop() {
        for t in &g.initializer {
            check_tensor(t, "an initializer")?;
        }
        for node in &g.node {
            for attr in &node.attribute {
                let place = || {
                    let node_name = if node.name.is_empty() {
                        String::new()
                    } else {
                        format!(" `{}`", node.name)
                    };
                    format!(
                        "attribute `{}` of {} node{node_name}",
                        attr.name, node.op_type
                    )
                };
                if let Some(t) = &attr.t {
                    check_tensor(t, &place())?;
                }
                for t in &attr.tensors {
                    check_tensor(t, &place())?;
                }
                graphs.extend(attr.g.iter());
                graphs.extend(attr.graphs.iter());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(data_type: DataType, dims: &[i64], raw: &[u8]) -> pb::TensorProto {
        pb::TensorProto {
            name: "w".into(),
            data_type: data_type as i32,
            dims: dims.to_vec(),
            raw_data: raw.to_vec(),
            ..Default::default()
        }
    }

    fn graph_with(t: pb::TensorProto) -> pb::GraphProto {
        pb::GraphProto {
            initializer: vec![t],
            ..Default::default()
        }
    }

    #[test]
    fn well_formed_raw_and_typed_tensors_pass() {
        assert_eq!(
            check_stored_tensors(&graph_with(tensor(DataType::Float, &[2, 3], &[0; 24]))),
            Ok(())
        );
        let mut typed = tensor(DataType::String, &[1], &[]);
        typed.string_data = vec![b"a".to_vec()];
        assert_eq!(check_stored_tensors(&graph_with(typed)), Ok(()));
    }

    #[test]
    fn strings_as_raw_bytes_are_refused_by_name() {
        let err =
            check_stored_tensors(&graph_with(tensor(DataType::String, &[1], b"x"))).unwrap_err();
        assert_eq!(
            err,
            "tensor `w` (an initializer) stores STRING elements as raw bytes, which ONNX does not allow"
        );
    }

    #[test]
    fn raw_length_must_match_the_shape() {
        let err = check_stored_tensors(&graph_with(tensor(DataType::Float, &[2, 3], &[0; 20])))
            .unwrap_err();
        assert_eq!(
            err,
            "tensor `w` (an initializer) holds 20 bytes of raw data where its shape [2, 3] of FLOAT needs 24"
        );
        let err = check_stored_tensors(&graph_with(tensor(
            DataType::Double,
            &[i64::MAX, i64::MAX],
            &[0; 8],
        )))
        .unwrap_err();
        assert!(err.contains("overflows"), "{err}");
    }

    #[test]
    fn negative_dimensions_unknown_types_and_external_data_are_refused() {
        let err =
            check_stored_tensors(&graph_with(tensor(DataType::Float, &[-1], &[]))).unwrap_err();
        assert!(err.contains("negative dimension (-1)"), "{err}");
        let mut unknown = tensor(DataType::Float, &[1], &[]);
        unknown.data_type = 99;
        let err = check_stored_tensors(&graph_with(unknown)).unwrap_err();
        assert!(err.contains("element type 99"), "{err}");
        let err =
            check_stored_tensors(&graph_with(tensor(DataType::Complex64, &[1], &[]))).unwrap_err();
        assert!(err.contains("COMPLEX64"), "{err}");
        let mut external = tensor(DataType::Float, &[1], &[]);
        external.data_location = Some(DataLocation::External as i32);
        external.external_data = vec![pb::StringStringEntryProto {
            key: "location".into(),
            value: "weights.bin".into(),
        }];
        let err = check_stored_tensors(&graph_with(external)).unwrap_err();
        assert!(err.contains("another file (`weights.bin`)"), "{err}");
    }

    #[test]
    fn tensors_in_node_attributes_and_subgraphs_are_checked() {
        let bad = tensor(DataType::String, &[1], b"x");
        let inner = pb::GraphProto {
            node: vec![pb::NodeProto {
                op_type: "Constant".into(),
                name: "c".into(),
                attribute: vec![pb::AttributeProto {
                    name: "value".into(),
                    t: Some(bad),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let outer = pb::GraphProto {
            node: vec![pb::NodeProto {
                op_type: "If".into(),
                attribute: vec![pb::AttributeProto {
                    name: "then_branch".into(),
                    g: Some(inner),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let err = check_stored_tensors(&outer).unwrap_err();
        assert!(
            err.starts_with("tensor `w` (attribute `value` of Constant node `c`)"),
            "{err}"
        );
    }
}
