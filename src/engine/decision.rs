//! A decision: the ranked allowed tracks, the chosen one, and why every other
//! track was masked.
//!
//! The hot path only copies the rules' verdict (which rules fired, on which
//! tracks); per-track explanations are assembled when someone asks for them
//! ([`Decision::masked`], the JSON form here, [`Decision::explain`] in
//! `explain.rs`).

use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::explain::{eval_error_text, masked_error_text};
use crate::bundle::Bundle;
use crate::rules::{EffectKind, EvalError, Fired, RuleInfo};
use crate::trackset::TrackSet;
use crate::turn_view::ContactLog;

/// One allowed track in the ranking.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranked {
    /// Catalog index.
    pub track: u32,
    /// Final score: the policy's score in log space plus boosts.
    pub score: f32,
    /// Probability that the bundle's selection rule picks it.
    pub probability: f32,
}

/// How the policy's scores were used.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PolicyUse {
    /// Scores used as they are (plus boosts).
    Used,
    /// Not run: no track was allowed.
    NotNeeded,
    /// The policy returned NaN or infinite scores: allowed tracks ranked by boosts alone.
    NonFinite {
        /// How many allowed tracks had a non-finite score.
        tracks: usize,
    },
    /// The policy failed to run: allowed tracks ranked by boosts alone.
    Failed {
        /// The error.
        error: String,
    },
}

/// Why a track is not allowed: one rule that masked it.
#[derive(Clone, Debug)]
pub struct MaskReason<'a> {
    /// The rule.
    pub rule: &'a RuleInfo,
    /// Set when the rule could not be evaluated and failed closed.
    pub failed_closed: Option<EvalError>,
}

/// A masked track and every rule that masked it.
#[derive(Clone, Debug)]
pub struct Masked<'a> {
    /// Catalog index.
    pub track: usize,
    /// Track id.
    pub id: &'a str,
    /// The rules, in rule order.
    pub by: Vec<MaskReason<'a>>,
}

/// The answer to one request.
#[derive(Clone, Debug)]
pub struct Decision {
    pub(crate) bundle: Arc<Bundle>,
    pub(crate) conversation_id: String,
    pub(crate) turn: u32,
    /// Allowed tracks in catalog order.
    pub(crate) unsorted: Vec<Ranked>,
    /// The same, best first; sorted on first access.
    pub(crate) ranked: std::sync::OnceLock<Vec<Ranked>>,
    pub(crate) chosen: Option<u32>,
    pub(crate) text: Option<String>,
    pub(crate) fallback_used: bool,
    pub(crate) no_choice: Option<String>,
    pub(crate) policy: PolicyUse,
    pub(crate) allowed: TrackSet,
    pub(crate) forbidden: TrackSet,
    pub(crate) fired: Vec<Fired>,
    pub(crate) target_words: Vec<u64>,
    /// The width of an embedding the request carried but no feature reads.
    pub(crate) embedding_ignored: Option<usize>,
    /// The request time, milliseconds since the Unix epoch.
    pub(crate) now_ms: i64,
    /// The past contacts the rules counted (empty unless a rule that fired counts
    /// contacts), for the explanation's evidence.
    pub(crate) contacts: ContactLog,
}

