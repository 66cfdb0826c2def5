//! The decision log of a C host: every decision and every outcome, as one JSON
//! line, handed to a callback the host installs with
//! `talktrack_engine_set_decision_log`.
//!
//! The records have the shape of the decision log `talktrack serve` writes
//! (`kind`, `decision_id`, `conversation_id`, `time`, `turn`, `bundle`, `context`,
//! `protected`, `history`, `masked`, `ranked`, `chosen`, `propensity`,
//! `fallback_used`, `no_choice`; outcomes with `kind: "outcome"` and
//! `recorded_at_ms`). Protected context attributes are always left out of the
//! record here (`"protected": {"attr": "omit"}`): the callback cannot tell where
//! its lines end up.

use std::ffi::{c_void, CString};
use std::os::raw::c_char;

use serde_json::{json, Map, Value};
use talktrack::serving::{DecisionRecord, DecisionSink, Outcome};

/// Receives one decision-log record: `record_json` is a NUL-terminated JSON
/// object, valid only during the call (copy it to keep it). Called on the thread
/// that decides or records the outcome, possibly on many threads at once: return
/// quickly and never block (queue the line and write it elsewhere). NULL where a
/// function takes it removes the log.
pub type TalktrackLogFn = Option<extern "C" fn(user_data: *mut c_void, record_json: *const c_char)>;

/// A callback that is set.
type LogFn = extern "C" fn(user_data: *mut c_void, record_json: *const c_char);

/// The callback and the host's pointer, handed back on every call.
pub(crate) struct CallbackSink {
    callback: LogFn,
    /// The host's `user_data`, kept as a number: this library never reads it.
    user_data: usize,
}

impl CallbackSink {
    pub(crate) fn new(callback: LogFn, user_data: *mut c_void) -> Self {
        Self {
            callback,
            user_data: user_data as usize,
        }
    }

    fn send(&self, record: &Value) {
        // serde_json escapes control characters, so a record never holds a NUL.
        if let Ok(line) = CString::new(record.to_string()) {
            (self.callback)(self.user_data as *mut c_void, line.as_ptr());
        }
    }
}

/// The decision record of `r`, protected attributes left out.
pub(crate) fn decision_record(r: &DecisionRecord<'_>) -> Value {
    let d = r.decision;
    let b = d.bundle();
    let request = serde_json::to_value(r.request).unwrap_or(Value::Null);
    let mut context = match request.get("context") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let mut protected = Map::new();
    for a in b.schema().attrs().iter().filter(|a| a.protected) {
        context.remove(&a.name);
        protected.insert(a.name.clone(), json!("omit"));
    }
    let cat = b.catalog();
    let id = |t: usize| cat.track(t).map_or("?", |x| x.id.as_str());
    let chosen = d.chosen();
    let propensity = d.propensity();
    json!({
        "kind": "decision",
        "decision_id": r.id.as_str(),
        "conversation_id": r.request.conversation_id,
        "time": request.get("time"),
        "turn": d.turn(),
        "bundle": {"name": r.version.name, "version": r.version.version, "digest": r.version.digest},
        "context": context,
        "protected": protected,
        "history": request.get("history"),
        "masked": d.masked().iter().map(|m| json!({
            "track": m.id,
            "rules": m.by.iter().map(|x| x.rule.id.as_str()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ranked": d.ranked().iter().map(|x| json!({
            "track": id(x.track as usize), "score": x.score, "probability": x.probability,
        })).collect::<Vec<_>>(),
        "chosen": chosen.map(id),
        "propensity": propensity,
        "fallback_used": d.fallback_used(),
        "no_choice": d.no_choice(),
    })
}

/// The outcome record of `o`.
pub(crate) fn outcome_record(o: &Outcome) -> Value {
    let mut v = match serde_json::to_value(o) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    v.insert("kind".into(), json!("outcome"));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    v.insert("recorded_at_ms".into(), json!(now_ms));
    Value::Object(v)
}

impl DecisionSink for CallbackSink {
    fn decision(&self, record: &DecisionRecord<'_>) {
        self.send(&decision_record(record));
    }

    fn outcome(&self, outcome: &Outcome) {
        self.send(&outcome_record(outcome));
    }
}
