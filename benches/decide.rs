//! Runtime benchmark: bundle load, rules alone, policy forward alone, full `decide`,
//! and tract's bare forward pass of the same network, for the medium and large
//! synthetic bundles and for the medium bundle with contact policies (`medium+c`:
//! 10% of its rules count past contacts, every request carries 50). Prints a table
//! of p50 / p90 / mean per operation, each case's `decide − bare forward` against
//! its limit, and the contact rules' cost next to the plain medium rule set's,
//! measured in alternating rounds.
//!
//! Run with `cargo bench --bench decide` (release build, one thread).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use talktrack::synth::SynthSpec;
use talktrack::tooling::ast::ExprKind;
use talktrack::tooling::{ContactLog, TurnView};
use talktrack::tooling::{Policy, PolicyLimits, RuleSet, Verdict};
use talktrack::Bundle;
use talktrack::{Contact, Engine, Request};
use tract_onnx::prelude::*;

struct Stats {
    p50: Duration,
    p90: Duration,
    mean: Duration,
}

/// The time the rules are evaluated at when timed alone: the synthetic requests' time.
const NOW_MS: i64 = 1_767_225_600_000;

/// Rounds of alternating bare forward / full decide measurements.
const ROUNDS: usize = 20;

/// The limits on `decide − bare forward` the README states, µs: medium, large.
const MEDIUM_LIMIT_US: f64 = 2.0;
const LARGE_LIMIT_US: f64 = 8.0;

/// The most the contact policies may cost: rules alone on `medium+c` at most this
/// many times rules alone on `medium`.
const CONTACT_RULES_TARGET: f64 = 1.5;

fn samples(iters: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..iters / 10 + 1 {
        f();
    }
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times
}

fn stats(mut times: Vec<Duration>) -> Stats {
    times.sort();
    let total: Duration = times.iter().sum();
    Stats {
        p50: times[times.len() / 2],
        p90: times[times.len() * 9 / 10],
        mean: total / times.len() as u32,
    }
}

fn measure(iters: usize, f: impl FnMut()) -> Stats {
    stats(samples(iters, f))
}

fn us(d: Duration) -> String {
    format!("{:>10.2}", d.as_secs_f64() * 1e6)
}

fn row(case: &str, op: &str, s: &Stats) {
    println!(
        "| {case:<8} | {op:<28} | {} | {} | {} |",
        us(s.p50),
        us(s.p90),
        us(s.mean)
    );
}

/// A request resolved ahead of time, so that the rules can be timed without it.
struct Parts {
    values: talktrack::tooling::Resolved<'static>,
    used: Vec<u16>,
    last: Option<u32>,
    contacts: ContactLog,
}

impl Parts {
    fn view(&self, now_ms: i64, turn: u32) -> TurnView<'_> {
        TurnView {
            values: &self.values,
            now_ms,
            turn,
            max_turns: 20,
            used: &self.used,
            last_reply: self.last,
            embedding: None,
            contacts: &self.contacts,
        }
    }

    fn turn(&self) -> u32 {
        (self.used.iter().map(|&u| u as u32).sum::<u32>()).min(19)
    }
}

fn view_parts(b: &Bundle, req: &Request) -> Parts {
    // Owned copies so the rules can be timed without the request resolution.
    let leaked: &'static Request = Box::leak(Box::new(req.clone()));
    let mut values = talktrack::tooling::Resolved::new();
    b.schema()
        .resolve(&leaked.context, &mut values)
        .expect("request fits the schema");
    let mut used = vec![0u16; b.catalog().len()];
    for t in &leaked.history.tracks {
        if let Some(i) = b.catalog().index(t) {
            used[i] += 1;
        }
    }
    let last = leaked.history.replies.last().and_then(|r| b.reply_index(r));
    // As `decide` counts them: the contacts of other conversations.
    let others: Vec<Contact> = leaked
        .contacts
        .iter()
        .filter(|c| c.conversation_id.as_deref() != Some(leaked.conversation_id.as_str()))
        .cloned()
        .collect();
    let contacts = talktrack::tooling::past_contacts(b.as_template(), &others, leaked.time)
        .expect("contacts fit the bundle");
    Parts {
        values,
        used,
        last,
        contacts,
    }
}

/// Ids of the rules of a bundle's rule file whose conditions count contacts.
fn contact_rule_ids(rules_text: &str) -> BTreeSet<String> {
    let file = talktrack::tooling::parse(rules_text, Path::new("synthetic.rules"))
        .expect("synthetic rules parse");
    file.rules
        .iter()
        .filter(|r| {
            let mut reads = false;
            if let Some(w) = &r.when {
                w.walk(&mut |e| reads |= matches!(e.kind, ExprKind::Contacts(_)));
            }
            reads
        })
        .map(|r| r.id.text.clone())
        .collect()
}

