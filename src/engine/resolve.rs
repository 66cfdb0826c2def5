//! Stage 1 of the hot path: the request, checked against the bundle and resolved
//! once — context values to schema slots, replies and used tracks to indices,
//! the turn bounded.
//!
//! This is the one place a request is validated for a decision (parsing JSON
//! only checks its shape and size): every later stage reads what it resolved.

use super::request::{Contact, DecideError, Request, MAX_CONTACTS, MAX_HISTORY};
use crate::bundle::BundleTemplate;
use crate::context::format_timestamp;
use crate::context::{Resolved, Val};
use crate::turn_view::{ContactLog, PastContact, TurnView};

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
/// that some rule could count into `out`: contacts of this conversation (same
/// `conversation_id`) are left out, since `history` already tells this
/// conversation and `count(..)` reads it, and so are contacts older than every
/// window the rules count in (all of them when no rule counts contacts).
/// Every contact is checked all the same. A track the catalog no longer has is
/// kept, as `None`.
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
        true,
        out,
    )
}

/// Checks `contacts` against `b` at the time `now_ms` and resolves them into
/// `out`, sorted by time, leaving out those of the conversation `current` and,
/// when `countable_only`, those no `contacts(..)` of `b`'s rules could count at
/// `now_ms` (older than every window): at most
/// [`MAX_CONTACTS`], none after `now_ms`, every outcome in the bundle's
/// vocabulary (checked for every contact, kept or not); a track the catalog no
/// longer has is kept, as retired.
pub(crate) fn contacts_into(
    b: &BundleTemplate,
    contacts: &[Contact],
    now_ms: i64,
    current: Option<&str>,
    countable_only: bool,
    out: &mut ContactLog,
) -> Result<(), DecideError> {
    out.clear();
    if contacts.len() > MAX_CONTACTS {
        return Err(DecideError::TooManyContacts(contacts.len()));
    }
    let catalog = b.catalog();
    // The oldest time a contact is kept from (`i64::MAX`: none is).
    let from = match (countable_only, b.rules().contact_horizon_ms()) {
        (false, _) => i64::MIN,
        (true, Some(horizon)) => now_ms.saturating_sub(horizon),
        (true, None) => i64::MAX,
    };
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
            Some(o) => Some(
                b.outcome_index(o)
                    .ok_or_else(|| DecideError::UnknownOutcome {
                        index,
                        name: o.clone(),
                    })?,
            ),
        };
        if c.time < from || (current.is_some() && c.conversation_id.as_deref() == current) {
            continue;
        }
        out.push(PastContact {
            time_ms: c.time,
            track: catalog.index(&c.track).map(|t| t as u32),
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
    contacts_into(tpl, contacts, now_ms, None, false, &mut out)?;
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

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use super::*;
    use crate::rules::count_contacts;
    use crate::synth::SynthSpec;

    /// Every count of every contact rule, over the contacts kept for `req`
    /// (only those some rule could count) and over all of them.
    fn counts_both_ways(
        b: &BundleTemplate,
        req: &Request,
    ) -> Vec<(
        Result<i64, crate::rules::EvalError>,
        Result<i64, crate::rules::EvalError>,
    )> {
        let (mut kept, mut all) = (ContactLog::new(), ContactLog::new());
        resolve_contacts(b, req, &mut kept).unwrap();
        contacts_into(
            b,
            &req.contacts,
            req.time,
            Some(req.conversation_id.as_str()),
            false,
            &mut all,
        )
        .unwrap();
        assert!(kept.len() <= all.len());
        let rules = b.rules();
        (0..rules.len())
            .flat_map(|i| rules.contact_queries(i))
            .map(|q| {
                (
                    count_contacts(q, &kept, req.time),
                    count_contacts(q, &all, req.time),
                )
            })
            .collect()
    }

    #[test]
    fn contacts_no_rule_could_count_are_left_out_without_changing_a_count() {
        let spec = SynthSpec::medium_with_contacts();
        let dir = tempfile::tempdir().unwrap();
        spec.write(dir.path()).unwrap();
        let b = BundleTemplate::load(dir.path()).unwrap();
        let day = 86_400_000i64;
        let mut left_out = 0;
        for n in 0..64 {
            let mut req = spec.request(n);
            // Contacts on, just inside and just outside each window the rules
            // use (7, 14, 30 and 90 days), with every outcome and none, about a
            // retired track and about a track the rules count.
            let track = req.contacts[0].track.clone();
            for days in [7, 14, 30, 90, 180] {
                for edge in [-1, 0, 1] {
                    for outcome in [
                        None,
                        Some("offered"),
                        Some("accepted"),
                        Some("declined"),
                        Some("no_answer"),
                    ] {
                        for t in ["retired-offer", track.as_str()] {
                            req.contacts.push(Contact {
                                time: req.time - days * day + edge,
                                track: t.to_owned(),
                                outcome: outcome.map(str::to_owned),
                                conversation_id: None,
                            });
                        }
                    }
                }
            }
            let mut all = ContactLog::new();
            contacts_into(&b, &req.contacts, req.time, None, false, &mut all).unwrap();
            let mut kept = ContactLog::new();
            resolve_contacts(&b, &req, &mut kept).unwrap();
            left_out += all.len() - kept.len();
            for (i, (kept, all)) in counts_both_ways(&b, &req).into_iter().enumerate() {
                assert_eq!(kept, all, "request {n}, query {i}");
            }
        }
        assert!(left_out > 0);
    }

    #[test]
    fn a_bundle_whose_rules_count_no_contacts_keeps_none_but_checks_all() {
        let spec = SynthSpec::medium();
        let dir = tempfile::tempdir().unwrap();
        spec.write(dir.path()).unwrap();
        let b = BundleTemplate::load(dir.path()).unwrap();
        assert!(!b.rules().reads_contacts());
        let mut req = spec.request(0);
        req.contacts = (0..3)
            .map(|k| Contact {
                time: req.time - k,
                track: "k1".to_owned(),
                outcome: None,
                conversation_id: None,
            })
            .collect();
        let mut out = ContactLog::new();
        resolve_contacts(&b, &req, &mut out).unwrap();
        assert!(out.is_empty());
        req.contacts[1].time = req.time + 1;
        assert!(matches!(
            resolve_contacts(&b, &req, &mut out),
            Err(DecideError::ContactInFuture { index: 1, .. })
        ));
    }
}
