//! Three-valued evaluation of conditions and values, for one turn.
//!
//! Conditions use three-valued (Kleene) logic: a value that cannot be read (an
//! optional attribute not sent, a value of the wrong type, an overflow, a
//! division by zero) makes a comparison *unknown*. `false and unknown` is
//! `false` and `true or unknown` is `true`, whatever the order, so `has
//! customer.x and customer.x > 3` is safe; anything else unknown leaves the whole
//! condition unknown and the rule fails closed: a forbid forbids, an only
//! restricts, a boost is not applied. `and` and `or` stop at the first operand
//! that decides them.
//!
//! `last_reply` before the first reply equals no category: `last_reply == x` and
//! `last_reply in [..]` are false, `!=` and `not in` true, `has last_reply` false.

use super::ast::{ArithOp, CmpOp};
use super::compiled::{key, Cond};
use super::typed::{CVal, ContactQuery, TExpr, ValKind};
use super::EvalError;
use crate::context::Val;
use crate::turn_view::{ContactLog, Logged, TurnView, RETIRED};

/// What expression evaluation reads besides the expression.
pub(crate) struct Env<'a, 'v> {
    pub view: &'a TurnView<'v>,
    pub cols: &'a [Vec<Option<CVal>>],
    pub products: &'a [Option<Box<str>>],
    pub count_tracks: &'a [u32],
}

#[inline]
fn test(op: CmpOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
    }
}

#[inline]
pub(super) fn cond(c: &Cond, env: &Env) -> Result<bool, EvalError> {
    let v = env.view;
    match c {
        Cond::Always => Ok(true),
        Cond::Never => Ok(false),
        Cond::IntCmp { slot, op, k } => match v.values.get(*slot as usize) {
            Some(Some(Val::Int(x))) => Ok(test(*op, x.cmp(k))),
            Some(Some(Val::Float(x))) => x
                .partial_cmp(&(*k as f64))
                .map(|o| test(*op, o))
                .ok_or(EvalError::TypeMismatch { slot: *slot }),
            Some(Some(_)) => Err(EvalError::TypeMismatch { slot: *slot }),
            _ => Err(EvalError::MissingAttribute { slot: *slot }),
        },
        Cond::Flag { slot, want } => match v.values.get(*slot as usize) {
            Some(Some(Val::Bool(b))) => Ok(b == want),
            Some(Some(_)) => Err(EvalError::TypeMismatch { slot: *slot }),
            _ => Err(EvalError::MissingAttribute { slot: *slot }),
        },
        Cond::EnumIn {
            slot,
            mask,
            negated,
        } => match v.values.get(*slot as usize) {
            Some(Some(Val::Enum(x))) => Ok((*x < 64 && mask & (1u64 << x) != 0) != *negated),
            Some(Some(_)) => Err(EvalError::TypeMismatch { slot: *slot }),
            _ => Err(EvalError::MissingAttribute { slot: *slot }),
        },
        Cond::Used { track, want } => {
            Ok((v.used.get(*track as usize).copied().unwrap_or(0) > 0) == *want)
        }
        Cond::CountCmp { track, op, k } => {
            let n = i64::from(v.used.get(*track as usize).copied().unwrap_or(0));
            Ok(test(*op, n.cmp(k)))
        }
        Cond::CountSpanCmp { start, len, op, k } => {
            let (start, len) = (*start as usize, *len as usize);
            let n: i64 = env
                .count_tracks
                .get(start..start + len)
                .unwrap_or(&[])
                .iter()
                .map(|t| i64::from(v.used.get(*t as usize).copied().unwrap_or(0)))
                .sum();
            Ok(test(*op, n.cmp(k)))
        }
        Cond::CountSetCmp { tracks, op, k } => {
            let n: i64 = tracks
                .iter()
                .map(|t| i64::from(v.used.get(*t as usize).copied().unwrap_or(0)))
                .sum();
            Ok(test(*op, n.cmp(k)))
        }
        Cond::FloatCmp { slot, op, k } => {
            let x = match v.values.get(*slot as usize) {
                Some(Some(Val::Int(x))) => *x as f64,
                Some(Some(Val::Float(x))) => *x,
                Some(Some(_)) => return Err(EvalError::TypeMismatch { slot: *slot }),
                _ => return Err(EvalError::MissingAttribute { slot: *slot }),
            };
            x.partial_cmp(k)
                .map(|o| test(*op, o))
                .ok_or(EvalError::TypeMismatch { slot: *slot })
        }
        Cond::TurnCmp { op, k } => Ok(test(*op, i64::from(v.turn).cmp(k))),
        Cond::TurnsLeftCmp { op, k } => Ok(test(*op, i64::from(v.turns_left()).cmp(k))),
        Cond::ReplyIn { mask, negated } => Ok(match v.last_reply {
            Some(r) if r < 64 => (mask & (1u64 << r) != 0) != *negated,
            _ => *negated,
        }),
        Cond::ContactsCmp { q, op, k } => Ok(test(*op, count_contacts(q, v)?.cmp(k))),
        Cond::HasCtx(slot) => Ok(matches!(v.values.get(*slot as usize), Some(Some(_)))),
        Cond::HasReply => Ok(v.last_reply.is_some()),
        Cond::And(cs) => and3(cs.iter().map(|c| cond(c, env))),
        Cond::Or(cs) => or3(cs.iter().map(|c| cond(c, env))),
        Cond::Not(c) => cond(c, env).map(|b| !b),
        Cond::Generic(e) => truth(e, env, usize::MAX),
    }
}

