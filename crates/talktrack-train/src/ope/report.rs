//! The off-policy evaluation written for a person (Markdown), with every warning
//! in words: low effective sample size, greedy bundles, estimated behaviour, left-out
//! conversations, overlap with the training data.

use std::fmt::Write as _;

use talktrack::tooling::escape_controls;

use super::estimators::{Interval, Intervals};
use super::{BehaviourSource, OpeReport, PolicyEvaluation};

fn ci(i: &Interval) -> String {
    format!("[{:.4}, {:.4}]", i.lower, i.upper)
}

fn estimates_table(out: &mut String, p: &PolicyEvaluation) {
    let Some(e) = &p.estimates else {
        let _ = writeln!(out, "No conversation could be evaluated.\n");
        return;
    };
    let iv: Option<&Intervals> = p.intervals.as_ref();
    let _ = writeln!(out, "| estimator | conversion rate | 95% interval |");
    let _ = writeln!(out, "|---|---:|---|");
    let _ = writeln!(
        out,
        "| per-decision importance sampling | {:.4} | {} |",
        e.is,
        iv.map_or("–".into(), |i| ci(&i.is))
    );
    let _ = writeln!(
        out,
        "| self-normalised importance sampling | {} | {} |",
        e.snis
            .map_or("undefined (every weight is 0)".into(), |x| format!(
                "{x:.4}"
            )),
        iv.and_then(|i| i.snis.as_ref()).map_or("–".into(), ci)
    );
    let _ = writeln!(
        out,
        "| doubly robust | {:.4} | {} |\n",
        e.dr,
        iv.map_or("–".into(), |i| ci(&i.dr))
    );
}

fn policy_section(out: &mut String, r: &OpeReport, p: &PolicyEvaluation, title: &str) {
    let _ = writeln!(
        out,
        "## {title}: `{}` {}\n",
        escape_controls(&p.bundle.name),
        escape_controls(&p.bundle.version)
    );
    estimates_table(out, p);
    let _ = writeln!(
        out,
        "Effective sample size: {:.1} of {} conversations ({} with a non-zero weight).",
        p.effective_sample_size, r.evaluated, p.nonzero_weight
    );
    if p.low_effective_sample_size {
        let _ = writeln!(
            out,
            "\n**Warning:** the effective sample size is below {:.0} conversations: the estimates rest on few conversations, read the intervals, not the point estimates.",
            r.ess_threshold
        );
    }
    if p.deterministic {
        let _ = writeln!(
            out,
            "\nThe bundle's selection is deterministic on these turns (greedy): its probability of a track is 0 or 1, so a conversation weighs only if the logged agents used exactly the bundle's track at every turn."
        );
    }
    if let Some(o) = &p.training_overlap {
        if o.overlaps {
            let _ = writeln!(
                out,
                "\n**Warning:** {} of the {} logged conversations are in the bundle's training data (about {:.1} would match by chance): the estimates are optimistic; evaluate on conversations it was not trained on.",
                o.matched, o.of, o.expected_by_chance
            );
        } else {
            let _ = writeln!(
                out,
                "\nOverlap with the training data: {} of {} logged conversations match its fingerprint, about {:.1} would by chance.",
                o.matched, o.of, o.expected_by_chance
            );
        }
    } else {
        let _ = writeln!(
            out,
            "\nThe bundle records no fingerprint of its training conversations: overlap with these logs is not checked."
        );
    }
    let _ = writeln!(
        out,
        "\nSelection (share of the bundle's choices on the conversations it would have had, estimated; logged agents' share beside it):\n"
    );
    let _ = writeln!(out, "| track | bundle | logged |");
    let _ = writeln!(out, "|---|---:|---:|");
    for s in &p.selection {
        let _ = writeln!(
            out,
            "| `{}` | {:.3} | {:.3} |",
            escape_controls(&s.track),
            s.bundle,
            s.logged
        );
    }
    let ru = &p.rules;
    let _ = writeln!(
        out,
        "\nRules on the logs: {} logged turns used a track the bundle's rules now forbid; {} conversations would have reached the fallback, {} no choice at all.",
        ru.forbidden_logged, ru.fallback_conversations, ru.no_choice_conversations
    );
    for (rule, n) in &ru.by_rule {
        let _ = writeln!(out, "- `{}`: {n} logged turns", escape_controls(rule));
    }
    let nr = &p.not_replayed;
    if nr.decisions > 0 {
        let _ = writeln!(
            out,
            "\nNot replayable: {} logged turns in {} conversations:",
            nr.decisions, nr.conversations
        );
        for (why, n) in &nr.by_reason {
            let _ = writeln!(out, "- {}: {n}", escape_controls(why));
        }
    } else {
        let _ = writeln!(out, "\nEvery logged turn was replayed.");
    }
    out.push('\n');
}

impl OpeReport {
    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Off-policy evaluation on `{}`\n",
            escape_controls(&self.log)
        );
        let _ = writeln!(
            out,
            "Reads individual logged conversations. {} conversations read ({} bad lines skipped); {} evaluated, {} left out because a turn could not be replayed, {} because a turn has no behaviour probability. Logged conversion rate of the evaluated conversations: {:.4}.\n",
            self.conversations,
            self.bad_lines,
            self.evaluated,
            self.left_out_not_replayable,
            self.left_out_behaviour_unknown,
            self.logged_conversion
        );
        let b = &self.behaviour_turns;
        let source = match self.behaviour {
            BehaviourSource::Logged => "logged propensities (every turn)",
            BehaviourSource::Estimated => "estimated from the log's published behaviour cells (the log has no propensities)",
            BehaviourSource::Mixed => "logged propensities where the log has them, estimated from the log's published behaviour cells elsewhere",
        };
        let _ = writeln!(out, "Behaviour policy: {source}.");
        let _ = writeln!(
            out,
            "Turns: {} logged, {} estimated from their cell; {} with an unpublished behaviour cell: {} backed off to the same last reply over every turn, {} to the track's share over the log, {} without any published cell (their conversations left out).\n",
            b.logged, b.estimated, b.unpublished(), b.backed_off_last_reply, b.backed_off_track, b.unknown
        );
        let _ = writeln!(
            out,
            "Estimators: per-decision importance sampling, self-normalised importance sampling and doubly robust, with the direct model from the shrunk aggregates cross-fitted over {} folds by conversation{}. Intervals: 95% percentile bootstrap over conversations, {} resamples, seed {}.\n",
            self.folds,
            if self.unfitted_folds > 0 {
                format!(" ({} folds published no cell: their model is the mean conversion rate)", self.unfitted_folds)
            } else {
                String::new()
            },
            self.resamples,
            self.seed
        );
        for (i, p) in self.policies.iter().enumerate() {
            policy_section(
                &mut out,
                self,
                p,
                if i == 0 { "Bundle" } else { "Baseline" },
            );
        }
        if let Some(d) = &self.difference {
            let _ = writeln!(
                out,
                "## Bundle − baseline\n\nDoubly robust, paired by conversation: {:+.4}, 95% interval {}.",
                d.estimate,
                ci(&d.interval)
            );
        }
        out
    }
}