impl Decision {
    /// The bundle that made the decision.
    pub fn bundle(&self) -> &Arc<Bundle> {
        &self.bundle
    }
    /// Conversation id from the request.
    pub fn conversation_id(&self) -> &str {
        &self.conversation_id
    }
    /// Turn index decided.
    pub fn turn(&self) -> u32 {
        self.turn
    }
    /// Allowed tracks, best first.
    pub fn ranked(&self) -> &[Ranked] {
        self.ranked.get_or_init(|| {
            let mut v = self.unsorted.clone();
            v.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.track.cmp(&b.track)));
            v
        })
    }

    /// The chosen track's entry (score and selection probability).
    pub(super) fn chosen_entry(&self) -> Option<&Ranked> {
        let c = self.chosen?;
        self.unsorted.iter().find(|r| r.track == c)
    }
    /// The chosen track's selection probability (its propensity, what off-policy
    /// evaluation of logged decisions reads); `None` when nothing was chosen. The
    /// fallback, chosen when nothing else was allowed, has propensity 1.
    pub fn propensity(&self) -> Option<f32> {
        self.chosen
            .map(|_| self.chosen_entry().map_or(1.0, |r| r.probability))
    }
    /// Catalog index of the chosen track; `None` when even the fallback is forbidden.
    pub fn chosen(&self) -> Option<usize> {
        self.chosen.map(|c| c as usize)
    }
    /// Id of the chosen track.
    pub fn chosen_id(&self) -> Option<&str> {
        self.chosen()
            .and_then(|c| self.bundle.catalog().track(c))
            .map(|t| t.id.as_str())
    }
    /// The chosen track's text, rendered with the request's values.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
    /// Whether no regular track was allowed and the fallback was chosen.
    pub fn fallback_used(&self) -> bool {
        self.fallback_used
    }
    /// Why nothing was chosen (the host should hand the conversation to a person).
    pub fn no_choice(&self) -> Option<&str> {
        self.no_choice.as_deref()
    }
    /// How the policy's scores were used.
    pub fn policy_use(&self) -> &PolicyUse {
        &self.policy
    }
    /// When the request carried an embedding that the bundle's features do not
    /// read (so it did not influence the decision): its width.
    pub fn embedding_ignored(&self) -> Option<usize> {
        self.embedding_ignored
    }
    /// Whether track `i` may be used now.
    pub fn is_allowed(&self, i: usize) -> bool {
        self.allowed.contains(i)
    }
    /// Whether a forbid rule (matched or failed closed) masks track `i`.
    pub fn is_forbidden(&self, i: usize) -> bool {
        self.forbidden.contains(i)
    }

    fn target_run(&self, f: &Fired) -> &[u64] {
        self.bundle
            .rules()
            .target_run(&self.target_words, f.targets)
    }

    fn targets<'s>(&'s self, f: &Fired) -> impl Iterator<Item = usize> + 's {
        let words = self.target_run(f);
        let len = self.forbidden.universe();
        words.iter().enumerate().flat_map(move |(wi, &w)| {
            (0..64)
                .filter(move |b| w & (1u64 << b) != 0)
                .map(move |b| wi * 64 + b)
                .filter(move |&t| t < len)
        })
    }

    fn targets_contains(&self, f: &Fired, t: usize) -> bool {
        self.target_run(f)
            .get(t / 64)
            .is_some_and(|w| w & (1u64 << (t % 64)) != 0)
    }

    /// Every track that may not be used, with the rules that masked it.
    ///
    /// Rules are listed in rule order; a track masked only by `only` rules lists those.
    pub fn masked(&self) -> Vec<Masked<'_>> {
        let catalog = self.bundle.catalog();
        (0..catalog.len())
            .filter(|&t| !self.allowed.contains(t))
            .map(|t| Masked {
                track: t,
                id: catalog.track(t).map_or("", |x| x.id.as_str()),
                by: self.mask_reasons(t).collect(),
            })
            .collect()
    }

    /// The rules that mask track `t`, in rule order, without collecting them (what
    /// [`masked`](Self::masked) lists for `t`; nothing for an allowed track).
    pub fn mask_reasons(&self, t: usize) -> impl Iterator<Item = MaskReason<'_>> + '_ {
        let rules = self.bundle.rules();
        let masked = !self.allowed.contains(t);
        self.fired
            .iter()
            .filter(move |_| masked)
            .filter_map(move |f| {
                let rule = rules.rule(f.rule as usize);
                let masks = match rule.effect {
                    EffectKind::Forbid => self.targets_contains(f, t),
                    EffectKind::Only => !self.targets_contains(f, t),
                    EffectKind::Boost => false,
                };
                masks.then_some(MaskReason {
                    rule,
                    failed_closed: f.error,
                })
            })
    }

    /// Boost rules that applied: (rule, amount, boosted tracks).
    pub fn boosts(&self) -> Vec<(&RuleInfo, f32, Vec<&str>)> {
        let rules = self.bundle.rules();
        let catalog = self.bundle.catalog();
        self.fired
            .iter()
            .filter(|f| f.error.is_none())
            .filter_map(|f| {
                let rule = rules.rule(f.rule as usize);
                (rule.effect == EffectKind::Boost).then(|| {
                    let ids = self
                        .targets(f)
                        .filter_map(|t| catalog.track(t).map(|x| x.id.as_str()))
                        .collect();
                    (rule, f.boost, ids)
                })
            })
            .collect()
    }

    /// For each rule that masked tracks, how many it masked: what counting the
    /// rules of every entry of [`Decision::masked`] gives, without building it.
    pub fn mask_counts(&self) -> impl Iterator<Item = (&RuleInfo, u32)> + '_ {
        let rules = self.bundle.rules();
        let n = self.bundle.catalog().len();
        let allowed = self.allowed.words();
        let words = n.div_ceil(64);
        self.fired.iter().filter_map(move |f| {
            let rule = rules.rule(f.rule as usize);
            let only = match rule.effect {
                EffectKind::Boost => return None,
                EffectKind::Forbid => false,
                EffectKind::Only => true,
            };
            let targets = self.target_run(f);
            let mut count = 0;
            for wi in 0..words {
                let live = match n - wi * 64 {
                    k if k < 64 => (1u64 << k) - 1,
                    _ => u64::MAX,
                };
                let t = targets.get(wi).copied().unwrap_or(0);
                let hit = if only { !t } else { t };
                count += (hit & !allowed.get(wi).copied().unwrap_or(0) & live).count_ones();
            }
            (count > 0).then_some((rule, count))
        })
    }

    /// Rules whose condition could not be evaluated (they failed closed).
    pub fn rule_errors(&self) -> Vec<(&RuleInfo, EvalError)> {
        let rules = self.bundle.rules();
        self.fired
            .iter()
            .filter_map(|f| f.error.map(|e| (rules.rule(f.rule as usize), e)))
            .collect()
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = &self.bundle;
        let cat = b.catalog();
        let id = |t: usize| cat.track(t).map_or("?", |x| x.id.as_str());
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("conversation_id", &self.conversation_id)?;
        m.serialize_entry("turn", &self.turn)?;
        m.serialize_entry(
            "bundle",
            &BundleJson {
                digest: b.digest(),
                name: b.name(),
                version: b.version(),
            },
        )?;
        let chosen = self.chosen().map(|c| {
            let r = self.chosen_entry();
            ChosenJson {
                probability: f64::from(r.map_or(1.0, |r| r.probability)),
                score: r.map(|r| f64::from(r.score)),
                text: self.text.as_deref(),
                track: id(c),
            }
        });
        m.serialize_entry("chosen", &chosen)?;
        m.serialize_entry("fallback_used", &self.fallback_used)?;
        m.serialize_entry("no_choice", &self.no_choice)?;
        m.serialize_entry("policy", &self.policy)?;
        m.serialize_entry("embedding_ignored", &self.embedding_ignored.is_some())?;
        m.serialize_entry("ranked", &RankedJson(self))?;
        m.serialize_entry("masked", &MaskedJson(self))?;
        let boosts: Vec<_> = self
            .boosts()
            .into_iter()
            .map(|(r, by, tracks)| BoostJson {
                by: f64::from(by),
                rule: &r.id,
                tracks,
            })
            .collect();
        m.serialize_entry("boosts", &boosts)?;
        let errors: Vec<_> = self
            .rule_errors()
            .into_iter()
            .map(|(r, e)| ErrorJson {
                at: At(r),
                error: eval_error_text(b, e),
                rule: &r.id,
            })
            .collect();
        m.serialize_entry("rule_errors", &errors)?;
        let evidence = self.contact_evidence();
        if !evidence.is_empty() {
            let evidence: Vec<_> = evidence
                .into_iter()
                .map(|(r, line)| EvidenceJson {
                    evidence: line,
                    rule: &r.id,
                })
                .collect();
            m.serialize_entry("contact_evidence", &evidence)?;
        }
        m.end()
    }
}