/// Evaluates the rules on every request's parts, timing each evaluation.
fn rules_samples(
    rules: &RuleSet,
    parts: &[Parts],
    verdict: &mut Verdict,
    iters: usize,
) -> Vec<Duration> {
    let mut i = 0;
    samples(iters, || {
        let p = &parts[i % parts.len()];
        i += 1;
        rules.evaluate(&p.view(NOW_MS, p.turn()), verdict);
        std::hint::black_box(&*verdict);
    })
}

/// Rows scored per call in the batched rows: one by one through the single-row
/// plan, then in one call through a plan loaded with `max_batch` = [`BATCH`].
const BATCH: usize = 64;

/// Scoring [`BATCH`] observations: one by one, and as one batch.
fn batch_forward(name: &str, b: &Bundle, spec: &SynthSpec) {
    let bytes = spec.policy_bytes().expect("policy bytes");
    let limits = PolicyLimits {
        max_batch: BATCH,
        ..PolicyLimits::default()
    };
    let io = b.policy().io().clone();
    let policy = Policy::from_bytes_with_limits(&bytes, &io, Path::new("policy.onnx"), &limits)
        .expect("batched policy loads");
    assert_eq!(policy.batch_rows(), BATCH);
    let obs: Vec<f32> = (0..BATCH * spec.obs_dim)
        .map(|i| (i % 17) as f32 / 17.0)
        .collect();
    let mut out = vec![0.0f32; BATCH * spec.tracks];
    let one_by_one = measure(500, || {
        for (o, s) in obs.chunks(spec.obs_dim).zip(out.chunks_mut(spec.tracks)) {
            policy.scores(o, s).expect("policy runs");
        }
        std::hint::black_box(&out);
    });
    row(name, "64 rows, one by one", &one_by_one);
    let batched = measure(500, || {
        policy
            .scores_batch(&obs, None, &mut out)
            .expect("policy runs");
        std::hint::black_box(&out);
    });
    row(name, "64 rows, one batch", &batched);
}

