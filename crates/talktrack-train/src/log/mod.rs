//! Historical conversation logs: the JSONL format the trainer reads, and a
//! streaming reader that validates each line.
//!
//! One conversation per line:
//! `{"id": "...", "context": {...}, "turns": [{"track": "...", "reply": "...", "text": "..."}],
//! "outcome": {"converted": true, "value": 1.5}}`.
//! `context` and `text` (the text of the user's reply) are optional, `value`
//! defaults to 1 when converted and 0 otherwise. The JSON Schema is `docs/log.schema.json`. A bad line is reported with
//! its number and reason and either skipped (the default) or fatal (`strict`); a line
//! that is not UTF-8 or longer than [`ReadOptions::max_line_bytes`] is a bad line like
//! any other (see [`lines`]).
//!
//! Conversation ids must be unique within a log: every count the trainer publishes is
//! a count of distinct conversations, so a line whose id was already seen is a bad
//! line ("duplicate conversation id ..., first seen at line N"), never counted twice.
//!
//! Memory: the reader holds one line at a time (at most `max_line_bytes` of it) plus, per distinct conversation, a
//! 64-bit hash of its id and the line it was first seen on (16 bytes, plus the hash
//! table's slack). It grows with the number of conversations, not with the size of the
//! file. Two different ids with the same hash (odds about n²/2⁶⁵ for n conversations)
//! would make the later one a reported duplicate: a conversation can be dropped that
//! way, never counted twice.

pub mod lines;
pub mod p4g;
pub mod served;
pub mod telecom;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use self::lines::{read_bounded_line, utf8_problem, LineRead, DEFAULT_MAX_LINE_BYTES};

/// One logged conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    /// Conversation id, unique within a log: used for distinct-conversation counts and
    /// splits; a repeated id is a bad line.
    pub id: String,
    /// Context attributes known at the start of the conversation.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, serde_json::Value>,
    /// The agent turns in order, each with the user's reply.
    pub turns: Vec<LoggedTurn>,
    /// How the conversation ended.
    pub outcome: Outcome,
}

/// One agent turn and the reply it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedTurn {
    /// Catalog track id the agent used.
    pub track: String,
    /// Reply category of the user's answer (`none` when the user said nothing, if the
    /// vocabulary has it).
    pub reply: String,
    /// The text of the user's reply in this turn (what the customer said), when kept.
    /// Optional; the trainer never reads or aggregates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// When the turn's track was recommended (RFC 3339), for served traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The id of the decision that recommended the turn's track, for served traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// The probability with which the policy chose this track (absent when the agent
    /// overrode the recommendation, or for traffic not served by a policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity: Option<f64>,
    /// The agent used another track than the one recommended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden: Option<bool>,
}

/// The conversation's result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Whether the customer converted.
    pub converted: bool,
    /// Value of the conversion (e.g. revenue); absent means 1 if converted, else 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

impl Outcome {
    /// The value, defaulting to 1 for a conversion and 0 otherwise.
    pub fn value_or_default(&self) -> f64 {
        self.value.unwrap_or(if self.converted { 1.0 } else { 0.0 })
    }
}

/// A line the reader rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Reading failed.
    #[error("cannot read the log: {0}")]
    Io(#[from] std::io::Error),
    /// A bad line in strict mode.
    #[error("line {}: {}", .0.line, .0.reason)]
    BadLine(BadLine),
}

/// How strictly to read.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Fail on the first bad line instead of skipping it.
    pub strict: bool,
    /// How many bad lines to keep as examples in [`ReadStats::examples`].
    pub max_examples: usize,
    /// The longest line read, in bytes without the line ending (default 1 MiB): a
    /// longer line is a bad line, and never held in memory whole.
    pub max_line_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            strict: false,
            max_examples: 20,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// What the reader saw so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReadStats {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Valid conversations returned.
    pub conversations: u64,
    /// Bad lines skipped.
    pub bad: u64,
    /// The first bad lines, for the report.
    pub examples: Vec<BadLine>,
}

/// The track and reply vocabularies a log is checked against.
#[derive(Clone, Debug)]
pub struct Vocab {
    tracks: Vec<String>,
    replies: Vec<String>,
    track_ix: HashMap<String, u32>,
    reply_ix: HashMap<String, u32>,
}

impl Vocab {
    /// A vocabulary from catalog track ids and reply categories, in index order.
    pub fn new(tracks: Vec<String>, replies: Vec<String>) -> Self {
        let track_ix = tracks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let reply_ix = replies
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self {
            tracks,
            replies,
            track_ix,
            reply_ix,
        }
    }

    /// Track ids in index order.
    pub fn tracks(&self) -> &[String] {
        &self.tracks
    }

    /// Reply categories in index order.
    pub fn replies(&self) -> &[String] {
        &self.replies
    }

    /// Index of a track id.
    pub fn track(&self, id: &str) -> Option<u32> {
        self.track_ix.get(id).copied()
    }

