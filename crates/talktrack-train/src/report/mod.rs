//! The training report: what the data allowed, how good each policy is against the
//! exact optimum and simple baselines, how much of it survives held-out data, and
//! the learning curves — as `report.json`, `report.md` and `curves.svg`.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub mod cv;

pub use crate::sim::context::ContextSource;
use crate::train::curve::EvalPoint;
pub use cv::{CvSummary, FoldSummary};

/// The whole report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Template bundle name.
    pub bundle: String,
    /// What the example optimises, in words.
    pub objective: String,
    /// The data and its privacy settings.
    pub data: DataSummary,
    /// The simulator built from the aggregates.
    pub mdp: MdpSummary,
    /// Values of simple policies (exact, or simulated with confidence intervals).
    pub baselines: BaselineSummary,
    /// One entry per trained policy.
    pub runs: Vec<RunSummary>,
    /// Cross-validation by conversation.
    #[serde(default)]
    pub cv: Option<CvSummary>,
    /// The exported bundle.
    pub exported: Option<ExportSummary>,
    /// What the job skipped and why (also printed to stderr as warnings).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The data and its privacy settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataSummary {
    /// The log file (empty when the job trained from an aggregate file).
    pub log: String,
    /// The aggregate file the job trained from instead of the log, if any.
    #[serde(default)]
    pub aggregates: Option<String>,
    /// Conversations aggregated.
    pub conversations: u64,
    /// Lines skipped as bad.
    pub bad_lines: u64,
    /// The first bad lines (at most [`crate::job::BAD_LINES_SHOWN`]), with their
    /// line number and reason.
    #[serde(default)]
    pub bad_line_examples: Vec<crate::log::BadLine>,
    /// Minimum distinct conversations for a published cell.
    pub k: u64,
    /// Cells published, over all back-off levels.
    pub cells_published: usize,
    /// Laplace noise budget per conversation, if noise was added.
    pub epsilon: Option<f64>,
    /// What the noise cost, when noise was added.
    pub noise: Option<NoiseSummary>,
}

/// The cost of the Laplace noise, measured on the noise-free simulator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoiseSummary {
    /// Budget per conversation.
    pub epsilon: f64,
    /// The optimum of the simulator built without noise.
    pub optimum_clean: f64,
    /// The exported (noisy-trained) policy's value on that simulator.
    pub policy_value_clean: f64,
}

/// The simulator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MdpSummary {
    /// How policies are evaluated: `exact` (enumerable states: value iteration and
    /// exact policy evaluation) or `simulated` (the state carries track usage or a
    /// drawn context and has too many reachable states: Monte-Carlo estimates with
    /// 95% confidence intervals).
    pub evaluation: String,
    /// When the state carries usage or a drawn context and was enumerated: its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expanded: Option<ExpandedSummary>,
    /// When evaluation is simulated: why the state space was not enumerated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_simulated: Option<String>,
    /// Enumerable states (turn × last reply; with `simulated`, the reply model's states).
    pub states: usize,
    /// Where each context attribute the template reads comes from.
    pub context: Vec<ContextSource>,
    /// Whether the state carries track usage (the rules or features read it).
    pub usage: bool,
    /// Episodes per simulated evaluation (`simulated` only).
    pub episodes: Option<u64>,
    /// Actions (catalog tracks).
    pub actions: usize,
    /// Observation width.
    pub obs_dim: usize,
    /// (state, track) pairs with no publishable data even after back-off.
    pub unavailable: usize,
    /// Warnings (states where no track is allowed, ...).
    pub warnings: Vec<String>,
    /// Per back-off level (finest first), the prior strengths its cells were shrunk
    /// toward their parents with (`None`: the coarsest level, or shrinkage off).
    #[serde(default)]
    pub shrinkage: Vec<Option<crate::aggregate::shrink::Strengths>>,
    /// The pessimism of the simulator: strength and how it was chosen.
    #[serde(default)]
    pub pessimism: Option<crate::job::PessimismChoice>,
    /// The optimum's choices that rest on thin cells (enumerated simulators only).
    #[serde(default)]
    pub thin: Vec<crate::eval::plan::ThinChoice>,
}

