//! The decision log: one JSON line per decision and per outcome, written by a
//! thread behind a bounded queue so that logging never blocks a decision.
//!
//! When the queue is full a record is dropped and counted
//! (`talktrack_decision_log_records_total{result="dropped"}`), never silently. The
//! file rotates by size (`F` → `F.1` → … → `F.<keep>`). Protected context attributes
//! are logged as configured per attribute: `raw`, `intervals` (the default) or
//! `omit`; see [`Protected`].

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Map, Value};
use talktrack::serving::{DecisionRecord, DecisionSink, Outcome};
use talktrack::tooling::AttrType;
use talktrack::Bundle;

/// How a protected attribute is logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protected {
    /// The value as sent.
    Raw,
    /// A numeric value as the interval between the values the bundle's rules compare
    /// the attribute with (literals, and track attributes' values) (`{"eq": t}` on a literal, else `{"gt": lo, "lt": hi}`, an
    /// end left out when unbounded), so those rules stay decidable on replay; any
    /// other type is omitted.
    #[default]
    Intervals,
    /// Not logged.
    Omit,
}

impl std::str::FromStr for Protected {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raw" => Ok(Self::Raw),
            "intervals" => Ok(Self::Intervals),
            "omit" => Ok(Self::Omit),
            _ => Err(format!(
                "`{s}` is not a protected-attribute mode (raw, intervals, omit)"
            )),
        }
    }
}

/// Where and how the decision log is written.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The JSONL file.
    pub path: PathBuf,
    /// Rotate once the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: u32,
    /// Records queued at most; more are dropped and counted.
    pub queue: usize,
    /// The mode for protected attributes not named in `per_attribute`.
    pub protected: Protected,
    /// Per protected attribute, a mode overriding `protected`.
    pub per_attribute: BTreeMap<String, Protected>,
}

impl LogConfig {
    /// Defaults: 64 MiB files, 5 kept, a queue of 65,536 records, intervals.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_bytes: 64 << 20,
            keep: 5,
            queue: 65_536,
            protected: Protected::Intervals,
            per_attribute: BTreeMap::new(),
        }
    }
}

/// Per protected attribute, the sorted values the rules compare it with.
type Thresholds = BTreeMap<String, Vec<f64>>;

/// The sink the engine hands decisions to: formats a line and queues it.
pub struct LogSink {
    tx: SyncSender<String>,
    dropped: Arc<AtomicU64>,
    cfg: Arc<LogConfig>,
    thresholds: Mutex<HashMap<String, Arc<Thresholds>>>,
}

/// The writer thread; [`LogWriter::finish`] waits until every queued record is on disk.
pub struct LogWriter {
    handle: JoinHandle<std::io::Result<()>>,
}

/// Opens the log and starts its writer. Records written and dropped are counted in
/// `written` and `dropped`.
pub fn start(
    cfg: LogConfig,
    written: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
) -> std::io::Result<(LogSink, LogWriter)> {
    let file = open(&cfg.path)?;
    let size = file.metadata().map_or(0, |m| m.len());
    let (tx, rx) = sync_channel(cfg.queue.max(1));
    let cfg = Arc::new(cfg);
    let wcfg = Arc::clone(&cfg);
    let handle = std::thread::Builder::new()
        .name("decision-log".into())
        .spawn(move || write_loop(&wcfg, rx, BufWriter::new(file), size, &written))?;
    Ok((
        LogSink {
            tx,
            dropped,
            cfg,
            thresholds: Mutex::new(HashMap::new()),
        },
        LogWriter { handle },
    ))
}

