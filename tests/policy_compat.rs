//! Policies from an independent exporter load and compute what onnxruntime
//! computes; every way a policy file can be wrong gives a typed error that says
//! what is wrong.
//!
//! The models in `tests/fixtures/onnx/` were written by `gen_fixtures.py` with
//! the Python `onnx` package; the reference scores come from onnxruntime.

// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "support/onnx_reference.rs"]
mod onnx_reference;

use onnx_reference::{close, fixtures, io_of, reference};
use std::path::PathBuf;
use talktrack::tooling::{Policy, PolicyError, PolicyIo, ScoreKind, TrackSet, MAX_POLICY_BYTES};

fn assert_matches_reference(name: &str) {
    let r = reference(name);
    let policy = Policy::from_file(&fixtures().join(&r.model), &io_of(&r)).unwrap();
    assert_eq!(policy.io(), &io_of(&r));
    let mut out = vec![0.0; r.n_tracks];
    for case in &r.cases {
        match &case.mask {
            Some(mask) => {
                let allowed =
                    TrackSet::from_indices(r.n_tracks, (0..r.n_tracks).filter(|&i| mask[i]));
                policy.scores_masked(&case.obs, &allowed, &mut out).unwrap();
            }
            None => policy.scores(&case.obs, &mut out).unwrap(),
        }
        assert_eq!(out.len(), case.scores.len());
        for (got, want) in out.iter().zip(&case.scores) {
            assert!(
                close(*got, *want),
                "{name} on {:?}: got {out:?}, onnxruntime {:?}",
                case.obs,
                case.scores
            );
        }
    }
}

#[test]
fn gemm_relu_opset13_fixed_batch() {
    assert_matches_reference("gemm_relu_opset13");
}

#[test]
fn matmul_add_tanh_opset17_symbolic_batch() {
    assert_matches_reference("matmul_add_tanh_opset17");
}

#[test]
fn gemm_sigmoid_softmax_opset20() {
    assert_matches_reference("gemm_sigmoid_softmax_opset20");
}

#[test]
fn multi_output_model_is_served_through_the_named_output() {
    assert_matches_reference("multi_output_opset17");
}

#[test]
fn torch_style_names() {
    assert_matches_reference("torch_naming_opset14");
}

// ---- written by PyTorch's exporters (`gen_torch_fixtures.py`) ----

/// Every fixture whose name starts with `prefix`, by name.
fn fixtures_named(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let stem = name.strip_suffix(".json")?;
            stem.starts_with(prefix).then(|| stem.to_owned())
        })
        .collect();
    names.sort();
    names
}

/// Every fixture `gen_torch_fixtures.py` wrote, by name.
fn torch_fixtures() -> Vec<String> {
    let mut names = fixtures_named("torch_");
    names.retain(|n| n != "torch_naming_opset14");
    names
}

#[test]
fn every_torch_export_matches_onnxruntime() {
    let names = torch_fixtures();
    // dynamo and legacy, fixed and dynamic batch, shape-inferred, softmax head,
    // obs + mask, and the opset sweep.
    assert!(names.len() >= 30, "{names:?}");
    for name in &names {
        assert_matches_reference(name);
    }
}

// ---- trained and exported with Stable-Baselines3 / sb3-contrib (`gen_sb3_fixtures.py`) ----

#[test]
fn every_sb3_export_matches_onnxruntime() {
    let names = fixtures_named("sb3_");
    // PPO (legacy and dynamo, logits alone and actor-critic), DQN Q-values,
    // MaskablePPO with and without its mask input.
    assert_eq!(names.len(), 6, "{names:?}");
    for name in &names {
        assert_matches_reference(name);
    }
}

