//! What a host sends at every turn: who is talking, when, the typed context and
//! the dialogue so far.

use serde::{Deserialize, Serialize};

use crate::context::{parse_timestamp, Context, ContextError};

/// Most history entries a request may carry.
pub const MAX_HISTORY: usize = 10_000;

/// Most past contacts a request may carry in `contacts`.
pub const MAX_CONTACTS: usize = 1_000;

/// Largest request, in bytes of JSON, that [`Request::from_json`] accepts (1 MiB).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// One decision request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The host's conversation id (echoed in the decision, seeds sampling).
    pub conversation_id: String,
    /// Request time, milliseconds since the Unix epoch (RFC 3339 in JSON).
    #[serde(with = "rfc3339")]
    pub time: i64,
    /// Context attributes, by name.
    #[serde(default)]
    pub context: Context,
    /// The dialogue so far.
    #[serde(default)]
    pub history: History,
    /// The customer's past contacts, across conversations, in any order (at most
    /// [`MAX_CONTACTS`]); what `contacts(..)` in rules counts. Entries of this
    /// conversation (same `conversation_id`) are not counted: `history` tells
    /// this conversation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
    /// A precomputed text embedding, when the bundle's feature spec reads one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    /// Seed for softmax / epsilon selection; derived from the conversation and turn when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// The dialogue history of a conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Index of the agent turn being decided; defaults to the number of tracks used.
    /// At most [`MAX_HISTORY`]; it may go past the bundle's `max_turns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// Track ids the agent used, oldest first.
    #[serde(default)]
    pub tracks: Vec<String>,
    /// The user's reply categories, oldest first (the last one is `last_reply`).
    #[serde(default)]
    pub replies: Vec<String>,
}

/// One past contact with the customer: a track used at some time, and what came of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// When, milliseconds since the Unix epoch (RFC 3339 in JSON); not after the request.
    #[serde(with = "rfc3339")]
    pub time: i64,
    /// The track used. One the catalog no longer has (a retired track) is kept:
    /// a rule that could count it fails closed.
    pub track: String,
    /// Its outcome, one of the bundle's `contact_outcomes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The conversation it was part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

impl Request {
    /// A request at `time_ms` with an empty context and history.
    pub fn new(conversation_id: impl Into<String>, time_ms: i64) -> Self {
        Self {
            conversation_id: conversation_id.into(),
            time: time_ms,
            context: Context::new(),
            history: History::default(),
            contacts: Vec::new(),
            embedding: None,
            seed: None,
        }
    }

    /// Parses a request from JSON bytes: like [`Request::from_json`], and text
    /// that is not UTF-8 is refused with the offset of its first bad byte.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, DecideError> {
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err(DecideError::TooLarge { size: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| DecideError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        Self::from_json(text)
    }

    /// Parses a request from JSON, naming the field that is wrong.
    ///
    /// Requests over [`MAX_REQUEST_BYTES`] are refused before parsing. In
    /// `context`, `null` means the attribute was not sent (see [`Context`]).
    pub fn from_json(text: &str) -> Result<Self, DecideError> {
        if text.len() > MAX_REQUEST_BYTES {
            return Err(DecideError::TooLarge { size: text.len() });
        }
        serde_json::from_str(text).map_err(|e| DecideError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }
}

mod rfc3339 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::context::format_timestamp(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        parse_timestamp(&s).map_err(serde::de::Error::custom)
    }
}

/// A request the bundle cannot decide on. The bundle keeps serving.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    /// The request is not valid JSON or has unknown / mistyped fields.
    #[error("request JSON line {line} column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde said.
        message: String,
    },
    /// The context does not fit the schema.
    #[error("{0}")]
    Context(#[from] ContextError),
    /// `history.tracks[index]` is not in the catalog.
    #[error("`history.tracks[{index}]`: unknown track `{id}`")]
    UnknownTrack {
        /// Position in the history.
        index: usize,
        /// The id sent.
        id: String,
    },
    /// `history.replies[index]` is not in the reply vocabulary.
    #[error("`history.replies[{index}]`: unknown reply category `{name}`")]
    UnknownReply {
        /// Position in the history.
        index: usize,
        /// The category sent.
        name: String,
    },
    /// The history is longer than [`MAX_HISTORY`].
    #[error("`history` has {0} entries, more than the {MAX_HISTORY} allowed")]
    HistoryTooLong(usize),
    /// `history.turn` is past [`MAX_HISTORY`]: no conversation gets that long.
    #[error("`history.turn` is {0}, more than the {MAX_HISTORY} allowed")]
    TurnTooLarge(u32),
    /// The feature spec reads an embedding the request does not carry, or one of the wrong width.
    #[error("`embedding` must have {expected} floats, found {found}")]
    Embedding {
        /// Width the bundle expects.
        expected: usize,
        /// Width sent (0 when absent).
        found: usize,
    },
    /// The request is larger than [`MAX_REQUEST_BYTES`].
    #[error("the request is {size} bytes, more than the {MAX_REQUEST_BYTES} allowed")]
    TooLarge {
        /// Bytes sent (at least this many, when read from a stream that was cut off).
        size: usize,
    },
    /// The request is not UTF-8.
    #[error(
        "the request is not UTF-8: byte {offset} (counting from 0) starts an invalid sequence"
    )]
    NotUtf8 {
        /// Offset of the first byte that is not part of valid UTF-8.
        offset: usize,
    },
    /// More than [`MAX_CONTACTS`] past contacts.
    #[error("`contacts` has {0} entries, more than the {MAX_CONTACTS} allowed")]
    TooManyContacts(usize),
    /// `contacts[index].outcome` is not in the bundle's contact outcomes.
    #[error("`contacts[{index}].outcome`: unknown contact outcome `{name}`")]
    UnknownOutcome {
        /// Position in `contacts`.
        index: usize,
        /// The outcome sent.
        name: String,
    },
    /// `contacts[index].time` is after the request's time.
    #[error("`contacts[{index}].time` is {time}, after the request time {now}")]
    ContactInFuture {
        /// Position in `contacts`.
        index: usize,
        /// The contact's time (RFC 3339).
        time: String,
        /// The request's time (RFC 3339).
        now: String,
    },
    /// An embedding value is NaN or infinite.
    #[error("`embedding[{0}]` is not a finite number")]
    EmbeddingNotFinite(usize),
}
