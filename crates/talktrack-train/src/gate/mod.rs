//! The promotion gate (`talktrack-train gate`): whether a candidate bundle may
//! replace the champion, decided on logged conversations and on the simulator.
//!
//! The candidate is promoted only when every check passes:
//!
//! 1. **Logs**: the lower bound of the 95% paired bootstrap interval (by
//!    conversation) of the doubly robust estimate of candidate − champion on the
//!    logs is above 0 ([`crate::ope`]).
//! 2. **Held out**: the logs do not overlap the candidate's training conversations
//!    (by the fingerprint in its `[training]`; not checked without one).
//! 3. **Simulator**: the candidate's value on the simulator is not below the
//!    champion's (exact evaluation; with simulated evaluation, not below by more than
//!    the two 95% half-widths together).
//! 4. **Rules**: the candidate's rules forbid no logged track the champion allowed,
//!    unless the rule doing so is new (the champion has no rule of that id) and named
//!    by the operator as accepted.
//!
//! The verdict is JSON ([`Verdict`], schema `docs/gate-verdict.schema.json`), with
//! one reason per check; the command exits 0 to promote, 1 to hold, 2 on error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use talktrack::Bundle;

use crate::ope::{evaluate, BundleId, Logs, OpeError, OpeOptions, OpeReport};

/// The verdict's format version.
pub const VERDICT_FORMAT: u32 = 1;

/// Promote or hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Every check passed: the candidate may become the champion.
    Promote,
    /// A check failed: keep the champion.
    Hold,
}

/// The gate's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Candidate − champion on the logs.
    Logs,
    /// The logs are not the candidate's training data.
    HeldOut,
    /// Candidate against champion on the simulator.
    Simulator,
    /// Logged tracks the candidate's rules newly forbid.
    Rules,
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// The check.
    pub check: Check,
    /// Whether it passed.
    pub passed: bool,
    /// Why, in words.
    pub detail: String,
}

/// The candidate against the champion on the logs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LogsComparison {
    /// Conversations compared.
    pub conversations: u64,
    /// Candidate's doubly robust conversion rate.
    pub candidate: f64,
    /// Champion's.
    pub champion: f64,
    /// Candidate − champion.
    pub difference: f64,
    /// Lower bound of its 95% paired bootstrap interval.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// One bundle's value on the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SimValue {
    /// The value.
    pub value: f64,
    /// Half-width of its 95% interval (simulated evaluation only).
    pub ci95: Option<f64>,
}

/// A candidate rule that forbids logged tracks the champion allowed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleChange {
    /// The rule id.
    pub rule: String,
    /// Logged turns it newly forbids.
    pub logged_turns: u64,
    /// The champion has no rule of this id.
    pub new: bool,
    /// Named as accepted by the operator.
    pub accepted: bool,
}

/// The gate's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Format version ([`VERDICT_FORMAT`]).
    pub format: u32,
    /// Promote or hold.
    pub decision: Decision,
    /// The candidate.
    pub candidate: BundleId,
    /// The champion.
    pub champion: BundleId,
    /// One per check, in order.
    pub reasons: Vec<Reason>,
    /// The comparison on the logs (`None` when no conversation could be compared).
    pub logs: Option<LogsComparison>,
    /// The simulator's values (candidate, champion), when evaluated.
    pub simulator: Option<[SimValue; 2]>,
    /// Candidate rules forbidding logged tracks the champion allowed.
    pub rule_changes: Vec<RuleChange>,
}

impl Verdict {
    /// The process exit code: 0 promote, 1 hold.
    pub fn exit_code(&self) -> u8 {
        match self.decision {
            Decision::Promote => 0,
            Decision::Hold => 1,
        }
    }

    /// The verdict for a person, one line per check.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}: candidate `{}` {} against champion `{}` {}\n",
            match self.decision {
                Decision::Promote => "PROMOTE",
                Decision::Hold => "HOLD",
            },
            talktrack::tooling::escape_controls(&self.candidate.name),
            talktrack::tooling::escape_controls(&self.candidate.version),
            talktrack::tooling::escape_controls(&self.champion.name),
            talktrack::tooling::escape_controls(&self.champion.version),
        );
        for r in &self.reasons {
            out.push_str(&format!(
                "  [{}] {:?}: {}\n",
                if r.passed { "pass" } else { "FAIL" },
                r.check,
                talktrack::tooling::escape_controls(&r.detail)
            ));
        }
        out
    }
}

/// What the gate needs besides the logs.
#[derive(Clone, Debug)]
pub struct GateOptions {
    /// The evaluation's settings.
    pub ope: OpeOptions,
    /// Candidate rule ids accepted to forbid logged tracks the champion allowed (they
    /// must also be new).
    pub accepted_rules: Vec<String>,
}

