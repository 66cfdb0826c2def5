//! The decision log: one JSON line per decision and per outcome, written by a
//! thread behind a bounded queue so that logging never blocks a decision.
//!
//! The deciding thread only queues an owned record (the decision, whose bundle is
//! shared, and the parts of the request the log keeps, see `record`); the writer
//! thread formats the lines and writes them through a large buffer, flushed when the
//! queue has been idle for a moment, before a rotation and at shutdown. A busy
//! writer polls the queue instead of waiting on it, so queueing a record costs a
//! deciding thread no wake-up. When the queue is full a record is dropped and counted
//! (`talktrack_decision_log_records_total{result="dropped"}`), never silently. The
//! file rotates by size (`F` → `F.1` → … → `F.<keep>`). Protected context attributes
//! are logged as configured per attribute: `raw`, `intervals` (the default) or
//! `omit`; see [`Protected`].

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use talktrack::serving::{DecisionRecord, DecisionSink, Outcome};

mod intervals;
mod record;

use record::{Formatter, Record};

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

    /// The mode protected attribute `attr` is configured to be logged in.
    pub fn mode(&self, attr: &str) -> Protected {
        self.per_attribute
            .get(attr)
            .copied()
            .unwrap_or(self.protected)
    }
}

/// How long the queue stays empty before the writer flushes what it buffered and
/// waits for the next record.
const IDLE_FLUSH: Duration = Duration::from_millis(200);

/// How often a busy writer looks at the queue.
const POLL: Duration = Duration::from_millis(5);

/// The writer's buffer: records reach the file in writes of this size under load.
const WRITE_BUFFER: usize = 256 << 10;

/// The sink the engines hand decisions to: queues an owned record for the writer.
pub struct LogSink {
    tx: SyncSender<Record>,
    dropped: Arc<AtomicU64>,
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
    let out = Output {
        file: BufWriter::with_capacity(WRITE_BUFFER, file),
        size,
    };
    let counts = Counts {
        written,
        dropped: Arc::clone(&dropped),
    };
    let handle = std::thread::Builder::new()
        .name("decision-log".into())
        .spawn(move || write_loop(&cfg, &rx, out, &counts))?;
    Ok((LogSink { tx, dropped }, LogWriter { handle }))
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

/// The file being written and its size so far (flushed or not).
struct Output {
    file: BufWriter<File>,
    size: u64,
}

/// What the writer counts.
struct Counts {
    written: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

/// Writes records as they come. While records keep coming the writer looks at the
/// queue every [`POLL`] rather than waiting on it, so a deciding thread never has to
/// wake it; once the queue has been idle for [`IDLE_FLUSH`] it flushes and waits.
fn write_loop(
    cfg: &Arc<LogConfig>,
    rx: &Receiver<Record>,
    mut out: Output,
    counts: &Counts,
) -> std::io::Result<()> {
    let mut fmt = Formatter::new(Arc::clone(cfg));
    let mut line = Vec::with_capacity(4096);
    let mut last = Instant::now();
    loop {
        let record = match rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) if last.elapsed() < IDLE_FLUSH => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(TryRecvError::Empty) => {
                out.file.flush()?;
                match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        last = Instant::now();
        line.clear();
        if fmt.write(&record, &mut line).is_err() {
            // Not expected (every field is plain data), but never silent.
            counts.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        line.push(b'\n');
        write_line(cfg, &mut out, &line)?;
        counts.written.fetch_add(1, Ordering::Relaxed);
    }
    out.file.flush()
}

/// Appends one line (with its newline), rotating first when it would take the
/// file past the size limit.
fn write_line(cfg: &LogConfig, out: &mut Output, line: &[u8]) -> std::io::Result<()> {
    let n = line.len() as u64;
    if out.size > 0 && out.size + n > cfg.max_bytes {
        out.file.flush()?;
        rotate(&cfg.path, cfg.keep)?;
        out.file = BufWriter::with_capacity(WRITE_BUFFER, open(&cfg.path)?);
        out.size = 0;
    }
    out.file.write_all(line)?;
    out.size += n;
    Ok(())
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
    fn send(&self, r: Record) {
        match self.tx.try_send(r) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The sink one deployment's engine hands its decisions to: the shared log, with
/// the deployment's name on every record.
pub struct Named {
    name: Arc<str>,
    log: Arc<LogSink>,
}

impl Named {
    /// Records of deployment `name` into `log`.
    pub fn new(name: &str, log: Arc<LogSink>) -> Self {
        Self {
            name: Arc::from(name),
            log,
        }
    }
}

impl DecisionSink for Named {
    fn decision(&self, r: &DecisionRecord<'_>) {
        self.log.send(Record::decision(&self.name, r));
    }

    fn outcome(&self, o: &Outcome) {
        self.log.send(Record::outcome(&self.name, o));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(n: usize) -> Outcome {
        Outcome {
            conversation_id: format!("c-{n}-{}", "x".repeat(30)),
            decision_id: None,
            converted: n % 2 == 0,
            value: n as f64,
            final_reply: None,
        }
    }

    #[test]
    fn rotates_by_size_and_counts_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let mut cfg = LogConfig::new(&path);
        cfg.max_bytes = 300;
        cfg.keep = 2;
        let (w, d) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (sink, writer) = start(cfg, w.clone(), d.clone()).unwrap();
        let named = Named::new("default", Arc::new(sink));
        for i in 0..10 {
            named.outcome(&outcome(i));
        }
        drop(named);
        writer.finish().unwrap();
        assert_eq!(w.load(Ordering::Relaxed) + d.load(Ordering::Relaxed), 10);
        assert!(rotated(&path, 1).exists());
        assert!(rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        for p in [path.clone(), rotated(&path, 1), rotated(&path, 2)] {
            let t = std::fs::read_to_string(&p).unwrap();
            assert!(t.len() as u64 <= 300, "{}", t.len());
            for l in t.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(
                    (&v["kind"], &v["deployment"]),
                    (&"outcome".into(), &"default".into())
                );
            }
        }
        // The newest records are in the file being written.
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("\"c-9-"), "{last}");

        // A full queue drops and counts.
        let (tx, _rx) = sync_channel(1);
        let dropped = Arc::new(AtomicU64::new(0));
        let sink = LogSink {
            tx,
            dropped: dropped.clone(),
        };
        let name: Arc<str> = Arc::from("default");
        for i in 0..3 {
            sink.send(Record::outcome(&name, &outcome(i)));
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 2);
    }
}
