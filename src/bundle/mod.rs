//! The bundle: the unit of deployment, loaded and validated as a whole.
//!
//! [`Bundle::load`] reads `bundle.toml`, the rule files and the ONNX policy, checks
//! every cross-reference (schema, catalog, tags, fallback, feature spec, policy
//! shapes and checksum) and either returns an immutable, ready-to-serve bundle or
//! *every* problem it found, each naming its file and, where it can, line and
//! column. A bundle that fails any check is rejected whole.

mod manifest;
mod template;

use crate::names::NameIndex;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thread_local::ThreadLocal;

pub use manifest::{
    AttrSpec, AttrSpecLong, Manifest, PolicyDecl, Selection, SelectionMode, FORMAT_VERSION,
};
pub use template::Template;

use crate::catalog::Catalog;
use crate::context::Schema;
use crate::diag::{named_source, Problem};
use crate::features::{FeatureEncoder, FeatureEnv};
use crate::policy::{Policy, PolicyError, PolicyIo};
use crate::rules::{self, RuleEnv, RuleSet, RuleSource, Verdict};
use crate::trackset::TrackSet;

/// Largest `bundle.toml` or rules file accepted, in bytes.
pub const MAX_TEXT_FILE_BYTES: u64 = 1 << 20;
/// Most rule files a bundle may list.
pub const MAX_RULE_FILES: usize = 256;
/// Most turns a bundle may declare.
pub const MAX_TURNS_LIMIT: u32 = 10_000;

/// A loaded, validated, immutable bundle.
pub struct Bundle {
    tpl: BundleTemplate,
    policy: Policy,
    digest: String,
    pub(crate) scratch: ThreadLocal<RefCell<Scratch>>,
}

/// Everything of a bundle but its policy, validated: what the trainer starts from
/// (schema, catalog, rules, feature spec) and what a loaded [`Bundle`] serves with.
#[derive(Debug)]
pub struct BundleTemplate {
    dir: PathBuf,
    manifest: Manifest,
    manifest_text: String,
    schema: Schema,
    catalog: Catalog,
    rules: RuleSet,
    features: FeatureEncoder,
    fallback: usize,
    warnings: Vec<Problem>,
    reply_index: NameIndex,
    templates: Vec<Template>,
    sources: Vec<RuleSource>,
}

/// What checking a manifest found: the pieces that validated, and every problem.
struct Parts {
    schema: Schema,
    catalog: Option<Catalog>,
    rules: Option<RuleSet>,
    features: Option<FeatureEncoder>,
    fallback: Option<usize>,
    reply_index: NameIndex,
    templates: Vec<Template>,
    sources: Vec<RuleSource>,
    warnings: Vec<Problem>,
    problems: Vec<Problem>,
}

/// Per-thread buffers reused by every decision on that thread.
pub(crate) struct Scratch {
    pub(crate) verdict: Verdict,
    pub(crate) used: Vec<u16>,
    pub(crate) obs: Vec<f32>,
    pub(crate) scores: Vec<f32>,
    pub(crate) allowed: TrackSet,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("name", &self.tpl.manifest.name)
            .field("version", &self.tpl.manifest.version)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// A bundle that could not be loaded, with everything that is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("bundle `{}` was rejected: {} error(s)", dir.display(), problems.iter().filter(|p| p.is_error()).count())]
pub struct LoadError {
    /// The bundle directory.
    pub dir: PathBuf,
    /// All problems found (errors and warnings), in file order.
    pub problems: Vec<Problem>,
}

impl LoadError {
    fn single(dir: &Path, p: Problem) -> Self {
        Self {
            dir: dir.to_owned(),
            problems: vec![p],
        }
    }
}

/// Reads a text file with the size and UTF-8 checks every bundle file gets;
/// `shown` is the path problems name.
#[allow(clippy::result_large_err)] // cold path: a file is read once per load
pub fn read_text(path: &Path, shown: &Path) -> Result<String, Problem> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Problem::error(
            "bundle::unreadable",
            shown,
            format!("cannot read file: {e}"),
        )
    })?;
    if meta.len() > MAX_TEXT_FILE_BYTES {
        return Err(Problem::error(
            "bundle::too-large",
            shown,
            format!(
                "file is {} bytes, more than the {} bytes allowed",
                meta.len(),
                MAX_TEXT_FILE_BYTES
            ),
        )
        .with_help("split it into several files"));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Problem::error(
            "bundle::unreadable",
            shown,
            format!("cannot read file: {e}"),
        )
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        Problem::error("bundle::not-utf8", shown, "file is not valid UTF-8").at(
            &named_source(shown, &text),
            (at, 1),
            "invalid byte here",
        )
    })
}

