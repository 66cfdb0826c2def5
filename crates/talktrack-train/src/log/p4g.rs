//! Converter from the PersuasionForGood annotated corpus (Wang et al., ACL 2019) to
//! the conversation log format.
//!
//! The mapping is the one of the reference MDP (`crates/talktrack-train/reference/p4g_mdp.py`),
//! reproduced exactly so that talktrack's trainer can be checked against it:
//! - rows of `annotated_300_dialog.csv` are grouped by dialogue (`B2`, in order of first
//!   appearance) and `Turn` (ascending); persuader sentences (`B4` = 0) give
//!   `er_label_1` labels and persuadee sentences (`B4` = 1) `ee_label_1` labels, in row
//!   order;
//! - the track of a turn is the first of the ten persuasion strategies among its labels,
//!   else the first ask-type label (`proposition-of-donation` → `ask-donation`,
//!   `confirm-donation` → `ask-confirm-donation`, ...), else `non-strategy`;
//! - the reply is the persuadee's labels mapped by a priority list ([`reply_category`]),
//!   `none` when the persuadee said nothing in that turn;
//! - the outcome is the persuadee's actual donation `B6` from `annotated_300_info.csv`:
//!   converted when above 0, value clipped to the task's $2 maximum;
//! - with [`ConvertOptions::with_text`], a turn's `text` is the persuadee's sentences of
//!   that turn (the user's reply; none when the persuadee said nothing). By default no
//!   text is written.
//!
//! No context attribute is carried over: the participant survey holds protected
//! attributes that must never become policy features.
//!
//! [`convert_files`] is what `talktrack-train convert-p4g` runs: it reads and converts
//! both files before writing anything, writes the log to a temporary file next to the
//! output and renames it into place, so a failed conversion never leaves a partial or
//! empty log behind.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Conversation, LoggedTurn, Outcome};

/// The ten persuasion strategies, in the order the first-match rule checks them.
pub const STRATEGIES: [&str; 10] = [
    "logical-appeal",
    "emotion-appeal",
    "credibility-appeal",
    "foot-in-the-door",
    "self-modeling",
    "personal-story",
    "donation-information",
    "source-related-inquiry",
    "task-related-inquiry",
    "personal-related-inquiry",
];

/// The 16 tracks the converter can produce, sorted by id (the reference's action order).
pub const TRACKS: [&str; 16] = [
    "ask-confirm-donation",
    "ask-donate-more",
    "ask-donation",
    "ask-donation-amount",
    "ask-not-donate-reason",
    "credibility-appeal",
    "donation-information",
    "emotion-appeal",
    "foot-in-the-door",
    "logical-appeal",
    "non-strategy",
    "personal-related-inquiry",
    "personal-story",
    "self-modeling",
    "source-related-inquiry",
    "task-related-inquiry",
];

/// The ten reply categories, in priority order.
pub const REPLIES: [&str; 10] = [
    "agree/commit",
    "refuse",
    "objection",
    "question",
    "positive",
    "neutral",
    "answer",
    "social/ack",
    "other",
    "none",
];

/// The highest donation the task allowed; larger `B6` values are data-entry outliers.
pub const MAX_DONATION: f64 = 2.0;

/// Why the corpus could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum P4gError {
    /// A CSV file could not be read or parsed.
    #[error("cannot read `{file}`: {source}")]
    Csv {
        /// Which file.
        file: &'static str,
        /// The parser's error.
        source: csv::Error,
    },
    /// A required column is missing.
    #[error("`{file}` has no column `{column}`")]
    MissingColumn {
        /// Which file.
        file: &'static str,
        /// The column.
        column: &'static str,
    },
    /// A field could not be parsed.
    #[error("`{file}` row {row}: bad `{column}` value `{value}`")]
    BadField {
        /// Which file.
        file: &'static str,
        /// 1-based data row.
        row: u64,
        /// The column.
        column: &'static str,
        /// The text found.
        value: String,
    },
    /// Writing the log failed.
    #[error("cannot write the log: {0}")]
    Io(#[from] std::io::Error),
    /// An input file could not be opened.
    #[error("cannot read `{}`: {source}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The output file could not be written.
    #[error("cannot write `{}`: {source}", .path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No dialogue could be converted, so no log was written.
    #[error(
        "no conversation to write: none of the {dialogues} dialogues has a persuadee row in `{INFO}` (are the two files from the same corpus?)"
    )]
    Empty {
        /// Dialogues in the dialogue file.
        dialogues: u64,
    },
}

