//! The ONNX writer, specified by what the runtime makes of its output: a written
//! MLP must compute what a direct ndarray forward pass computes.

// Helpers outside #[test] functions are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

use ndarray::{array, Array1, Array2};
use prost::Message;
use talktrack::tooling::{
    write_mlp, Activation, Dense, Head, MlpSpec, Policy, PolicyError, PolicyIo, ScoreKind,
};
use tract_onnx::pb;

fn dense(fan_in: usize, fan_out: usize, seed: f32) -> Dense {
    // Deterministic, varied, sign-mixed values without pulling in a RNG.
    let weights = Array2::from_shape_fn((fan_in, fan_out), |(i, j)| {
        ((i * 7 + j * 3) as f32 * 0.37 + seed).sin() * 0.8
    });
    let bias = Array1::from_shape_fn(fan_out, |j| (j as f32 + seed).cos() * 0.1);
    Dense { weights, bias }
}

fn forward(spec: &MlpSpec, obs: &[f32]) -> Vec<f32> {
    let mut x = Array1::from(obs.to_vec());
    let last = spec.layers.len() - 1;
    for (ix, layer) in spec.layers.iter().enumerate() {
        x = x.dot(&layer.weights) + &layer.bias;
        if ix != last {
            x.mapv_inplace(|v| match spec.hidden {
                Activation::Relu => v.max(0.0),
                Activation::Tanh => v.tanh(),
                Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            });
        }
    }
    if spec.head == Head::Softmax {
        let max = x.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        x.mapv_inplace(|v| (v - max).exp());
        let sum = x.sum();
        x /= sum;
    }
    x.to_vec()
}

fn io(spec: &MlpSpec) -> PolicyIo {
    PolicyIo {
        input: spec.input.clone(),
        mask_input: None,
        output: spec.output.clone(),
        obs_dim: spec.layers[0].weights.nrows(),
        n_tracks: spec.layers.last().unwrap().weights.ncols(),
        scores: match spec.head {
            Head::Softmax => ScoreKind::Probabilities,
            Head::Identity => ScoreKind::Logits,
        },
    }
}

#[test]
fn written_mlp_runs_like_a_direct_forward_pass() {
    let observations: [[f32; 5]; 3] = [
        [0.0; 5],
        [1.0, -2.0, 0.5, 3.0, -0.25],
        [-1.5, 0.75, 2.0, -0.1, 4.0],
    ];
    for hidden in [Activation::Relu, Activation::Tanh, Activation::Sigmoid] {
        for head in [Head::Identity, Head::Softmax] {
            let spec = MlpSpec::new(
                vec![dense(5, 7, 0.1), dense(7, 6, 0.2), dense(6, 3, 0.3)],
                hidden,
                head,
            );
            let bytes = write_mlp(&spec).unwrap();
            let policy = Policy::from_bytes(&bytes, &io(&spec)).unwrap();
            for obs in &observations {
                let mut out = [0.0f32; 3];
                policy.scores(obs, &mut out).unwrap();
                let want = forward(&spec, obs);
                for (got, want) in out.iter().zip(&want) {
                    assert!(
                        (got - want).abs() < 1e-5,
                        "{hidden:?}/{head:?} on {obs:?}: got {out:?}, want {want:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn written_model_carries_metadata_and_symbolic_batch() {
    let mut spec = MlpSpec::new(vec![dense(2, 2, 0.0)], Activation::Relu, Head::Identity);
    spec.doc = "dqn, 10k episodes".to_owned();
    let proto = pb::ModelProto::decode(write_mlp(&spec).unwrap().as_slice()).unwrap();
    assert_eq!(proto.producer_name, "talktrack");
    assert_eq!(proto.doc_string, "dqn, 10k episodes");
    assert_eq!(proto.opset_import[0].version, 17);
    let graph = proto.graph.unwrap();
    for value in [&graph.input[0], &graph.output[0]] {
        let Some(pb::type_proto::Value::TensorType(t)) = value.r#type.clone().unwrap().value else {
            panic!("not a tensor")
        };
        let first = t.shape.unwrap().dim[0].value.clone();
        assert_eq!(
            first,
            Some(pb::tensor_shape_proto::dimension::Value::DimParam(
                "batch".to_owned()
            ))
        );
    }
    assert!(graph.initializer.iter().all(|t| !t.raw_data.is_empty()));
}

#[test]
fn layers_that_do_not_chain_are_refused() {
    let spec = MlpSpec::new(
        vec![dense(4, 5, 0.0), dense(6, 2, 0.0)],
        Activation::Tanh,
        Head::Identity,
    );
    let err = write_mlp(&spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot write mlp: layer 1 takes 6 inputs but layer 0 produces 5"
    );
}

#[test]
fn bias_of_the_wrong_length_is_refused() {
    let mut layer = dense(3, 2, 0.0);
    layer.bias = array![0.0, 0.0, 0.0];
    let spec = MlpSpec::new(vec![layer], Activation::Relu, Head::Identity);
    let err = write_mlp(&spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot write mlp: layer 0 has weights [3, 2] but bias of length 3"
    );
}

#[test]
fn non_finite_weights_are_refused() {
    let mut layer = dense(3, 2, 0.0);
    layer.weights[[1, 1]] = f32::NAN;
    let spec = MlpSpec::new(vec![layer], Activation::Relu, Head::Identity);
    assert!(matches!(
        write_mlp(&spec),
        Err(PolicyError::InvalidMlp { reason }) if reason.contains("non-finite")
    ));
}

#[test]
fn empty_specs_and_bad_names_are_refused() {
    let empty = MlpSpec::new(vec![], Activation::Relu, Head::Identity);
    assert!(write_mlp(&empty).is_err());
    let mut same = MlpSpec::new(vec![dense(2, 2, 0.0)], Activation::Relu, Head::Identity);
    same.output = same.input.clone();
    assert!(write_mlp(&same).is_err());
    let mut old = MlpSpec::new(vec![dense(2, 2, 0.0)], Activation::Relu, Head::Identity);
    old.opset = 9;
    assert!(write_mlp(&old).is_err());
}