impl LogWriter {
    /// Waits for the writer to drain the queue and flush; call after the sink is
    /// dropped (the engine's sink removed).
    pub fn finish(self) -> std::io::Result<()> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the decision-log writer stopped")))
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn write_loop(
    cfg: &LogConfig,
    rx: Receiver<String>,
    mut out: BufWriter<File>,
    mut size: u64,
    written: &AtomicU64,
) -> std::io::Result<()> {
    loop {
        let line = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                out.flush()?;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let n = line.len() as u64 + 1;
        if size > 0 && size + n > cfg.max_bytes {
            out.flush()?;
            rotate(&cfg.path, cfg.keep)?;
            out = BufWriter::new(open(&cfg.path)?);
            size = 0;
        }
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        size += n;
        written.fetch_add(1, Ordering::Relaxed);
    }
    out.flush()
}

fn rotated(path: &Path, k: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{k}"));
    PathBuf::from(s)
}

fn rotate(path: &Path, keep: u32) -> std::io::Result<()> {
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    for k in (1..keep).rev() {
        let from = rotated(path, k);
        if from.exists() {
            std::fs::rename(&from, rotated(path, k + 1))?;
        }
    }
    std::fs::rename(path, rotated(path, 1))
}

impl LogSink {
    fn send(&self, line: String) {
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn thresholds(&self, b: &Bundle) -> Arc<Thresholds> {
        let mut cache = self.thresholds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = cache.get(b.digest()) {
            return Arc::clone(t);
        }
        let t = Arc::new(rule_thresholds(b));
        cache.insert(b.digest().to_owned(), Arc::clone(&t));
        t
    }

    fn mode(&self, attr: &str) -> Protected {
        self.cfg
            .per_attribute
            .get(attr)
            .copied()
            .unwrap_or(self.cfg.protected)
    }
}

/// Per numeric protected attribute, the values the bundle's rules compare
/// `customer.<attr>` with (number literals, and every track's value of a track
/// attribute compared with it), sorted.
fn rule_thresholds(b: &Bundle) -> Thresholds {
    let mut texts = Vec::new();
    for rel in &b.manifest().rules {
        if let Ok(t) = std::fs::read_to_string(b.dir().join(rel)) {
            texts.push(t);
        }
    }
    let mut out = BTreeMap::new();
    for a in b.schema().attrs() {
        if !a.protected || !a.ty.is_numeric() {
            continue;
        }
        let mut ts: Vec<f64> = Vec::new();
        for other in texts
            .iter()
            .flat_map(|t| literals_compared(t, &format!("customer.{}", a.name)))
        {
            match other {
                Other::Number(n) => ts.push(n),
                Other::TrackAttr(name) => {
                    ts.extend(b.catalog().tracks().iter().filter_map(
                        |t| match t.attrs.get(&name) {
                            Some(talktrack::Value::Int(i)) => Some(*i as f64),
                            Some(talktrack::Value::Float(f)) => Some(*f),
                            _ => None,
                        },
                    ));
                }
            }
        }
        ts.sort_by(f64::total_cmp);
        ts.dedup();
        out.insert(a.name.clone(), ts);
    }
    out
}

/// What a comparison with the attribute compares it with.
#[derive(Debug, PartialEq)]
enum Other {
    /// A number literal.
    Number(f64),
    /// A track attribute (`track.<name>`): every track's value counts.
    TrackAttr(String),
}

/// The other side of each comparison with `path` in `text`, either way round.
fn literals_compared(text: &str, path: &str) -> Vec<Other> {
    const OPS: [&str; 6] = ["<=", ">=", "==", "!=", "<", ">"];
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut from = 0;
        while let Some(i) = line[from..].find(path) {
            let start = from + i;
            let end = start + path.len();
            from = end;
            let ident = |c: char| c.is_alphanumeric() || c == '_';
            if line[end..].starts_with(ident) || line[..start].ends_with(ident) {
                continue;
            }
            let after = line[end..].trim_start();
            if let Some(op) = OPS.iter().find(|o| after.starts_with(**o)) {
                out.extend(leading_other(after[op.len()..].trim_start()));
            }
            let before = line[..start].trim_end();
            if let Some(op) = OPS.iter().find(|o| before.ends_with(**o)) {
                out.extend(trailing_other(before[..before.len() - op.len()].trim_end()));
            }
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

fn leading_other(s: &str) -> Option<Other> {
    if let Some(rest) = s.strip_prefix("track.") {
        let end = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
        return Some(Other::TrackAttr(rest[..end].to_owned()));
    }
    leading_number(s).map(Other::Number)
}

fn trailing_other(s: &str) -> Option<Other> {
    let start = s.rfind(|c: char| !is_word(c)).map_or(0, |i| i + 1);
    if let Some(name) = s[start..].strip_prefix("track.") {
        return Some(Other::TrackAttr(name.to_owned()));
    }
    trailing_number(s).map(Other::Number)
}

fn is_num(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || c == '-' || c == '_'
}

fn leading_number(s: &str) -> Option<f64> {
    let end = s.find(|c: char| !is_num(c)).unwrap_or(s.len());
    s[..end].replace('_', "").parse().ok()
}

fn trailing_number(s: &str) -> Option<f64> {
    let start = s.rfind(|c: char| !is_num(c)).map_or(0, |i| i + 1);
    s[start..].replace('_', "").parse().ok()
}

/// The interval of `v` between consecutive `thresholds`.
fn interval(v: f64, thresholds: &[f64]) -> Value {
    if thresholds.contains(&v) {
        return json!({ "eq": v });
    }
    let mut m = Map::new();
    if let Some(lo) = thresholds.iter().rev().find(|t| **t < v) {
        m.insert("gt".into(), json!(lo));
    }
    if let Some(hi) = thresholds.iter().find(|t| **t > v) {
        m.insert("lt".into(), json!(hi));
    }
    Value::Object(m)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The sink one deployment's engine hands its decisions to: the shared log, with
/// the deployment's name on every record.
pub struct Named {
    name: String,
    log: Arc<LogSink>,
}

impl Named {
    /// Records of deployment `name` into `log`.
    pub fn new(name: &str, log: Arc<LogSink>) -> Self {
        Self {
            name: name.to_owned(),
            log,
        }
    }
}

impl DecisionSink for Named {
    fn decision(&self, r: &DecisionRecord<'_>) {
        self.log.decision(&self.name, r);
    }

    fn outcome(&self, o: &Outcome) {
        self.log.outcome(&self.name, o);
    }
}

/// The propensity of the chosen track: its selection probability.
fn propensity(d: &talktrack::Decision) -> Option<f32> {
    d.chosen().map(|c| {
        d.ranked()
            .iter()
            .find(|x| x.track as usize == c)
            .map_or(1.0, |x| x.probability)
    })
}

fn bundle_json(v: &talktrack::serving::Version) -> Value {
    json!({"name": v.name, "version": v.version, "digest": v.digest})
}

impl LogSink {
    fn decision(&self, deployment: &str, r: &DecisionRecord<'_>) {
        let d = r.decision;
        let b = d.bundle();
        let mut context = match serde_json::to_value(&r.request.context) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut protected = Map::new();
        let mut thresholds = None;
        for a in b.schema().attrs().iter().filter(|a| a.protected) {
            let mode = match (self.mode(&a.name), &a.ty) {
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
                        let ts = thresholds.get_or_insert_with(|| self.thresholds(b));
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
        let chosen = d.chosen();
        let shadow = r.shadow.map(|s| match &s.result {
            Ok(sd) => json!({
                "bundle": bundle_json(&s.version),
                "chosen": sd.chosen_id(),
                "propensity": propensity(sd),
            }),
            Err(e) => json!({"bundle": bundle_json(&s.version), "error": e.to_string()}),
        });
        let line = json!({
            "kind": "decision",
            "decision_id": r.id,
            "deployment": deployment,
            "arm": r.arm,
            "conversation_id": r.request.conversation_id,
            "time": talktrack_time(r.request.time),
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
                "track": id(x.track as usize), "score": x.score, "probability": x.probability,
            })).collect::<Vec<_>>(),
            "chosen": chosen.map(id),
            "propensity": propensity(d),
            "fallback_used": d.fallback_used(),
            "no_choice": d.no_choice(),
        });
        self.send(line.to_string());
    }

    fn outcome(&self, deployment: &str, o: &Outcome) {
        let mut v = match serde_json::to_value(o) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        v.insert("kind".into(), json!("outcome"));
        v.insert("deployment".into(), json!(deployment));
        v.insert("recorded_at".into(), json!(now_rfc3339()));
        self.send(Value::Object(v).to_string());
    }
}

fn talktrack_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
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

    #[test]
    fn finds_literals_either_side_of_a_comparison() {
        let rules = "rule a\n  when customer.age < 18 and 65 <= customer.age # customer.age > 99\n  forbid track x\nrule b\n  when customer.ages > 3 or customer.age == 21\n  forbid track y\n";
        assert_eq!(
            literals_compared(rules, "customer.age"),
            [18.0, 65.0, 21.0].map(Other::Number)
        );
        let rules = "rule c\n  forbid tracks where track.min_age > customer.age\n";
        assert_eq!(
            literals_compared(rules, "customer.age"),
            [Other::TrackAttr("min_age".into())]
        );
    }

    #[test]
    fn intervals_keep_comparisons_decidable() {
        let ts = [18.0, 21.0, 65.0];
        assert_eq!(interval(30.0, &ts), json!({"gt": 21.0, "lt": 65.0}));
        assert_eq!(interval(18.0, &ts), json!({"eq": 18.0}));
        assert_eq!(interval(10.0, &ts), json!({"lt": 18.0}));
        assert_eq!(interval(70.0, &ts), json!({"gt": 65.0}));
        assert_eq!(interval(70.0, &[]), json!({}));
    }

    #[test]
    fn rotates_by_size_and_counts_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let mut cfg = LogConfig::new(&path);
        cfg.max_bytes = 100;
        cfg.keep = 2;
        let (w, d) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (sink, writer) = start(cfg, w.clone(), d.clone()).unwrap();
        for i in 0..10 {
            sink.send(format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(30)));
        }
        drop(sink);
        writer.finish().unwrap();
        assert_eq!(w.load(Ordering::Relaxed) + d.load(Ordering::Relaxed), 10);
        assert!(rotated(&path, 1).exists());
        assert!(rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        for p in [path.clone(), rotated(&path, 1)] {
            let t = std::fs::read_to_string(&p).unwrap();
            assert!(t.len() as u64 <= 100, "{}", t.len());
            assert!(t.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
        }

        // A full queue drops and counts.
        let (tx, _rx) = sync_channel(1);
        let dropped = Arc::new(AtomicU64::new(0));
        let sink = LogSink {
            tx,
            dropped: dropped.clone(),
            cfg: Arc::new(LogConfig::new(dir.path().join("e.jsonl"))),
            thresholds: Mutex::new(HashMap::new()),
        };
        for i in 0..3 {
            sink.send(format!("{{\"n\":{i}}}"));
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 2);
    }
}
