//! Served traffic as training data: a decision log written by `talktrack serve`
//! (its decisions and outcomes) turned into the trainer's log format, so the next
//! policy trains on what was served.
//!
//! Per conversation, the turns are read from the history of its last decision (the
//! tracks used and the replies they got, in order); each logged decision is the
//! recommendation for the turn after the history it saw, so the track actually used
//! there is the next request's `history.tracks` entry. A turn where the agent used
//! another track than the one recommended is marked `overridden` and carries no
//! propensity (it was not drawn from the policy). The last decision's turn takes its
//! reply from the outcome's `final_reply`, and the chosen track as used; without a
//! final reply that turn is left out. A conversation without an outcome has no
//! reward and is left out (counted).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Conversation, LoggedTurn, Outcome};

/// A decision-log line the conversion reads (other fields are ignored).
#[derive(Debug, Deserialize)]
struct Line {
    kind: String,
    #[serde(default)]
    deployment: Option<String>,
    conversation_id: String,
    #[serde(default)]
    decision_id: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    context: Map<String, Value>,
    #[serde(default)]
    history: History,
    #[serde(default)]
    chosen: Option<String>,
    #[serde(default)]
    propensity: Option<f64>,
    #[serde(default)]
    converted: Option<bool>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    final_reply: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct History {
    #[serde(default)]
    tracks: Vec<String>,
    #[serde(default)]
    replies: Vec<String>,
}

/// What a conversion read and wrote.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FromDecisionsStats {
    /// Decision records read (of the deployment asked for).
    pub decisions: u64,
    /// Outcome records read.
    pub outcomes: u64,
    /// Conversations written.
    pub conversations: u64,
    /// Turns written.
    pub turns: u64,
    /// Turns where the agent used another track than the one recommended.
    pub overridden: u64,
    /// Conversations left out because no outcome was recorded for them.
    pub without_outcome: u64,
    /// Last turns left out because the outcome has no `final_reply`.
    pub last_turn_without_reply: u64,
    /// Lines that are not decision-log records (line number and reason).
    pub bad_lines: Vec<(u64, String)>,
}

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FromDecisionsError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Default)]
struct Conv {
    decisions: Vec<Line>,
    outcome: Option<Line>,
}

/// Reads decision logs (oldest first; rotated files too) and writes the trainer's
/// log, one conversation per line, in order of first decision. With `deployment`,
/// only that deployment's records are used.
pub fn from_decisions(
    logs: &mut [&mut dyn BufRead],
    deployment: Option<&str>,
    out: &mut dyn Write,
) -> Result<FromDecisionsStats, FromDecisionsError> {
    let mut stats = FromDecisionsStats::default();
    let mut convs: HashMap<String, Conv> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut n = 0u64;
    for log in logs.iter_mut() {
        let mut text = String::new();
        loop {
            text.clear();
            if log.read_line(&mut text)? == 0 {
                break;
            }
            n += 1;
            if text.trim().is_empty() {
                continue;
            }
            let line: Line = match serde_json::from_str(&text) {
                Ok(l) => l,
                Err(e) => {
                    stats.bad_lines.push((n, e.to_string()));
                    continue;
                }
            };
            if deployment.is_some() && line.deployment.as_deref() != deployment {
                continue;
            }
            let id = line.conversation_id.clone();
            if !convs.contains_key(&id) {
                order.push(id.clone());
            }
            let c = convs.entry(id).or_default();
            match line.kind.as_str() {
                "decision" => {
                    stats.decisions += 1;
                    c.decisions.push(line);
                }
                "outcome" => {
                    stats.outcomes += 1;
                    c.outcome = Some(line);
                }
                other => stats
                    .bad_lines
                    .push((n, format!("unknown record kind `{other}`"))),
            }
        }
    }
    for id in order {
        let Some(c) = convs.remove(&id) else { continue };
        match conversation(id, c, &mut stats) {
            Some(conv) => {
                serde_json::to_writer(&mut *out, &conv).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
                stats.conversations += 1;
                stats.turns += conv.turns.len() as u64;
            }
            None => stats.without_outcome += 1,
        }
    }
    out.flush()?;
    Ok(stats)
}

