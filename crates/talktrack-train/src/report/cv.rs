//! The cross-validation section of the report: per fold and as mean ± spread, the
//! policy's value on the simulator of conversations it never saw, next to that
//! simulator's optimum and the baselines, how much of the training gain survives, and
//! the normalised score.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One fold: trained on the other folds, evaluated on the simulator of this one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FoldSummary {
    /// Fold index (0-based).
    pub fold: usize,
    /// Conversations of the training part.
    pub train_conversations: u64,
    /// Conversations of the fold.
    pub held_conversations: u64,
    /// The policy's value on the simulator of its own training part.
    pub value_train: f64,
    /// Uniform random on the training simulator.
    pub uniform_train: f64,
    /// The optimum of the training simulator (exact evaluation only).
    pub optimum_train: Option<f64>,
    /// The policy's value on the held-out simulator.
    pub value_held: f64,
    /// The held-out simulator's optimum (exact evaluation only): itself fitted to the
    /// fold's noise, a ceiling no policy trained elsewhere can be expected to reach.
    pub optimum_held: Option<f64>,
    /// Uniform random on the held-out simulator.
    pub uniform_held: f64,
    /// The best single track chosen on the training part.
    pub best_single_track: String,
    /// Its value on the held-out simulator.
    pub best_single_held: f64,
    /// The logged behaviour of the fold, on the held-out simulator.
    pub behaviour_held: f64,
    /// The value-iteration policy of the raw training estimates, on the held-out
    /// simulator (enumerated simulators only).
    pub vi_raw_held: Option<f64>,
    /// (state, track) pairs the held-out simulator allows.
    pub held_pairs: u64,
    /// Of them, those it serves from a coarser back-off level (the fold has no cell of
    /// its own there).
    pub held_backed_off: u64,
    /// The pessimism the fold's training simulator used, chosen on its training part.
    #[serde(default)]
    pub pessimism: f64,
    /// The shrinkage scale it used, chosen with the pessimism.
    #[serde(default = "one")]
    pub shrink_scale: f64,
}

fn one() -> f64 {
    1.0
}

impl FoldSummary {
    /// Share of the training gain over uniform that survives held out.
    pub fn survival(&self) -> Option<f64> {
        let gain = self.value_train - self.uniform_train;
        (gain.abs() > 1e-12).then(|| (self.value_held - self.uniform_held) / gain)
    }

    /// (policy − uniform) / (held-out optimum − uniform).
    pub fn normalised(&self) -> Option<f64> {
        let o = self.optimum_held?;
        let span = o - self.uniform_held;
        (span.abs() > 1e-12).then(|| (self.value_held - self.uniform_held) / span)
    }
}

/// The whole cross-validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvSummary {
    /// Folds asked for.
    pub folds: u32,
    /// Split seed.
    pub seed: u64,
    /// Algorithm trained in each fold.
    pub algorithm: String,
    /// Environment steps per fold.
    pub steps: u64,
    /// The folds that ran.
    pub results: Vec<FoldSummary>,
    /// Folds that could not run, with the reason.
    pub skipped: Vec<String>,
}

