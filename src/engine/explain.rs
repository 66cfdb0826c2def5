//! The account of a decision written for people: [`Decision::explain`], and the
//! wording of rule evaluation errors it shares with the JSON form.
//!
//! Text from the request and the bundle is shown with its control characters
//! escaped, one line of the account per line on the terminal.

use super::decision::{Decision, PolicyUse};
use crate::bundle::Bundle;
use crate::context::format_timestamp;
use crate::problem::escape_controls;
use crate::rules::{count_contacts, EffectKind, EvalError, RuleInfo};

/// Appends one line of an explanation to a `String`: the formatted text with
/// every control character (line breaks included) shown as an escape, then a
/// newline.
macro_rules! shown {
    ($out:expr, $($fmt:tt)*) => {{
        let text = format!($($fmt)*);
        $out.push_str(&escape_controls(&text));
        $out.push('\n');
    }};
}

impl Decision {
    /// A readable account of the decision, for people.
    ///
    /// Text from the request and the bundle (the conversation id, the rendered
    /// track text, ids and reasons) has its control characters and bidi controls
    /// shown as escapes (`\u{1b}`): one line of the account is always one line
    /// on the terminal.
    pub fn explain(&self) -> String {
        let b = &self.bundle;
        let cat = b.catalog();
        let id = |t: usize| cat.track(t).map_or("?", |x| x.id.as_str());
        let mut s = String::new();
        shown!(
            s,
            "bundle {} {} (digest {})",
            b.name(),
            b.version(),
            b.digest().get(..12).unwrap_or(b.digest())
        );
        shown!(
            s,
            "conversation {}, turn {} of {}",
            self.conversation_id,
            u64::from(self.turn) + 1,
            b.manifest().max_turns
        );
        match (self.chosen(), &self.no_choice) {
            (Some(c), _) => {
                let r = self.chosen_entry();
                shown!(
                    s,
                    "chosen: {}{} (p={:.3}, score {:.3})",
                    id(c),
                    if self.fallback_used {
                        " [fallback: no other track is allowed]"
                    } else {
                        ""
                    },
                    r.map_or(1.0, |r| r.probability),
                    r.map_or(0.0, |r| r.score),
                );
                if let Some(t) = &self.text {
                    shown!(s, "  \"{t}\"");
                }
            }
            (None, Some(why)) => {
                shown!(s, "chosen: none — {why}");
            }
            (None, None) => {
                shown!(s, "chosen: none");
            }
        }
        match &self.policy {
            PolicyUse::Used | PolicyUse::NotNeeded => {}
            PolicyUse::NonFinite { tracks } => {
                shown!(
                    s,
                    "policy: {tracks} non-finite score(s); allowed tracks ranked by boosts alone"
                );
            }
            PolicyUse::Failed { error } => {
                shown!(
                    s,
                    "policy: failed ({error}); allowed tracks ranked by boosts alone"
                );
            }
        }
        if let Some(width) = self.embedding_ignored {
            shown!(
                s,
                "note: the request's embedding ({width} floats) was ignored: no feature of this bundle reads one"
            );
        }
        shown!(s, "ranked ({} allowed):", self.unsorted.len());
        for (i, r) in self.ranked().iter().enumerate() {
            shown!(
                s,
                "  {:>2}. {:<28} score {:>8.3}  p={:.3}",
                i + 1,
                id(r.track as usize),
                r.score,
                r.probability
            );
        }
        let masked = self.masked();
        if !masked.is_empty() {
            shown!(s, "masked ({}):", masked.len());
            for m in &masked {
                shown!(s, "  {}", m.id);
                for r in &m.by {
                    let how = match (r.rule.effect, r.failed_closed) {
                        (_, Some(e)) => {
                            format!("failed closed: {}", masked_error_text(b, e, m.track))
                        }
                        (EffectKind::Only, None) => "not in its `only` list".to_owned(),
                        _ => "forbidden".to_owned(),
                    };
                    shown!(
                        s,
                        "    by {} ({}:{}:{}) — {}: {}",
                        r.rule.id,
                        r.rule.file.display(),
                        r.rule.line,
                        r.rule.column,
                        how,
                        if r.rule.reason.is_empty() {
                            "(no reason given)"
                        } else {
                            &r.rule.reason
                        }
                    );
                }
            }
        }
        let boosts = self.boosts();
        if !boosts.is_empty() {
            shown!(s, "boosts:");
            for (rule, by, tracks) in boosts {
                shown!(s, "  {} {:+.3} on {}", rule.id, by, tracks.join(", "));
            }
        }
        let evidence = self.contact_evidence();
        if !evidence.is_empty() {
            shown!(s, "contact evidence:");
            for (rule, line) in evidence {
                shown!(s, "  {}: {line}", rule.id);
            }
        }
        let errors = self.rule_errors();
        if !errors.is_empty() {
            shown!(s, "rule errors ({}):", errors.len());
            for (rule, e) in errors {
                let outcome = match rule.effect {
                    EffectKind::Forbid => "failed closed, forbids",
                    EffectKind::Only => "failed closed, restricts",
                    EffectKind::Boost => "not applied",
                };
                shown!(
                    s,
                    "  {} ({}:{}:{}) — {}: {}",
                    rule.id,
                    rule.file.display(),
                    rule.line,
                    rule.column,
                    outcome,
                    eval_error_text(b, e)
                );
            }
        }
        s
    }
}

