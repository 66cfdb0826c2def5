//! Static analysis of a talktrack rule set: which tracks no request can ever
//! allow, which rules never fire, and on which requests every track is masked.
//!
//! A claim about all requests (never allowed, never fires) is reported only when
//! proven; a claim that some request exists comes with a witness request that
//! was run through the real mask (and, given an engine, through
//! [`talktrack::Engine::decide`]). Anything outside the exact fragment (atoms
//! comparing one request quantity with constants) is reported as undecided,
//! with the reason.
//!
//! - `atoms.rs`: what each rule reads, and which atoms are free;
//! - `domain.rs`: each quantity's domain split at its constants;
//! - `space.rs`: points of the search space as turn views and requests;
//! - `search.rs`: the per-query backtracking search over the real evaluator;
//! - `budget.rs`: the search budget, counted in evaluations done;
//! - `blocks.rs`: what each fired forbid and `only` rule blocks at a node;
//! - `partial.rs`: three-valued evaluation on partly chosen requests (the cuts);
//! - `queries.rs`: the findings' queries and the witnesses' check;
//! - `redundant.rs`: forbid and `only` rules that change nothing;
//! - `shadowed.rs`: boosts and `only` rules the other rules make void;
//! - `pair.rs`, `compare.rs`: two versions of the rules searched at once, for
//!   what a change newly allows or forbids;
//! - `findings.rs`: what is reported; `human.rs`: the report in words.

mod atoms;
mod blocks;
mod budget;
mod compare;
mod domain;
mod findings;
mod human;
mod pair;
mod partial;
mod queries;
mod redundant;
mod search;
mod shadowed;
mod space;

pub use compare::{compare, Change, Direction, Status};
pub use findings::{Claim, Finding, Kind, Report, RuleRef, Severity};
pub use human::{render_finding, render_report};

use sha2::{Digest, Sha256};
use talktrack::tooling::{
    listed_rule_files, mask_request, read_text, BundleTemplate, Catalog, RuleSet, Schema,
};
use talktrack::{Bundle, Engine, Request};

/// What is analysed: a rule set with the schema and catalog it was checked against.
pub struct Subject<'a> {
    /// The compiled rules.
    pub rules: &'a RuleSet,
    /// The context schema.
    pub schema: &'a Schema,
    /// The catalog.
    pub catalog: &'a Catalog,
    /// The reply vocabulary.
    pub replies: &'a [String],
    /// Maximum agent turns.
    pub max_turns: u32,
    /// The fallback track's index.
    pub fallback: usize,
}

impl<'a> Subject<'a> {
    /// The parts of a bundle template (a bundle without its policy).
    pub fn of_template(t: &'a BundleTemplate) -> Self {
        Self {
            rules: t.rules(),
            schema: t.schema(),
            catalog: t.catalog(),
            replies: &t.manifest().replies,
            max_turns: t.manifest().max_turns,
            fallback: t.fallback(),
        }
    }

    /// The parts of a loaded bundle.
    pub fn of_bundle(b: &'a Bundle) -> Self {
        Self {
            rules: b.rules(),
            schema: b.schema(),
            catalog: b.catalog(),
            replies: &b.manifest().replies,
            max_turns: b.manifest().max_turns,
            fallback: b.fallback(),
        }
    }
}

/// Limits of the analysis. Budgets count work, not search nodes (`budget.rs`):
/// 1 per search node; per evaluation of the whole mask, 1 per rule plus 1 per
/// atom of its condition and target predicate; per condition the search
/// evaluates itself, 1, plus 4 per atom the real evaluator runs and 1 per atom
/// whose kept value is read. So a budget bounds the time a question takes
/// whatever its conditions' nesting.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Most work per question before the question is undecided.
    pub budget: u64,
    /// Most witnesses of masking reported per finding.
    pub witnesses: usize,
    /// Most work for the whole analysis; the questions left when it runs out
    /// are undecided (so that a very large rule set is analysed in bounded time).
    pub total_budget: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            budget: 20_000_000,
            witnesses: 3,
            total_budget: 250_000_000,
        }
    }
}

/// Analyses a loaded bundle; witnesses are checked with `Engine::decide` too.
pub fn analyze_bundle(bundle: std::sync::Arc<Bundle>, options: &Options) -> Report {
    let engine = Engine::with_bundle(bundle.clone());
    let subject = Subject::of_bundle(&bundle);
    let findings = queries::run(&subject, Some(&engine), options);
    Report {
        bundle: bundle.name().to_owned(),
        version: bundle.version().to_owned(),
        digest: bundle.digest().to_owned(),
        findings,
    }
}

/// Analyses a rule set without a policy (witnesses are checked with the real mask only).
pub fn analyze(subject: &Subject<'_>, options: &Options) -> Vec<Finding> {
    queries::run(subject, None, options)
}

/// Analyses a bundle template (no policy: witnesses are checked with the real
/// mask only). Its digest is the SHA-256 of `bundle.toml` and the rule files it
/// lists, each preceded by its path.
pub fn analyze_template(t: &BundleTemplate, options: &Options) -> Report {
    let subject = Subject::of_template(t);
    let findings = queries::run(&subject, None, options);
    let mut h = Sha256::new();
    let manifest = t.dir().join("bundle.toml");
    let mut files = vec![(manifest.clone(), manifest)];
    if let Ok((listed, _)) = listed_rule_files(t.dir()) {
        files.extend(listed.into_iter().map(|f| (f.shown, f.real)));
    }
    for (shown, real) in files {
        let rel = shown.strip_prefix(t.dir()).unwrap_or(&shown);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(read_text(&real, &shown).unwrap_or_default().as_bytes());
        h.update([0]);
    }
    Report {
        bundle: t.manifest().name.clone(),
        version: t.manifest().version.clone(),
        digest: format!("template-{}", hex::encode(h.finalize())),
        findings,
    }
}

/// Compares two bundle templates' rules ([`compare`]), each witness checked once
/// more through both templates' full request resolution and mask (as `decide`
/// resolves a request); a witness that does not hold there leaves its change undecided.
pub fn compare_templates(
    old: &BundleTemplate,
    new: &BundleTemplate,
    options: &Options,
) -> Vec<Change> {
    let sides = [old, new];
    let mut changes = compare(
        &Subject::of_template(old),
        &Subject::of_template(new),
        options,
    );
    for c in &mut changes {
        let Some(w) = &c.witness else {
            continue;
        };
        let holds = |side: usize| -> Result<bool, String> {
            let t = sides[side];
            let req = serde_json::to_string(w)
                .map_err(|e| e.to_string())
                .and_then(|text| Request::from_json(&text).map_err(|e| e.to_string()))?;
            let (allowed, _) = mask_request(t, &req).map_err(|e| e.to_string())?;
            Ok(t.catalog()
                .index(&c.track)
                .is_some_and(|i| allowed.contains(i)))
        };
        let (a, d) = match c.direction {
            Direction::NewlyAllowed => (1, 0),
            Direction::NewlyForbidden => (0, 1),
        };
        match (holds(a), holds(d)) {
            (Ok(true), Ok(false)) => {}
            (Err(e), _) | (_, Err(e)) => {
                c.status = Status::Undecided;
                c.witness = None;
                c.reasons = vec![format!("a witness was refused by a bundle: {e}")];
            }
            _ => {
                c.status = Status::Undecided;
                c.witness = None;
                c.reasons =
                    vec!["a witness did not reproduce through a bundle's decision".to_owned()];
            }
        }
    }
    changes
}
