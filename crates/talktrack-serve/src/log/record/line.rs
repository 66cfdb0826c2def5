//! The JSON line the writer thread makes of a record.
//!
//! A line's keys are written in sorted order (a line is what `serde_json::Value`
//! would print for it). Scores, probabilities and propensities are the engine's
//! `f32` values, written in the shortest form that reads back as the same `f32`
//! (`0.1`, where logs before 2026-12 widened it to `0.10000000149011612`): a
//! reader that parses them as `f64` gets the same number to within 1e-7 relative,
//! and the same `f32` exactly.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use talktrack::Bundle;
use time::OffsetDateTime;

use super::parts::{tail, Parts};
use super::{DecisionEntry, OutcomeEntry, Record};
use crate::log::intervals::interval;
use crate::log::{LogConfig, Protected};

/// Turns records into lines, on the writer thread: it keeps, per bundle digest, the
/// thresholds protected attributes are logged against and the parts of a line that
/// depend only on the bundle (see [`Parts`]).
pub(in crate::log) struct Formatter {
    cfg: Arc<LogConfig>,
    parts: HashMap<String, Arc<Parts>>,
    /// The context's attributes in the order a line writes them: (rank, entry,
    /// schema slot).
    order: Vec<(u32, u32, u32)>,
}

/// Bundles whose parts are kept at most; past that the cache starts afresh, so a
/// server that swaps versions for months keeps a bounded cache.
const KEPT_BUNDLES: usize = 16;

impl Formatter {
    pub(in crate::log) fn new(cfg: Arc<LogConfig>) -> Self {
        Self {
            cfg,
            parts: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// Appends the record's JSON line (without the newline) to `out`.
    pub(in crate::log) fn write(
        &mut self,
        r: &Record,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        match r {
            Record::Decision(d) => self.decision(d, out),
            Record::Outcome(o) => outcome(o, out),
        }
    }

    fn parts(&mut self, b: &Bundle) -> serde_json::Result<Arc<Parts>> {
        if let Some(p) = self.parts.get(b.digest()) {
            return Ok(Arc::clone(p));
        }
        if self.parts.len() >= KEPT_BUNDLES {
            self.parts.clear();
        }
        let p = Arc::new(Parts::new(b, &self.cfg)?);
        self.parts.insert(b.digest().to_owned(), Arc::clone(&p));
        Ok(p)
    }

    /// Writes the context as logged: attributes in sorted order, protected ones
    /// replaced as configured. Keys come escaped from the bundle's parts.
    fn context(
        &mut self,
        e: &DecisionEntry,
        parts: &Parts,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        let schema = e.decision.bundle().schema();
        let entries = e.context.entries();
        // Each schema attribute's entry lands at its rank; a decided request's
        // attributes are all in its bundle's schema, and one that is not (not
        // expected) is written after them, in name order, its key escaped here.
        self.order.clear();
        self.order.resize(parts.attrs.len(), (u32::MAX, 0, 0));
        let mut others = Vec::new();
        for (i, (k, _)) in entries.iter().enumerate() {
            match schema.slot(k).filter(|&s| s < parts.attrs.len()) {
                Some(s) => {
                    let rank = parts.attrs[s].rank;
                    self.order[rank as usize] = (rank, i as u32, s as u32);
                }
                None => others.push((u32::MAX, i as u32, u32::MAX)),
            }
        }
        others.sort_unstable_by(|x, y| entries[x.1 as usize].0.cmp(&entries[y.1 as usize].0));
        self.order.retain(|x| x.0 != u32::MAX);
        self.order.extend(others);
        out.push(b'{');
        let mut first = true;
        for &(_, i, slot) in &self.order {
            let (k, v) = &entries[i as usize];
            let attr = parts.attrs.get(slot as usize);
            let logged = match attr.map_or(Protected::Raw, |a| a.mode) {
                Protected::Raw => Logged::Raw(v),
                Protected::Omit => continue,
                Protected::Intervals => match (as_number(v), attr) {
                    (Some(x), Some(a)) => Logged::Interval(interval(x, &a.thresholds)),
                    _ => continue,
                },
            };
            if !first {
                out.push(b',');
            }
            first = false;
            match attr {
                Some(a) => out.extend_from_slice(&a.key),
                None => {
                    value(out, k)?;
                    out.push(b':');
                }
            }
            match logged {
                Logged::Raw(v) => value(out, v)?,
                Logged::Interval(v) => value(out, &v)?,
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// Writes the decision line key by key, in sorted order; the bundle's parts are
    /// copied in, everything else is written by `serde_json` as a value.
    fn decision(&mut self, e: &DecisionEntry, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let d = &e.decision;
        let b = d.bundle();
        let parts = self.parts(b)?;
        let cat = b.catalog();
        let id = |t: usize| cat.track(t).map_or("?", |x| x.id.as_str());
        let shadow = e.shadow.as_ref().map(|s| {
            let bundle = BundleLine {
                digest: &s.digest,
                name: &s.name,
                version: &s.version,
            };
            match &s.result {
                Ok((chosen, p)) => ShadowLine::Decided {
                    bundle,
                    chosen: chosen.as_deref(),
                    propensity: *p,
                },
                Err(error) => ShadowLine::Failed { bundle, error },
            }
        });
        out.extend_from_slice(b"{\"arm\":");
        value(out, &e.arm)?;
        out.extend_from_slice(b",\"bundle\":");
        out.extend_from_slice(&parts.bundle);
        key(out, "chosen");
        value(out, &d.chosen().map(id))?;
        key(out, "context");
        self.context(e, &parts, out)?;
        key(out, "conversation_id");
        value(out, d.conversation_id())?;
        key(out, "decision_id");
        value(out, &e.id)?;
        key(out, "deployment");
        value(out, &*e.deployment)?;
        key(out, "fallback_used");
        value(out, &d.fallback_used())?;
        key(out, "history");
        value(
            out,
            &HistoryLine {
                replies: &e.history.replies,
                tracks: &e.history.tracks,
                turn: e.history.turn,
            },
        )?;
        out.extend_from_slice(b",\"kind\":\"decision\",\"masked\":[");
        let masked = (0..cat.len()).filter(|&t| !d.is_allowed(t));
        for (n, t) in masked.enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"rules\":[");
            for (k, r) in d.mask_reasons(t).enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                value(out, r.rule.id.as_str())?;
            }
            tail(out, &parts.masked_tail, t, b"],\"track\":\"?\"}");
        }
        out.push(b']');
        key(out, "no_choice");
        value(out, &d.no_choice())?;
        key(out, "propensity");
        value(out, &d.propensity())?;
        key(out, "protected");
        out.extend_from_slice(&parts.protected);
        out.extend_from_slice(b",\"ranked\":[");
        for (n, x) in d.ranked().iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"probability\":");
            value(out, &x.probability)?;
            out.extend_from_slice(b",\"score\":");
            value(out, &x.score)?;
            tail(
                out,
                &parts.ranked_tail,
                x.track as usize,
                b",\"track\":\"?\"}",
            );
        }
        out.push(b']');
        key(out, "shadow");
        value(out, &shadow)?;
        key(out, "time");
        value(out, &rfc3339_ms(e.time))?;
        key(out, "turn");
        value(out, &d.turn())?;
        out.push(b'}');
        Ok(())
    }
}

