//! What the targets run against: the telecom example bundle (loaded once per
//! process), and the seed corpus of each target taken from the repository's own
//! bundles, requests and logs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use talktrack::Bundle;

/// The workspace root, where the example bundles live.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The telecom example bundle's directory.
pub(crate) fn telecom_dir() -> PathBuf {
    root().join("policies/telecom-upsell")
}

/// The telecom example bundle, loaded once.
pub(crate) fn telecom() -> &'static Bundle {
    static B: OnceLock<Bundle> = OnceLock::new();
    B.get_or_init(|| Bundle::load(telecom_dir()).expect("the telecom example bundle loads"))
}

/// The rules language's keywords and operators, one libFuzzer dictionary entry a
/// line (the file libFuzzer reads with `-dict`).
pub const RULES_DICTIONARY: &str = include_str!("../dict/rules.dict");

/// Seed inputs for `target` (`rules`, `manifest`, `request`, `onnx`, `log`) from
/// the repository: the example bundles' files, the example requests, the first
/// lines of the shipped logs.
pub fn seed_corpus(target: &str) -> Vec<Vec<u8>> {
    let root = root();
    let read = |p: PathBuf| std::fs::read(p).ok();
    let files: Vec<PathBuf> = match target {
        "rules" => [
            "policies/telecom-upsell/rules",
            "policies/persuasion/rules",
            "rules",
        ]
        .iter()
        .flat_map(|d| rules_files(&root.join(d)))
        .collect(),
        "manifest" => vec![
            root.join("policies/telecom-upsell/bundle.toml"),
            root.join("policies/persuasion/bundle.toml"),
        ],
        "request" => std::fs::read_dir(root.join("examples/requests"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default(),
        "onnx" => vec![root.join("policies/telecom-upsell/policy.onnx")],
        _ => Vec::new(),
    };
    let mut seeds: Vec<Vec<u8>> = files.into_iter().filter_map(read).collect();
    if target == "log" {
        for log in [
            "data/persuasionforgood/p4g.jsonl",
            "data/telecom-synthetic/telecom.jsonl",
        ] {
            if let Some(text) = read(root.join(log)) {
                let head: Vec<u8> = text
                    .split(|&b| b == b'\n')
                    .take(20)
                    .flat_map(|l| l.iter().copied().chain([b'\n']))
                    .collect();
                seeds.push(head);
            }
        }
    }
    seeds.sort();
    seeds
}

fn rules_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(rules_files(&p));
            } else if p.extension().is_some_and(|x| x == "rules") {
                out.push(p);
            }
        }
    }
    out
}