impl Decision {
    /// For each rule that fired and counts past contacts: each `contacts(..)` it
    /// reads, the count found and the window it was counted in.
    pub(super) fn contact_evidence(&self) -> Vec<(&RuleInfo, String)> {
        let rules = self.bundle.rules();
        if !rules.reads_contacts() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for f in &self.fired {
            if seen.contains(&f.rule) {
                continue;
            }
            seen.push(f.rule);
            for q in rules.contact_queries(f.rule as usize) {
                let from = format_timestamp(self.now_ms.saturating_sub(q.within_ms));
                let to = format_timestamp(self.now_ms);
                let found = match count_contacts(q, &self.contacts, self.now_ms) {
                    Ok(n) => n.to_string(),
                    Err(e) => format!("unknown ({})", eval_error_text(&self.bundle, e)),
                };
                out.push((
                    rules.rule(f.rule as usize),
                    format!("{} = {found}, counted from {from} to {to}", q.text),
                ));
            }
        }
        out
    }
}

/// Human text for a rule evaluation error that masked track `track`: names the
/// track when it is the one lacking the attribute the rule reads.
pub(super) fn masked_error_text(b: &Bundle, e: EvalError, track: usize) -> String {
    if let EvalError::MissingTrackAttribute { slot } = e {
        let cat = b.catalog();
        let lacks = match cat.track(track) {
            Some(t) if slot == u32::MAX => t.product.is_none(),
            Some(_) => cat.attr(slot as usize, track).is_none(),
            None => false,
        };
        if let (true, Some(t)) = (lacks, cat.track(track)) {
            return format!("track `{}` has no `{}`", t.id, track_attr_name(b, slot));
        }
    }
    eval_error_text(b, e)
}

/// The name of the track attribute in `slot` (`u32::MAX` is the track's product).
fn track_attr_name(b: &Bundle, slot: u32) -> &str {
    if slot == u32::MAX {
        return "product";
    }
    b.catalog()
        .attr_schema()
        .attrs()
        .get(slot as usize)
        .map_or("?", |a| a.name.as_str())
}

/// Human text for a rule evaluation error.
pub(super) fn eval_error_text(b: &Bundle, e: EvalError) -> String {
    let attr = |slot: u32| {
        b.schema()
            .attrs()
            .get(slot as usize)
            .map_or("?", |a| a.name.as_str())
            .to_owned()
    };
    match e {
        EvalError::MissingAttribute { slot } => format!("`{}` was not sent", attr(slot)),
        EvalError::TypeMismatch { slot } => format!("`{}` has an unexpected type", attr(slot)),
        EvalError::Overflow => "arithmetic overflow".to_owned(),
        EvalError::DivisionByZero => "division by zero".to_owned(),
        EvalError::MissingTrackAttribute { slot } => {
            format!("a targeted track has no `{}`", track_attr_name(b, slot))
        }
        EvalError::RetiredTrack { contact } => format!(
            "`contacts[{contact}]` is about a track the catalog no longer has, which the count could include"
        ),
        #[allow(unreachable_patterns)]
        _ => "the condition could not be evaluated".to_owned(),
    }
}