#[test]
fn maskable_ppo_masks_what_the_rules_forbid() {
    let r = reference("sb3_contrib_maskable_ppo_obs_and_mask");
    assert_eq!(r.mask_input.as_deref(), Some("action_mask"));
    let policy = Policy::from_file(&fixtures().join(&r.model), &io_of(&r)).unwrap();
    let mut scores = vec![0.0; r.n_tracks];
    let allowed = TrackSet::from_indices(r.n_tracks, [0, 2]);
    policy
        .scores_masked(&r.cases[0].obs, &allowed, &mut scores)
        .unwrap();
    assert_eq!((scores[1], scores[3]), (-1e8, -1e8), "{scores:?}");
    assert!(scores[0] > -1e8 && scores[2] > -1e8, "{scores:?}");
}

#[test]
fn dynamo_export_with_a_dynamic_batch_in_hidden_layers() {
    assert_matches_reference("torch_dynamo_dynamic_batch");
}

#[test]
fn shape_inferred_models_load() {
    assert_matches_reference("torch_infer_shapes");
    assert_matches_reference("torch_dynamo_infer_shapes");
}

#[test]
fn the_mask_input_is_fed_with_the_allowed_tracks() {
    let r = reference("torch_dynamo_obs_and_mask");
    let policy = Policy::from_file(&fixtures().join(&r.model), &io_of(&r)).unwrap();
    let obs = &r.cases[2].obs;
    let mut all = vec![0.0; r.n_tracks];
    policy.scores(obs, &mut all).unwrap();
    assert!(all.iter().all(|s| *s > -1e8), "{all:?}");
    let mut masked = vec![0.0; r.n_tracks];
    let allowed = TrackSet::from_indices(r.n_tracks, [1, 3]);
    policy.scores_masked(obs, &allowed, &mut masked).unwrap();
    assert_eq!(masked[0], -1e9);
    assert_eq!(masked[2], -1e9);
    assert_eq!((masked[1], masked[3]), (all[1], all[3]));
}

#[test]
fn an_input_the_manifest_does_not_map_is_named_at_load() {
    let r = reference("torch_dynamo_obs_and_mask");
    let io = PolicyIo {
        mask_input: None,
        ..io_of(&r)
    };
    let err = Policy::from_file(&fixtures().join(&r.model), &io).unwrap_err();
    assert_eq!(err.code(), "policy::unmapped-inputs");
    let message = err
        .to_string()
        .replace(&fixtures().join(&r.model).display().to_string(), "FILE");
    insta::assert_snapshot!(message, @"`FILE` has inputs the manifest does not map: `mask`; talktrack feeds the observation (`input`) and, optionally, the allowed-track mask (`mask_input`)");
}