/// Mean and sample standard deviation of `xs` (`None` when empty).
pub fn mean_sd(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = if xs.len() > 1 {
        (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some((mean, sd))
}

impl CvSummary {
    /// Mean ± spread of one per-fold figure over the folds that have it.
    pub fn aggregate(&self, f: impl Fn(&FoldSummary) -> Option<f64>) -> Option<(f64, f64)> {
        let xs: Vec<f64> = self.results.iter().filter_map(f).collect();
        mean_sd(&xs)
    }

    /// Folds where the policy beats the best single track chosen on the training part.
    pub fn beats_best_single(&self) -> usize {
        self.results
            .iter()
            .filter(|f| f.value_held > f.best_single_held)
            .count()
    }

    /// Whether the policy beats the best single track held out on the mean and in a
    /// majority of the folds: only then does the report call it better.
    pub fn policy_is_better(&self) -> bool {
        let mean = |g: fn(&FoldSummary) -> f64| self.aggregate(|f| Some(g(f))).map(|x| x.0);
        match (mean(|f| f.value_held), mean(|f| f.best_single_held)) {
            (Some(p), Some(b)) => p > b && 2 * self.beats_best_single() > self.results.len(),
            _ => false,
        }
    }

    /// The report section (Markdown).
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let n = self.results.len();
        let held: u64 = self.results.iter().map(|f| f.held_conversations).sum();
        let _ = writeln!(
            s,
            "{} folds by conversation id (split seed {}); in each, {} trained {} environment steps on the other folds (its estimates shrunk and its pessimism set, both chosen by cross-validation within those folds unless fixed in the config) and is evaluated on the simulator built from the fold's own conversations, with raw estimates and no pessimism; {} held-out conversations per fold on average{}.\n",
            self.folds,
            self.seed,
            self.algorithm.to_uppercase(),
            self.steps,
            if n > 0 { held / n as u64 } else { 0 },
            if n < self.folds as usize {
                format!(", {n} of them ran")
            } else {
                String::new()
            }
        );
        let o = |x: Option<f64>| x.map_or_else(|| "—".to_owned(), |v| format!("{v:.4}"));
        let pct =
            |x: Option<f64>| x.map_or_else(|| "—".to_owned(), |v| format!("{:.0}%", 100.0 * v));
        let _ = writeln!(
            s,
            "| fold | held-out conv. | pessimism, shrink | policy | held-out optimum | uniform | best single (chosen on training) | logged behaviour | VI of raw training estimates | gain surviving | normalised score |\n|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for f in &self.results {
            let _ = writeln!(
                s,
                "| {} | {} | {}, ×{} | {:.4} | {} | {:.4} | {:.4} (`{}`) | {:.4} | {} | {} | {} |",
                f.fold + 1,
                f.held_conversations,
                f.pessimism,
                f.shrink_scale,
                f.value_held,
                o(f.optimum_held),
                f.uniform_held,
                f.best_single_held,
                f.best_single_track,
                f.behaviour_held,
                o(f.vi_raw_held),
                pct(f.survival()),
                o(f.normalised())
            );
        }
        let ms = |x: Option<(f64, f64)>| {
            x.map_or_else(|| "—".to_owned(), |(m, sd)| format!("{m:.4} ± {sd:.4}"))
        };
        let ms_pct = |x: Option<(f64, f64)>| {
            x.map_or_else(
                || "—".to_owned(),
                |(m, sd)| format!("{:.0}% ± {:.0}%", 100.0 * m, 100.0 * sd),
            )
        };
        let _ = writeln!(
            s,
            "| mean ± sd | {} | | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.aggregate(|f| Some(f.held_conversations as f64))
                .map_or_else(|| "—".to_owned(), |(m, _)| format!("{m:.0}")),
            ms(self.aggregate(|f| Some(f.value_held))),
            ms(self.aggregate(|f| f.optimum_held)),
            ms(self.aggregate(|f| Some(f.uniform_held))),
            ms(self.aggregate(|f| Some(f.best_single_held))),
            ms(self.aggregate(|f| Some(f.behaviour_held))),
            ms(self.aggregate(|f| f.vi_raw_held)),
            ms_pct(self.aggregate(FoldSummary::survival)),
            ms(self.aggregate(FoldSummary::normalised)),
        );
        let _ = writeln!(
            s,
            "\nThe policy beats the best single track chosen on the training folds in {} of {n} folds{}.",
            self.beats_best_single(),
            if self.policy_is_better() {
                ""
            } else {
                ": held out it is not better than that single track"
            }
        );
        let pairs: u64 = self.results.iter().map(|f| f.held_pairs).sum();
        let backed: u64 = self.results.iter().map(|f| f.held_backed_off).sum();
        let _ = writeln!(
            s,
            "Where a fold has no cell of its own for a (state, track) pair, its simulator backs off to a coarser cell as always: {backed} of the {pairs} allowed pairs over the folds ({:.0}%). The held-out optimum is fitted to the fold's own noise: a normalised score of 1 is out of reach for any policy trained elsewhere. Each fold holds about {} conversations: read the spread across folds as the uncertainty of these figures.",
            if pairs > 0 { 100.0 * backed as f64 / pairs as f64 } else { 0.0 },
            if n > 0 { held / n as u64 } else { 0 }
        );
        for r in &self.skipped {
            let _ = writeln!(s, "- skipped: {r}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(i: usize, value_held: f64, best_single_held: f64) -> FoldSummary {
        FoldSummary {
            fold: i,
            train_conversations: 240,
            held_conversations: 60,
            value_train: 0.80,
            uniform_train: 0.45,
            optimum_train: Some(0.81),
            value_held,
            optimum_held: Some(0.82),
            uniform_held: 0.46,
            best_single_track: "credibility-appeal".into(),
            best_single_held,
            behaviour_held: 0.30,
            vi_raw_held: Some(0.70),
            held_pairs: 1000,
            held_backed_off: 250,
            pessimism: 0.05,
            shrink_scale: 1.0,
        }
    }

    #[test]
    fn survival_and_normalised_score_follow_their_definitions() {
        let f = fold(0, 0.71, 0.68);
        assert!((f.survival().unwrap() - (0.71 - 0.46) / (0.80 - 0.45)).abs() < 1e-12);
        assert!((f.normalised().unwrap() - (0.71 - 0.46) / (0.82 - 0.46)).abs() < 1e-12);
        let flat = FoldSummary {
            value_train: 0.45,
            optimum_held: None,
            ..fold(0, 0.5, 0.5)
        };
        assert_eq!((flat.survival(), flat.normalised()), (None, None));
        let (m, sd) = mean_sd(&[1.0, 2.0, 3.0]).unwrap();
        assert!((m - 2.0).abs() < 1e-12 && (sd - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_section_reads_per_fold_and_as_mean_and_spread() {
        let cv = CvSummary {
            folds: 3,
            seed: 20_190_606,
            algorithm: "ppo".into(),
            steps: 200_000,
            results: vec![
                fold(0, 0.71, 0.68),
                fold(1, 0.66, 0.69),
                fold(2, 0.74, 0.70),
            ],
            skipped: vec![],
        };
        assert!(cv.policy_is_better());
        insta::assert_snapshot!(cv.to_markdown());
    }

    #[test]
    fn a_policy_that_loses_to_one_track_held_out_is_not_called_better() {
        let cv = CvSummary {
            folds: 3,
            seed: 1,
            algorithm: "ppo".into(),
            steps: 4096,
            results: vec![
                fold(0, 0.60, 0.68),
                fold(1, 0.70, 0.69),
                fold(2, 0.61, 0.70),
            ],
            skipped: vec!["fold 4: no cell is backed by k = 5 distinct conversations".into()],
        };
        assert_eq!(cv.beats_best_single(), 1);
        assert!(!cv.policy_is_better());
        insta::assert_snapshot!(cv.to_markdown());
    }
}
