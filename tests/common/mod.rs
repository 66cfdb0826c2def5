//! Helpers shared by the integration tests: small bundles written into temporary directories.
#![allow(dead_code)]

use std::path::Path;

use ndarray::{Array1, Array2};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use talktrack::tooling::{write_mlp, Activation, Dense, Head, MlpSpec};
use talktrack::{Bundle, DecideError, Decision, Engine, Request};

/// A one-layer linear policy `obs → scores` with the given weights, as ONNX bytes.
pub fn linear_policy(weights: Array2<f32>, bias: Array1<f32>) -> Vec<u8> {
    write_mlp(&MlpSpec {
        layers: vec![Dense { weights, bias }],
        hidden: Activation::Relu,
        head: Head::Identity,
        input: "obs".into(),
        output: "scores".into(),
        opset: 17,
        doc: "test policy".into(),
    })
    .expect("valid policy")
}

/// Writes a bundle: `manifest` may contain `{sha256}` for the policy checksum.
pub fn write_bundle(dir: &Path, manifest: &str, rules: &[(&str, &str)], policy: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    let sha = hex::encode(Sha256::digest(policy));
    std::fs::write(dir.join("policy.onnx"), policy).unwrap();
    for (name, text) in rules {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, text).unwrap();
    }
    std::fs::write(dir.join("bundle.toml"), manifest.replace("{sha256}", &sha)).unwrap();
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A small manifest: 4 tracks (a, b, c tagged; `human` the fallback), context `age` (protected) and `vip`.
pub const SMALL_MANIFEST: &str = r#"
format = 1
name = "small"
version = "1.0.0"
max_turns = 5
fallback = "human"
replies = ["yes", "no", "angry"]
rules = ["main.rules"]

[policy]
file = "policy.onnx"
sha256 = "{sha256}"
input = "obs"
output = "scores"
scores = "logits"

[context]
age = { type = "int", protected = true }
vip = { type = "bool", optional = true }
name = { type = "string", optional = true }

[track_attributes]
min_age = "int"

[[features]]
kind = "turn_one_hot"

[[features]]
kind = "last_reply_one_hot"

[[tracks]]
id = "a"
text = "Hello {name}"
tags = ["sales"]
attrs = { min_age = 0 }

[[tracks]]
id = "b"
text = "Offer B"
tags = ["sales", "credit"]
attrs = { min_age = 18 }

[[tracks]]
id = "c"
text = "Offer C"
tags = ["closing"]
attrs = { min_age = 0 }

[[tracks]]
id = "human"
text = "Let me get a colleague"
tags = ["handover"]
attrs = { min_age = 0 }
"#;

/// Observation width of [`SMALL_MANIFEST`]: 5 turns + 4 reply slots.
pub const SMALL_OBS: usize = 9;

/// A policy for the small bundle whose scores are `bias` whatever the observation.
pub fn constant_policy(bias: [f32; 4]) -> Vec<u8> {
    linear_policy(Array2::zeros((SMALL_OBS, 4)), Array1::from(bias.to_vec()))
}

/// Decides with an engine serving `b`.
pub fn decide(b: &Arc<Bundle>, req: &Request) -> Result<Decision, DecideError> {
    Engine::with_bundle(Arc::clone(b)).decide(req)
}

/// A rule that forbids credit tracks to minors, for bundles that need one rule.
pub const MINORS_RULES: &str = "rule minors\n  because \"no credit under 18\"\n  when customer.age < 18\n  forbid tracks tagged credit\n";

/// The problems of a bundle that must be rejected, rendered as a person reads them.
pub fn bundle_load_err(dir: &Path) -> String {
    let e = Bundle::load(dir).expect_err("the bundle must be rejected");
    assert!(e.problems.iter().any(|p| p.is_error()));
    talktrack::render(&e.problems)
}

/// Writes a small valid bundle (one rule, a constant policy) into `dir`.
pub fn write_good_bundle(dir: &Path) {
    write_bundle(
        dir,
        SMALL_MANIFEST,
        &[("main.rules", MINORS_RULES)],
        &constant_policy([1., 2., 3., 4.]),
    );
}

/// The problems of a rejected bundle, one line each (no wrapping).
pub fn load_err_lines(dir: &Path) -> String {
    let e = Bundle::load(dir).expect_err("the bundle must be rejected");
    let lines: Vec<String> = e.problems.iter().map(|p| p.one_line()).collect();
    lines.join("\n")
}

/// Replaces the first `from` in the bundle's manifest with `to`.
pub fn with_manifest(b: &Path, from: &str, to: &str) {
    let m = std::fs::read_to_string(b.join("bundle.toml")).unwrap();
    assert!(m.contains(from));
    std::fs::write(b.join("bundle.toml"), m.replacen(from, to, 1)).unwrap();
}