// The JSON of a decision's parts. Each object's keys are written in sorted order
// and its `f32` numbers as `f64`: the form `talktrack decide` has always printed
// (it was built as a `serde_json::Value`), written without building one.

#[derive(Serialize)]
struct BundleJson<'a> {
    digest: &'a str,
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct ChosenJson<'a> {
    probability: f64,
    score: Option<f64>,
    text: Option<&'a str>,
    track: &'a str,
}

#[derive(Serialize)]
struct BoostJson<'a> {
    by: f64,
    rule: &'a str,
    tracks: Vec<&'a str>,
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    at: At<'a>,
    error: String,
    rule: &'a str,
}

#[derive(Serialize)]
struct EvidenceJson<'a, E: Serialize> {
    evidence: E,
    rule: &'a str,
}

/// A rule's place, `file:line:column`, written without an intermediate string.
struct At<'a>(&'a RuleInfo);

impl Serialize for At<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        s.collect_str(&format_args!(
            "{}:{}:{}",
            r.file.display(),
            r.line,
            r.column
        ))
    }
}

/// The masked tracks, each with the rules that masked it.
struct MaskedJson<'a>(&'a Decision);

impl Serialize for MaskedJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = &self.0.bundle;
        let masked = self.0.masked();
        let mut seq = s.serialize_seq(Some(masked.len()))?;
        for x in &masked {
            seq.serialize_element(&MaskedTrackJson {
                by: ByJson { bundle: b, m: x },
                track: x.id,
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct MaskedTrackJson<'a> {
    by: ByJson<'a>,
    track: &'a str,
}

/// The rules that masked one track.
struct ByJson<'a> {
    bundle: &'a Bundle,
    m: &'a Masked<'a>,
}

impl Serialize for ByJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.m.by.len()))?;
        for r in &self.m.by {
            // Keys sorted; a key given twice keeps its last value.
            let meta: std::collections::BTreeMap<&str, &str> = r
                .rule
                .meta
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            seq.serialize_element(&ReasonJson {
                at: At(r.rule),
                effect: r.rule.effect,
                failed_closed: r
                    .failed_closed
                    .map(|e| masked_error_text(self.bundle, e, self.m.track)),
                meta,
                reason: &r.rule.reason,
                rule: &r.rule.id,
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct ReasonJson<'a> {
    at: At<'a>,
    effect: EffectKind,
    failed_closed: Option<String>,
    meta: std::collections::BTreeMap<&'a str, &'a str>,
    reason: &'a str,
    rule: &'a str,
}

#[derive(Serialize)]
struct RankedEntryJson<'a> {
    probability: f64,
    score: f64,
    track: &'a str,
}

struct RankedJson<'a>(&'a Decision);

