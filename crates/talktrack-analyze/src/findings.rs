//! What the analysis reports: findings, each proven, witnessed or undecided.

use serde::Serialize;

/// What kind of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// No request allows the track (proven).
    NeverAllowed,
    /// The track is allowed only as the fallback, when the rules allow nothing else.
    FallbackOnly,
    /// No request makes the rule fire (proven).
    NeverFires,
    /// A request exists on which the rules allow no track and the fallback is used.
    AllMaskedFallback,
    /// A request exists on which the fallback is forbidden too: no choice at all.
    AllMaskedNoChoice,
    /// Removing the forbid or `only` rule changes nothing on any request (proven).
    Redundant,
    /// A boost whose targets are masked wherever it fires, or an `only` rule
    /// whose targets (the fallback aside) are blocked wherever it fires (proven).
    Shadowed,
    /// A claim about all requests could not be proven or refuted.
    Undecided,
}

impl Kind {
    /// The code shown to a person (`analyze::never-allowed`).
    pub fn code(self) -> &'static str {
        match self {
            Kind::NeverAllowed => "analyze::never-allowed",
            Kind::FallbackOnly => "analyze::fallback-only",
            Kind::NeverFires => "analyze::never-fires",
            Kind::AllMaskedFallback => "analyze::all-masked",
            Kind::AllMaskedNoChoice => "analyze::no-choice",
            Kind::Redundant => "analyze::redundant",
            Kind::Shadowed => "analyze::shadowed",
            Kind::Undecided => "analyze::undecided",
        }
    }

    /// How serious.
    pub fn severity(self) -> Severity {
        match self {
            // A shadowed rule does not do what it says (a boost that reaches no
            // customer, an `only` that amounts to a handover): a warning, unlike a
            // redundant rule, which does what another rule already does.
            Kind::NeverAllowed | Kind::NeverFires | Kind::AllMaskedNoChoice | Kind::Shadowed => {
                Severity::Warning
            }
            Kind::FallbackOnly | Kind::AllMaskedFallback | Kind::Redundant | Kind::Undecided => {
                Severity::Note
            }
        }
    }
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Likely a mistake in the rules.
    Warning,
    /// Worth knowing.
    Note,
}

/// Where a rule stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// Rule id.
    pub id: String,
    /// File, relative to the bundle.
    pub file: String,
    /// 1-based line of `rule`.
    pub line: u32,
    /// 1-based column of `rule`.
    pub column: u32,
}

/// What the undecided claim was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Claim {
    /// Whether the track can be allowed.
    TrackAllowed,
    /// Whether the rule can fire.
    RuleFires,
    /// Whether the fallback can be needed.
    AllMasked,
    /// Whether every track and the fallback can be masked.
    NoChoice,
    /// Whether removing the rule changes anything.
    Redundant,
    /// Whether the rule is shadowed by the others.
    Shadowed,
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// What kind.
    pub kind: Kind,
    /// Its code.
    pub code: &'static str,
    /// How serious.
    pub severity: Severity,
    /// What it says, in words.
    pub message: String,
    /// The rule it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// The track it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
    /// For an undecided finding: the claim left open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// For an undecided finding: why (which construct is outside the exact fragment).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// For an existence finding: requests that show it, each run through the real mask.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<serde_json::Value>,
    /// For a witness of masking: the rules that fired on it, per witness.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fired: Vec<Vec<String>>,
    /// For a redundant rule: the rules that imply it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub implied_by: Vec<String>,
    /// The rule acknowledges the finding in its metadata (`allow "never-fires"`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

impl Finding {
    pub(crate) fn new(kind: Kind, message: String) -> Self {
        Self {
            kind,
            code: kind.code(),
            severity: kind.severity(),
            message,
            rule: None,
            track: None,
            claim: None,
            reasons: Vec::new(),
            witnesses: Vec::new(),
            fired: Vec::new(),
            implied_by: Vec::new(),
            suppressed: false,
        }
    }

    /// What identifies the finding across runs (for baselines): its code, rule and track.
    pub fn key(&self) -> String {
        format!(
            "{} rule={} track={}",
            self.code,
            self.rule.as_ref().map_or("", |r| r.id.as_str()),
            self.track.as_deref().unwrap_or("")
        )
    }

    /// Whether the finding should fail a CI run: a warning not acknowledged.
    pub fn fails(&self) -> bool {
        self.severity == Severity::Warning && !self.suppressed
    }
}

impl Report {
    /// The findings that fail a run: warnings neither acknowledged in their
    /// rule's metadata nor listed in `baseline` (keys of an earlier report).
    pub fn failing<'a>(
        &'a self,
        baseline: &'a std::collections::BTreeSet<String>,
    ) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings
            .iter()
            .filter(move |f| f.fails() && !baseline.contains(&f.key()))
    }

    /// The finding keys of a report printed with `--format json`, as a baseline.
    pub fn baseline_keys(json: &str) -> Result<std::collections::BTreeSet<String>, String> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let findings = v
            .get("findings")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| "not an analysis report: no `findings` list".to_owned())?;
        Ok(findings
            .iter()
            .map(|f| {
                let s = |k: &str| f.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
                let rule = f
                    .get("rule")
                    .and_then(|r| r.get("id"))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("");
                format!("{} rule={} track={}", s("code"), rule, s("track"))
            })
            .collect())
    }
}

/// The analysis of one bundle.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Bundle name.
    pub bundle: String,
    /// Bundle version.
    pub version: String,
    /// The digest of what was analysed.
    pub digest: String,
    /// Every finding, in a fixed order: tracks, rules, masking.
    pub findings: Vec<Finding>,
}