    /// Index of a reply category.
    pub fn reply(&self, id: &str) -> Option<u32> {
        self.reply_ix.get(id).copied()
    }

    /// Checks a conversation against the vocabulary: the reason it is bad, if it is.
    pub fn check(&self, c: &Conversation) -> Result<(), String> {
        if c.id.is_empty() {
            return Err("empty conversation `id`".into());
        }
        for (i, t) in c.turns.iter().enumerate() {
            if self.track(&t.track).is_none() {
                return Err(format!(
                    "turn {i}: unknown track `{}` (not in the catalog)",
                    t.track
                ));
            }
            if self.reply(&t.reply).is_none() {
                return Err(format!(
                    "turn {i}: unknown reply category `{}` (known: {})",
                    t.reply,
                    self.replies.join(", ")
                ));
            }
        }
        if let Some(v) = c.outcome.value {
            if !v.is_finite() {
                return Err("outcome `value` is not a finite number".into());
            }
        }
        Ok(())
    }
}

/// The 64-bit hash of a conversation id the duplicate check keys on: SipHash with
/// fixed keys, so the same log gives the same result on every run.
fn id_hash(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// Reads conversations from JSONL one line at a time.
///
/// Iterating yields valid conversations with distinct ids; bad lines (a repeated id
/// among them) are counted in [`LogReader::stats`] or, in strict mode, yielded once as
/// an error after which iteration stops.
pub struct LogReader<'v, R> {
    input: R,
    vocab: &'v Vocab,
    opts: ReadOptions,
    buf: Vec<u8>,
    stats: ReadStats,
    failed: bool,
    /// Hash of each conversation id returned so far → the line it was on.
    seen: HashMap<u64, u64>,
}

impl<'v, R: BufRead> LogReader<'v, R> {
    /// A reader over `input` checking against `vocab`.
    pub fn new(input: R, vocab: &'v Vocab, opts: ReadOptions) -> Self {
        Self {
            input,
            vocab,
            opts,
            buf: Vec::new(),
            stats: ReadStats::default(),
            failed: false,
            seen: HashMap::new(),
        }
    }

    /// Lines, conversations and bad lines seen so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Consumes the reader, returning its statistics.
    pub fn into_stats(self) -> ReadStats {
        self.stats
    }

    /// The conversation on `line` and the hash of its id, or why it is bad.
    fn parse_line(&self, line: &str) -> Result<(Conversation, u64), String> {
        let raw: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
        check_shape(&raw)?;
        let c: Conversation =
            serde_json::from_value(raw).map_err(|e| format!("not a conversation: {e}"))?;
        self.vocab.check(&c)?;
        let h = id_hash(&c.id);
        if let Some(first) = self.seen.get(&h) {
            return Err(format!(
                "duplicate conversation id `{}` (first seen at line {first})",
                c.id
            ));
        }
        Ok((c, h))
    }

    /// Reads the next non-blank line into `buf` (checked to be UTF-8), or says why it
    /// is bad. `None` at the end.
    fn next_line(&mut self) -> Option<Result<Result<(), String>, std::io::Error>> {
        loop {
            let read =
                match read_bounded_line(&mut self.input, &mut self.buf, self.opts.max_line_bytes) {
                    Ok(r) => r,
                    Err(e) => return Some(Err(e)),
                };
            match read {
                LineRead::End => return None,
                LineRead::TooLong { bytes } => {
                    self.stats.lines += 1;
                    return Some(Ok(Err(format!(
                        "line too long: {bytes} bytes, more than `[data] max_line_bytes` = {} (skipped without being read into memory)",
                        self.opts.max_line_bytes
                    ))));
                }
                LineRead::Line => {
                    self.stats.lines += 1;
                    if let Some(problem) = utf8_problem(&self.buf) {
                        return Some(Ok(Err(problem)));
                    }
                    if std::str::from_utf8(&self.buf).is_ok_and(|t| t.trim().is_empty()) {
                        continue;
                    }
                    return Some(Ok(Ok(())));
                }
            }
        }
    }
}

/// The JSON type of `v`, in words, for messages.
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A required field: its name, its JSON type in words, and the check of that type.
type FieldCheck = (&'static str, &'static str, fn(&serde_json::Value) -> bool);

