//! Batched inference: a policy loaded with `max_batch` above 1 scores many
//! observations per forward pass, with the scores onnxruntime gives for each
//! observation alone; models whose rows influence each other, or whose batched
//! plan exceeds the limits, are refused at load with the reason.
//!
//! The exporters' models are the committed fixtures of `tests/fixtures/onnx/`
//! (with onnxruntime's reference scores); the hostile ones are built here.

// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "support/onnx_reference.rs"]
mod onnx_reference;

use onnx_reference::{close, fixtures, io_of, reference, Case, Reference};
use prost::Message;
use std::path::Path;
use talktrack::tooling::{Policy, PolicyError, PolicyIo, PolicyLimits, TrackSet};
use tract_onnx::pb;

fn batch_of(rows: usize) -> PolicyLimits {
    PolicyLimits {
        max_batch: rows,
        ..PolicyLimits::default()
    }
}

fn load(name: &str, limits: &PolicyLimits) -> (Policy, Reference) {
    let r = reference(name);
    let path = fixtures().join(&r.model);
    let bytes = std::fs::read(&path).unwrap();
    let policy = Policy::from_bytes_with_limits(&bytes, &io_of(&r), &path, limits)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (policy, r)
}

/// Scores every reference case (repeated `copies` times, so that the rows span
/// full chunks and a partial one) in one call, and compares each row with
/// onnxruntime's scores for that observation alone.
fn assert_batch_matches_reference(name: &str, limits: &PolicyLimits, copies: usize) -> usize {
    let (policy, r) = load(name, limits);
    let cases: Vec<&Case> = (0..copies).flat_map(|_| r.cases.iter()).collect();
    let obs: Vec<f32> = cases.iter().flat_map(|c| c.obs.iter().copied()).collect();
    let masked = r.mask_input.is_some();
    let allowed: Vec<TrackSet> = cases
        .iter()
        .map(|c| match &c.mask {
            Some(m) => TrackSet::from_indices(r.n_tracks, (0..r.n_tracks).filter(|&i| m[i])),
            None => TrackSet::full(r.n_tracks),
        })
        .collect();
    let mut out = vec![0.0; cases.len() * r.n_tracks];
    policy
        .scores_batch(&obs, masked.then_some(&allowed[..]), &mut out)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    for (i, case) in cases.iter().enumerate() {
        let row = &out[i * r.n_tracks..(i + 1) * r.n_tracks];
        for (got, want) in row.iter().zip(&case.scores) {
            assert!(
                close(*got, *want),
                "{name} row {i}: got {row:?}, onnxruntime {:?}",
                case.scores
            );
        }
    }
    policy.batch_rows()
}

fn exporter_fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let stem = name.strip_suffix(".json")?.to_owned();
            // The one fixture that is a fuzzing finding, not an exporter's model.
            (!stem.starts_with("fuzz_")).then_some(stem)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_exporter_model_scores_batches_as_onnxruntime_scores_rows() {
    let names = exporter_fixtures();
    assert!(names.len() >= 40, "{names:?}");
    let mut batched = Vec::new();
    for name in &names {
        // 5 rows per chunk: full chunks and a partial, padded one.
        let rows = assert_batch_matches_reference(name, &batch_of(5), 3);
        if rows == 5 {
            batched.push(name.clone());
        } else {
            assert_eq!(rows, 1, "{name}");
        }
    }
    // Every model with a symbolic batch gets a batched plan: the dynamo exports
    // with a dynamic batch, the shape-inferred ones, SB3's and our own.
    for expected in [
        "torch_dynamo_dynamic_batch",
        "torch_dynamo_infer_shapes",
        "torch_dynamo_obs_and_mask",
        "matmul_add_tanh_opset17",
        "sb3_contrib_maskable_ppo_obs_and_mask",
    ] {
        assert!(
            batched.iter().any(|n| n == expected),
            "{expected} has no batched plan; batched: {batched:?}"
        );
    }
    // A model that fixes its batch keeps scoring row by row, with the same results.
    assert!(!batched.iter().any(|n| n == "torch_dynamo_fixed_batch"));
}

#[test]
fn without_max_batch_a_batch_is_scored_row_by_row_with_the_same_results() {
    for name in [
        "torch_dynamo_dynamic_batch",
        "sb3_contrib_maskable_ppo_obs_and_mask",
    ] {
        assert_eq!(
            assert_batch_matches_reference(name, &PolicyLimits::default(), 2),
            1
        );
    }
}

#[test]
fn a_batch_of_one_chunk_exactly_and_an_empty_batch() {
    let (policy, r) = load("torch_dynamo_dynamic_batch", &batch_of(2));
    assert_eq!(policy.batch_rows(), 2);
    let obs: Vec<f32> = r.cases[..2]
        .iter()
        .flat_map(|c| c.obs.iter().copied())
        .collect();
    let mut out = vec![0.0; 2 * r.n_tracks];
    policy.scores_batch(&obs, None, &mut out).unwrap();
    assert!(out[r.n_tracks..]
        .iter()
        .zip(&r.cases[1].scores)
        .all(|(g, w)| close(*g, *w)));
    policy.scores_batch(&[], None, &mut []).unwrap();
}

