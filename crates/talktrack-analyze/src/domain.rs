//! Each quantity's domain split at the constants it is compared with: one
//! representative value per cell (below, at and above every constant, between
//! two constants, "absent" for an optional attribute, "other" for strings).
//! Two requests whose values fall in the same cells agree on every atom of the
//! exact fragment, so searching the representatives searches every request.

use talktrack::tooling::{AttrDecl, AttrType, Bound};
use talktrack::MAX_HISTORY;

use crate::atoms::{Konst, Quantity};

/// A value a quantity takes in a witness.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Rep {
    /// An optional attribute not sent; no reply yet.
    Absent,
    /// A boolean.
    Bool(bool),
    /// An int, a turn or a use count.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// An enum variant or reply category by index.
    Enum(u32),
    /// A string set.
    Set(Vec<String>),
    /// A timestamp, milliseconds since the epoch.
    Time(i64),
    /// A duration in milliseconds.
    Dur(i64),
}

/// The request time every witness uses.
pub(crate) const NOW_MS: i64 = 1_790_000_000_000;

/// Latest timestamp a witness uses (in the year 2096).
const MAX_TIME_MS: i64 = 4_000_000_000_000;

/// Largest set of string constants whose subsets are enumerated.
const MAX_SET_CONSTANTS: usize = 8;