/// An error in `bundle.toml`, pointing at the line that declares `key` when there is one.
fn manifest_problem(
    text: &str,
    src: &std::sync::Arc<miette::NamedSource<String>>,
    key: &str,
    code: &'static str,
    msg: String,
    help: Option<&str>,
) -> Problem {
    let mut p = Problem::error(code, Path::new("bundle.toml"), msg);
    if let Some(span) = find_key(text, key) {
        p = p.at(src, span, "declared here");
    }
    if let Some(h) = help {
        p = p.with_help(h);
    }
    p
}

/// Byte range of the first line of `text` that starts (after spaces) with `key`.
fn find_key(text: &str, key: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with(key) {
            let start = offset + (line.len() - trimmed.len());
            return Some((start, key.len()));
        }
        offset += line.len();
    }
    None
}

/// Reads and parses `dir/bundle.toml`.
fn read_manifest(dir: &Path) -> Result<(Manifest, String), LoadError> {
    let manifest_path = dir.join("bundle.toml");
    let shown = PathBuf::from("bundle.toml");
    let text = read_text(&manifest_path, &shown).map_err(|p| LoadError::single(dir, p))?;
    let src = named_source(&shown, &text);
    let manifest: Manifest = toml::from_str(&text).map_err(|e| {
        let mut p = Problem::error("bundle::manifest", &shown, e.message().to_owned());
        if let Some(span) = e.span() {
            p = p.at(&src, span.start..span.end.max(span.start + 1), "here");
        }
        LoadError::single(dir, p.with_help("see the bundle format in the README"))
    })?;
    Ok((manifest, text))
}

impl BundleTemplate {
    /// Loads and validates everything in `dir` but the policy (which may be absent).
    pub fn load(dir: impl AsRef<Path>) -> Result<BundleTemplate, LoadError> {
        let dir = dir.as_ref();
        let (manifest, text) = read_manifest(dir)?;
        let parts = check(dir, &manifest, &text);
        Self::assemble(dir, manifest, text, parts)
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The manifest as read.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// The context schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    /// The compiled rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }
    /// The feature encoder.
    pub fn features(&self) -> &FeatureEncoder {
        &self.features
    }
    /// Index of the fallback track.
    pub fn fallback(&self) -> usize {
        self.fallback
    }
    /// Warnings found while loading.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    fn assemble(
        dir: &Path,
        manifest: Manifest,
        text: String,
        parts: Parts,
    ) -> Result<Self, LoadError> {
        let Parts {
            schema,
            catalog,
            rules,
            features,
            fallback,
            reply_index,
            templates,
            sources,
            warnings,
            mut problems,
        } = parts;
        match (catalog, rules, features, fallback) {
            (Some(catalog), Some(rules), Some(features), Some(fallback))
                if !problems.iter().any(Problem::is_error) =>
            {
                Ok(Self {
                    dir: dir.to_owned(),
                    manifest,
                    manifest_text: text,
                    schema,
                    catalog,
                    rules,
                    features,
                    fallback,
                    warnings,
                    reply_index,
                    templates,
                    sources,
                })
            }
            _ => {
                problems.extend(warnings);
                Err(LoadError {
                    dir: dir.to_owned(),
                    problems,
                })
            }
        }
    }
}

