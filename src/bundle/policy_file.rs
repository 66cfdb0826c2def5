//! The policy file of a served bundle: declared, inside the bundle, within its
//! size limit, matching its checksum, and loaded by tract with the shapes the
//! feature spec and catalog imply.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::files::listed_file;
use super::locate::Seg;
use super::problems::manifest_problem;
use super::{read, Manifest, ReadError};
use crate::features::FeatureEncoder;
use crate::policy::{Policy, PolicyIo, PolicyLimits};
use crate::problem::{named_source, Code, Problem};

/// Checks the policy's checksum, then that tract loads, optimises and runs it with
/// the shapes the feature spec and catalog imply.
pub(super) fn load_policy(
    root: &Path,
    manifest: &Manifest,
    text: &str,
    features: Option<&FeatureEncoder>,
    limits: &PolicyLimits,
    problems: &mut Vec<Problem>,
) -> Option<Policy> {
    let shown = PathBuf::from("bundle.toml");
    let src = named_source(&shown, text);
    let mk = |key: &str, code: Code, msg: String, help: Option<&str>| {
        manifest_problem(text, &src, key, code, msg, help)
    };
    let n_tracks = manifest.tracks.len();
    // A template may leave `[policy]` (or some of its keys) out; a served bundle may not.
    let declared = toml::from_str::<toml::Table>(text).ok().map(|t| {
        t.get("policy")
            .and_then(toml::Value::as_table)
            .map(|p| p.keys().cloned().collect::<Vec<_>>())
    });
    if let Some(declared) = declared {
        let missing: Vec<&str> = crate::bundle::manifest::PolicyDecl::KEYS
            .into_iter()
            .filter(|k| !declared.as_ref().is_some_and(|d| d.iter().any(|x| x == k)))
            .collect();
        if !missing.is_empty() {
            let what = if declared.is_none() {
                "the manifest has no `[policy]` table".to_owned()
            } else {
                format!(
                    "`[policy]` lacks {}",
                    missing
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            problems.push(mk(
                "[policy]",
                Code::BundlePolicy,
                format!("{what}: a served bundle needs its policy"),
                Some("declare `[policy]` with `file`, `sha256`, `input`, `output` and `scores`, or export the bundle with `talktrack-train train` (a training template needs no policy)"),
            ));
            return None;
        }
    }
    // Policy: checksum first, then tract must load, optimise and run it.
    let policy_rel = PathBuf::from(&manifest.policy.file);
    let policy_path = match listed_file(
        root,
        text,
        &[Seg::Key("policy"), Seg::Key("file")],
        &manifest.policy.file,
    ) {
        Ok(real) => real,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    let mut policy = None;
    match read::read_bounded_inside(root, &policy_path, crate::policy::MAX_POLICY_BYTES) {
        Err(ReadError::TooLarge { size, limit }) => problems.push(Problem::error(
            Code::BundlePolicy,
            &policy_rel,
            match size {
                Some(size) => format!("policy file is {size} bytes, more than the {limit} allowed"),
                None => format!("policy file is more than the {limit} bytes allowed"),
            },
        )),
        Err(e) => problems.push(Problem::error(
            Code::BundlePolicy,
            &policy_rel,
            format!("cannot read policy file: {e}"),
        )),
        Ok(bytes) => {
            let actual = hex::encode(Sha256::digest(&bytes));
            if !actual.eq_ignore_ascii_case(manifest.policy.sha256.trim()) {
                problems.push(mk(
                            "sha256",
                            Code::BundleChecksum,
                            format!(
                                "`{}` has SHA-256 `{actual}`, the manifest says `{}`",
                                manifest.policy.file, manifest.policy.sha256
                            ),
                            Some("the policy file changed after the manifest was written: re-export the bundle, or update `policy.sha256` if the new file is intended"),
                        ));
            } else if let Some(f) = features {
                let io = PolicyIo {
                    input: manifest.policy.input.clone(),
                    mask_input: manifest.policy.mask_input.clone(),
                    output: manifest.policy.output.clone(),
                    obs_dim: f.dim(),
                    n_tracks,
                    scores: manifest.policy.scores,
                };
                match Policy::from_bytes_with_limits(&bytes, &io, &policy_rel, limits) {
                            Ok(p) => policy = Some(p),
                            Err(e) => problems.push(
                                Problem::error(Code::BundlePolicy, &policy_rel, e.to_string())
                                    .with_help(format!(
                                        "the manifest expects input `{}` of shape [batch, {}] (from the feature spec) and output `{}` with one score per track ({})",
                                        io.input, io.obs_dim, io.output, io.n_tracks
                                    )),
                            ),
                        }
            }
        }
    }

    policy
}