/// The representatives of `q` (`decl`: its declaration, for a context
/// attribute), and why the split is not exact (if it is not).
pub(crate) fn representatives(
    q: Quantity,
    ks: &[Konst],
    decl: Option<&AttrDecl>,
    n_replies: usize,
    max_turns: u32,
) -> (Vec<Rep>, Option<String>) {
    let nums: Vec<f64> = ks
        .iter()
        .filter_map(|k| match k {
            Konst::Num(x) => Some(*x),
            _ => None,
        })
        .collect();
    match q {
        Quantity::Turn => {
            let mut cuts = nums.clone();
            for k in ks {
                if let Konst::TurnsLeft(l) = k {
                    cuts.push(max_turns as f64 - *l as f64);
                }
            }
            cuts.push(max_turns as f64);
            let v = ints(&cuts, 0, MAX_HISTORY as i64);
            (v.into_iter().map(Rep::Int).collect(), None)
        }
        Quantity::Usage(_) => {
            // Counts stay small so that a witness's history stays short.
            let v = ints(&nums, 0, 1000);
            let why = nums
                .iter()
                .any(|x| *x > 999.0)
                .then(|| "a use count compared with more than 999".to_owned());
            (v.into_iter().map(Rep::Int).collect(), why)
        }
        Quantity::Reply => {
            let mut v = vec![Rep::Absent];
            v.extend((0..n_replies as u32).map(Rep::Enum));
            (v, None)
        }
        Quantity::Ctx(_) => {
            let Some(decl) = decl else {
                return (vec![Rep::Absent], Some("an unknown attribute".to_owned()));
            };
            let mut why = None;
            // A request outside the declared range is refused: witnesses stay inside.
            let (lo, hi) = int_range(decl);
            let mut v: Vec<Rep> = match &decl.ty {
                AttrType::Bool => vec![Rep::Bool(false), Rep::Bool(true)],
                AttrType::Int => ints(&nums, lo.max(i64::MIN / 4), hi.min(i64::MAX / 4))
                    .into_iter()
                    .map(Rep::Int)
                    .collect(),
                AttrType::Float => floats(&nums, float_range(decl))
                    .into_iter()
                    .map(Rep::Float)
                    .collect(),
                AttrType::Enum(vs) => (0..vs.len() as u32).map(Rep::Enum).collect(),
                AttrType::Duration => ints(&nums, lo.max(0), hi.min(i64::MAX / 4))
                    .into_iter()
                    .map(Rep::Dur)
                    .collect(),
                AttrType::Timestamp => {
                    let agos: Vec<f64> = ks
                        .iter()
                        .filter_map(|k| match k {
                            Konst::Ago(d) => Some(*d as f64),
                            _ => None,
                        })
                        .collect();
                    if !agos.is_empty() && !nums.is_empty() {
                        why = Some(format!(
                            "`{}` is compared both with `now` and with fixed times",
                            decl.name
                        ));
                    }
                    if agos.is_empty() {
                        ints(&nums, 0, MAX_TIME_MS)
                            .into_iter()
                            .map(Rep::Time)
                            .collect()
                    } else {
                        ints(&agos, -NOW_MS, MAX_TIME_MS - NOW_MS)
                            .into_iter()
                            .map(|d| Rep::Time(NOW_MS.saturating_sub(d)))
                            .collect()
                    }
                }
                AttrType::StringSet => {
                    let mut strs: Vec<String> = ks
                        .iter()
                        .filter_map(|k| match k {
                            Konst::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect();
                    strs.sort();
                    strs.dedup();
                    if strs.len() > MAX_SET_CONSTANTS {
                        why = Some(format!(
                            "`{}` is tested for more than {MAX_SET_CONSTANTS} elements",
                            decl.name
                        ));
                        strs.truncate(MAX_SET_CONSTANTS);
                    }
                    (0..1u32 << strs.len())
                        .map(|m| {
                            Rep::Set(
                                strs.iter()
                                    .enumerate()
                                    .filter(|(i, _)| m & (1 << i) != 0)
                                    .map(|(_, s)| s.clone())
                                    .collect(),
                            )
                        })
                        .collect()
                }
                _ => {
                    let mut strs: Vec<String> = ks
                        .iter()
                        .filter_map(|k| match k {
                            Konst::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect();
                    strs.sort();
                    strs.dedup();
                    let mut other = "other".to_owned();
                    while strs.contains(&other) {
                        other.push('_');
                    }
                    strs.push(other);
                    strs.into_iter().map(Rep::Str).collect()
                }
            };
            if decl.optional {
                v.push(Rep::Absent);
            }
            (v, why)
        }
    }
}

/// One integer per cell of the split of `[lo, hi]` at `cuts` (plus 0).
fn ints(cuts: &[f64], lo: i64, hi: i64) -> Vec<i64> {
    let mut v = vec![0i64.clamp(lo, hi)];
    for &c in cuts {
        if !c.is_finite() {
            continue;
        }
        let f = c.floor().clamp(lo as f64, hi as f64) as i64;
        let cl = c.ceil().clamp(lo as f64, hi as f64) as i64;
        for x in [f.saturating_sub(1), f, cl, cl.saturating_add(1)] {
            v.push(x.clamp(lo, hi));
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// The declared range of an int or duration attribute (unbounded ends as the
/// extremes of `i64`).
fn int_range(decl: &AttrDecl) -> (i64, i64) {
    let end = |b: Option<Bound>, default: i64| match b {
        Some(Bound::Int(i) | Bound::Duration(i)) => i,
        Some(Bound::Float(x)) => x as i64,
        None => default,
    };
    match decl.range {
        Some(r) => (end(r.min, i64::MIN), end(r.max, i64::MAX)),
        None => (i64::MIN, i64::MAX),
    }
}

/// The declared range of a float attribute.
fn float_range(decl: &AttrDecl) -> (f64, f64) {
    let end = |b: Option<Bound>, default: f64| match b {
        Some(Bound::Float(x)) => x,
        Some(Bound::Int(i) | Bound::Duration(i)) => i as f64,
        None => default,
    };
    match decl.range {
        Some(r) => (end(r.min, f64::MIN), end(r.max, f64::MAX)),
        None => (f64::MIN, f64::MAX),
    }
}

/// One float per cell of the split of the finite floats in `[lo, hi]` at `cuts`.
fn floats(cuts: &[f64], (lo, hi): (f64, f64)) -> Vec<f64> {
    let mut v = vec![0.0f64.clamp(lo, hi)];
    v.extend(
        [lo, hi]
            .into_iter()
            .filter(|x| *x > f64::MIN && *x < f64::MAX),
    );
    for &c in cuts {
        if c.is_finite() {
            v.extend(
                [c.next_down(), c, c.next_up()]
                    .into_iter()
                    .filter(|x| x.is_finite())
                    .map(|x| x.clamp(lo, hi)),
            );
        }
    }
    v.retain(|x| x.is_finite() && *x >= lo && *x <= hi);
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}