/// Appends `,"<name>":` (`name` is one of the line's own keys: nothing to escape).
fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends `v` as JSON.
fn value(out: &mut Vec<u8>, v: &(impl Serialize + ?Sized)) -> serde_json::Result<()> {
    serde_json::to_writer(out, v)
}

fn outcome(o: &OutcomeEntry, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut v = match serde_json::to_value(&o.outcome)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    v.insert("kind".into(), Value::from("outcome"));
    v.insert("deployment".into(), Value::from(&*o.deployment));
    let at = o
        .recorded_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    v.insert("recorded_at".into(), Value::from(at));
    serde_json::to_writer(out, &Value::Object(v))
}

#[derive(Serialize)]
pub(super) struct BundleLine<'a> {
    pub(super) digest: &'a str,
    pub(super) name: &'a str,
    pub(super) version: &'a str,
}

#[derive(Serialize)]
struct HistoryLine<'a> {
    replies: &'a [String],
    tracks: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    turn: Option<u32>,
}

/// A context attribute as logged: the host's value, or the interval of a
/// protected one.
enum Logged<'a> {
    Raw(&'a talktrack::Value),
    Interval(Value),
}

/// A number as JSON reads it back: integers (and timestamps, durations) and finite
/// floats; a non-finite float is written as `null`.
fn as_number(v: &talktrack::Value) -> Option<f64> {
    use talktrack::Value as V;
    match v {
        V::Int(i) | V::Timestamp(i) | V::Duration(i) => Some(*i as f64),
        V::Float(f) if f.is_finite() => Some(*f),
        _ => None,
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum ShadowLine<'a> {
    Decided {
        bundle: BundleLine<'a>,
        chosen: Option<&'a str>,
        propensity: Option<f32>,
    },
    Failed {
        bundle: BundleLine<'a>,
        error: &'a str,
    },
}

/// Milliseconds since the epoch in RFC 3339 (`<ms>ms` when out of range).
pub(super) fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms}ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::intervals::rule_thresholds;
    use serde_json::json;
    use talktrack::serving::{
        Assigned, DecisionId, DecisionRecord, Outcome, ShadowDecision, Version,
    };
    use talktrack::tooling::AttrType;
    use talktrack::Decision;
    use talktrack::{DecideError, Engine, Request};

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/telecom-upsell");

    /// An `f32` as the log writes it: its shortest form that reads back as the same
    /// `f32` (a `serde_json::Value` holds it as the `f64` of that text).
    fn f32_value(x: f32) -> Value {
        serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap()
    }

    /// The propensity as the log always computed it: the chosen track's entry in
    /// the ranking, 1 when it has none (the fallback).
    fn reference_propensity(d: &Decision) -> Option<f32> {
        d.chosen().map(|c| {
            d.ranked()
                .iter()
                .find(|x| x.track as usize == c)
                .map_or(1.0, |x| x.probability)
        })
    }

    fn bundle_json(v: &Version) -> Value {
        json!({"name": v.name, "version": v.version, "digest": v.digest})
    }

    /// The line as the log wrote it when it was built as a `serde_json::Value` on
    /// the deciding thread: the format the writer must keep.
    fn reference(cfg: &LogConfig, deployment: &str, r: &DecisionRecord<'_>) -> String {
        let d = r.decision;
        let b = d.bundle();
        let mut context = match serde_json::to_value(&r.request.context) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut protected = Map::new();
        let ts = rule_thresholds(b);
        for a in b.schema().attrs().iter().filter(|a| a.protected) {
            let mode = match (cfg.mode(&a.name), &a.ty) {
                (Protected::Intervals, t) if !t.is_numeric() => Protected::Omit,
                (m, _) => m,
            };
            protected.insert(a.name.clone(), json!(mode));
            match mode {
                Protected::Raw => {}
                Protected::Omit => {
                    context.remove(&a.name);
                }
                Protected::Intervals => {
                    if let Some(v) = context.get(&a.name).and_then(Value::as_f64) {
                        let iv = interval(v, ts.get(&a.name).map_or(&[][..], Vec::as_slice));
                        context.insert(a.name.clone(), iv);
                    } else if matches!(a.ty, AttrType::Int | AttrType::Float) {
                        context.remove(&a.name);
                    }
                }
            }
        }
        let cat = b.catalog();
        let id = |t: usize| cat.track(t).map_or("?", |x| x.id.as_str());
        let shadow = r.shadow.map(|s| match &s.result {
            Ok(sd) => json!({
                "bundle": bundle_json(&s.version),
                "chosen": sd.chosen_id(),
                "propensity": reference_propensity(sd).map(f32_value),
            }),
            Err(e) => json!({"bundle": bundle_json(&s.version), "error": e.to_string()}),
        });
        json!({
            "kind": "decision",
            "decision_id": r.id,
            "deployment": deployment,
            "arm": r.arm,
            "conversation_id": r.request.conversation_id,
            "time": rfc3339_ms(r.request.time),
            "turn": d.turn(),
            "bundle": bundle_json(r.version),
            "shadow": shadow,
            "context": context,
            "protected": protected,
            "history": r.request.history,
            "masked": d.masked().iter().map(|m| json!({
                "track": m.id,
                "rules": m.by.iter().map(|x| x.rule.id.as_str()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "ranked": d.ranked().iter().map(|x| json!({
                "track": id(x.track as usize), "score": f32_value(x.score),
                "probability": f32_value(x.probability),
            })).collect::<Vec<_>>(),
            "chosen": d.chosen().map(id),
            "propensity": reference_propensity(d).map(f32_value),
            "fallback_used": d.fallback_used(),
            "no_choice": d.no_choice(),
        })
        .to_string()
    }

    fn request(n: u32, age: i64) -> Request {
        let region = ["north", "south"][n as usize % 2];
        let context = json!({
            "region": region, "segment": "young_family",
            "plan": "basic", "tenure_months": 3 + n, "monthly_spend": 25.5 + f64::from(n),
            "open_complaint": n % 3 == 0, "marketing_consent": n % 4 != 0,
            "credit_score": 500 + 20 * n, "products": ["tv"], "age": age
        });
        let tracks = ["greet", "ask_current_plan", "needs_discovery"];
        let k = n as usize % 3;
        Request::from_json(
            &json!({
                "conversation_id": format!("c-{n}"),
                "time": "2026-11-26T10:05:00.250Z",
                "context": context,
                "history": {"tracks": tracks[..k], "replies": vec!["neutral"; k]},
            })
            .to_string(),
        )
        .unwrap()
    }

    /// The line `fmt` writes for the decision `a` on `req` in deployment
    /// `default`, and the line the Value-built log wrote for it.
    fn line_and_reference(
        fmt: &mut Formatter,
        req: &Request,
        a: &Assigned,
        shadow: Option<&ShadowDecision>,
    ) -> (String, String) {
        let r = DecisionRecord {
            id: &a.id,
            request: req,
            decision: &a.decision,
            version: &a.version,
            arm: a.arm,
            shadow,
        };
        let mut line = Vec::new();
        fmt.write(&Record::decision(&Arc::from("default"), &r), &mut line)
            .unwrap();
        let expected = reference(&fmt.cfg, "default", &r);
        (String::from_utf8(line).unwrap(), expected)
    }

    #[test]
    fn lines_are_what_the_value_built_log_wrote() {
        let engine = Engine::load(EXAMPLE).unwrap();
        let mut configs = vec![LogConfig::new("unused.jsonl")];
        for mode in [Protected::Raw, Protected::Omit] {
            let mut c = LogConfig::new("unused.jsonl");
            c.protected = mode;
            configs.push(c);
        }
        let mut c = LogConfig::new("unused.jsonl");
        c.per_attribute.insert("age".into(), Protected::Raw);
        configs.push(c);
        let mut compared = 0;
        for cfg in configs {
            let mut fmt = Formatter::new(Arc::new(cfg));
            for n in 0..12 {
                let age = [12, 16, 18, 34, 70][n as usize % 5];
                let req = request(n, age);
                let a = engine.decide_assigned(&req).unwrap();
                let shadow = match n % 3 {
                    0 => None,
                    1 => Some(ShadowDecision {
                        version: a.version.clone(),
                        result: Ok(a.decision.clone()),
                    }),
                    _ => Some(ShadowDecision {
                        version: a.version.clone(),
                        result: Err(DecideError::TooLarge { size: 9 }),
                    }),
                };
                let (line, expected) = line_and_reference(&mut fmt, &req, &a, shadow.as_ref());
                assert_eq!(line, expected);
                compared += 1;
            }
        }
        assert_eq!(compared, 48);
    }

    /// Copies `from` into `to`, recursively.
    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }

    #[test]
    fn lines_stay_exact_across_more_bundles_than_the_formatter_keeps() {
        // More versions than the formatter keeps parts for, visited twice, so that
        // its cache starts afresh and parts are rebuilt for bundles it saw before.
        let dir = tempfile::tempdir().unwrap();
        let n = KEPT_BUNDLES + 3;
        let engines: Vec<Engine> = (0..n)
            .map(|i| {
                let to = dir.path().join(format!("v{i}"));
                copy_dir(std::path::Path::new(EXAMPLE), &to);
                let manifest = std::fs::read_to_string(to.join("bundle.toml")).unwrap();
                let manifest =
                    manifest.replacen("version = \"0.1.0\"", &format!("version = \"0.1.{i}\""), 1);
                std::fs::write(to.join("bundle.toml"), manifest).unwrap();
                Engine::load(&to).unwrap()
            })
            .collect();
        let cfg = Arc::new(LogConfig::new("unused.jsonl"));
        let mut fmt = Formatter::new(cfg);
        let mut digests = std::collections::BTreeSet::new();
        for round in 0..2u32 {
            for (i, engine) in engines.iter().enumerate() {
                let req = request((round + i as u32) % 12, 34);
                let a = engine.decide_assigned(&req).unwrap();
                digests.insert(a.version.digest.clone());
                let (line, expected) = line_and_reference(&mut fmt, &req, &a, None);
                assert_eq!(line, expected);
                assert!(fmt.parts.len() <= KEPT_BUNDLES);
            }
        }
        assert_eq!(digests.len(), n, "every copy is a distinct version");
    }

    #[test]
    fn outcome_lines_keep_their_form() {
        let o = Outcome {
            conversation_id: "c-1".into(),
            decision_id: Some(DecisionId::new()),
            converted: true,
            value: 30.0,
            final_reply: Some("positive".into()),
        };
        let mut line = Vec::new();
        let name: Arc<str> = Arc::from("north");
        let rec = Record::outcome(&name, &o);
        let mut fmt = Formatter::new(Arc::new(LogConfig::new("unused.jsonl")));
        fmt.write(&rec, &mut line).unwrap();
        let Record::Outcome(e) = &rec else {
            panic!("an outcome record")
        };
        let at = e
            .recorded_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let mut v = serde_json::to_value(&o).unwrap();
        v["kind"] = json!("outcome");
        v["deployment"] = json!("north");
        v["recorded_at"] = json!(at);
        assert_eq!(String::from_utf8(line).unwrap(), v.to_string());
    }
}