/// Decides on `candidate` against `champion` with the logs and their simulator
/// values `sim` (candidate, champion; `None` skips nothing: the check fails).
pub fn gate(
    logs: &Logs,
    candidate: Arc<Bundle>,
    champion: Arc<Bundle>,
    sim: Option<[SimValue; 2]>,
    opts: &GateOptions,
) -> Result<(Verdict, OpeReport), OpeError> {
    let ev = evaluate(
        logs,
        &[Arc::clone(&candidate), Arc::clone(&champion)],
        &opts.ope,
    )?;
    let mut reasons = Vec::new();

    // 1. Logs.
    let est = |i: usize| {
        ev.report
            .policies
            .get(i)
            .and_then(|p| p.estimates)
            .map_or(f64::NAN, |e| e.dr)
    };
    let logs_cmp = ev.report.difference.map(|d| LogsComparison {
        conversations: ev.report.evaluated,
        candidate: est(0),
        champion: est(1),
        difference: d.estimate,
        lower: d.interval.lower,
        upper: d.interval.upper,
    });
    reasons.push(match &logs_cmp {
        Some(c) if c.lower > 0.0 => Reason {
            check: Check::Logs,
            passed: true,
            detail: format!(
                "candidate − champion (doubly robust, {} conversations) = {:+.4}, 95% interval [{:.4}, {:.4}]: the lower bound is above 0",
                c.conversations, c.difference, c.lower, c.upper
            ),
        },
        Some(c) => Reason {
            check: Check::Logs,
            passed: false,
            detail: format!(
                "candidate − champion (doubly robust, {} conversations) = {:+.4}, 95% interval [{:.4}, {:.4}]: the lower bound is not above 0",
                c.conversations, c.difference, c.lower, c.upper
            ),
        },
        None => Reason {
            check: Check::Logs,
            passed: false,
            detail: "no logged conversation could be evaluated under both bundles".into(),
        },
    });

    // 2. Held out.
    let overlap = ev
        .report
        .policies
        .first()
        .and_then(|p| p.training_overlap.clone());
    reasons.push(match overlap {
        Some(o) if o.overlaps => Reason {
            check: Check::HeldOut,
            passed: false,
            detail: format!(
                "{} of the {} logged conversations are in the candidate's training data (about {:.1} would match by chance): evaluate on held-out logs",
                o.matched, o.of, o.expected_by_chance
            ),
        },
        Some(o) => Reason {
            check: Check::HeldOut,
            passed: true,
            detail: format!(
                "{} of {} logged conversations match the candidate's training fingerprint, about {:.1} would by chance",
                o.matched, o.of, o.expected_by_chance
            ),
        },
        None => Reason {
            check: Check::HeldOut,
            passed: true,
            detail: "the candidate records no training fingerprint: not checked".into(),
        },
    });

    // 3. Simulator.
    reasons.push(match sim {
        Some([c, h]) => {
            let slack = c.ci95.unwrap_or(0.0) + h.ci95.unwrap_or(0.0) + 1e-9;
            let ok = c.value >= h.value - slack;
            Reason {
                check: Check::Simulator,
                passed: ok,
                detail: format!(
                    "candidate {:.4} against champion {:.4} on the simulator{}: {}",
                    c.value,
                    h.value,
                    if slack > 1e-9 {
                        format!(" (simulated, allowed shortfall {slack:.4})")
                    } else {
                        String::new()
                    },
                    if ok { "not worse" } else { "worse" }
                ),
            }
        }
        None => Reason {
            check: Check::Simulator,
            passed: false,
            detail: "the simulator could not evaluate both bundles".into(),
        },
    });

    // 4. Rules.
    let champion_rules: BTreeSet<&str> = champion
        .rules()
        .rules()
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    let mut newly: BTreeMap<String, u64> = BTreeMap::new();
    if let [cand, champ, ..] = ev.replays.as_slice() {
        for (cc, hc) in cand.iter().zip(champ) {
            for (ct, ht) in cc.iter().zip(hc) {
                if let (Ok(ct), Ok(ht)) = (ct, ht) {
                    if !ct.masked_by.is_empty() && ht.masked_by.is_empty() {
                        for r in &ct.masked_by {
                            *newly.entry(r.clone()).or_default() += 1;
                        }
                    }
                }
            }
        }
    }
    let rule_changes: Vec<RuleChange> = newly
        .into_iter()
        .map(|(rule, n)| {
            let new = !champion_rules.contains(rule.as_str());
            RuleChange {
                accepted: new && opts.accepted_rules.contains(&rule),
                new,
                logged_turns: n,
                rule,
            }
        })
        .collect();
    let refused: Vec<String> = rule_changes
        .iter()
        .filter(|r| !r.accepted)
        .map(|r| {
            format!(
                "`{}` ({} logged turns, {})",
                r.rule,
                r.logged_turns,
                if r.new {
                    "new but not named with --accept-rule"
                } else {
                    "not new: the champion has it"
                }
            )
        })
        .collect();
    reasons.push(if refused.is_empty() {
        Reason {
            check: Check::Rules,
            passed: true,
            detail: if rule_changes.is_empty() {
                "the candidate's rules forbid no logged track the champion allowed".into()
            } else {
                format!(
                    "the candidate's new rules forbid logged tracks the champion allowed, each accepted by name: {}",
                    rule_changes
                        .iter()
                        .map(|r| format!("`{}` ({} logged turns)", r.rule, r.logged_turns))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        }
    } else {
        Reason {
            check: Check::Rules,
            passed: false,
            detail: format!(
                "the candidate's rules forbid logged tracks the champion allowed: {}",
                refused.join(", ")
            ),
        }
    });

    let decision = if reasons.iter().all(|r| r.passed) {
        Decision::Promote
    } else {
        Decision::Hold
    };
    let verdict = Verdict {
        format: VERDICT_FORMAT,
        decision,
        candidate: ev.report.policies.first().map_or_else(
            || BundleId {
                name: candidate.name().into(),
                version: candidate.version().into(),
                digest: candidate.digest().into(),
            },
            |p| p.bundle.clone(),
        ),
        champion: BundleId {
            name: champion.name().into(),
            version: champion.version().into(),
            digest: champion.digest().into(),
        },
        reasons,
        logs: logs_cmp,
        simulator: sim,
        rule_changes,
    };
    Ok((verdict, ev.report))
}