impl Serialize for RankedJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let cat = self.0.bundle.catalog();
        let ranked = self.0.ranked();
        let mut seq = s.serialize_seq(Some(ranked.len()))?;
        for r in ranked {
            seq.serialize_element(&RankedEntryJson {
                probability: f64::from(r.probability),
                score: f64::from(r.score),
                track: cat.track(r.track as usize).map_or("?", |x| x.id.as_str()),
            })?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Request;

    /// The decision as it was written when each part was built as a
    /// `serde_json::Value`: the form the typed writer keeps.
    struct Reference<'a>(&'a Decision);

    impl Serialize for Reference<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let d = self.0;
            let b = &d.bundle;
            let cat = b.catalog();
            let id = |t: usize| cat.track(t).map_or("?", |x| x.id.as_str());
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("conversation_id", &d.conversation_id)?;
            m.serialize_entry("turn", &d.turn)?;
            m.serialize_entry(
                "bundle",
                &serde_json::json!({"name": b.name(), "version": b.version(), "digest": b.digest()}),
            )?;
            let chosen = d.chosen().map(|c| {
                let r = d.chosen_entry();
                serde_json::json!({
                    "track": id(c),
                    "text": d.text,
                    "score": r.map(|r| r.score),
                    "probability": r.map_or(1.0, |r| r.probability),
                })
            });
            m.serialize_entry("chosen", &chosen)?;
            m.serialize_entry("fallback_used", &d.fallback_used)?;
            m.serialize_entry("no_choice", &d.no_choice)?;
            m.serialize_entry("policy", &d.policy)?;
            m.serialize_entry("embedding_ignored", &d.embedding_ignored.is_some())?;
            m.serialize_entry("ranked", &OldRanked(d))?;
            let masked: Vec<_> = d
                .masked()
                .into_iter()
                .map(|x| {
                    serde_json::json!({
                        "track": x.id,
                        "by": x.by.iter().map(|r| serde_json::json!({
                            "rule": r.rule.id,
                            "reason": r.rule.reason,
                            "effect": r.rule.effect,
                            "at": format!("{}:{}:{}", r.rule.file.display(), r.rule.line, r.rule.column),
                            "meta": r.rule.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                            "failed_closed": r.failed_closed.map(|e| masked_error_text(b, e, x.track)),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            m.serialize_entry("masked", &masked)?;
            let boosts: Vec<_> = d
                .boosts()
                .into_iter()
                .map(
                    |(r, by, tracks)| serde_json::json!({"rule": r.id, "by": by, "tracks": tracks}),
                )
                .collect();
            m.serialize_entry("boosts", &boosts)?;
            let errors: Vec<_> = d
                .rule_errors()
                .into_iter()
                .map(|(r, e)| {
                    serde_json::json!({
                        "rule": r.id,
                        "at": format!("{}:{}:{}", r.file.display(), r.line, r.column),
                        "error": eval_error_text(b, e),
                    })
                })
                .collect();
            m.serialize_entry("rule_errors", &errors)?;
            let evidence = d.contact_evidence();
            if !evidence.is_empty() {
                let evidence: Vec<_> = evidence
                    .into_iter()
                    .map(|(r, line)| serde_json::json!({"rule": r.id, "evidence": line}))
                    .collect();
                m.serialize_entry("contact_evidence", &evidence)?;
            }
            m.end()
        }
    }

    struct OldRanked<'a>(&'a Decision);

    impl Serialize for OldRanked<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let cat = self.0.bundle.catalog();
            let ranked = self.0.ranked();
            let mut seq = s.serialize_seq(Some(ranked.len()))?;
            for r in ranked {
                seq.serialize_element(&serde_json::json!({
                    "track": cat.track(r.track as usize).map_or("?", |x| x.id.as_str()),
                    "score": r.score,
                    "probability": r.probability,
                }))?;
            }
            seq.end()
        }
    }

    #[test]
    fn json_is_what_the_value_built_form_wrote() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/telecom-upsell");
        let bundle = Arc::new(Bundle::load(dir).unwrap());
        let mut masked = 0;
        for n in 0..40u32 {
            let (k, i) = (n as usize % 4, n as usize % 5);
            let age = [12, 16, 18, 34, 70][i];
            let region = ["north", "south", "east", "west"][k];
            let segment = ["young_family", "student", "senior", "business", "standard"][i];
            let plan = ["prepaid", "basic", "plus", "unlimited"][(n as usize / 4) % 4];
            let tracks = [
                "greet",
                "ask_current_plan",
                "needs_discovery",
                "fee_disclosure",
            ];
            let req = Request::from_json(
                &serde_json::json!({
                    "conversation_id": format!("c-{n}"),
                    "time": "2026-11-26T10:05:00Z",
                    "context": {
                        "age": age,
                        "region": region,
                        "segment": segment,
                        "plan": plan,
                        "tenure_months": 1 + 3 * n, "monthly_spend": 10.5 + f64::from(n),
                        "open_complaint": n % 3 == 0, "marketing_consent": n % 4 != 0,
                        "credit_score": 400 + 11 * n, "products": ["tv"]
                    },
                    "history": {"tracks": &tracks[..k], "replies": vec!["neutral"; k]},
                })
                .to_string(),
            )
            .unwrap();
            let d = crate::engine::decide::decide(&bundle, &req).unwrap();
            masked += d.masked().len();
            let mut listed = std::collections::BTreeMap::new();
            for m in d.masked() {
                for r in &m.by {
                    *listed.entry(r.rule.id.as_str()).or_insert(0) += 1;
                }
            }
            let mut counted = std::collections::BTreeMap::new();
            for (r, k) in d.mask_counts() {
                *counted.entry(r.id.as_str()).or_insert(0) += k;
            }
            assert_eq!(counted, listed);
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                serde_json::to_string(&Reference(&d)).unwrap()
            );
        }
        assert!(masked > 0, "no decision masked a track");
    }
}
