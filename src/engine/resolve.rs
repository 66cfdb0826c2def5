//! Stage 1 of the hot path: the request, checked against the bundle and resolved
//! once — context values to schema slots, replies and used tracks to indices,
//! the turn bounded.
//!
//! This is the one place a request is validated for a decision (parsing JSON
//! only checks its shape and size): every later stage reads what it resolved.

use super::name_memo::NameMemo;
use super::request::{Contact, DecideError, Request, MAX_CONTACTS, MAX_HISTORY};
use crate::bundle::BundleTemplate;
use crate::context::format_timestamp;
use crate::context::{Resolved, Val};
use crate::turn::{ContactLog, PastContact, TurnView};

/// What the request says about the turn, resolved against the bundle; the
/// context values are in the caller's [`Resolved`] and the usage counts in the
/// scratch.
pub(crate) struct Turn {
    /// Index of the agent turn being decided, at most [`MAX_HISTORY`].
    pub(super) turn: u32,
    /// The last reply's index in the bundle's reply vocabulary.
    pub(super) last_reply: Option<u32>,
}

/// Checks `req` against `b` and resolves it: context values into `values`, the
/// number of times each track was used into `used` (one count per catalog track),
/// the past contacts of other conversations into `contacts`.
pub(crate) fn resolve<'r>(
    b: &BundleTemplate,
    req: &'r Request,
    values: &mut Resolved<'r>,
    used: &mut [u16],
    contacts: &mut ContactLog,
) -> Result<Turn, DecideError> {
    // The history's strings are separate allocations of the host's: read one
    // byte of each up front so that their cache misses overlap.
    let mut touch = 0u8;
    for s in req.history.tracks.iter().chain(&req.history.replies) {
        touch ^= s.as_bytes().first().copied().unwrap_or(0);
    }
    std::hint::black_box(touch);
    b.schema().resolve(&req.context, values)?;
    if let Some(dim) = b.features().embedding_dim() {
        let found = req.embedding.as_ref().map_or(0, Vec::len);
        if found != dim {
            return Err(DecideError::Embedding {
                expected: dim,
                found,
            });
        }
        let e = req.embedding.as_deref().unwrap_or(&[]);
        // A fold without early exit vectorises; the position is looked for only on failure.
        if e.iter().fold(false, |bad, x| bad | !x.is_finite()) {
            let i = e.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Err(DecideError::EmbeddingNotFinite(i));
        }
    }
    let h = &req.history;
    if h.tracks.len() > MAX_HISTORY || h.replies.len() > MAX_HISTORY {
        return Err(DecideError::HistoryTooLong(
            h.tracks.len().max(h.replies.len()),
        ));
    }
    // Every reply must be known; the last one is the `last_reply` rules and features read.
    let mut last_reply = None;
    for (index, r) in h.replies.iter().enumerate() {
        last_reply = Some(b.reply_index(r).ok_or_else(|| DecideError::UnknownReply {
            index,
            name: r.clone(),
        })?);
    }
    // INVARIANT: `turn <= MAX_HISTORY`, so `turn + 1` and every count derived from
    // it fit in a u32.
    let turn = match h.turn {
        Some(t) if t as usize > MAX_HISTORY => return Err(DecideError::TurnTooLarge(t)),
        Some(t) => t,
        None => u32::try_from(h.tracks.len()).unwrap_or(u32::MAX),
    };
    let catalog = b.catalog();
    used.iter_mut().for_each(|u| *u = 0);
    for (index, id) in h.tracks.iter().enumerate() {
        let t = catalog.index(id).ok_or_else(|| DecideError::UnknownTrack {
            index,
            id: id.clone(),
        })?;
        if let Some(u) = used.get_mut(t) {
            *u = u.saturating_add(1);
        }
    }
    resolve_contacts(b, req, contacts)?;
    Ok(Turn { turn, last_reply })
}

/// Checks the request's past contacts and resolves those of other conversations
/// into `out`: contacts of this conversation (same `conversation_id`) are left
/// out, since `history` already tells this conversation and `count(..)` reads it.
/// A track the catalog no longer has is kept, as `None`.
fn resolve_contacts(
    b: &BundleTemplate,
    req: &Request,
    out: &mut ContactLog,
) -> Result<(), DecideError> {
    contacts_into(
        b,
        &req.contacts,
        req.time,
        Some(req.conversation_id.as_str()),
        out,
    )
}

/// Checks `contacts` against `b` at the time `now_ms` and resolves them into
/// `out`, sorted by time, leaving out those of the conversation `current`: at
/// most [`MAX_CONTACTS`], none after `now_ms`, every outcome in the bundle's
/// vocabulary; a track the catalog no longer has is kept, as retired.
pub(crate) fn contacts_into(
    b: &BundleTemplate,
    contacts: &[Contact],
    now_ms: i64,
    current: Option<&str>,
    out: &mut ContactLog,
) -> Result<(), DecideError> {
    out.clear();
    if contacts.len() > MAX_CONTACTS {
        return Err(DecideError::TooManyContacts(contacts.len()));
    }
    let catalog = b.catalog();
    let (mut tracks, mut outcomes) = (NameMemo::new(), NameMemo::new());
    for (index, c) in contacts.iter().enumerate() {
        if c.time > now_ms {
            return Err(DecideError::ContactInFuture {
                index,
                time: format_timestamp(c.time),
                now: format_timestamp(now_ms),
            });
        }
        let outcome = match &c.outcome {
            None => None,
            Some(o) => Some(outcomes.get(o, |o| b.outcome_index(o)).ok_or_else(|| {
                DecideError::UnknownOutcome {
                    index,
                    name: o.clone(),
                }
            })?),
        };
        if current.is_some() && c.conversation_id.as_deref() == current {
            continue;
        }
        out.push(PastContact {
            time_ms: c.time,
            track: tracks.get(&c.track, |t| catalog.index(t).map(|t| t as u32)),
            outcome,
            // INVARIANT: at most MAX_CONTACTS entries, so the index fits.
            index: index as u32,
        });
    }
    out.sort();
    Ok(())
}

/// The past contacts a tool assumes for every turn it evaluates (the trainer's
/// simulator: `[sim] contacts`), checked and resolved against the template as a
/// request's `contacts` are at the time `now_ms`.
pub fn past_contacts(
    tpl: &BundleTemplate,
    contacts: &[Contact],
    now_ms: i64,
) -> Result<ContactLog, DecideError> {
    let mut out = ContactLog::new();
    contacts_into(tpl, contacts, now_ms, None, &mut out)?;
    Ok(out)
}

impl Turn {
    /// The view of this turn that the rules and the feature encoder read.
    pub(crate) fn view<'a>(
        &self,
        b: &BundleTemplate,
        req: &'a Request,
        values: &'a [Option<Val<'a>>],
        used: &'a [u16],
        contacts: &'a ContactLog,
    ) -> TurnView<'a> {
        TurnView {
            values,
            now_ms: req.time,
            turn: self.turn,
            max_turns: b.manifest().max_turns,
            used,
            last_reply: self.last_reply,
            embedding: req.embedding.as_deref(),
            contacts,
        }
    }
}