fn bench(name: &str, spec: SynthSpec, limit_us: f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    spec.write(dir.path()).expect("write bundle");

    let load = measure(20, || {
        let _ = Bundle::load(dir.path()).expect("bundle loads");
    });
    row(name, "bundle load", &load);

    let b = Arc::new(Bundle::load(dir.path()).expect("bundle loads"));
    let engine = Engine::with_bundle(Arc::clone(&b));
    let reqs: Vec<Request> = (0..64).map(|n| spec.request(n)).collect();
    let parts: Vec<_> = reqs.iter().map(|r| view_parts(&b, r)).collect();
    let mut verdict = Verdict::new(b.catalog().len());
    let rules = stats(rules_samples(b.rules(), &parts, &mut verdict, 20_000));
    row(name, "rules alone", &rules);

    let obs = vec![0.1f32; spec.obs_dim];
    let mut scores = vec![0.0f32; spec.tracks];
    let fwd = measure(5_000, || {
        b.policy().scores(&obs, &mut scores).expect("policy runs");
        std::hint::black_box(&scores);
    });
    row(name, "policy forward (talktrack)", &fwd);
    batch_forward(name, &b, &spec);

    let bytes = spec.policy_bytes().expect("policy bytes");
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .and_then(|m| m.with_input_fact(0, f32::fact([1, spec.obs_dim]).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .expect("tract plan");
    let input: Tensor = tract_ndarray::Array2::<f32>::from_elem((1, spec.obs_dim), 0.1).into();
    // Bare forward and full decide alternate in short rounds, so that a busy
    // spell of the machine weighs on both alike. The difference is the median
    // over rounds of each round's (decide p50 − bare p50): a paired estimate.
    let mut j = 0;
    let (mut bare_t, mut full_t, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let b_r = samples(5_000 / ROUNDS, || {
            let out = plan.run(tvec!(input.clone().into())).expect("tract runs");
            std::hint::black_box(out);
        });
        let f_r = samples(5_000 / ROUNDS, || {
            let d = engine.decide(&reqs[j % reqs.len()]).expect("decides");
            j += 1;
            std::hint::black_box(d);
        });
        let (pb, pf) = (stats(b_r.clone()).p50, stats(f_r.clone()).p50);
        diffs.push(pf.as_secs_f64() - pb.as_secs_f64());
        bare_t.extend(b_r);
        full_t.extend(f_r);
    }
    diffs.sort_by(f64::total_cmp);
    let bare = stats(bare_t);
    let full = stats(full_t);
    row(name, "bare tract forward", &bare);
    row(name, "full decide", &full);
    let (mut allowed, mut fired, mut fallback) = (0usize, 0usize, 0usize);
    for r in &reqs {
        let d = engine.decide(r).expect("decides");
        allowed += d.ranked().len();
        fired += d.masked().len();
        fallback += usize::from(d.fallback_used() || d.chosen().is_none());
    }
    println!(
        "| {name:<8} | mix: {:.0} of {} tracks allowed on average, {:.0} masked, {} of {} requests fell back |  |  |  |",
        allowed as f64 / reqs.len() as f64,
        spec.tracks,
        fired as f64 / reqs.len() as f64,
        fallback,
        reqs.len()
    );
    let contact_rules = contact_rule_ids(&spec.rules_text());
    if !contact_rules.is_empty() {
        contact_mix(name, &b, &parts, &reqs, &contact_rules);
    }
    let spread = diffs[diffs.len() * 3 / 4] - diffs[diffs.len() / 4];
    let median = diffs[diffs.len() / 2];
    println!(
        "| {name:<8} | {:<28} | {} |            |            |",
        "decide − bare forward",
        us(Duration::from_secs_f64(median.max(0.0)))
    );
    println!(
        "| {name:<8} | (median of {ROUNDS} paired rounds; interquartile range {:.2} µs{}; limit {limit_us} µs: {}) |  |  |  |",
        spread * 1e6,
        if spread > 0.02 * bare.p50.as_secs_f64() {
            ": the machine was busy, rerun before reading it"
        } else {
            ""
        },
        if median * 1e6 <= limit_us { "within" } else { "OVER" }
    );
}

/// How the contact policies came out on the benchmark's requests: how many fired
/// per request, and how many contacts the rules counted from.
fn contact_mix(
    name: &str,
    b: &Bundle,
    parts: &[Parts],
    reqs: &[Request],
    contact_rules: &BTreeSet<String>,
) {
    let mut verdict = Verdict::new(b.catalog().len());
    let (mut fired, mut some, mut sent, mut counted) = (0usize, 0usize, 0usize, 0usize);
    let mut ever = BTreeSet::new();
    for (p, r) in parts.iter().zip(reqs) {
        b.rules().evaluate(&p.view(r.time, p.turn()), &mut verdict);
        let ids: Vec<&str> = verdict
            .fired
            .iter()
            .map(|f| b.rules().rule(f.rule as usize).id.as_str())
            .filter(|id| contact_rules.contains(*id))
            .collect();
        fired += ids.len();
        some += usize::from(!ids.is_empty());
        ever.extend(ids.iter().map(|s| s.to_string()));
        sent += r.contacts.len();
        counted += p.contacts.len();
    }
    let n = reqs.len() as f64;
    println!(
        "| {name:<8} | contacts: {:.0} sent, {:.0} of other conversations; {:.1} of {} contact rules fired on average, some on {} of {} requests; {} fired on some request |  |  |  |",
        sent as f64 / n,
        counted as f64 / n,
        fired as f64 / n,
        contact_rules.len(),
        some,
        reqs.len(),
        ever.len()
    );
}

/// Rules alone on the plain medium bundle and on its contact variant, alternating
/// in short rounds; the ratio is the median over rounds of each round's ratio of
/// p50s, as `decide − bare forward` is a median of paired differences.
fn contact_rules_cost(plain: &SynthSpec, with_contacts: &SynthSpec) {
    let load = |spec: &SynthSpec| {
        let dir = tempfile::tempdir().expect("temp dir");
        spec.write(dir.path()).expect("write bundle");
        let b = Bundle::load(dir.path()).expect("bundle loads");
        let reqs: Vec<Request> = (0..64).map(|n| spec.request(n)).collect();
        let parts: Vec<Parts> = reqs.iter().map(|r| view_parts(&b, r)).collect();
        let verdict = Verdict::new(b.catalog().len());
        (b, parts, verdict)
    };
    let (pb, pp, mut pv) = load(plain);
    let (cb, cp, mut cv) = load(with_contacts);
    let (mut plain_t, mut contact_t, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let p = rules_samples(pb.rules(), &pp, &mut pv, 20_000 / ROUNDS);
        let c = rules_samples(cb.rules(), &cp, &mut cv, 20_000 / ROUNDS);
        ratios.push(stats(c.clone()).p50.as_secs_f64() / stats(p.clone()).p50.as_secs_f64());
        plain_t.extend(p);
        contact_t.extend(c);
    }
    ratios.sort_by(f64::total_cmp);
    row("medium", "rules alone (paired)", &stats(plain_t));
    row("medium+c", "rules alone (paired)", &stats(contact_t));
    let ratio = ratios[ratios.len() / 2];
    println!(
        "| medium+c | rules alone ÷ medium's: {ratio:.2}× (median of {ROUNDS} paired rounds, interquartile range {:.2}–{:.2}×; target ≤ {CONTACT_RULES_TARGET}×: {}) |  |  |  |",
        ratios[ratios.len() / 4],
        ratios[ratios.len() * 3 / 4],
        if ratio <= CONTACT_RULES_TARGET { "within" } else { "OVER" }
    );
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    // Profiling aid: `TALKTRACK_PROFILE_RULES=1` loops the large rule set's evaluation
    // only; `=cold` streams 4 MB between evaluations, as the policy's forward pass does;
    // `=medium+c` loops the contact policies' bundle (warm).
    if let Some(mode) = std::env::var_os("TALKTRACK_PROFILE_RULES") {
        let cold = mode == "cold";
        let mut sweep = vec![0u8; if cold { 4 << 20 } else { 0 }];
        let mut swept = Duration::ZERO;
        let mut each = Vec::new();
        let spec = if mode == "medium+c" {
            SynthSpec::medium_with_contacts()
        } else {
            SynthSpec::large()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        spec.write(dir.path()).expect("write bundle");
        let b = Bundle::load(dir.path()).expect("bundle loads");
        let reqs: Vec<Request> = (0..64).map(|n| spec.request(n)).collect();
        let parts: Vec<_> = reqs.iter().map(|r| view_parts(&b, r)).collect();
        let mut verdict = Verdict::new(b.catalog().len());
        // The contact policies count back from the time `rules_samples` evaluates at.
        let now = if mode == "medium+c" { NOW_MS } else { 0 };
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_secs(3) {
            for p in &parts {
                let view = p.view(now, 5);
                if cold {
                    let s = Instant::now();
                    for x in sweep.iter_mut().step_by(64) {
                        *x = x.wrapping_add(1);
                    }
                    std::hint::black_box(&sweep);
                    swept += s.elapsed();
                }
                let s = Instant::now();
                b.rules().evaluate(&view, &mut verdict);
                each.push(s.elapsed());
                n += 1;
            }
        }
        let p50 = stats(each).p50;
        println!(
            "{:.2} µs per evaluation (p50 {:.2}; {n} evaluations), {} fired on the last",
            (t.elapsed() - swept).as_secs_f64() * 1e6 / n as f64,
            p50.as_secs_f64() * 1e6,
            verdict.fired.len()
        );
        return;
    }
    // Profiling aid: `TALKTRACK_PROFILE_DECIDE=medium|medium+c|large` loops one bundle's full decide only.
    if let Some(which) = std::env::var_os("TALKTRACK_PROFILE_DECIDE") {
        let spec = if which == "large" {
            SynthSpec::large()
        } else if which == "medium+c" {
            SynthSpec::medium_with_contacts()
        } else {
            SynthSpec::medium()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        spec.write(dir.path()).expect("write bundle");
        let engine = Engine::load(dir.path()).expect("bundle loads");
        let reqs: Vec<Request> = (0..64).map(|n| spec.request(n)).collect();
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_secs(3) {
            for r in &reqs {
                std::hint::black_box(engine.decide(r).expect("decides"));
                n += 1;
            }
        }
        println!(
            "{:.2} µs per decision ({n} decisions)",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        return;
    }
    println!("one thread, batch 1 (except the `64 rows` lines: 64 observations per call, one by one or in one batch of max_batch = 64); times in µs");
    println!("medium+c: the medium bundle with 10% of its rules counting past contacts, 50 contacts per request");
    println!("| case     | operation                    |        p50 |        p90 |       mean |");
    println!("|----------|------------------------------|------------|------------|------------|");
    bench("medium", SynthSpec::medium(), MEDIUM_LIMIT_US);
    bench(
        "medium+c",
        SynthSpec::medium_with_contacts(),
        MEDIUM_LIMIT_US,
    );
    contact_rules_cost(&SynthSpec::medium(), &SynthSpec::medium_with_contacts());
    bench("large", SynthSpec::large(), LARGE_LIMIT_US);
}
