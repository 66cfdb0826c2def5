//! The context of simulated conversations: drawn per episode from the aggregates'
//! published marginals, or fixed by `[sim] context`.
//!
//! For every context attribute the template's rules or features read:
//! 1. a value in `[sim] context` is used in every episode;
//! 2. otherwise, if the aggregates publish the attribute's marginal (values or bins
//!    backed by at least `k` conversations), each episode draws a value from it — the
//!    published counts renormalised over what was published; a numeric bin `[a, b)`
//!    draws uniformly inside the bin (integers: `a..b`, `a..=b` for the last bin);
//! 3. otherwise an optional attribute is absent (rules see `has ... == false`), and a
//!    required one is an error that names it.
//!
//! Attributes are drawn independently of each other and of the dialogue: the
//! aggregates publish marginals, never joint distributions, and the reply cells do not
//! depend on context. Both are documented assumptions of the simulator.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::Rng;

use crate::aggregate::{Aggregates, Bin};
use talktrack::tooling::typed::CVal;
use talktrack::tooling::AttrType;
use talktrack::tooling::BundleTemplate;
use talktrack::tooling::Feature;
use talktrack::{Context, Value};

use super::SimError;

/// One published value of a marginal.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Exact(CVal),
    /// A numeric bin: draws uniformly in `[lo, hi)` (`[lo, hi]` when `closed`).
    Bin {
        lo: f64,
        hi: f64,
        closed: bool,
        int: bool,
    },
}

/// Where one schema attribute's value comes from.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    Absent,
    Fixed(CVal),
    Drawn {
        cum: Vec<f64>,
        outcomes: Vec<Outcome>,
    },
}

/// Where each attribute the template reads comes from, as the report states it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContextSource {
    /// The attribute.
    pub attribute: String,
    /// `fixed`, `drawn` (with the number of published values) or `absent`.
    pub source: String,
}

/// A context (by schema slot) with its probability.
pub type WeightedContext = (f64, Vec<Option<CVal>>);

/// Draws the context of each simulated conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct ContextSampler {
    sources: Vec<Source>,
    described: Vec<ContextSource>,
    /// Attribute names by schema slot.
    names: Vec<String>,
}

impl ContextSampler {
    /// The sampler for `tpl`'s schema: `fixed` comes from `[sim] context`, marginals
    /// from `agg`.
    pub fn new(tpl: &BundleTemplate, fixed: &Context, agg: &Aggregates) -> Result<Self, SimError> {
        let schema = tpl.schema();
        let read = attributes_read(tpl);
        let mut sources = Vec::with_capacity(schema.len());
        let mut described = Vec::new();
        let mut missing = Vec::new();
        for (slot, decl) in schema.attrs().iter().enumerate() {
            let is_read = read.contains(&(slot as u32));
            if let Some(v) = fixed.get(&decl.name) {
                let val = v.typed(&decl.ty).ok_or_else(|| {
                    SimError::Setting(format!(
                        "`[sim] context.{}` must be {}, found {}",
                        decl.name,
                        decl.ty,
                        v.kind()
                    ))
                })?;
                sources.push(Source::Fixed(CVal::from_val(val)));
                if is_read {
                    described.push(ContextSource {
                        attribute: decl.name.clone(),
                        source: "fixed by `[sim] context`".into(),
                    });
                }
                continue;
            }
            let published = agg
                .context_marginals
                .get(&decl.name)
                .filter(|m| m.values().any(|&n| n > 0.0));
            let source = match published {
                Some(m) if is_read => {
                    let mut outcomes = Vec::new();
                    let mut cum = Vec::new();
                    let mut acc = 0.0;
                    for (label, &n) in m.iter().filter(|(_, &n)| n > 0.0) {
                        outcomes.push(outcome(&decl.name, &decl.ty, label)?);
                        acc += n;
                        cum.push(acc);
                    }
                    cum.iter_mut().for_each(|c| *c /= acc);
                    described.push(ContextSource {
                        attribute: decl.name.clone(),
                        source: format!("drawn from {} published values", outcomes.len()),
                    });
                    Source::Drawn { cum, outcomes }
                }
                _ => {
                    if is_read {
                        if decl.optional {
                            described.push(ContextSource {
                                attribute: decl.name.clone(),
                                source: "absent (optional, nothing published)".into(),
                            });
                        } else {
                            missing.push(decl.name.clone());
                        }
                    }
                    Source::Absent
                }
            };
            sources.push(source);
        }
        if !missing.is_empty() {
            return Err(SimError::Setting(format!(
                "the template's rules or features read {} but the aggregates publish no value for {} and `[sim] context` does not set {}: add {} to `[aggregate] context_attributes` (numeric ones with `context_bins`) or set {} in `[sim] context`",
                list(&missing),
                if missing.len() == 1 { "it" } else { "them" },
                if missing.len() == 1 { "it" } else { "them" },
                if missing.len() == 1 { "it" } else { "them" },
                if missing.len() == 1 { "it" } else { "them" },
            )));
        }
        let names = schema.attrs().iter().map(|a| a.name.clone()).collect();
        Ok(Self {
            sources,
            described,
            names,
        })
    }

