//! The cost of one decision through the C ABI over the Rust baseline
//! `Request::from_json → decide → to_json`, on the medium synthetic bundle
//! (`talktrack::synth`). Prints a table of p50 per decision in µs.
//!
//! The two alternate in 20 short rounds and the overhead is the median over rounds
//! of each round's difference of p50s, so that a busy spell of a shared machine
//! weighs on both. Run with `cargo bench -p talktrack-capi --bench abi`.
//!
//! With `TALKTRACK_BENCH_DIR=DIR` the bundle, its requests (`requests.jsonl`) and
//! the baseline's p50 (`baseline_us.txt`) are left in `DIR`, for the Python
//! package's benchmark (`crates/talktrack-py/bench.py`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::CString;
use std::time::{Duration, Instant};

use talktrack::synth::SynthSpec;
use talktrack::{Engine, Request};
use talktrack_capi::*;

const ROUNDS: usize = 20;
const PER_ROUND: usize = 2_000;

fn p50(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e6
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn time_round(n: usize, mut f: impl FnMut(usize)) -> f64 {
    for i in 0..n / 10 {
        f(i);
    }
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i);
        times.push(t.elapsed());
    }
    p50(times)
}

fn main() {
    let keep = std::env::var_os("TALKTRACK_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_owned());
    let spec = SynthSpec::medium();
    spec.write(&dir).unwrap();
    let requests: Vec<String> = (0..64)
        .map(|n| serde_json::to_string(&spec.request(n)).unwrap())
        .collect();
    let c_requests: Vec<CString> = requests
        .iter()
        .map(|r| CString::new(r.as_str()).unwrap())
        .collect();

    let engine = Engine::load(&dir).expect("the medium bundle loads");
    let path = CString::new(dir.to_str().unwrap()).unwrap();
    let mut handle = std::ptr::null_mut();
    assert_eq!(
        talktrack_engine_new(path.as_ptr(), &mut handle),
        TalktrackStatus::TalktrackOk
    );

    let mut base = Vec::new();
    let mut abi = Vec::new();
    for _ in 0..ROUNDS {
        base.push(time_round(PER_ROUND, |i| {
            let req = Request::from_json(&requests[i % requests.len()]).unwrap();
            let d = engine.decide(&req).unwrap();
            std::hint::black_box(serde_json::to_string(&d).unwrap());
        }));
        abi.push(time_round(PER_ROUND, |i| {
            let mut out = std::ptr::null_mut();
            let status = talktrack_engine_decide(
                handle,
                c_requests[i % c_requests.len()].as_ptr(),
                &mut out,
            );
            assert_eq!(status, TalktrackStatus::TalktrackOk);
            talktrack_string_free(out);
        }));
    }
    let diffs: Vec<f64> = abi.iter().zip(&base).map(|(a, b)| a - b).collect();
    let (b, a, d) = (median(base.clone()), median(abi.clone()), median(diffs));
    println!("medium synthetic bundle, one thread, p50 per decision (median over {ROUNDS} rounds of {PER_ROUND})");
    println!();
    println!("| path | µs per decision | over the baseline |");
    println!("|---|---|---|");
    println!("| Rust: Request::from_json → decide → to_json | {b:.2} | — |");
    println!(
        "| C ABI: talktrack_engine_decide + talktrack_string_free | {a:.2} | {d:+.2} (limit 5) |"
    );
    if let Some(dir) = keep {
        let mut lines = requests.join("\n");
        lines.push('\n');
        std::fs::write(dir.join("requests.jsonl"), lines).unwrap();
        std::fs::write(dir.join("baseline_us.txt"), format!("{b:.3}\n")).unwrap();
        println!();
        println!("bundle, requests and baseline left in {}", dir.display());
    }
    assert_eq!(talktrack_engine_free(handle), TalktrackStatus::TalktrackOk);
}