/// How many of the turn's past contacts `q` counts: those in the window
/// `now − within ≤ time ≤ now` (both ends included) about one of its tracks, with
/// one of its outcomes. A contact in the window with a matching outcome about a
/// track the catalog no longer has makes the count unknown when the filter could
/// match it (`tagged`, `product`). No allocation.
fn count_contacts(q: &ContactQuery, v: &TurnView) -> Result<i64, EvalError> {
    count_in(q, v.contacts, v.now_ms)
}

/// [`count_contacts`] over `contacts` at the time `now_ms`. The log is sorted by
/// time and every window ends at `now`, so the window is the log's newest
/// contacts: the count walks back from the newest and stops at the first contact
/// older than the window, testing each contact without a branch.
pub(crate) fn count_in(
    q: &ContactQuery,
    contacts: &ContactLog,
    now_ms: i64,
) -> Result<i64, EvalError> {
    let until = contacts.until(now_ms);
    let from = now_ms.saturating_sub(q.within_ms);
    let retired = q.retired_may_match && contacts.has_retired();
    // One loop per case, so that the loop tests nothing it does not need.
    match (q.outcomes, retired) {
        (None, false) => Ok(count_back::<true>(q, until, from, 0)),
        (Some(mask), false) => Ok(count_back::<false>(q, until, from, mask)),
        (None, true) => count_or_retired::<true>(q, until, from, 0),
        (Some(mask), true) => count_or_retired::<false>(q, until, from, mask),
    }
}

/// The contacts of `log` (sorted by time) from `from` on about one of `q`'s
/// tracks with an outcome in `mask` (`ANY`: whatever their outcome, or none).
#[inline]
fn count_back<const ANY: bool>(q: &ContactQuery, log: &[Logged], from: i64, mask: u64) -> i64 {
    let words = q.tracks.words();
    let len = q.tracks.universe();
    let mut n = 0u64;
    match words {
        // Catalogs of up to 64 tracks: the set is one word, read once, without
        // the bits past its range.
        [word] => {
            let word = *word & u64::MAX.checked_shr(64 - len as u32).unwrap_or(0);
            for c in log.iter().rev() {
                if c.time_ms < from {
                    break;
                }
                let outcome = u64::from(ANY || c.outcome_bit & mask != 0);
                // `RETIRED` (and any index past 63) shifts to nothing.
                n += word.checked_shr(c.track).unwrap_or(0) & outcome;
            }
        }
        _ => {
            for c in log.iter().rev() {
                if c.time_ms < from {
                    break;
                }
                let outcome = u64::from(ANY || c.outcome_bit & mask != 0);
                let t = c.track as usize;
                let member = words.get(t / 64).map_or(0, |w| w >> (t % 64)) & u64::from(t < len);
                n += member & outcome;
            }
        }
    }
    // INVARIANT: at most one per contact of the log, which fits in an i64.
    n as i64
}