    /// Whether every episode has the same context (nothing is drawn).
    pub fn is_fixed(&self) -> bool {
        !self
            .sources
            .iter()
            .any(|s| matches!(s, Source::Drawn { .. }))
    }

    /// Where each attribute read comes from.
    pub fn describe(&self) -> &[ContextSource] {
        &self.described
    }

    /// Every context [`ContextSampler::draw`] can produce, with its probability, when
    /// there are at most `cap` and none comes from a numeric bin; `Err` says why not.
    pub fn enumerate(&self, cap: usize) -> Result<Vec<WeightedContext>, String> {
        let mut all: Vec<WeightedContext> = vec![(1.0, Vec::new())];
        for (slot, s) in self.sources.iter().enumerate() {
            let choices: Vec<(f64, Option<CVal>)> = match s {
                Source::Absent => vec![(1.0, None)],
                Source::Fixed(v) => vec![(1.0, Some(v.clone()))],
                Source::Drawn { cum, outcomes } => {
                    let mut prev = 0.0;
                    let mut out = Vec::with_capacity(outcomes.len());
                    for (o, &c) in outcomes.iter().zip(cum) {
                        let Outcome::Exact(v) = o else {
                            let name = self
                                .names
                                .get(slot)
                                .map_or("a context attribute", String::as_str);
                            return Err(format!(
                                "context attribute `{name}` is drawn inside numeric bins, which have no finite set of values"
                            ));
                        };
                        out.push((c - prev, Some(v.clone())));
                        prev = c;
                    }
                    out
                }
            };
            if all.len().saturating_mul(choices.len()) > cap {
                return Err(format!(
                    "the published context values combine into more than {cap} contexts"
                ));
            }
            all = all
                .into_iter()
                .flat_map(|(p, vals)| {
                    choices.iter().map(move |(q, v)| {
                        let mut vals = vals.clone();
                        vals.push(v.clone());
                        (p * q, vals)
                    })
                })
                .filter(|(p, _)| *p > 0.0)
                .collect();
        }
        Ok(all)
    }

    /// Draws one conversation's context into `out` (by schema slot).
    pub fn draw(&self, rng: &mut StdRng, out: &mut Vec<Option<CVal>>) {
        out.clear();
        for s in &self.sources {
            out.push(match s {
                Source::Absent => None,
                Source::Fixed(v) => Some(v.clone()),
                Source::Drawn { cum, outcomes } => {
                    let u = rng.random::<f64>();
                    let i = cum
                        .iter()
                        .position(|&c| u < c)
                        .unwrap_or(outcomes.len().saturating_sub(1));
                    outcomes.get(i).map(|o| match o {
                        Outcome::Exact(v) => v.clone(),
                        Outcome::Bin {
                            lo,
                            hi,
                            closed,
                            int: true,
                        } => {
                            let (lo, hi) = (lo.ceil() as i64, hi.ceil() as i64);
                            let hi = if *closed { hi + 1 } else { hi };
                            CVal::Int(if hi > lo {
                                rng.random_range(lo..hi)
                            } else {
                                lo
                            })
                        }
                        Outcome::Bin { lo, hi, .. } => {
                            CVal::Float(lo + (hi - lo) * rng.random::<f64>())
                        }
                    })
                }
            });
        }
    }
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A published label as a typed outcome of the attribute.
fn outcome(name: &str, ty: &AttrType, label: &str) -> Result<Outcome, SimError> {
    let bad = || {
        SimError::Setting(format!(
            "the published value `{label}` of context attribute `{name}` is not a {ty}"
        ))
    };
    if matches!(ty, AttrType::Int | AttrType::Float) {
        if let Ok(Bin { lo, hi, closed }) = label.parse() {
            return Ok(Outcome::Bin {
                lo,
                hi,
                closed,
                int: *ty == AttrType::Int,
            });
        }
    }
    let value = match ty {
        AttrType::Bool => match label {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad()),
        },
        AttrType::Int => Value::Int(label.parse().map_err(|_| bad())?),
        AttrType::Float => Value::Float(label.parse().map_err(|_| bad())?),
        _ => Value::Str(label.to_owned()),
    };
    value
        .typed(ty)
        .map(|v| Outcome::Exact(CVal::from_val(v)))
        .ok_or_else(bad)
}

/// The schema slots the template's rules and feature spec read.
pub fn attributes_read(tpl: &BundleTemplate) -> BTreeSet<u32> {
    let mut read = tpl.rules().context_slots();
    for f in &tpl.manifest().features {
        if let Feature::Attr { name, .. } | Feature::AttrOneHot { name } = f {
            if let Some(slot) = tpl.schema().slot(name) {
                read.insert(slot as u32);
            }
        }
    }
    read
}
