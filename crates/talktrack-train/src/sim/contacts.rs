//! The contact history the simulator assumes (`[sim] contacts`): past contacts
//! of other conversations that rules counting contacts (`contacts(..)`) see in
//! every simulated turn. Default none. Written like a request's `contacts`, each
//! at an absolute time or some time before the simulator's clock (`[sim] now`):
//!
//! ```toml
//! [sim]
//! now = "2026-01-15T10:00:00Z"
//! contacts = [
//!   { ago = "3d", track = "offer_5g_upgrade", outcome = "declined" },
//!   { time = "2026-01-02T09:00:00Z", track = "credit_card_offer", outcome = "offered" },
//! ]
//! ```

use serde::{Deserialize, Serialize};

use talktrack::tooling::{
    format_timestamp, parse_duration, parse_timestamp, past_contacts, BundleTemplate, ContactLog,
};
use talktrack::Contact;

use super::{SimConfig, SimError};

/// One past contact the simulator assumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimContact {
    /// When, RFC 3339; or give `ago`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// How long before the simulator's clock (`3d`, `36h`); or give `time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ago: Option<String>,
    /// The track used (a track the catalog no longer has is kept, as in requests).
    pub track: String,
    /// Its outcome, one of the template's `contact_outcomes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// `[sim] contacts` as requests send them, times relative to `[sim] now` resolved.
pub fn as_requested(cfg: &SimConfig) -> Result<Vec<Contact>, SimError> {
    let now_ms = cfg.now_ms()?;
    cfg.contacts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let bad = |e: String| SimError::Setting(format!("`contacts[{i}]`: {e}"));
            let time = match (&c.time, &c.ago) {
                (Some(t), None) => parse_timestamp(t).map_err(bad)?,
                (None, Some(_)) if cfg.now.is_none() => return Err(bad(
                    "`ago` counts back from the simulator's clock: set `now` in [sim] (RFC 3339)"
                        .into(),
                )),
                (None, Some(d)) => now_ms.saturating_sub(parse_duration(d).map_err(bad)?),
                _ => {
                    return Err(bad(
                        "give either `time` (RFC 3339) or `ago` (a duration before `now`)".into(),
                    ))
                }
            };
            Ok(Contact {
                time,
                track: c.track.clone(),
                outcome: c.outcome.clone(),
                conversation_id: None,
            })
        })
        .collect()
}

/// `[sim] contacts` resolved against `tpl` as a request's are at the clock
/// `[sim] now`: an outcome outside the vocabulary or a contact after `now` is an error.
pub fn resolve(cfg: &SimConfig, tpl: &BundleTemplate) -> Result<ContactLog, SimError> {
    let requested = as_requested(cfg)?;
    past_contacts(tpl, &requested, cfg.now_ms()?)
        .map_err(|e| SimError::Setting(format!("`contacts`: {e}")))
}

/// The report's words on the contact history the simulator assumed: which
/// contacts, or that it assumed none while the rules count contacts; `None` when
/// neither applies.
pub fn note(cfg: &SimConfig, reads_contacts: bool) -> Option<String> {
    let contacts = &cfg.contacts;
    if contacts.is_empty() {
        return reads_contacts.then(|| {
            "rules counting past contacts (`contacts(..)`) saw none: the simulator assumed no contact history; list one in `contacts` in [sim] to simulate it".to_owned()
        });
    }
    let listed: Vec<String> = as_requested(cfg)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            format!(
                "`{}`{} at {}",
                c.track,
                c.outcome
                    .as_deref()
                    .map_or(String::new(), |o| format!(" ({o})")),
                format_timestamp(c.time)
            )
        })
        .collect();
    Some(format!(
        "the simulator assumed {} past contact(s) in every conversation ([sim] contacts){}: {}",
        contacts.len(),
        if reads_contacts {
            ""
        } else {
            ", which no rule counts"
        },
        listed.join(", ")
    ))
}
