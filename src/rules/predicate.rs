//! Evaluation of a per-track predicate (`tracks where ...`) for one turn, as
//! set operations: each node yields the tracks where it holds and the tracks
//! where it could not be evaluated (e.g. the track lacks the attribute); the
//! latter count as an error for that track only.

use super::ast::CmpOp;
use super::compiled::{key, Inner, SetPred};
use super::truth::{truth, val, Env};
use super::EvalError;
use crate::trackset::TrackSet;

/// Evaluates a per-track predicate into `t` (holds) and `e` (could not be
/// evaluated), using `scratch` for nested operands.
pub(super) fn eval_set(
    p: &SetPred,
    env: &Env,
    inner: &Inner,
    t: &mut [u64],
    e: &mut [u64],
    scratch: &mut [u64],
    err: &mut Option<EvalError>,
) {
    // INVARIANT: `t`, `e`, `all` and every set in `inner` have exactly `w` words.
    let all = inner.all.words();
    let w = inner.words;
    match p {
        SetPred::Static {
            t: st,
            e: se,
            err: serr,
        } => {
            t.copy_from_slice(st.words());
            e.copy_from_slice(se.words());
            if let Some(x) = serr {
                err.get_or_insert(*x);
            }
        }
        SetPred::Request(x) => {
            let r = truth(x, env, usize::MAX);
            let (tv, ev) = match r {
                Ok(true) => (true, false),
                Ok(false) => (false, false),
                Err(x) => {
                    err.get_or_insert(x);
                    (false, true)
                }
            };
            for k in 0..w {
                t[k] = if tv { all[k] } else { 0 };
                e[k] = if ev { all[k] } else { 0 };
            }
        }
        SetPred::Index { index, op, rhs } => {
            let Some(ix) = inner.indexes.get(*index as usize) else {
                return;
            };
            let k = match val(rhs, env, usize::MAX).map(key) {
                Ok(Some(k)) => k,
                Ok(None) | Err(_) => {
                    let x = val(rhs, env, usize::MAX)
                        .err()
                        .unwrap_or(EvalError::TypeMismatch { slot: u32::MAX });
                    err.get_or_insert(x);
                    t.iter_mut().for_each(|x| *x = 0);
                    e.copy_from_slice(all);
                    return;
                }
            };
            // Tracks with a value `< k` and `<= k`, each a binary search over the distinct values.
            let lt = || ix.below.get(ix.keys.partition_point(|x| *x < k));
            let le = || ix.below.get(ix.keys.partition_point(|x| *x <= k));
            let present = ix.present.words();
            let zero = |t: &mut [u64]| t.iter_mut().for_each(|x| *x = 0);
            match op {
                CmpOp::Lt | CmpOp::Le => match if *op == CmpOp::Lt { lt() } else { le() } {
                    Some(s) => t.copy_from_slice(s.words()),
                    None => zero(t),
                },
                CmpOp::Gt | CmpOp::Ge => {
                    let s = if *op == CmpOp::Gt { le() } else { lt() };
                    let s = s.map_or(present, TrackSet::words);
                    for i in 0..w {
                        t[i] = present[i] & !s[i];
                    }
                }
                CmpOp::Eq | CmpOp::Ne => {
                    let (a, b) = (
                        le().map_or(present, TrackSet::words),
                        lt().map_or(present, TrackSet::words),
                    );
                    for i in 0..w {
                        let eq = a[i] & !b[i];
                        t[i] = if *op == CmpOp::Eq {
                            eq
                        } else {
                            present[i] & !eq
                        };
                    }
                }
            }
            e.copy_from_slice(ix.missing.words());
            if !ix.missing.is_empty() {
                err.get_or_insert(EvalError::MissingTrackAttribute { slot: ix.slot });
            }
        }
        SetPred::Not(x) => {
            eval_set(x, env, inner, t, e, scratch, err);
            for i in 0..w {
                t[i] = all[i] & !t[i] & !e[i];
            }
        }
        SetPred::And(v) | SetPred::Or(v) => {
            let is_and = matches!(p, SetPred::And(_));
            if scratch.len() < 2 * w {
                // INVARIANT: compile sizes the scratch for the deepest predicate; fail closed if not.
                t.iter_mut().for_each(|x| *x = 0);
                e.copy_from_slice(all);
                err.get_or_insert(EvalError::Overflow);
                return;
            }
            // `e` holds the tracks where the result is known false until the end.
            for i in 0..w {
                t[i] = if is_and { all[i] } else { 0 };
                e[i] = if is_and { 0 } else { all[i] };
            }
            let (tc, rest) = scratch.split_at_mut(w);
            let (ec, rest) = rest.split_at_mut(w);
            for x in v.iter() {
                eval_set(x, env, inner, tc, ec, rest, err);
                for i in 0..w {
                    let fc = all[i] & !tc[i] & !ec[i];
                    if is_and {
                        t[i] &= tc[i];
                        e[i] |= fc;
                    } else {
                        t[i] |= tc[i];
                        e[i] &= fc;
                    }
                }
            }
            for i in 0..w {
                e[i] = all[i] & !t[i] & !e[i];
            }
        }
        SetPred::PerTrack(x) => {
            t.iter_mut().for_each(|x| *x = 0);
            e.iter_mut().for_each(|x| *x = 0);
            for tr in 0..inner.n_tracks {
                match truth(x, env, tr) {
                    Ok(true) => t[tr / 64] |= 1 << (tr % 64),
                    Ok(false) => {}
                    Err(er) => {
                        e[tr / 64] |= 1 << (tr % 64);
                        err.get_or_insert(er);
                    }
                }
            }
        }
    }
}
