//! The hot path as a row of stages: resolve the request once (`resolve.rs`) →
//! mask (`mask.rs`) → score (`score.rs`) → select (`select.rs`) → the decision
//! (`decision.rs`; its explanation in `explain.rs`).
//!
//! Buffers live in the engine's per-thread [`Scratch`], attribute names are
//! resolved to slots once per request, and the policy plan was optimised when
//! the bundle loaded. Whatever the policy returns, a forbidden track is never
//! ranked or chosen: the mask is applied before scores are read.

use std::cell::RefCell;
use std::sync::Arc;

use super::decision::Decision;
use super::mask::{mask, MaskOutcome};
use super::request::{DecideError, Request};
use super::resolve::resolve;
use super::score::score;
use super::scratch::Scratch;
use super::select::select;
use crate::bundle::Bundle;
use crate::context::Resolved;
use crate::turn_view::ContactLog;

/// Decides the next track for `req` with `bundle`.
pub fn decide(bundle: &Arc<Bundle>, req: &Request) -> Result<Decision, DecideError> {
    let b: &Bundle = bundle;
    let cell = b.scratch.get_or(|| RefCell::new(Scratch::new(b)));
    // INVARIANT: decide never calls itself, so the scratch is never borrowed twice on one thread.
    match cell.try_borrow_mut() {
        Ok(mut guard) => decide_with(bundle, req, &mut guard),
        Err(_) => decide_with(bundle, req, &mut Scratch::new(b)),
    }
}

fn decide_with(
    bundle: &Arc<Bundle>,
    req: &Request,
    s: &mut Scratch,
) -> Result<Decision, DecideError> {
    let b: &Bundle = bundle;
    let mut values = Resolved::new();
    let turn = resolve(
        b.as_template(),
        req,
        &mut values,
        &mut s.used,
        &mut s.contacts,
    )?;
    let view = turn.view(b.as_template(), req, &values, &s.used, &s.contacts);
    let fallback = b.fallback();
    let outcome = mask(b.rules(), &view, fallback, &mut s.verdict, &mut s.allowed);
    let mut scored = score(
        b,
        &view,
        outcome,
        &s.verdict,
        &s.allowed,
        &mut s.obs,
        &mut s.scores,
    );
    let chosen = select(
        b,
        req,
        turn.turn,
        &mut scored.ranked,
        scored.best,
        outcome == MaskOutcome::Allowed,
    );
    let no_choice = (outcome == MaskOutcome::Nothing).then(|| {
        "no track is allowed and a forbid rule masks the fallback too: hand the conversation to a person"
            .to_owned()
    });
    let text = chosen
        .and_then(|c| b.template(c as usize))
        .map(|t| t.render(&values));
    // A host that sends an embedding expects it to count: say when it does not.
    let embedding_ignored = match (&req.embedding, b.features().embedding_dim()) {
        (Some(e), None) => Some(e.len()),
        _ => None,
    };
    let rules = b.rules();
    let fired_counts_contacts = rules.reads_contacts()
        && s.verdict
            .fired
            .iter()
            .any(|f| rules.condition_counts_contacts(f.rule as usize));
    let allowed = s.allowed.clone();
    // The verdict's buffers move into the decision (no copy); the scratch gets
    // fresh ones of the same capacity, so the next evaluation does not regrow them.
    let cap = s.verdict.fired.capacity();
    let fired = std::mem::replace(&mut s.verdict.fired, Vec::with_capacity(cap));
    let cap = s.verdict.target_words.capacity();
    let target_words = std::mem::replace(&mut s.verdict.target_words, Vec::with_capacity(cap));
    Ok(Decision {
        bundle: bundle.clone(),
        embedding_ignored,
        conversation_id: req.conversation_id.clone(),
        turn: turn.turn,
        unsorted: scored.ranked,
        ranked: std::sync::OnceLock::new(),
        chosen,
        text,
        fallback_used: outcome == MaskOutcome::Fallback,
        no_choice,
        policy: scored.policy,
        allowed,
        forbidden: s.verdict.forbidden.clone(),
        fired,
        target_words,
        now_ms: req.time,
        // Kept only when a rule that fired counts contacts, for the explanation's
        // evidence: moved into the decision like the verdict's buffers.
        contacts: if fired_counts_contacts {
            s.contacts.take()
        } else {
            ContactLog::new()
        },
    })
}