/// What the conversion did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConvertStats {
    /// Conversations written.
    pub conversations: u64,
    /// Agent turns written.
    pub turns: u64,
    /// Conversations with a donation above 0.
    pub converted: u64,
    /// Dialogues skipped because the info file has no persuadee row for them.
    pub without_outcome: u64,
    /// Turns with persuadee sentences only (no track to log); their reply is lost.
    pub user_only_turns: u64,
    /// Turns written with the reply `none` (the persuadee said nothing in that turn).
    pub silent_turns: u64,
    /// Whether each turn's `text` holds the persuadee's sentences.
    pub with_text: bool,
}

impl fmt::Display for ConvertStats {
    /// A summary for people: what was written, what was skipped and why, and how the
    /// corpus maps to the log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} conversations written: {} agent turns, {} converted (donated more than $0)",
            self.conversations, self.turns, self.converted
        )?;
        writeln!(
            f,
            "skipped: {} dialogues without a persuadee row in `{INFO}` (no outcome)",
            self.without_outcome
        )?;
        writeln!(
            f,
            "         {} turns where only the persuadee spoke (no track to log; their reply is dropped)",
            self.user_only_turns
        )?;
        writeln!(
            f,
            "mapping: track   = first persuasion strategy among the persuader's labels of the turn, else first ask-type label, else `non-strategy`"
        )?;
        writeln!(
            f,
            "         reply   = the persuadee's labels of the turn by priority; `none` when the persuadee said nothing ({} turns)",
            self.silent_turns
        )?;
        writeln!(
            f,
            "         outcome = the persuadee's donation: converted above $0, value clipped to ${MAX_DONATION}"
        )?;
        writeln!(
            f,
            "         text    = {}",
            if self.with_text {
                "the persuadee's sentences of the turn"
            } else {
                "not kept"
            }
        )?;
        write!(f, "         no participant attribute is carried over")
    }
}

/// Options of the conversion.
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// Keep the persuadee's sentences of each turn (the user's reply) as `text`.
    pub with_text: bool,
}

/// The track of a persuader turn from its sentence labels.
pub fn track_of(labels: &[String]) -> String {
    if let Some(l) = labels.iter().find(|l| STRATEGIES.contains(&l.as_str())) {
        return l.clone();
    }
    for l in labels {
        match l.as_str() {
            "proposition-of-donation" => return "ask-donation".into(),
            "confirm-donation" => return "ask-confirm-donation".into(),
            "ask-donation-amount" | "ask-donate-more" | "ask-not-donate-reason" => {
                return l.clone()
            }
            _ => {}
        }
    }
    "non-strategy".into()
}

/// The reply category of a persuadee turn from its (non-empty) sentence labels.
pub fn reply_category(labels: &[String]) -> &'static str {
    let any = |set: &[&str]| labels.iter().any(|l| set.contains(&l.as_str()));
    if any(&[
        "agree-donation",
        "provide-donation-amount",
        "confirm-donation",
    ]) {
        "agree/commit"
    } else if any(&["disagree-donation", "disagree-donation-more"]) {
        "refuse"
    } else if any(&["negative-reaction-to-donation"]) {
        "objection"
    } else if any(&[
        "ask-org-info",
        "ask-donation-procedure",
        "ask-persuader-donation-intention",
        "task-related-inquiry",
        "personal-related-inquiry",
    ]) {
        "question"
    } else if any(&["positive-reaction-to-donation"]) {
        "positive"
    } else if any(&["neutral-reaction-to-donation"]) {
        "neutral"
    } else if any(&[
        "positive-to-inquiry",
        "negative-to-inquiry",
        "neutral-to-inquiry",
    ]) {
        "answer"
    } else if any(&[
        "greeting",
        "closing",
        "thank",
        "you-are-welcome",
        "acknowledgement",
    ]) {
        "social/ack"
    } else {
        "other"
    }
}