/// Checks a manifest and everything it refers to but the policy.
fn check(dir: &Path, manifest: &Manifest, text: &str) -> Parts {
    let shown = PathBuf::from("bundle.toml");
    let src = named_source(&shown, text);
    let mut problems: Vec<Problem> = Vec::new();
    let mk = |key: &str, code: &'static str, msg: String, help: Option<&str>| {
        manifest_problem(text, &src, key, code, msg, help)
    };

    if manifest.format != FORMAT_VERSION {
        problems.push(mk(
                "format",
                "bundle::format",
                format!(
                    "manifest format {} is not supported (this talktrack reads format {FORMAT_VERSION})",
                    manifest.format
                ),
                None,
            ));
    }
    if manifest.max_turns == 0 || manifest.max_turns > MAX_TURNS_LIMIT {
        problems.push(mk(
            "max_turns",
            "bundle::max-turns",
            format!("`max_turns` must be between 1 and {MAX_TURNS_LIMIT}"),
            None,
        ));
    }
    if manifest.replies.is_empty() {
        problems.push(mk(
            "replies",
            "bundle::replies",
            "`replies` must list at least one user reply category".into(),
            None,
        ));
    }
    let reply_index =
        NameIndex::new(manifest.replies.iter().map(String::as_str)).unwrap_or_else(|r| {
            problems.push(mk(
                "replies",
                "bundle::replies",
                format!("reply category `{r}` is listed twice"),
                None,
            ));
            NameIndex::default()
        });
    let sel = &manifest.selection;
    if !(sel.temperature.is_finite() && sel.temperature > 0.0) {
        problems.push(mk(
            "temperature",
            "bundle::selection",
            "`selection.temperature` must be a positive number".into(),
            None,
        ));
    }
    if !(0.0..=1.0).contains(&sel.epsilon) {
        problems.push(mk(
            "epsilon",
            "bundle::selection",
            "`selection.epsilon` must be between 0 and 1".into(),
            None,
        ));
    }

    let mut decls = Vec::new();
    for (name, spec) in &manifest.context {
        match spec.to_decl(name) {
            Ok(d) => decls.push(d),
            Err(m) => problems.push(mk(name, "bundle::context", m, None)),
        }
    }
    let schema = Schema::new(decls).unwrap_or_default();
    let mut track_decls = Vec::new();
    for (name, spec) in &manifest.track_attributes {
        match spec.to_decl(name) {
            Ok(d) => track_decls.push(d),
            Err(m) => problems.push(mk(name, "bundle::track-attributes", m, None)),
        }
    }
    let catalog = match Catalog::new(manifest.tracks.clone(), track_decls) {
        Ok(c) => Some(c),
        Err(es) => {
            for e in es {
                problems.push(mk(
                        "[[tracks]]",
                        "bundle::catalog",
                        e.to_string(),
                        Some("each `[[tracks]]` needs a unique `id`; its `attrs` must match `[track_attributes]`"),
                    ));
            }
            None
        }
    };
    let fallback = catalog.as_ref().and_then(|c| c.index(&manifest.fallback));
    if catalog.is_some() && fallback.is_none() {
        problems.push(mk(
            "fallback",
            "bundle::fallback",
            format!(
                "fallback track `{}` is not in the catalog",
                manifest.fallback
            ),
            Some("declare the fallback (e.g. a hand-over to a person) as one of the `[[tracks]]`"),
        ));
    }
    let mut templates = Vec::with_capacity(manifest.tracks.len());
    for t in &manifest.tracks {
        match Template::parse(&t.text, &schema) {
            Ok(tpl) => templates.push(tpl),
            Err(m) => {
                problems.push(mk(
                    &format!("text = {:?}", t.text),
                    "bundle::template",
                    format!("track `{}`: {m}", t.id),
                    None,
                ));
                templates.push(Template::literal(&t.text));
            }
        }
    }

    let n_tracks = manifest.tracks.len();
    let features = match FeatureEncoder::new(
        &manifest.features,
        FeatureEnv {
            schema: &schema,
            n_tracks,
            n_replies: manifest.replies.len(),
            max_turns: manifest.max_turns,
        },
    ) {
        Ok(f) => Some(f),
        Err(es) => {
            for (i, m) in es {
                problems.push(mk(
                    "[[features]]",
                    "bundle::features",
                    format!("feature {}: {m}", i + 1),
                    None,
                ));
            }
            None
        }
    };

    // Rules: read every file, then compile them together (ids are bundle-wide).
    let mut sources = Vec::new();
    if manifest.rules.len() > MAX_RULE_FILES {
        problems.push(mk(
            "rules",
            "bundle::rules",
            format!("a bundle may list at most {MAX_RULE_FILES} rule files"),
            None,
        ));
    }
    for rel in manifest.rules.iter().take(MAX_RULE_FILES) {
        match read_text(&dir.join(rel), Path::new(rel)) {
            Ok(text) => sources.push(RuleSource {
                path: PathBuf::from(rel),
                text,
            }),
            Err(p) => problems.push(p),
        }
    }
    let mut warnings = Vec::new();
    let rules = match &catalog {
        Some(catalog) => match rules::compile(
            &sources,
            &RuleEnv {
                schema: &schema,
                catalog,
                replies: &manifest.replies,
                max_turns: manifest.max_turns,
            },
        ) {
            Ok((set, w)) => {
                warnings.extend(w);
                Some(set)
            }
            Err(ps) => {
                problems.extend(ps);
                None
            }
        },
        None => None,
    };

    Parts {
        schema,
        catalog,
        rules,
        features,
        fallback,
        reply_index,
        templates,
        sources,
        warnings,
        problems,
    }
}

