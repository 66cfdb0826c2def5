//! The union of both sides' rule test cases, each request run on both sides.
//!
//! What the rules do (the allowed set, and whether the fallback was needed or
//! nothing at all is allowed) is kept apart from the chosen track, which mixes
//! in the policy and exists only when both sides are bundles. A case whose
//! request one side refuses (an attribute the schema no longer declares, a
//! reply no longer known) is counted, with the reason.

use serde::Serialize;
use talktrack::tooling::{load_cases, mask_request, MaskOutcome, TrackSet};
use talktrack::Request;

use super::Side;

/// How the allowed set came about.
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Outcome {
    /// The rules allow at least one track.
    Allowed,
    /// The rules allow none: the fallback is used.
    Fallback,
    /// The fallback is forbidden too: no track at all.
    NoChoice,
}

impl Outcome {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Fallback => "fallback",
            Outcome::NoChoice => "no choice",
        }
    }
}

/// Which side's case files hold a case.
#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CaseFrom {
    Both,
    Old,
    New,
}

/// What one side did with a request.
struct Run {
    /// Allowed track ids.
    allowed: Vec<String>,
    outcome: Outcome,
    /// The chosen track (bundles only; `Some(None)`: none chosen).
    chosen: Option<Option<String>>,
}

/// A case whose mask (allowed set or outcome) differs.
#[derive(Serialize)]
pub(crate) struct MaskChange {
    pub case: String,
    pub from: CaseFrom,
    /// Allowed by the old side, not by the new (tracks both catalogs have).
    pub newly_masked: Vec<String>,
    /// Allowed by the new side, not by the old.
    pub newly_allowed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<super::settings::Change<Outcome>>,
}

/// A case whose chosen track differs.
#[derive(Serialize)]
pub(crate) struct ChosenChange {
    pub case: String,
    pub from: CaseFrom,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A case one side (or both) refuses.
#[derive(Serialize)]
pub(crate) struct Invalid {
    pub case: String,
    pub from: CaseFrom,
    /// Why the old side refused it (`None`: it accepted it).
    pub old: Option<String>,
    /// Why the new side refused it.
    pub new: Option<String>,
}

/// The cases part of the report.
#[derive(Serialize, Default)]
pub(crate) struct CaseChanges {
    /// Distinct cases in the union.
    pub total: usize,
    /// Cases run on both sides.
    pub compared: usize,
    /// Whether the chosen track was compared (both sides bundles).
    pub chosen_compared: bool,
    pub mask: Vec<MaskChange>,
    pub chosen: Vec<ChosenChange>,
    pub invalid_in_old: usize,
    pub invalid_in_new: usize,
    pub invalid_in_both: usize,
    pub invalid: Vec<Invalid>,
    /// Case files a side could not read (the cases in them are not in the union).
    pub unreadable: Vec<String>,
}

fn run(side: &Side, req: &Request) -> Result<Run, String> {
    let t = side.template();
    let ids = |s: &dyn Fn(usize) -> bool| -> Vec<String> {
        t.catalog()
            .tracks()
            .iter()
            .enumerate()
            .filter(|(i, _)| s(*i))
            .map(|(_, tr)| tr.id.clone())
            .collect()
    };
    match side {
        Side::Bundle(b) => {
            let d = talktrack::Engine::with_bundle(b.clone())
                .decide(req)
                .map_err(|e| e.to_string())?;
            let outcome = if d.no_choice().is_some() {
                Outcome::NoChoice
            } else if d.fallback_used() {
                Outcome::Fallback
            } else {
                Outcome::Allowed
            };
            Ok(Run {
                allowed: ids(&|i| d.is_allowed(i)),
                outcome,
                chosen: Some(d.chosen_id().map(str::to_owned)),
            })
        }
        Side::Template(t) => {
            let (allowed, outcome): (TrackSet, MaskOutcome) =
                mask_request(t, req).map_err(|e| e.to_string())?;
            Ok(Run {
                allowed: ids(&|i| allowed.contains(i)),
                outcome: match outcome {
                    MaskOutcome::Allowed => Outcome::Allowed,
                    MaskOutcome::Fallback => Outcome::Fallback,
                    _ => Outcome::NoChoice,
                },
                chosen: None,
            })
        }
    }
}

/// Runs the union of both sides' cases on both sides.
pub(crate) fn compare(old: &Side, new: &Side) -> CaseChanges {
    let mut out = CaseChanges::default();
    // The union: a case both sides hold with the same request is run once.
    let mut union: Vec<(String, CaseFrom, Result<Request, String>, String)> = Vec::new();
    for (side, from) in [(old, CaseFrom::Old), (new, CaseFrom::New)] {
        let cases = match load_cases(side.template()) {
            Ok(c) => c,
            Err(ps) => {
                out.unreadable.extend(ps.iter().map(|p| {
                    format!(
                        "{}: {}",
                        side.template().dir().join(&p.file).display(),
                        p.message
                    )
                }));
                continue;
            }
        };
        for (_, case) in cases {
            let req = case.request();
            let key = match &req {
                Ok(r) => serde_json::to_string(r).unwrap_or_default(),
                Err(e) => e.clone(),
            };
            match union
                .iter_mut()
                .find(|(name, f, _, k)| *name == case.name && *k == key && *f == CaseFrom::Old)
            {
                Some(found) if from == CaseFrom::New => found.1 = CaseFrom::Both,
                _ => union.push((case.name.clone(), from, req, key)),
            }
        }
    }
    out.total = union.len();
    out.chosen_compared = matches!((old, new), (Side::Bundle(_), Side::Bundle(_)));
    let has = |t: &Side, id: &String| t.template().catalog().index(id).is_some();
    for (case, from, req, _) in union {
        let (o, n) = match req {
            Ok(r) => (run(old, &r), run(new, &r)),
            Err(e) => (Err(e.clone()), Err(e)),
        };
        let (o, n) = match (o, n) {
            (Ok(o), Ok(n)) => (o, n),
            (o, n) => {
                match (&o, &n) {
                    (Err(_), Err(_)) => out.invalid_in_both += 1,
                    (Err(_), Ok(_)) => out.invalid_in_old += 1,
                    _ => out.invalid_in_new += 1,
                }
                out.invalid.push(Invalid {
                    case,
                    from,
                    old: o.err(),
                    new: n.err(),
                });
                continue;
            }
        };
        out.compared += 1;
        let newly_masked: Vec<String> = o
            .allowed
            .iter()
            .filter(|t| !n.allowed.contains(t) && has(new, t))
            .cloned()
            .collect();
        let newly_allowed: Vec<String> = n
            .allowed
            .iter()
            .filter(|t| !o.allowed.contains(t) && has(old, t))
            .cloned()
            .collect();
        let outcome = (o.outcome != n.outcome).then_some(super::settings::Change {
            old: o.outcome,
            new: n.outcome,
        });
        if !newly_masked.is_empty() || !newly_allowed.is_empty() || outcome.is_some() {
            out.mask.push(MaskChange {
                case: case.clone(),
                from,
                newly_masked,
                newly_allowed,
                outcome,
            });
        }
        if let (Some(a), Some(b)) = (o.chosen, n.chosen) {
            if a != b {
                out.chosen.push(ChosenChange {
                    case,
                    from,
                    old: a,
                    new: b,
                });
            }
        }
    }
    out
}