/// [`count_back`], or unknown when a contact in the window with an outcome in
/// `mask` is about a track the catalog no longer has: the first such contact in
/// the request's order, as the explanation names it.
fn count_or_retired<const ANY: bool>(
    q: &ContactQuery,
    log: &[Logged],
    from: i64,
    mask: u64,
) -> Result<i64, EvalError> {
    let mut first = u32::MAX;
    for c in log.iter().rev() {
        if c.time_ms < from {
            break;
        }
        if c.track == RETIRED && (ANY || c.outcome_bit & mask != 0) {
            first = first.min(c.index);
        }
    }
    match first {
        u32::MAX => Ok(count_back::<ANY>(q, log, from, mask)),
        contact => Err(EvalError::RetiredTrack { contact }),
    }
}

/// Three-valued `and`, evaluated lazily: false as soon as one operand is false,
/// otherwise unknown (the first error) if one is unknown, otherwise true.
pub(super) fn and3(ops: impl Iterator<Item = Result<bool, EvalError>>) -> Result<bool, EvalError> {
    let mut unknown = None;
    for x in ops {
        match x {
            Ok(false) => return Ok(false),
            Ok(true) => {}
            Err(e) => {
                unknown.get_or_insert(e);
            }
        }
    }
    unknown.map_or(Ok(true), Err)
}

/// Three-valued `or`, evaluated lazily: true as soon as one operand is true,
/// otherwise unknown (the first error) if one is unknown, otherwise false.
pub(super) fn or3(ops: impl Iterator<Item = Result<bool, EvalError>>) -> Result<bool, EvalError> {
    let mut unknown = None;
    for x in ops {
        match x {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) => {
                unknown.get_or_insert(e);
            }
        }
    }
    unknown.map_or(Ok(false), Err)
}

/// Evaluates a condition; `track` is the track under test inside `tracks where`.
pub(crate) fn truth(e: &TExpr, env: &Env, track: usize) -> Result<bool, EvalError> {
    match e {
        TExpr::Const(CVal::Bool(b)) => Ok(*b),
        TExpr::HasCtx(slot) => Ok(matches!(env.view.values.get(*slot as usize), Some(Some(_)))),
        TExpr::HasReply => Ok(env.view.last_reply.is_some()),
        TExpr::Used(ts) => Ok(ts
            .iter()
            .any(|t| env.view.used.get(*t as usize).copied().unwrap_or(0) > 0)),
        TExpr::TrackTagged(s) => Ok(s.contains(track)),
        TExpr::HasTrackAttr(slot) => Ok(matches!(
            env.cols.get(*slot as usize).and_then(|c| c.get(track)),
            Some(Some(_))
        )),
        TExpr::HasTrackProduct => Ok(matches!(env.products.get(track), Some(Some(_)))),
        TExpr::Not(x) => truth(x, env, track).map(|b| !b),
        TExpr::And(v) => and3(v.iter().map(|x| truth(x, env, track))),
        TExpr::Or(v) => or3(v.iter().map(|x| truth(x, env, track))),
        TExpr::Cmp(op, a, b) => compare(*op, val(a, env, track)?, val(b, env, track)?),
        TExpr::In(negated, x, items) => {
            let v = val(x, env, track)?;
            let mut found = false;
            for it in items.iter() {
                if compare(CmpOp::Eq, v, it.as_val())? {
                    found = true;
                    break;
                }
            }
            Ok(found != *negated)
        }
        TExpr::Contains(a, b) => match (val(a, env, track)?, val(b, env, track)?) {
            (Val::Set(s), Val::Str(x)) => Ok(s.iter().any(|i| i == x)),
            _ => Err(EvalError::TypeMismatch { slot: u32::MAX }),
        },
        other => match val(other, env, track)? {
            Val::Bool(b) => Ok(b),
            _ => Err(EvalError::TypeMismatch { slot: u32::MAX }),
        },
    }
}

fn compare(op: CmpOp, a: Val, b: Val) -> Result<bool, EvalError> {
    let o = match (a, b) {
        (Val::Int(x), Val::Int(y)) => x.cmp(&y),
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let (x, y) = (key(a).unwrap_or(f64::NAN), key(b).unwrap_or(f64::NAN));
            x.partial_cmp(&y).ok_or(EvalError::Overflow)?
        }
        (Val::Time(x), Val::Time(y)) | (Val::Dur(x), Val::Dur(y)) => x.cmp(&y),
        (Val::Str(x), Val::Str(y)) => x.cmp(y),
        (Val::Enum(x), Val::Enum(y)) => x.cmp(&y),
        (Val::Bool(x), Val::Bool(y)) => x.cmp(&y),
        _ => return Err(EvalError::TypeMismatch { slot: u32::MAX }),
    };
    Ok(test(op, o))
}