#[test]
fn a_mask_of_the_wrong_type_is_refused() {
    let r = reference("torch_dynamo_obs_and_mask");
    let io = PolicyIo {
        mask_input: Some("obs".into()),
        input: "mask".into(),
        ..io_of(&r)
    };
    let err = Policy::from_file(&fixtures().join(&r.model), &io).unwrap_err();
    assert!(
        matches!(
            err,
            PolicyError::InputShape { .. } | PolicyError::MaskShape { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn one_policy_serves_many_threads() {
    let r = reference("gemm_sigmoid_softmax_opset20");
    let policy = Policy::from_file(&fixtures().join(&r.model), &io_of(&r)).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (policy, r) = (&policy, &r);
            s.spawn(move || {
                let mut out = vec![0.0; r.n_tracks];
                for round in 0..20 {
                    let case = &r.cases[(t + round) % r.cases.len()];
                    policy.scores(&case.obs, &mut out).unwrap();
                    for (got, want) in out.iter().zip(&case.scores) {
                        assert!((got - want).abs() < 1e-5);
                    }
                }
            });
        }
    });
}

#[test]
fn nan_observations_give_nan_scores_not_a_panic() {
    let r = reference("gemm_relu_opset13");
    let policy = Policy::from_file(&fixtures().join(&r.model), &io_of(&r)).unwrap();
    let mut out = vec![0.0; r.n_tracks];
    policy.scores(&vec![f32::NAN; r.obs_dim], &mut out).unwrap();
    assert!(out.iter().any(|v| v.is_nan()), "{out:?}");
    // A NaN does not poison the thread's reusable state.
    policy.scores(&r.cases[1].obs, &mut out).unwrap();
    assert!((out[0] - r.cases[1].scores[0]).abs() < 1e-5);
}

// ---- what goes wrong, and what the error says ----

fn tracks_io() -> PolicyIo {
    io_of(&reference("multi_output_opset17"))
}

fn multi_output_path() -> PathBuf {
    fixtures().join("multi_output_opset17.onnx")
}

fn load_err(io: &PolicyIo) -> PolicyError {
    Policy::from_file(&multi_output_path(), io).unwrap_err()
}

#[test]
fn missing_file() {
    let path = fixtures().join("no_such_policy.onnx");
    let err = Policy::from_file(&path, &tracks_io()).unwrap_err();
    assert!(matches!(err, PolicyError::NotFound { .. }), "{err:?}");
    assert_eq!(err.code(), "policy::not-found");
    assert!(err.to_string().contains("no_such_policy.onnx"), "{err}");
}

#[test]
fn garbage_bytes_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.onnx");
    std::fs::write(&path, b"this is not a protobuf \xff\xfe\x00\x01 at all").unwrap();
    let err = Policy::from_file(&path, &tracks_io()).unwrap_err();
    assert!(matches!(err, PolicyError::NotOnnx { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("`{}`", path.display())),
        "{message}"
    );
    assert!(message.contains("is not a valid onnx model"), "{message}");
}

#[test]
fn empty_bytes_are_not_a_model() {
    let err = Policy::from_bytes(&[], &tracks_io()).unwrap_err();
    assert!(matches!(err, PolicyError::NotOnnx { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "`<bytes>` is not a valid onnx model: the file has no graph"
    );
}

#[test]
fn truncated_file() {
    let bytes = std::fs::read(multi_output_path()).unwrap();
    for keep in [bytes.len() / 4, bytes.len() / 2, bytes.len() - 7] {
        let err = Policy::from_bytes(&bytes[..keep], &tracks_io()).unwrap_err();
        assert!(
            matches!(err, PolicyError::NotOnnx { .. }),
            "truncated to {keep}: {err:?}"
        );
    }
}

#[test]
fn wrong_input_name_lists_the_inputs() {
    let io = PolicyIo {
        input: "obs".into(),
        ..tracks_io()
    };
    let err = load_err(&io);
    assert!(matches!(err, PolicyError::UnknownInput { .. }), "{err:?}");
    let message = err
        .to_string()
        .replace(&multi_output_path().display().to_string(), "FILE");
    insta::assert_snapshot!(message, @"`FILE` has no input named `obs`; its inputs are `observation`");
}

#[test]
fn wrong_output_name_lists_the_outputs() {
    let io = PolicyIo {
        output: "logits".into(),
        ..tracks_io()
    };
    let err = load_err(&io);
    assert_eq!(err.code(), "policy::unknown-output");
    let message = err
        .to_string()
        .replace(&multi_output_path().display().to_string(), "FILE");
    insta::assert_snapshot!(message, @"`FILE` has no output named `logits`; its outputs are `actions`, `scores`, `values`");
}

#[test]
fn initializers_listed_as_inputs_are_not_offered_as_inputs() {
    // Older exporters list weights among graph inputs; they are not candidates.
    let r = reference("torch_naming_opset14");
    let io = PolicyIo {
        input: "x".into(),
        ..io_of(&r)
    };
    let err = Policy::from_file(&fixtures().join(&r.model), &io).unwrap_err();
    match err {
        PolicyError::UnknownInput { available, .. } => assert_eq!(available, ["onnx::Gemm_0"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn obs_dim_mismatch_on_a_declared_width() {
    let io = PolicyIo {
        obs_dim: 9,
        ..tracks_io()
    };
    let err = load_err(&io);
    let message = err
        .to_string()
        .replace(&multi_output_path().display().to_string(), "FILE");
    insta::assert_snapshot!(message, @"`FILE` input `observation`: expected f32 [batch, 9], the model declares float [batch_size, 6]");
}

#[test]
fn fixed_batch_other_than_one_is_refused() {
    use prost::Message;
    let mut proto =
        tract_onnx::pb::ModelProto::decode(std::fs::read(multi_output_path()).unwrap().as_slice())
            .unwrap();
    let input = &mut proto.graph.as_mut().unwrap().input[0];
    let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) =
        input.r#type.as_mut().unwrap().value.as_mut()
    else {
        panic!()
    };
    t.shape.as_mut().unwrap().dim[0].value =
        Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(32));
    let err = Policy::from_bytes(&proto.encode_to_vec(), &tracks_io()).unwrap_err();
    assert!(matches!(err, PolicyError::InputShape { .. }), "{err:?}");
    assert!(err.to_string().contains("float [32, 6]"), "{err}");
}

#[test]
fn n_tracks_mismatch_says_both_numbers() {
    let io = PolicyIo {
        n_tracks: 7,
        ..tracks_io()
    };
    let err = load_err(&io);
    assert!(matches!(err, PolicyError::OutputShape { .. }), "{err:?}");
    let message = err
        .to_string()
        .replace(&multi_output_path().display().to_string(), "FILE");
    insta::assert_snapshot!(message, @"`FILE` output `scores`: expected f32 [batch, 7], got f32 [1, 4] at batch 1");
}

#[test]
fn the_int64_actions_output_is_not_scores() {
    let io = PolicyIo {
        output: "actions".into(),
        ..tracks_io()
    };
    let err = load_err(&io);
    assert!(matches!(err, PolicyError::OutputShape { .. }), "{err:?}");
}

#[test]
fn zero_dimensions_are_invalid_io() {
    let io = PolicyIo {
        obs_dim: 0,
        ..tracks_io()
    };
    assert!(matches!(load_err(&io), PolicyError::InvalidIo { .. }));
}

#[test]
fn an_observation_too_wide_to_allocate_is_invalid_io() {
    let io = PolicyIo {
        obs_dim: 20_000_000_000,
        ..tracks_io()
    };
    let err = load_err(&io);
    assert!(matches!(err, PolicyError::InvalidIo { .. }), "{err:?}");
    assert!(err.to_string().contains("1048576 allowed"), "{err}");
}

#[test]
fn wrong_buffer_lengths_at_scoring_time() {
    let policy = Policy::from_file(&multi_output_path(), &tracks_io()).unwrap();
    let mut out = vec![0.0; 4];
    let err = policy.scores(&[0.0; 5], &mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "observation has length 5, the policy expects 6"
    );
    let err = policy.scores(&[0.0; 6], &mut out[..3]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "scores buffer has length 3, the policy expects 4"
    );
}

#[test]
fn file_over_the_size_limit_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.onnx");
    // A sparse file: the size check must come from metadata, not from reading.
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_POLICY_BYTES + 1).unwrap();
    drop(file);
    let err = Policy::from_file(&path, &tracks_io()).unwrap_err();
    match &err {
        PolicyError::TooLarge { size, limit, .. } => {
            assert_eq!(*size, MAX_POLICY_BYTES + 1);
            assert_eq!(*limit, MAX_POLICY_BYTES);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), "policy::too-large");
}

#[test]
fn a_bare_tract_plan_computes_the_same_scores() {
    use tract_onnx::prelude::*;
    let r = reference("matmul_add_tanh_opset17");
    let bytes = std::fs::read(fixtures().join(&r.model)).unwrap();
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .and_then(|m| m.with_input_fact(0, f32::fact([1, r.obs_dim]).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .unwrap();
    let case = &r.cases[2];
    let input = Tensor::from_shape(&[1, r.obs_dim], &case.obs).unwrap();
    let out = plan.run(tvec!(input.into())).unwrap();
    let view = out[0].try_as_plain_ram().unwrap();
    let got = view.as_slice::<f32>().unwrap();
    for (got, want) in got.iter().zip(&case.scores) {
        assert!((got - want).abs() < 1e-5);
    }
}

#[test]
fn policy_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<PolicyError>();
}

// ---- the declared score kind is checked on the load-time probe ----

#[test]
fn probabilities_declared_on_a_logits_model_are_refused_with_the_right_kind() {
    let r = reference("gemm_relu_opset13");
    let io = PolicyIo {
        scores: ScoreKind::Probabilities,
        ..io_of(&r)
    };
    let path = fixtures().join(&r.model);
    let err = Policy::from_file(&path, &io).unwrap_err();
    assert_eq!(err.code(), "policy::score-kind");
    let message = err.to_string().replace(&path.display().to_string(), "FILE");
    insta::assert_snapshot!(message, @r#"`FILE` does not produce `scores = "probabilities"`: probabilities must lie in [0, 1] and sum to 1 over the 4 tracks; on a zero observation the model gives [-0.1543, 0.1211, 0.1963, 0.2074] (sum 0.3706): declare `scores = "logits"` (or `"q_values"` for action values)"#);
}

#[test]
fn logits_declared_on_a_softmax_head_are_refused_with_the_right_kind() {
    let r = reference("torch_dynamo_softmax_head");
    let io = PolicyIo {
        scores: ScoreKind::Logits,
        ..io_of(&r)
    };
    let path = fixtures().join(&r.model);
    let err = Policy::from_file(&path, &io).unwrap_err();
    assert_eq!(err.code(), "policy::score-kind");
    let message = err.to_string().replace(&path.display().to_string(), "FILE");
    insta::assert_snapshot!(message, @r#"`FILE` does not produce `scores = "logits"`: on a zero observation the model gives [0.2760, 0.2101, 0.2563, 0.2575], values in [0, 1] that sum to 1 over the 4 tracks: a softmax head's probabilities; declare `scores = "probabilities"`"#);
}

// ---- tract's wording does not reach the user ----

#[test]
fn an_operator_from_another_domain_is_named_with_its_domain() {
    use prost::Message;
    let r = reference("torch_naming_opset14");
    let path = fixtures().join(&r.model);
    let mut proto =
        tract_onnx::pb::ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    // What onnxruntime's graph optimiser writes when it fuses Gemm + Relu.
    graph.node[0].op_type = "FusedGemm".into();
    graph.node[0].domain = "com.microsoft".into();
    proto.opset_import.push(tract_onnx::pb::OperatorSetIdProto {
        domain: "com.microsoft".into(),
        version: 1,
    });
    let err = Policy::from_bytes(&proto.encode_to_vec(), &io_of(&r)).unwrap_err();
    assert_eq!(err.code(), "policy::unsupported-operators");
    insta::assert_snapshot!(err.to_string(), @"`<bytes>` uses operators talktrack cannot run: `FusedGemm` (domain `com.microsoft`)");
}

#[test]
fn a_string_tensor_stored_as_raw_bytes_is_refused_before_tract_reads_it() {
    // Found by the `onnx` fuzz target: tract's importer stops with a panic on
    // this initializer, which a host built with `panic = "abort"` could not
    // catch; the loader refuses it first, naming the tensor.
    let io = PolicyIo {
        input: "obs".into(),
        mask_input: None,
        output: "scores".into(),
        obs_dim: 50,
        n_tracks: 16,
        scores: ScoreKind::Logits,
    };
    let err = Policy::from_file(&fixtures().join("fuzz_raw_tensor_data.onnx"), &io).unwrap_err();
    assert!(matches!(err, PolicyError::NotOnnx { .. }), "{err:?}");
    assert!(
        err.to_string().ends_with(
            "is not a valid onnx model: tensor `talktrack/fc1/bias` (an initializer) \
             stores STRING elements as raw bytes, which ONNX does not allow"
        ),
        "{err}"
    );
}