impl Bundle {
    /// Loads and validates the bundle in `dir`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Bundle, LoadError> {
        let dir = dir.as_ref();
        let (manifest, text) = read_manifest(dir)?;
        let mut parts = check(dir, &manifest, &text);
        let policy = load_policy(
            dir,
            &manifest,
            &text,
            parts.features.as_ref(),
            &mut parts.problems,
        );
        let tpl = BundleTemplate::assemble(dir, manifest, text, parts)?;
        match policy {
            Some(policy) => {
                let digest = bundle_digest(
                    &tpl.manifest_text,
                    &tpl.sources,
                    &tpl.manifest.policy.sha256,
                );
                Ok(Bundle {
                    tpl,
                    policy,
                    digest,
                    scratch: ThreadLocal::new(),
                })
            }
            None => Err(LoadError {
                dir: dir.to_owned(),
                problems: Vec::new(),
            }),
        }
    }

    /// The bundle directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.tpl.dir
    }
    /// The manifest as read.
    pub fn manifest(&self) -> &Manifest {
        &self.tpl.manifest
    }
    /// Bundle name.
    pub fn name(&self) -> &str {
        &self.tpl.manifest.name
    }
    /// Bundle version.
    pub fn version(&self) -> &str {
        &self.tpl.manifest.version
    }
    /// Hex SHA-256 over the manifest, every rule file and the policy.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// Warnings found while loading (the bundle still serves).
    pub fn warnings(&self) -> &[Problem] {
        &self.tpl.warnings
    }
    /// The context schema.
    pub fn schema(&self) -> &Schema {
        &self.tpl.schema
    }
    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.tpl.catalog
    }
    /// The compiled rules.
    pub fn rules(&self) -> &RuleSet {
        &self.tpl.rules
    }
    /// The feature encoder.
    pub fn features(&self) -> &FeatureEncoder {
        &self.tpl.features
    }
    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    /// Index of the fallback track.
    pub fn fallback(&self) -> usize {
        self.tpl.fallback
    }
    /// Index of reply category `name`.
    pub fn reply_index(&self, name: &str) -> Option<u32> {
        self.tpl.reply_index.get(name).map(|i| i as u32)
    }
    /// The compiled text template of track `i`.
    pub fn template(&self, i: usize) -> Option<&Template> {
        self.tpl.templates.get(i)
    }
}

/// Checks the policy's checksum, then that tract loads, optimises and runs it with
/// the shapes the feature spec and catalog imply.
fn load_policy(
    dir: &Path,
    manifest: &Manifest,
    text: &str,
    features: Option<&FeatureEncoder>,
    problems: &mut Vec<Problem>,
) -> Option<Policy> {
    let shown = PathBuf::from("bundle.toml");
    let src = named_source(&shown, text);
    let mk = |key: &str, code: &'static str, msg: String, help: Option<&str>| {
        manifest_problem(text, &src, key, code, msg, help)
    };
    let n_tracks = manifest.tracks.len();
    // Policy: checksum first, then tract must load, optimise and run it.
    let policy_rel = PathBuf::from(&manifest.policy.file);
    let policy_path = dir.join(&policy_rel);
    let mut policy = None;
    match crate::policy::runner::read_limited(&policy_path, crate::policy::MAX_POLICY_BYTES) {
        Err(PolicyError::TooLarge { size, limit, .. }) => problems.push(Problem::error(
            "bundle::policy",
            &policy_rel,
            format!("policy file is {size} bytes, more than the {limit} allowed"),
        )),
        Err(e) => {
            let why = match e {
                PolicyError::Io { source, .. } => source.to_string(),
                PolicyError::NotFound { .. } => "no such file".to_owned(),
                other => other.to_string(),
            };
            problems.push(Problem::error(
                "bundle::policy",
                &policy_rel,
                format!("cannot read policy file: {why}"),
            ))
        }
        Ok(bytes) => {
            let actual = hex::encode(Sha256::digest(&bytes));
            if !actual.eq_ignore_ascii_case(manifest.policy.sha256.trim()) {
                problems.push(mk(
                            "sha256",
                            "bundle::checksum",
                            format!(
                                "`{}` has SHA-256 `{actual}`, the manifest says `{}`",
                                manifest.policy.file, manifest.policy.sha256
                            ),
                            Some("the policy file changed after the manifest was written: re-export the bundle, or update `policy.sha256` if the new file is intended"),
                        ));
            } else if let Some(f) = features {
                let io = PolicyIo {
                    input: manifest.policy.input.clone(),
                    output: manifest.policy.output.clone(),
                    obs_dim: f.dim(),
                    n_tracks,
                };
                match Policy::from_bytes_of(&bytes, &io, &policy_rel) {
                            Ok(p) => policy = Some(p),
                            Err(e) => problems.push(
                                Problem::error("bundle::policy", &policy_rel, e.to_string())
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

/// The digest that identifies a bundle: manifest, rule files (by path) and policy checksum.
fn bundle_digest(manifest: &str, rules: &[RuleSource], policy_sha256: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"talktrack-bundle-v1\0");
    h.update((manifest.len() as u64).to_le_bytes());
    h.update(manifest.as_bytes());
    for r in rules {
        let p = r.path.to_string_lossy();
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
        h.update((r.text.len() as u64).to_le_bytes());
        h.update(r.text.as_bytes());
    }
    h.update(policy_sha256.trim().to_ascii_lowercase().as_bytes());
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        let _ = write!(out, "{b:02x}");
    }
    out
}