fn kind_ok(k: ValKind, v: &Val) -> bool {
    matches!(
        (k, v),
        (ValKind::Bool, Val::Bool(_))
            | (ValKind::Num, Val::Int(_) | Val::Float(_))
            | (ValKind::Str, Val::Str(_))
            | (ValKind::Enum, Val::Enum(_))
            | (ValKind::Set, Val::Set(_))
            | (ValKind::Time, Val::Time(_))
            | (ValKind::Dur, Val::Dur(_))
    )
}

pub(super) fn val<'a>(e: &'a TExpr, env: &Env<'a, 'a>, track: usize) -> Result<Val<'a>, EvalError> {
    let v = env.view;
    Ok(match e {
        TExpr::Const(c) => c.as_val(),
        TExpr::Ctx(slot, kind) => match v.values.get(*slot as usize) {
            Some(Some(x)) if kind_ok(*kind, x) => *x,
            Some(Some(_)) => return Err(EvalError::TypeMismatch { slot: *slot }),
            _ => return Err(EvalError::MissingAttribute { slot: *slot }),
        },
        TExpr::Turn => Val::Int(i64::from(v.turn)),
        TExpr::TurnsLeft => Val::Int(i64::from(v.turns_left())),
        TExpr::Now => Val::Time(v.now_ms),
        TExpr::LastReply => Val::Enum(v.last_reply.unwrap_or(u32::MAX)),
        TExpr::Count(ts) => Val::Int(
            ts.iter()
                .map(|t| i64::from(v.used.get(*t as usize).copied().unwrap_or(0)))
                .sum(),
        ),
        TExpr::Contacts(q) => Val::Int(count_contacts(q, v)?),
        TExpr::TrackAttr(slot) => match env.cols.get(*slot as usize).and_then(|c| c.get(track)) {
            Some(Some(c)) => c.as_val(),
            _ => return Err(EvalError::MissingTrackAttribute { slot: *slot }),
        },
        TExpr::TrackId => Val::Enum(track as u32),
        TExpr::TrackProduct => match env.products.get(track) {
            Some(Some(p)) => Val::Str(p),
            _ => return Err(EvalError::MissingTrackAttribute { slot: u32::MAX }),
        },
        TExpr::Arith(op, a, b) => arith(*op, val(a, env, track)?, val(b, env, track)?)?,
        other => Val::Bool(truth(other, env, track)?),
    })
}

fn arith<'a>(op: ArithOp, a: Val<'a>, b: Val<'a>) -> Result<Val<'a>, EvalError> {
    use ArithOp::*;
    let zero = matches!(b, Val::Int(0)) || matches!(b, Val::Float(y) if y == 0.0);
    if op == Div && zero {
        return Err(EvalError::DivisionByZero);
    }
    let int = |x: i64, y: i64| match op {
        Add => x.checked_add(y),
        Sub => x.checked_sub(y),
        Mul => x.checked_mul(y),
        Div => x.checked_div(y),
    };
    let r = match (a, b) {
        (Val::Int(x), Val::Int(y)) => int(x, y).map(Val::Int),
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let (x, y) = (key(a).unwrap_or(f64::NAN), key(b).unwrap_or(f64::NAN));
            let z = match op {
                Add => x + y,
                Sub => x - y,
                Mul => x * y,
                Div => x / y,
            };
            z.is_finite().then_some(Val::Float(z))
        }
        (Val::Time(x), Val::Time(y)) if op == Sub => x.checked_sub(y).map(Val::Dur),
        (Val::Time(x), Val::Dur(y)) if matches!(op, Add | Sub) => int(x, y).map(Val::Time),
        (Val::Dur(x), Val::Time(y)) if op == Add => x.checked_add(y).map(Val::Time),
        (Val::Dur(x), Val::Dur(y)) if matches!(op, Add | Sub) => int(x, y).map(Val::Dur),
        _ => return Err(EvalError::TypeMismatch { slot: u32::MAX }),
    };
    r.ok_or(EvalError::Overflow)
}