#[derive(Default)]
struct TurnRows {
    er: Vec<String>,
    ee: Vec<String>,
    /// The persuadee's sentences.
    text: Vec<String>,
}

struct Dialogue {
    id: String,
    turns: Vec<(i64, TurnRows)>,
}

fn column(
    headers: &csv::StringRecord,
    file: &'static str,
    column: &'static str,
) -> Result<usize, P4gError> {
    headers
        .iter()
        .position(|h| h == column)
        .ok_or(P4gError::MissingColumn { file, column })
}

const DIALOG: &str = "annotated_300_dialog.csv";
const INFO: &str = "annotated_300_info.csv";

fn read_outcomes(info: impl Read) -> Result<HashMap<String, Outcome>, P4gError> {
    let csv_err = |source| P4gError::Csv { file: INFO, source };
    let mut rd = csv::Reader::from_reader(info);
    let headers = rd.headers().map_err(csv_err)?.clone();
    let (b2, b4, b6) = (
        column(&headers, INFO, "B2")?,
        column(&headers, INFO, "B4")?,
        column(&headers, INFO, "B6")?,
    );
    let mut out = HashMap::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(csv_err)?;
        if rec.get(b4) != Some("1") {
            continue;
        }
        let raw = rec.get(b6).unwrap_or("").trim();
        let donation: f64 = raw.parse().map_err(|_| P4gError::BadField {
            file: INFO,
            row: i as u64 + 1,
            column: "B6",
            value: raw.to_string(),
        })?;
        let outcome = Outcome {
            converted: donation > 0.0,
            value: Some(donation.clamp(0.0, MAX_DONATION)),
        };
        out.insert(rec.get(b2).unwrap_or("").to_string(), outcome);
    }
    Ok(out)
}

fn read_dialogues(dialog: impl Read) -> Result<Vec<Dialogue>, P4gError> {
    let csv_err = |source| P4gError::Csv {
        file: DIALOG,
        source,
    };
    let mut rd = csv::Reader::from_reader(dialog);
    let headers = rd.headers().map_err(csv_err)?.clone();
    let b2 = column(&headers, DIALOG, "B2")?;
    let b4 = column(&headers, DIALOG, "B4")?;
    let turn = column(&headers, DIALOG, "Turn")?;
    let unit = column(&headers, DIALOG, "Unit")?;
    let er = column(&headers, DIALOG, "er_label_1")?;
    let ee = column(&headers, DIALOG, "ee_label_1")?;
    let mut dialogues: Vec<Dialogue> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(csv_err)?;
        let field = |c: usize| rec.get(c).unwrap_or("");
        let raw_turn = field(turn).trim();
        let t: i64 = raw_turn.parse().map_err(|_| P4gError::BadField {
            file: DIALOG,
            row: i as u64 + 1,
            column: "Turn",
            value: raw_turn.to_string(),
        })?;
        let id = field(b2);
        let d = match index.get(id) {
            Some(&d) => d,
            None => {
                index.insert(id.to_string(), dialogues.len());
                dialogues.push(Dialogue {
                    id: id.to_string(),
                    turns: Vec::new(),
                });
                dialogues.len() - 1
            }
        };
        let Some(dlg) = dialogues.get_mut(d) else {
            continue;
        };
        let slot = match dlg.turns.iter().position(|(n, _)| *n == t) {
            Some(s) => s,
            None => {
                dlg.turns.push((t, TurnRows::default()));
                dlg.turns.len() - 1
            }
        };
        let Some((_, rows)) = dlg.turns.get_mut(slot) else {
            continue;
        };
        match field(b4) {
            "0" => rows.er.push(field(er).to_string()),
            "1" => {
                rows.ee.push(field(ee).to_string());
                rows.text.push(field(unit).to_string());
            }
            other => {
                return Err(P4gError::BadField {
                    file: DIALOG,
                    row: i as u64 + 1,
                    column: "B4",
                    value: other.to_string(),
                })
            }
        }
    }
    for d in &mut dialogues {
        d.turns.sort_by_key(|(t, _)| *t);
    }
    Ok(dialogues)
}

