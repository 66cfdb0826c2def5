//! The exporter fixtures of `tests/fixtures/onnx/` and onnxruntime's reference
//! scores for them, shared by the policy tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use talktrack::tooling::{PolicyIo, ScoreKind};

/// The folder of the committed fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

/// A fixture's `<name>.json`: its model, its names and onnxruntime's scores.
#[derive(serde::Deserialize)]
pub struct Reference {
    pub model: String,
    pub input: String,
    #[serde(default)]
    pub mask_input: Option<String>,
    pub output: String,
    pub obs_dim: usize,
    pub n_tracks: usize,
    #[serde(default)]
    pub scores: ScoreKind,
    pub cases: Vec<Case>,
}

/// One observation (and mask) with onnxruntime's scores for it.
#[derive(serde::Deserialize)]
pub struct Case {
    pub obs: Vec<f32>,
    /// The allowed tracks, for models with a mask input.
    #[serde(default)]
    pub mask: Option<Vec<bool>>,
    pub scores: Vec<f32>,
}

/// Reads fixture `name`'s reference.
pub fn reference(name: &str) -> Reference {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The manifest contract the fixture is loaded with.
pub fn io_of(r: &Reference) -> PolicyIo {
    PolicyIo {
        input: r.input.clone(),
        mask_input: r.mask_input.clone(),
        output: r.output.clone(),
        obs_dim: r.obs_dim,
        n_tracks: r.n_tracks,
        scores: r.scores,
    }
}

/// Within 1e-5 of onnxruntime: absolute, or relative for scores above 1.
pub fn close(got: f32, want: f32) -> bool {
    (got - want).abs() <= 1e-5 * want.abs().max(1.0)
}