/// One conversation in the trainer's format, or `None` without an outcome.
fn conversation(id: String, mut c: Conv, stats: &mut FromDecisionsStats) -> Option<Conversation> {
    let outcome = c.outcome.take()?;
    // The decision that saw the longest history saw every turn before it.
    c.decisions.sort_by_key(|d| d.history.tracks.len());
    let last = c.decisions.last()?;
    let (tracks, replies) = (&last.history.tracks, &last.history.replies);
    // Per turn index, the decision recommending that turn's track.
    let by_turn: BTreeMap<usize, &Line> = c
        .decisions
        .iter()
        .map(|d| (d.history.tracks.len(), d))
        .collect();
    let mut turns = Vec::with_capacity(tracks.len() + 1);
    for (i, track) in tracks.iter().enumerate() {
        let Some(reply) = replies.get(i) else { break };
        turns.push(turn(track, reply, by_turn.get(&i).copied(), stats));
    }
    match &outcome.final_reply {
        Some(reply) if turns.len() == tracks.len() => {
            if let Some(chosen) = &last.chosen {
                turns.push(turn(chosen, reply, Some(last), stats));
            }
        }
        _ => stats.last_turn_without_reply += 1,
    }
    let first = c.decisions.first()?;
    Some(Conversation {
        id,
        context: first.context.clone(),
        turns,
        outcome: Outcome {
            converted: outcome.converted.unwrap_or(false),
            value: outcome.value,
        },
    })
}

fn turn(
    track: &str,
    reply: &str,
    decision: Option<&Line>,
    stats: &mut FromDecisionsStats,
) -> LoggedTurn {
    let mut t = LoggedTurn {
        track: track.to_owned(),
        reply: reply.to_owned(),
        text: None,
        time: None,
        decision_id: None,
        propensity: None,
        overridden: None,
    };
    if let Some(d) = decision {
        t.time = d.time.clone();
        t.decision_id = d.decision_id.clone();
        if d.chosen.as_deref() == Some(track) {
            t.propensity = d.propensity;
        } else {
            t.overridden = Some(true);
            stats.overridden += 1;
        }
    }
    t
}

/// [`from_decisions`] on files: `logs` oldest first (e.g. `decisions.jsonl.2`,
/// `decisions.jsonl.1`, `decisions.jsonl`), the trainer's log written to `out`.
pub fn from_decision_files(
    logs: &[std::path::PathBuf],
    deployment: Option<&str>,
    out: &std::path::Path,
) -> Result<FromDecisionsStats, FromDecisionsError> {
    let named = |p: &std::path::Path, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("`{}`: {e}", p.display()))
    };
    let mut readers = Vec::with_capacity(logs.len());
    for p in logs {
        let f = std::fs::File::open(p).map_err(|e| named(p, e))?;
        readers.push(std::io::BufReader::new(f));
    }
    let mut refs: Vec<&mut dyn BufRead> =
        readers.iter_mut().map(|r| r as &mut dyn BufRead).collect();
    let file = std::fs::File::create(out).map_err(|e| named(out, e))?;
    let mut w = std::io::BufWriter::new(file);
    from_decisions(&mut refs, deployment, &mut w)
}

impl std::fmt::Display for FromDecisionsStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} decisions and {} outcomes read; {} conversations written with {} turns ({} overridden by the agent); {} conversations without an outcome left out; {} last turns without a final reply left out; {} bad lines",
            self.decisions,
            self.outcomes,
            self.conversations,
            self.turns,
            self.overridden,
            self.without_outcome,
            self.last_turn_without_reply,
            self.bad_lines.len()
        )?;
        for (n, why) in self.bad_lines.iter().take(5) {
            write!(f, "\n  line {n}: {why}")?;
        }
        Ok(())
    }
}