/// Converts the two CSV files into log conversations, in dialogue order.
pub fn convert(
    dialog: impl Read,
    info: impl Read,
    opts: &ConvertOptions,
) -> Result<(Vec<Conversation>, ConvertStats), P4gError> {
    let outcomes = read_outcomes(info)?;
    let dialogues = read_dialogues(dialog)?;
    let mut stats = ConvertStats {
        with_text: opts.with_text,
        ..ConvertStats::default()
    };
    let mut out = Vec::with_capacity(dialogues.len());
    for d in dialogues {
        let Some(outcome) = outcomes.get(&d.id).copied() else {
            stats.without_outcome += 1;
            continue;
        };
        let mut turns = Vec::with_capacity(d.turns.len());
        for (_, rows) in d.turns {
            if rows.er.is_empty() {
                stats.user_only_turns += 1;
                continue;
            }
            let reply = if rows.ee.is_empty() {
                stats.silent_turns += 1;
                "none"
            } else {
                reply_category(&rows.ee)
            };
            let text = (opts.with_text && !rows.text.is_empty()).then(|| rows.text.join(" "));
            turns.push(LoggedTurn {
                track: track_of(&rows.er),
                reply: reply.to_string(),
                text,
                time: None,
                decision_id: None,
                propensity: None,
                overridden: None,
            });
        }
        stats.conversations += 1;
        stats.turns += turns.len() as u64;
        stats.converted += u64::from(outcome.converted);
        out.push(Conversation {
            id: d.id,
            context: serde_json::Map::new(),
            turns,
            outcome,
        });
    }
    Ok((out, stats))
}

/// Converts the corpus files `dialog` (`annotated_300_dialog.csv`) and `info`
/// (`annotated_300_info.csv`) into the JSONL log `out`, all or nothing.
///
/// Both inputs are opened, read and converted first; the log is then written to a
/// temporary file in `out`'s directory (created if missing) and renamed onto `out`
/// once complete. On any error `out` is left as it was (absent, or its previous
/// content) and the temporary file is removed. A conversion that yields no
/// conversation is an error ([`P4gError::Empty`]).
pub fn convert_files(
    dialog: &Path,
    info: &Path,
    out: &Path,
    opts: &ConvertOptions,
) -> Result<ConvertStats, P4gError> {
    let open = |path: &Path| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|source| P4gError::Open {
                path: path.to_path_buf(),
                source,
            })
    };
    let (dialog, info) = (open(dialog)?, open(info)?);
    let (convs, stats) = convert(dialog, info, opts)?;
    if convs.is_empty() {
        // Every dialogue is either converted or skipped for want of an outcome.
        return Err(P4gError::Empty {
            dialogues: stats.without_outcome,
        });
    }
    let write_err = |source| P4gError::Write {
        path: out.to_path_buf(),
        source,
    };
    let name = out.file_name().ok_or_else(|| {
        write_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        for c in &convs {
            serde_json::to_writer(&mut w, c)?;
            w.write_all(b"\n")?;
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, out)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(e));
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn first_strategy_wins_over_asks_and_order() {
        assert_eq!(
            track_of(&s(&[
                "proposition-of-donation",
                "emotion-appeal",
                "logical-appeal"
            ])),
            "emotion-appeal"
        );
        assert_eq!(
            track_of(&s(&[
                "greeting",
                "confirm-donation",
                "proposition-of-donation"
            ])),
            "ask-confirm-donation"
        );
        assert_eq!(track_of(&s(&["greeting", ""])), "non-strategy");
    }

    #[test]
    fn reply_priority_prefers_agreement() {
        assert_eq!(
            reply_category(&s(&["greeting", "disagree-donation", "agree-donation"])),
            "agree/commit"
        );
        assert_eq!(reply_category(&s(&["thank", "ask-org-info"])), "question");
        assert_eq!(reply_category(&s(&[""])), "other");
    }
}