/// Checks that a line is a conversation object with its required fields of the right
/// JSON types, naming the first one that is missing or wrong.
fn check_shape(raw: &serde_json::Value) -> Result<(), String> {
    let Some(obj) = raw.as_object() else {
        return Err(format!(
            "expected a conversation (a JSON object with `id`, `turns` and `outcome`), found {}",
            json_kind(raw)
        ));
    };
    let fields: [FieldCheck; 3] = [
        ("id", "a string", serde_json::Value::is_string),
        ("turns", "an array", serde_json::Value::is_array),
        ("outcome", "an object", serde_json::Value::is_object),
    ];
    for (name, want, ok) in fields {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) => {
                return Err(format!("conversation has no `{name}`"))
            }
            Some(v) if !ok(v) => {
                return Err(format!(
                    "conversation `{name}` must be {want}, found {}",
                    json_kind(v)
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

impl<R: BufRead> Iterator for LogReader<'_, R> {
    type Item = Result<Conversation, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let line = match self.next_line()? {
                Ok(l) => l,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(LogError::Io(e)));
                }
            };
            let parsed = line.and_then(|()| {
                // INVARIANT: `next_line` checked that `buf` is UTF-8.
                let text = std::str::from_utf8(&self.buf).map_err(|e| e.to_string())?;
                self.parse_line(text)
            });
            match parsed {
                Ok((c, h)) => {
                    self.seen.insert(h, self.stats.lines);
                    self.stats.conversations += 1;
                    return Some(Ok(c));
                }
                Err(reason) => {
                    let bad = BadLine {
                        line: self.stats.lines,
                        reason,
                    };
                    self.stats.bad += 1;
                    if self.opts.strict {
                        self.failed = true;
                        return Some(Err(LogError::BadLine(bad)));
                    }
                    if self.stats.examples.len() < self.opts.max_examples {
                        self.stats.examples.push(bad);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocab {
        Vocab::new(
            vec!["greet".into(), "ask".into()],
            vec!["yes".into(), "no".into()],
        )
    }

    const GOOD: &str = r#"{"id":"a","turns":[{"track":"greet","reply":"no"},{"track":"ask","reply":"yes"}],"outcome":{"converted":true}}"#;

    #[test]
    fn reads_good_lines_and_skips_bad_ones_with_line_numbers() {
        let good_d = GOOD.replace("\"a\"", "\"d\"");
        let text = format!(
            "{GOOD}\n\n{{\"id\":\"b\",\"turns\":[{{\"track\":\"pitch\",\"reply\":\"no\"}}],\"outcome\":{{\"converted\":false}}}}\n{{\"id\":\"c\",\"turns\":[]}}\nnot json\n{good_d}\n"
        );
        let v = vocab();
        let mut r = LogReader::new(text.as_bytes(), &v, ReadOptions::default());
        let got: Vec<_> = r.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 2);
        let s = r.stats();
        assert_eq!((s.lines, s.conversations, s.bad), (6, 2, 3));
        assert_eq!(s.examples[0].line, 3);
        assert!(s.examples[0].reason.contains("unknown track `pitch`"));
        assert_eq!(s.examples[1].line, 4);
        assert_eq!(s.examples[1].reason, "conversation has no `outcome`");
        assert_eq!(s.examples[2].line, 5);
        assert!(s.examples[2].reason.starts_with("not valid JSON"));
    }

    #[test]
    fn strict_mode_fails_on_the_first_bad_line() {
        let text = format!("{GOOD}\n{{\"id\":\"c\",\"turns\":[]}}\n{GOOD}\n");
        let v = vocab();
        let opts = ReadOptions {
            strict: true,
            ..ReadOptions::default()
        };
        let out: Vec<_> = LogReader::new(text.as_bytes(), &v, opts).collect();
        assert_eq!(out.len(), 2);
        assert!(out[0].is_ok());
        let err = out[1].as_ref().unwrap_err().to_string();
        assert_eq!(err, "line 2: conversation has no `outcome`");
    }

    #[test]
    fn a_repeated_id_is_a_bad_line_naming_the_first() {
        let other = GOOD.replace("\"a\"", "\"b\"");
        let text = format!("{GOOD}\n{other}\n\n{GOOD}\n{GOOD}\n");
        let v = vocab();
        let mut r = LogReader::new(text.as_bytes(), &v, ReadOptions::default());
        let ids: Vec<String> = r.by_ref().map(|c| c.unwrap().id).collect();
        assert_eq!(ids, ["a", "b"]);
        let s = r.stats();
        assert_eq!((s.lines, s.conversations, s.bad), (5, 2, 2));
        assert_eq!(s.examples[0].line, 4);
        assert_eq!(
            s.examples[0].reason,
            "duplicate conversation id `a` (first seen at line 1)"
        );
        assert_eq!(s.examples[1].line, 5);
        let strict = ReadOptions {
            strict: true,
            ..ReadOptions::default()
        };
        let out: Vec<_> = LogReader::new(text.as_bytes(), &v, strict).collect();
        assert_eq!(out.len(), 3);
        let err = out[2].as_ref().unwrap_err().to_string();
        assert_eq!(
            err,
            "line 4: duplicate conversation id `a` (first seen at line 1)"
        );
    }

    #[test]
    fn empty_log_yields_nothing() {
        let v = vocab();
        let mut r = LogReader::new("".as_bytes(), &v, ReadOptions::default());
        assert!(r.next().is_none());
        assert_eq!(r.stats().conversations, 0);
    }

    #[test]
    fn outcome_value_defaults_to_conversion() {
        let o = Outcome {
            converted: true,
            value: None,
        };
        assert_eq!(o.value_or_default(), 1.0);
        let o = Outcome {
            converted: false,
            value: Some(0.5),
        };
        assert_eq!(o.value_or_default(), 0.5);
    }
}
