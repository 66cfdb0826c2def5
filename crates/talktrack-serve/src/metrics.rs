//! The server's counters and latency histogram, exposed in the Prometheus text
//! format at `GET /metrics`.
//!
//! Counters are atomics; the few labelled families (decisions by version, masks by
//! rule) sit behind read-mostly locks whose write side runs once per new label.
//! A decision's labels are written into a per-thread buffer to be looked up, so
//! counting allocates only for labels not seen before.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use talktrack::serving::{Arm, Version};
use talktrack::Decision;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

/// A labelled family of counters.
#[derive(Default)]
struct Family(RwLock<BTreeMap<String, Arc<AtomicU64>>>);

thread_local! {
    /// Where a decision's labels are written before they are looked up, so that
    /// counting one allocates nothing once its labels have been seen.
    static LABELS: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Family {
    fn add(&self, labels: &str, n: u64) {
        if let Ok(m) = self.0.read() {
            if let Some(c) = m.get(labels) {
                c.fetch_add(n, Ordering::Relaxed);
                return;
            }
        }
        if let Ok(mut m) = self.0.write() {
            m.entry(labels.to_owned())
                .or_default()
                .fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds `n` to the counter of the labels `write` writes.
    fn add_with(&self, n: u64, write: impl FnOnce(&mut String)) {
        LABELS.with(|buf| match buf.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                write(&mut buf);
                self.add(&buf, n);
            }
            Err(_) => {
                let mut own = String::new();
                write(&mut own);
                self.add(&own, n);
            }
        });
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        if let Ok(m) = self.0.read() {
            for (labels, c) in m.iter() {
                let _ = writeln!(out, "{name}{{{labels}}} {}", c.load(Ordering::Relaxed));
            }
        }
    }
}

/// Every metric the server exports.
#[derive(Default)]
pub struct Metrics {
    decisions: Family,
    shadow_errors: Family,
    masked: Family,
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_ns: AtomicU64,
    latency_count: AtomicU64,
    fallback: AtomicU64,
    no_choice: AtomicU64,
    rule_errors: AtomicU64,
    bad_requests: AtomicU64,
    /// Reloads that published or confirmed a version.
    pub reloads_ok: AtomicU64,
    /// Reloads rejected because the bundle did not validate.
    pub reloads_failed: AtomicU64,
    /// Decision-log records written (shared with the writer thread).
    pub log_written: Arc<AtomicU64>,
    /// Decision-log records dropped because the queue was full.
    pub log_dropped: Arc<AtomicU64>,
}

/// Writes the labels of a decision counter.
fn labels(out: &mut String, deployment: &str, arm: &str, v: &Version) {
    label(out, "deployment", deployment);
    for (name, value) in [
        ("arm", arm),
        ("bundle", &v.name),
        ("version", &v.version),
        ("digest", &v.digest),
    ] {
        out.push(',');
        label(out, name, value);
    }
}

/// Writes one label, `name="value"`, its value escaped.
fn label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    esc(out, value);
    out.push('"');
}

/// Writes `s` escaped as a label value.
fn esc(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl Metrics {
    /// Counts one decision served by `arm` of deployment `deployment` with
    /// `version`, and what it masked.
    pub fn decision(
        &self,
        deployment: &str,
        arm: Arm,
        version: &Version,
        d: &Decision,
        took: Duration,
    ) {
        self.decisions
            .add_with(1, |out| labels(out, deployment, arm.as_str(), version));
        for (rule, n) in d.mask_counts() {
            self.masked
                .add_with(u64::from(n), |out| label(out, "rule", &rule.id));
        }
        if d.fallback_used() {
            self.fallback.fetch_add(1, Ordering::Relaxed);
        }
        if d.no_choice().is_some() {
            self.no_choice.fetch_add(1, Ordering::Relaxed);
        }
        let errs = d.rule_errors().len() as u64;
        if errs > 0 {
            self.rule_errors.fetch_add(errs, Ordering::Relaxed);
        }
        let s = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one shadow decision (made, or failed) of `version` in `deployment`.
    pub fn shadow(&self, deployment: &str, version: &Version, ok: bool) {
        if ok {
            self.decisions
                .add_with(1, |out| labels(out, deployment, "shadow", version));
        } else {
            self.shadow_errors
                .add_with(1, |out| label(out, "deployment", deployment));
        }
    }

    /// Counts one request refused as bad input.
    pub fn bad_request(&self) {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.decisions.write(
            &mut out,
            "talktrack_decisions_total",
            "Decisions made, by deployment, arm (champion, challenger, shadow) and bundle version.",
        );
        self.shadow_errors.write(
            &mut out,
            "talktrack_shadow_errors_total",
            "Requests a shadow could not decide (the champion's decision was served), by deployment.",
        );
        self.masked.write(
            &mut out,
            "talktrack_masked_tracks_total",
            "Tracks masked, by the rule that masked them.",
        );
        let _ = writeln!(
            out,
            "# HELP talktrack_decide_seconds Time to decide one request.\n# TYPE talktrack_decide_seconds histogram"
        );
        let mut cum = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += self.latency[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "talktrack_decide_seconds_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += self.latency[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "talktrack_decide_seconds_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            out,
            "talktrack_decide_seconds_sum {}\ntalktrack_decide_seconds_count {}",
            self.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            self.latency_count.load(Ordering::Relaxed)
        );
        let plain = [
            (
                "talktrack_fallback_total",
                "Decisions that served the fallback track.",
                &self.fallback,
            ),
            (
                "talktrack_no_choice_total",
                "Decisions where no track was allowed.",
                &self.no_choice,
            ),
            (
                "talktrack_rule_errors_total",
                "Rules that could not be evaluated and failed closed.",
                &self.rule_errors,
            ),
            (
                "talktrack_bad_requests_total",
                "Requests refused as bad input.",
                &self.bad_requests,
            ),
        ];
        for (name, help, c) in plain {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP talktrack_reloads_total Bundle reloads, by result.\n# TYPE talktrack_reloads_total counter\ntalktrack_reloads_total{{result=\"ok\"}} {}\ntalktrack_reloads_total{{result=\"failed\"}} {}",
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP talktrack_decision_log_records_total Decision-log records, by fate.\n# TYPE talktrack_decision_log_records_total counter\ntalktrack_decision_log_records_total{{result=\"written\"}} {}\ntalktrack_decision_log_records_total{{result=\"dropped\"}} {}",
            self.log_written.load(Ordering::Relaxed),
            self.log_dropped.load(Ordering::Relaxed)
        );
        out
    }
}