/// The enumerated state space of a simulator whose state carries track usage or a
/// drawn context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpandedSummary {
    /// Reachable states (context × turn × last reply × usage of the tracks read).
    pub states: usize,
    /// Context combinations (with their published probabilities).
    pub contexts: usize,
    /// Tracks whose usage the state carries.
    pub tracks_read: usize,
}

/// Values of simple policies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineSummary {
    /// Value iteration under the same masks: the ceiling (exact evaluation only).
    pub optimum: Option<f64>,
    /// Half-widths of the 95% confidence intervals of uniform, best single track and
    /// behaviour (simulated evaluation only).
    pub ci95: Option<[f64; 3]>,
    /// Uniform over the allowed tracks.
    pub uniform: f64,
    /// The best single track and its value.
    pub best_single: (String, f64),
    /// The logged behaviour, from cells published under the threshold.
    pub behaviour: f64,
}

/// One trained policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSummary {
    /// `ppo` or `dqn`.
    pub algorithm: String,
    /// Seed.
    pub seed: u64,
    /// Value of the greedy policy (exact, or the simulated mean).
    pub value: f64,
    /// Half-width of the value's 95% confidence interval (simulated evaluation only).
    pub ci95: Option<f64>,
    /// `value / optimum` (exact evaluation only).
    pub fraction: Option<f64>,
    /// Environment steps taken.
    pub env_steps: u64,
    /// Training wall seconds.
    pub wall_secs: f64,
    /// Environment steps per training second.
    pub steps_per_sec: f64,
    /// Seconds until the greedy policy first reached 95%, 98% and 99.5% of the optimum.
    pub secs_to: [Option<f64>; 3],
    /// Forbidden tracks taken while training (must be 0).
    pub violations_training: u64,
    /// States where the greedy policy picks a forbidden track (must be 0).
    pub violations_eval: u64,
    /// The learning curve.
    pub curve: Vec<EvalPoint>,
}

/// The exported bundle.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportSummary {
    /// Directory.
    pub path: String,
    /// Bundle digest.
    pub digest: String,
    /// Which run's policy it serves.
    pub algorithm: String,
    /// Largest |tract score − trainer score| over the states checked.
    pub max_abs_score_diff: f64,
    /// Simulator states checked: every state when enumerated, the states of
    /// simulated episodes otherwise.
    pub states_checked: usize,
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "not reached".to_owned(), |s| format!("{s:.2} s"))
}

