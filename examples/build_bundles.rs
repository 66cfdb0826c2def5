//! Builds the example bundles in `policies/` from their sources: copies the rule
//! sets from `rules/`, writes each policy with the library's ONNX writer and records
//! its SHA-256 in `bundle.toml`.
//!
//! The policies written here are UNTRAINED: seeded pseudo-random weights (seed per
//! bundle, uniform in ±0.1) plus a hand-set prior per track in the output bias, so
//! that decisions look plausible in demos. `talktrack-train` replaces the
//! persuasion policy with a trained one.
//!
//! Run with `cargo run --example build_bundles`.

use std::path::Path;

use ndarray::{Array1, Array2};
use sha2::{Digest, Sha256};
use talktrack::synth::Lcg;
use talktrack::tooling::Manifest;
use talktrack::tooling::{write_mlp, Activation, Dense, Head, MlpSpec};

/// Hand-set prior (output bias) per track id; tracks not listed get 0.
const TELECOM_PRIOR: &[(&str, f32)] = &[
    ("greet", 1.0),
    ("fee_disclosure", 0.8),
    ("ask_current_plan", 0.6),
    ("needs_discovery", 0.5),
    ("quote_plus_plan", 0.7),
    ("offer_5g_upgrade", 0.6),
    ("family_bundle", 0.4),
    ("loyalty_discount", 0.3),
    ("apologize_and_resolve", 0.2),
    ("summarize_and_close", 0.1),
    ("handover_to_human", -1.0),
];

fn build(
    dir: &Path,
    rules_from: &Path,
    seed: u64,
    prior: &[(&str, f32)],
) -> Result<(), Box<dyn std::error::Error>> {
    let manifest_path = dir.join("bundle.toml");
    let text = std::fs::read_to_string(&manifest_path)?;
    let manifest: Manifest = toml::from_str(&text)?;
    for rel in &manifest.rules {
        let name = Path::new(rel)
            .file_name()
            .ok_or("rule path without a file name")?;
        let dst = dir.join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(rules_from.join(name), &dst)?;
    }
    // The observation width comes from the feature spec, exactly as the loader computes it.
    let schema_decls = manifest
        .context
        .iter()
        .map(|(n, s)| s.to_decl(n))
        .collect::<Result<Vec<_>, _>>()?;
    let schema = talktrack::tooling::Schema::new(schema_decls)?;
    let enc = talktrack::tooling::FeatureEncoder::new(
        &manifest.features,
        talktrack::tooling::FeatureEnv {
            schema: &schema,
            n_tracks: manifest.tracks.len(),
            n_replies: manifest.replies.len(),
            max_turns: manifest.max_turns,
        },
    )
    .map_err(|e| format!("{e:?}"))?;
    let (obs, hidden, n) = (enc.dim(), 32, manifest.tracks.len());
    let mut rng = Lcg::new(seed);
    let mut w = |i, o| Array2::from_shape_fn((i, o), |_| (rng.unit() * 2.0 - 1.0) * 0.1);
    let l1 = Dense {
        weights: w(obs, hidden),
        bias: Array1::zeros(hidden),
    };
    let l2 = Dense {
        weights: w(hidden, n),
        bias: Array1::from_iter(manifest.tracks.iter().map(|t| {
            prior
                .iter()
                .find(|(id, _)| *id == t.id)
                .map_or(0.0, |(_, b)| *b)
        })),
    };
    let bytes = write_mlp(&MlpSpec {
        layers: vec![l1, l2],
        hidden: Activation::Relu,
        head: Head::Identity,
        input: manifest.policy.input.clone(),
        output: manifest.policy.output.clone(),
        opset: 17,
        doc: format!("UNTRAINED example policy for `{}`: seeded pseudo-random weights (seed {seed}, ±0.1) and a hand-set prior bias per track", manifest.name),
    })?;
    std::fs::write(dir.join(&manifest.policy.file), &bytes)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let updated = text.replace(&manifest.policy.sha256, &sha);
    std::fs::write(&manifest_path, updated)?;
    println!("{}: policy {obs}→{hidden}→{n}, sha256 {sha}", dir.display());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    build(
        Path::new("policies/telecom-upsell"),
        Path::new("rules/telecom"),
        11,
        TELECOM_PRIOR,
    )?;
    if std::env::args().any(|a| a == "--with-persuasion") {
        build(
            Path::new("policies/persuasion"),
            Path::new("rules/persuasion"),
            13,
            &[("non-strategy", -0.5)],
        )?;
    }
    Ok(())
}