#[test]
fn wrong_lengths_are_named() {
    let (policy, r) = load("torch_dynamo_dynamic_batch", &batch_of(4));
    let mut out = vec![0.0; 3 * r.n_tracks];
    let err = policy
        .scores_batch(&vec![0.0; 2 * r.obs_dim], None, &mut out)
        .unwrap_err();
    assert_eq!(err.code(), "policy::buffer-length");
    assert!(err.to_string().contains("observation"), "{err}");
    let sets = vec![TrackSet::full(r.n_tracks); 2];
    let err = policy
        .scores_batch(&vec![0.0; 3 * r.obs_dim], Some(&sets), &mut out)
        .unwrap_err();
    assert!(err.to_string().contains("one per row"), "{err}");
    let sets = vec![TrackSet::full(r.n_tracks + 1); 3];
    let err = policy
        .scores_batch(&vec![0.0; 3 * r.obs_dim], Some(&sets), &mut out)
        .unwrap_err();
    assert!(err.to_string().contains("allowed-track set"), "{err}");
}

// ---- models built here ----

const OBS: usize = 3;
const TRACKS: usize = 2;

fn io() -> PolicyIo {
    PolicyIo::new("obs", "scores", OBS, TRACKS)
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn value(name: &str, width: usize) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = |v| Dimension {
        value: Some(v),
        ..Default::default()
    };
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        dim(Value::DimParam("batch".into())),
                        dim(Value::DimValue(width as i64)),
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `scores = obs · W + side(head)`, with a symbolic batch.
fn model(side: Vec<pb::NodeProto>, mut inits: Vec<pb::TensorProto>) -> Vec<u8> {
    let mut nodes = vec![node("MatMul", &["obs", "W"], "head", vec![])];
    nodes.extend(side);
    inits.push(pb::TensorProto {
        name: "W".into(),
        dims: vec![OBS as i64, TRACKS as i64],
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: vec![0.5, -0.25, 1.0, 0.75, -1.0, 0.125],
        ..Default::default()
    });
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(pb::GraphProto {
            name: "batch".into(),
            node: nodes,
            initializer: inits,
            input: vec![value("obs", OBS)],
            output: vec![value("scores", TRACKS)],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn attr_ints(name: &str, ints: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints,
        ..Default::default()
    }
}

fn load_bytes(bytes: &[u8], limits: &PolicyLimits) -> Result<Policy, PolicyError> {
    Policy::from_bytes_with_limits(bytes, &io(), Path::new("batch.onnx"), limits)
}

#[test]
fn a_model_whose_rows_influence_each_other_is_refused_for_batches() {
    // Scores minus their mean over the batch: alone, every row scores 0.
    let bytes = model(
        vec![
            node(
                "ReduceMean",
                &["head"],
                "mean",
                vec![attr_ints("axes", vec![0])],
            ),
            node("Sub", &["head", "mean"], "scores", vec![]),
        ],
        vec![],
    );
    // Row by row it loads and serves.
    let single = load_bytes(&bytes, &PolicyLimits::default()).unwrap();
    let mut out = [1.0; TRACKS];
    single.scores(&[1.0, 2.0, 3.0], &mut out).unwrap();
    assert_eq!(out, [0.0, 0.0]);
    let err = load_bytes(&bytes, &batch_of(8)).unwrap_err();
    assert_eq!(err.code(), "policy::batch-mismatch");
    let message = err.to_string();
    assert!(
        message.contains("cannot score batches of 8")
            && message.contains("not scored independently")
            && message.contains("max_batch = 1"),
        "{message}"
    );
}

#[test]
fn a_batched_plan_over_the_memory_limit_is_refused_naming_the_batch() {
    let bytes = model(vec![node("Identity", &["head"], "scores", vec![])], vec![]);
    // At batch 1 the graph takes 24 bytes of weights and 12 + 8 + 8 of tensors.
    let limits = PolicyLimits {
        max_total_bytes: 200,
        max_batch: 64,
        ..PolicyLimits::default()
    };
    assert!(load_bytes(
        &bytes,
        &PolicyLimits {
            max_batch: 1,
            ..limits
        }
    )
    .is_ok());
    let err = load_bytes(&bytes, &limits).unwrap_err();
    assert_eq!(err.code(), "policy::too-costly");
    assert!(err.to_string().contains("at batch 64"), "{err}");
    let err = load_bytes(&bytes, &batch_of(PolicyLimits::MAX_BATCH + 1)).unwrap_err();
    assert!(err.to_string().contains("max_batch"), "{err}");
}

#[test]
fn batches_are_scored_on_many_threads() {
    let bytes = model(vec![node("Relu", &["head"], "scores", vec![])], vec![]);
    let policy = load_bytes(&bytes, &batch_of(4)).unwrap();
    let rows = 11;
    let obs: Vec<f32> = (0..rows * OBS).map(|i| i as f32 / 7.0 - 2.0).collect();
    let mut want = vec![0.0; rows * TRACKS];
    for r in 0..rows {
        policy
            .scores(
                &obs[r * OBS..(r + 1) * OBS],
                &mut want[r * TRACKS..(r + 1) * TRACKS],
            )
            .unwrap();
    }
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    let mut got = vec![0.0; rows * TRACKS];
                    policy.scores_batch(&obs, None, &mut got).unwrap();
                    assert!(
                        got.iter().zip(&want).all(|(g, w)| close(*g, *w)),
                        "{got:?} vs {want:?}"
                    );
                }
            });
        }
    });
}
