//! Syntax tree → typed rules (`typed.rs`): names resolved to schema slots
//! (`paths.rs`), track indices and tag sets (`tracks.rs`) and enum variant
//! indices; types checked (`types.rs` names the static types, `expr.rs` types
//! expressions, `compare.rs` checks comparisons). The lints run after each
//! rule (`lints.rs`). This file walks the files and their rules: rule ids
//! unique across files, and each rule's condition, effect and targets.

use crate::problem::Code;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use miette::NamedSource;

mod compare;
mod expr;
mod paths;
mod tracks;
mod types;

use super::ast::*;
use super::lints::lint_rule;
use super::probe::{atom_spans, Sites};
use super::suggest::clip;
use super::typed::CheckedRule;
use super::{EffectKind, RuleEnv, RuleInfo};
use crate::problem::Problem;

/// Checks rules across files: ids unique across all of them.
pub(crate) struct Checker<'e> {
    env: RuleEnv<'e>,
    pub problems: Vec<Problem>,
    seen: HashMap<String, FirstUse>,
    n_rules: usize,
}

/// Where a rule id was first used.
struct FirstUse {
    file: std::path::PathBuf,
    line: usize,
    column: usize,
    src: Arc<NamedSource<String>>,
    span: Span,
}

/// Most rules in one bundle.
pub const MAX_RULES: usize = 100_000;

struct Scope<'a> {
    path: &'a Path,
    src: &'a Arc<NamedSource<String>>,
    /// Inside a track predicate (`track.<attr>` is known).
    in_track: bool,
}

impl<'e> Checker<'e> {
    pub(crate) fn new(env: RuleEnv<'e>) -> Self {
        Self {
            env,
            problems: Vec::new(),
            seen: HashMap::new(),
            n_rules: 0,
        }
    }

    fn error(
        &mut self,
        sc: &Scope,
        code: Code,
        at: Span,
        msg: String,
        label: &str,
    ) -> &mut Problem {
        self.push(Problem::error(code, sc.path, msg).at(sc.src, at.pair(), label))
    }

    /// Records a problem and hands it back for a hint to be added.
    fn push(&mut self, p: Problem) -> &mut Problem {
        self.problems.push(p);
        let n = self.problems.len() - 1;
        &mut self.problems[n]
    }

    /// Checks the rules of one file.
    pub(crate) fn file(
        &mut self,
        file: &RulesFile,
        path: &Path,
        src: &Arc<NamedSource<String>>,
    ) -> Vec<CheckedRule> {
        let mut out = Vec::new();
        // Line starts, so each rule's line and column is a binary search, not a scan from the top.
        let text = src.inner();
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        for r in &file.rules {
            self.n_rules += 1;
            if self.n_rules == MAX_RULES + 1 {
                self.problems.push(
                    Problem::error(
                        Code::RulesTooManyRules,
                        path,
                        format!("the bundle has more than {MAX_RULES} rules"),
                    )
                    .at(src, r.id.span.pair(), "one too many"),
                );
            }
            if self.n_rules > MAX_RULES {
                break;
            }
            let line = line_starts.partition_point(|s| *s <= r.span.start).max(1);
            let start = line_starts.get(line - 1).copied().unwrap_or(0);
            let column = text
                .get(start..r.span.start)
                .map_or(1, |l| l.chars().count() + 1);
            if let Some(c) = self.rule(r, path, src, (line, column)) {
                out.push(c);
            }
        }
        out
    }

    fn rule(
        &mut self,
        r: &RuleDef,
        path: &Path,
        src: &Arc<NamedSource<String>>,
        (line, column): (usize, usize),
    ) -> Option<CheckedRule> {
        let sc = Scope {
            path,
            src,
            in_track: false,
        };
        let mut ok = true;
        match self.seen.get(&r.id.text) {
            Some(first) => {
                let help = format!(
                    "the first rule `{}` is at {}:{}:{}; rule ids must be unique across all files of a bundle",
                    clip(&r.id.text),
                    first.file.display(),
                    first.line,
                    first.column
                );
                let p = Problem::error(
                    Code::RulesDuplicateId,
                    sc.path,
                    format!("rule id `{}` is used twice", clip(&r.id.text)),
                )
                .at(sc.src, r.id.span.pair(), "second use")
                .with_help(help)
                .with_related(
                    &first.file,
                    &first.src,
                    first.span.pair(),
                    "first use",
                );
                self.push(p);
                ok = false;
            }
            None => {
                self.seen.insert(
                    r.id.text.clone(),
                    FirstUse {
                        file: path.to_owned(),
                        line,
                        column,
                        src: src.clone(),
                        span: r.id.span,
                    },
                );
            }
        }
        let mut sc = sc;
        let cond = match &r.when {
            None => None,
            Some(e) => {
                let c = self.boolean(e, &mut sc);
                if c.is_none() {
                    ok = false;
                }
                c
            }
        };
        let (effect, boost) = match &r.effect.kind {
            EffectAst::Forbid => (EffectKind::Forbid, 0.0),
            EffectAst::Only => (EffectKind::Only, 0.0),
            EffectAst::Boost(n) => (EffectKind::Boost, n.value as f32),
            EffectAst::Penalize(n) => (EffectKind::Boost, -(n.value as f32)),
        };
        if let EffectAst::Boost(n) | EffectAst::Penalize(n) = &r.effect.kind {
            if !(n.value as f32).is_finite() {
                self.error(
                    &sc,
                    Code::RulesBadNumber,
                    n.span,
                    format!("`{}` is too large for a score", clip(&n.text)),
                    "not finite",
                );
                ok = false;
            }
        }
        let targets = self.targets(&r.effect.targets, &mut sc);
        let may_fail_closed = lint_rule(self.env, r, path, src, &mut self.problems);
        let mut cond_atoms = Vec::new();
        if let Some(w) = &r.when {
            atom_spans(w, &mut cond_atoms);
        }
        let mut pred_atoms = Vec::new();
        if let Targets::Where(f)
        | Targets::Tagged {
            filter: Some(f), ..
        } = &r.effect.targets
        {
            atom_spans(f, &mut pred_atoms);
        }
        let (Some(targets), true) = (targets, ok) else {
            return None;
        };
        Some(CheckedRule {
            info: RuleInfo {
                id: r.id.text.clone(),
                reason: r
                    .because
                    .as_ref()
                    .map(|b| b.value.clone())
                    .unwrap_or_default(),
                meta: r
                    .meta
                    .iter()
                    .map(|(k, v)| (k.text.clone(), v.value.clone()))
                    .collect(),
                file: path.to_owned(),
                line: line as u32,
                column: column as u32,
                effect,
            },
            cond,
            boost,
            targets,
            src: src.clone(),
            effect_span: r.effect.span,
            sites: Sites {
                cond: cond_atoms.into(),
                pred: pred_atoms.into(),
                may_fail_closed,
            },
        })
    }
}