impl Report {
    /// The report as Markdown; control characters other than line breaks and
    /// tabs (from names, paths and log lines) are shown as escapes (`\u{1b}`).
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let b = &self.baselines;
        let _ = writeln!(s, "# Training report: `{}`\n", self.bundle);
        let _ = writeln!(s, "**Objective.** {}\n", self.objective);
        if let Some(cv) = self.cv.as_ref().filter(|cv| !cv.results.is_empty()) {
            if !cv.policy_is_better() {
                let _ = writeln!(
                    s,
                    "**Warning.** On held-out conversations the trained policy does not beat the best single track chosen on the training folds (it wins in {} of {} folds, see Cross-validation): do not expect it to do better than always using one track.\n",
                    cv.beats_best_single(),
                    cv.results.len()
                );
            }
        }
        let d = &self.data;
        let _ = writeln!(s, "## Data\n");
        match &d.aggregates {
            Some(f) => {
                let _ = writeln!(
                    s,
                    "- aggregate file `{f}` (the log was not read): {} conversations aggregated",
                    d.conversations
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "- log `{}`: {} conversations aggregated, {} bad lines skipped",
                    d.log, d.conversations, d.bad_lines
                );
                if !d.bad_line_examples.is_empty() {
                    let more = if d.bad_lines > d.bad_line_examples.len() as u64 {
                        format!(" (the first {})", d.bad_line_examples.len())
                    } else {
                        String::new()
                    };
                    let _ = writeln!(s, "- bad lines{more}:");
                    for b in &d.bad_line_examples {
                        // A reason may quote the line: keep it on one line.
                        let reason = talktrack::tooling::escape_controls(&b.reason);
                        let _ = writeln!(s, "  - line {}: {reason}", b.line);
                    }
                }
            }
        }
        let _ = writeln!(
            s,
            "- privacy: a cell is published only when at least k = {} distinct conversations back it; {} cells published",
            d.k, d.cells_published
        );
        match d.epsilon {
            Some(e) => {
                let _ = writeln!(s, "- Laplace noise: ε = {e} per conversation");
                if let Some(n) = &d.noise {
                    let _ = writeln!(
                        s,
                        "- cost of the noise: on the noise-free simulator the policy trained on noisy aggregates reaches {:.4} of an optimum of {:.4} ({:.1}%)",
                        n.policy_value_clean,
                        n.optimum_clean,
                        if n.optimum_clean > 0.0 { 100.0 * n.policy_value_clean / n.optimum_clean } else { 0.0 }
                    );
                }
            }
            None => {
                let _ = writeln!(s, "- no Laplace noise added");
            }
        }
        let m = &self.mdp;
        let exact = b.optimum.is_some();
        let _ = writeln!(
            s,
            "- simulator: {} (turn, last reply) states, {} tracks, observation {} floats, {} (state, track) pairs without publishable data (masked, and forbidden in the exported bundle by a generated rule file)",
            m.states, m.actions, m.obs_dim, m.unavailable
        );
        if m.usage {
            let _ = writeln!(
                s,
                "- the state also carries how often each track was used (the rules or features read it)"
            );
        }
        for c in &m.context {
            let _ = writeln!(s, "- context `{}`: {}", c.attribute, c.source);
        }
        if m.shrinkage.iter().any(Option::is_some) {
            let levels: Vec<String> = m
                .shrinkage
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.map(|s| {
                        format!(
                            "level {i}: replies {:.1}, conversion {:.1}",
                            s.replies, s.conversion
                        )
                    })
                })
                .collect();
            let _ = writeln!(
                s,
                "- estimates: each cell shrunk toward its back-off parent (empirical Bayes, `[shrink]`), prior strength in conversations per level — {}",
                levels.join("; ")
            );
        }
        if let Some(p) = &m.pessimism {
            use crate::job::ChosenBy;
            let how = match &p.chosen_by {
                ChosenBy::Config => "set by `[pessimism] strength`".to_owned(),
                ChosenBy::CrossValidation { scores, folds } => format!(
                    "chosen by cross-validation on the training conversations, over {folds} folds (mean held-out value ± standard error per strength and shrinkage scale: {})",
                    scores
                        .iter()
                        .map(|c| format!(
                            "{} ×{} → {:.4} ± {:.4}",
                            c.strength, c.shrink_scale, c.value, c.se
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ChosenBy::Fallback { why } => {
                    format!("the fallback of `[pessimism]`, not chosen: {why}")
                }
            };
            let _ = writeln!(
                s,
                "- pessimism: each step pays {} / √(conversations behind its cell) less reward (the values and the optimum of the tables below include it), with the estimates shrunk at scale {}, {how}",
                p.strength, p.shrink_scale
            );
        }
        if !m.thin.is_empty() {
            let _ = writeln!(
                s,
                "- warning: the optimum rests on {} choice{} simulated from cells of fewer than {} conversations (reached by at least {:.0}% of its episodes); their figures are the least certain:",
                m.thin.len(),
                if m.thin.len() == 1 { "" } else { "s" },
                crate::eval::plan::THIN_CONVERSATIONS,
                100.0 * crate::eval::plan::THIN_MIN_REACH
            );
            for c in &m.thin {
                let _ = writeln!(
                    s,
                    "  - turn {} after `{}`: `{}` ({} conversations, reached {:.0}%)",
                    c.turn,
                    c.last_reply,
                    c.track,
                    c.conversations,
                    100.0 * c.reach
                );
            }
        }
        if let Some(x) = &m.expanded {
            let _ = writeln!(
                s,
                "- evaluation: exact over {} reachable states ({} context combination{} × turn × last reply × usage of {} track{})",
                x.states,
                x.contexts,
                if x.contexts == 1 { "" } else { "s" },
                x.tracks_read,
                if x.tracks_read == 1 { "" } else { "s" }
            );
        }
        if let Some(n) = m.episodes {
            let why = m
                .why_simulated
                .as_deref()
                .map_or(String::new(), |w| format!(" ({w})"));
            let _ = writeln!(
                s,
                "- evaluation: simulated, {n} episodes per policy (the same episodes for every policy), ± the half-width of the 95% confidence interval; no exact optimum: the state space is not enumerated{why}"
            );
        }
        for w in &m.warnings {
            let _ = writeln!(s, "- warning: {w}");
        }
        if exact {
            let _ = writeln!(s, "\n## Policies (exact evaluation on the aggregate MDP)\n");
            let _ = writeln!(s, "| policy | value | % of optimum |\n|---|---|---|");
        } else {
            let _ = writeln!(s, "\n## Policies (simulated evaluation)\n");
            let _ = writeln!(s, "| policy | value | 95% CI ± |\n|---|---|---|");
        }
        let optimum = b.optimum.unwrap_or(0.0);
        let third = |v: f64, ci: Option<f64>| match (exact, ci) {
            (true, _) if optimum > 0.0 => format!("{:.1}", 100.0 * v / optimum),
            (true, _) => "0.0".to_owned(),
            (false, Some(h)) => format!("{h:.4}"),
            (false, None) => "—".to_owned(),
        };
        if let Some(o) = b.optimum {
            let _ = writeln!(
                s,
                "| optimum (value iteration, same masks) | {o:.4} | 100.0 |"
            );
        }
        for r in &self.runs {
            let _ = writeln!(
                s,
                "| {} (seed {}, greedy) | {:.4} | {} |",
                r.algorithm.to_uppercase(),
                r.seed,
                r.value,
                third(r.value, r.ci95)
            );
        }
        let ci = |i: usize| b.ci95.map(|c| c[i]);
        let _ = writeln!(
            s,
            "| best single track (`{}`) | {:.4} | {} |",
            b.best_single.0,
            b.best_single.1,
            third(b.best_single.1, ci(1))
        );
        let _ = writeln!(
            s,
            "| logged behaviour (k-thresholded) | {:.4} | {} |",
            b.behaviour,
            third(b.behaviour, ci(2))
        );
        let _ = writeln!(
            s,
            "| uniform random over allowed tracks | {:.4} | {} |",
            b.uniform,
            third(b.uniform, ci(0))
        );
        let _ = writeln!(s, "\n## Training\n");
        // Fractions of an optimum only exist when it was computed.
        let to = |x: Option<f64>| if exact { opt(x) } else { "n/a".to_owned() };
        let _ = writeln!(
            s,
            "| run | env steps | wall | steps/s | to 95% | to 98% | to 99.5% | rule violations (training / evaluation) |\n|---|---|---|---|---|---|---|---|"
        );
        for r in &self.runs {
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} s | {:.0} | {} | {} | {} | {} / {} |",
                r.algorithm.to_uppercase(),
                r.env_steps,
                r.wall_secs,
                r.steps_per_sec,
                to(r.secs_to[0]),
                to(r.secs_to[1]),
                to(r.secs_to[2]),
                r.violations_training,
                r.violations_eval
            );
        }
        if let Some(cv) = &self.cv {
            let _ = writeln!(s, "\n## Cross-validation (held-out conversations)\n");
            s.push_str(&cv.to_markdown());
        }
        if let Some(e) = &self.exported {
            let _ = writeln!(s, "\n## Exported bundle\n");
            let _ = writeln!(
                s,
                "- `{}` (digest `{}`), policy from {}; tract's scores on the exported ONNX differ from the trainer's by at most {:.2e} over {} simulator states ({})",
                e.path,
                e.digest,
                e.algorithm.to_uppercase(),
                e.max_abs_score_diff,
                e.states_checked,
                if exact { "all of them" } else { "those of 200 simulated episodes" }
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\n## Skipped\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        let _ = writeln!(s, "\nLearning curves: `curves.svg`.");
        // Names, paths and bad-line reasons come from the config and the log.
        talktrack::tooling::escape_controls_in_lines(&s).into_owned()
    }

    /// Writes `report.json`, `report.md` and `curves.svg` into `dir`.
    #[cfg(feature = "learn")]
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        std::fs::write(dir.join("report.md"), self.to_markdown())?;
        self.plot(&dir.join("curves.svg"))
    }

    /// Learning curves: fraction of the optimum against training seconds.
    #[cfg(feature = "learn")]
    pub fn plot(&self, path: &Path) -> std::io::Result<()> {
        use plotters::prelude::*;
        let err = |e: String| std::io::Error::other(e);
        let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let max_x = self
            .runs
            .iter()
            .flat_map(|r| r.curve.iter().map(|p| p.wall_secs))
            .fold(0.1f64, f64::max);
        // Exact: fractions of the optimum; simulated: raw values (no optimum is known).
        let exact = self.baselines.optimum.is_some();
        let y_of = |p: &EvalPoint| if exact { p.fraction } else { p.value };
        let y_max = if exact {
            1.05
        } else {
            self.runs
                .iter()
                .flat_map(|r| r.curve.iter().map(|p| p.value))
                .chain([self.baselines.best_single.1, self.baselines.uniform])
                .filter(|v| v.is_finite())
                .fold(0.1f64, f64::max)
                * 1.1
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(
                if self.baselines.optimum.is_some() {
                    format!("{}: greedy policy value / optimum", self.bundle)
                } else {
                    format!("{}: greedy policy value (simulated)", self.bundle)
                },
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..max_x * 1.05, 0f64..y_max)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("training wall time (s)")
            .y_desc(if exact {
                "fraction of the optimum"
            } else {
                "value (simulated)"
            })
            .draw()
            .map_err(|e| err(e.to_string()))?;
        let colours = [BLUE, RED, GREEN, MAGENTA, CYAN];
        for (i, r) in self.runs.iter().enumerate() {
            let c = colours[i % colours.len()];
            chart
                .draw_series(LineSeries::new(
                    r.curve.iter().map(|p| (p.wall_secs, y_of(p))),
                    c,
                ))
                .map_err(|e| err(e.to_string()))?
                .label(format!("{} seed {}", r.algorithm.to_uppercase(), r.seed))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        }
        let b = &self.baselines;
        let scale = match b.optimum {
            Some(o) if o > 0.0 => Some(o),
            Some(_) => None,
            None => Some(1.0),
        };
        if let Some(scale) = scale {
            for (name, v, c) in [
                ("best single track", b.best_single.1, BLACK),
                ("uniform random", b.uniform, RGBColor(128, 128, 128)),
            ] {
                let y = v / scale;
                chart
                    .draw_series(LineSeries::new(vec![(0.0, y), (max_x * 1.05, y)], c))
                    .map_err(|e| err(e.to_string()))?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_shows_control_characters_from_the_log_as_escapes() {
        let report: Report = serde_json::from_value(serde_json::json!({
            "bundle": "demo\u{202e}",
            "objective": "convert",
            "data": {
                "log": "logs/\u{1b}[2Jconversations.jsonl",
                "conversations": 3,
                "bad_lines": 1,
                "bad_line_examples": [{"line": 2, "reason": "unknown track `\u{1b}]0;PWNED\u{7}`\nfake line"}],
                "k": 1,
                "cells_published": 4,
                "epsilon": null,
                "noise": null
            },
            "mdp": {
                "evaluation": "exact", "states": 2, "context": [], "usage": false,
                "episodes": null, "actions": 2, "obs_dim": 3, "unavailable": 0, "warnings": []
            },
            "baselines": {
                "optimum": 1.0, "ci95": null, "uniform": 0.5,
                "best_single": ["a", 0.75], "behaviour": 0.5
            },
            "runs": [],
            "cv": null,
            "exported": null
        }))
        .unwrap();
        let md = report.to_markdown();
        assert!(md.contains("# Training report: `demo\\u{202e}`"), "{md}");
        assert!(
            md.contains("- log `logs/\\u{1b}[2Jconversations.jsonl`"),
            "{md}"
        );
        assert!(
            md.contains("  - line 2: unknown track `\\u{1b}]0;PWNED\\u{7}`\\u{a}fake line\n"),
            "{md}"
        );
        assert!(!md.contains('\u{1b}') && !md.contains('\u{202e}'), "{md}");
    }
}
