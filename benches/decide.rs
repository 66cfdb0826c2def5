//! Runtime benchmark: bundle load, rules alone, policy forward alone, full `decide`,
//! and tract's bare forward pass of the same network, for the medium and large
//! synthetic bundles. Prints a table of p50 / p90 / mean per operation.
//!
//! Run with `cargo bench --bench decide` (release build, one thread).

use std::sync::Arc;
use std::time::{Duration, Instant};

use talktrack::synth::SynthSpec;
use talktrack::tooling::TurnView;
use talktrack::tooling::Verdict;
use talktrack::Bundle;
use talktrack::{Engine, Request};
use tract_onnx::prelude::*;

struct Stats {
    p50: Duration,
    p90: Duration,
    mean: Duration,
}

/// Rounds of alternating bare forward / full decide measurements.
const ROUNDS: usize = 20;

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
        "| {case:<6} | {op:<28} | {} | {} | {} |",
        us(s.p50),
        us(s.p90),
        us(s.mean)
    );
}

type Parts = (talktrack::tooling::Resolved<'static>, Vec<u16>, Option<u32>);

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
    (values, used, last)
}

fn bench(name: &str, spec: SynthSpec) {
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
    let mut i = 0;
    let rules = measure(20_000, || {
        let (values, used, last) = &parts[i % parts.len()];
        i += 1;
        let view = TurnView {
            values,
            now_ms: 1_767_225_600_000,
            turn: (used.iter().map(|&u| u as u32).sum::<u32>()).min(19),
            max_turns: 20,
            used,
            last_reply: *last,
            embedding: None,
            contacts: &[],
        };
        b.rules().evaluate(&view, &mut verdict);
        std::hint::black_box(&verdict);
    });
    row(name, "rules alone", &rules);

    let obs = vec![0.1f32; spec.obs_dim];
    let mut scores = vec![0.0f32; spec.tracks];
    let fwd = measure(5_000, || {
        b.policy().scores(&obs, &mut scores).expect("policy runs");
        std::hint::black_box(&scores);
    });
    row(name, "policy forward (talktrack)", &fwd);

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
        "| {name:<6} | mix: {:.0} of {} tracks allowed on average, {:.0} masked, {} of {} requests fell back |  |  |  |",
        allowed as f64 / reqs.len() as f64,
        spec.tracks,
        fired as f64 / reqs.len() as f64,
        fallback,
        reqs.len()
    );
    let spread = diffs[diffs.len() * 3 / 4] - diffs[diffs.len() / 4];
    println!(
        "| {name:<6} | {:<28} | {} |            |            |",
        "decide − bare forward",
        us(Duration::from_secs_f64(diffs[diffs.len() / 2].max(0.0)))
    );
    println!(
        "| {name:<6} | (median of {ROUNDS} paired rounds; interquartile range {:.2} µs{}) |  |  |  |",
        spread * 1e6,
        if spread > 0.02 * bare.p50.as_secs_f64() {
            ": the machine was busy, rerun before reading it"
        } else {
            ""
        }
    );
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    // Profiling aid: `TALKTRACK_PROFILE_RULES=1` loops the large rule set's evaluation
    // only; `=cold` streams 4 MB between evaluations, as the policy's forward pass does.
    if let Some(mode) = std::env::var_os("TALKTRACK_PROFILE_RULES") {
        let cold = mode == "cold";
        let mut sweep = vec![0u8; if cold { 4 << 20 } else { 0 }];
        let mut swept = Duration::ZERO;
        let mut each = Vec::new();
        let spec = SynthSpec::large();
        let dir = tempfile::tempdir().expect("temp dir");
        spec.write(dir.path()).expect("write bundle");
        let b = Bundle::load(dir.path()).expect("bundle loads");
        let reqs: Vec<Request> = (0..64).map(|n| spec.request(n)).collect();
        let parts: Vec<_> = reqs.iter().map(|r| view_parts(&b, r)).collect();
        let mut verdict = Verdict::new(b.catalog().len());
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_secs(3) {
            for (values, used, last) in &parts {
                let view = TurnView {
                    values,
                    now_ms: 0,
                    turn: 5,
                    max_turns: 20,
                    used,
                    last_reply: *last,
                    embedding: None,
                    contacts: &[],
                };
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
            "{:.2} µs per evaluation (p50 {:.2}), {} fired on the last",
            (t.elapsed() - swept).as_secs_f64() * 1e6 / n as f64,
            p50.as_secs_f64() * 1e6,
            verdict.fired.len()
        );
        return;
    }
    // Profiling aid: `TALKTRACK_PROFILE_DECIDE=medium|large` loops one bundle's full decide only.
    if let Some(which) = std::env::var_os("TALKTRACK_PROFILE_DECIDE") {
        let spec = if which == "large" {
            SynthSpec::large()
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
            "{:.2} µs per decision",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        return;
    }
    println!("one thread, batch 1; times in µs");
    println!("| case   | operation                    |        p50 |        p90 |       mean |");
    println!("|--------|------------------------------|------------|------------|------------|");
    bench("medium", SynthSpec::medium());
    bench("large", SynthSpec::large());
}
