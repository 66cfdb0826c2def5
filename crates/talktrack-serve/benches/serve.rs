//! Serving benchmark on the medium synthetic bundle: `decide` p50/p99 on one thread,
//! steady and while another thread swaps versions every 10 ms; reload time; and,
//! when `wrk` is installed, HTTP load tests against the server on 127.0.0.1 (a
//! reload during the `/v1/decide` run; with and without the decision log; batches).
//!
//! Run with `cargo bench -p talktrack-serve --bench serve`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use talktrack::synth::SynthSpec;
use talktrack::{Engine, Request};

/// The allocator `talktrack serve` runs with (see the CLI's `main.rs`), so that the
/// figures are the served binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn pct(mut t: Vec<Duration>, p: f64) -> Duration {
    t.sort();
    t[((t.len() as f64 * p) as usize).min(t.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn decide_times(engine: &Engine, reqs: &[Request], n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let r = &reqs[i % reqs.len()];
        let t = Instant::now();
        std::hint::black_box(engine.decide(r).expect("decides"));
        out.push(t.elapsed());
    }
    out
}

/// Runs wrk against `url`; returns its summary lines.
fn wrk(url: &str, body: &str, secs: u32, conns: u32, threads: u32) -> Option<String> {
    let dir = tempfile::tempdir().ok()?;
    let script = dir.path().join("post.lua");
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = {}\n\
         done = function(summary, latency, requests)\n  io.write(string.format(\"p50_us %d\\np99_us %d\\nerrors %d\\nnon2xx %d\\n\", latency:percentile(50), latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))\nend\n",
        lua_string(body)
    );
    std::fs::write(&script, lua).ok()?;
    let out = Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &conns.to_string(),
            "-d",
            &format!("{secs}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn lua_string(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| "?".into())
}

fn report(what: &str, out: &str, per_request: u64) {
    let rps: f64 = field(out, "Requests/sec:").parse().unwrap_or(0.0);
    println!(
        "| {what:<44} | {:>10.0} | {:>8} µs | {:>8} µs | {} + {} non-2xx |",
        rps * per_request as f64,
        field(out, "p50_us"),
        field(out, "p99_us"),
        field(out, "errors"),
        field(out, "non2xx")
    );
}

fn main() {
    let spec = SynthSpec::medium();
    let root = tempfile::tempdir().expect("temp dir");
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    spec.write(&a).expect("bundle a");
    let mut spec_b = spec.clone();
    spec_b.seed += 1;
    spec_b.write(&b).expect("bundle b");
    let reqs: Vec<Request> = (0..256).map(|n| spec.request(n)).collect();
    let engine = Arc::new(Engine::load(&a).expect("loads"));
    const N: usize = 20_000;
    let _ = decide_times(&engine, &reqs, N / 10);

    let steady = decide_times(&engine, &reqs, N);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (e, stop, a, b) = (engine.clone(), stop.clone(), a.clone(), b.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let dir: &Path = if n % 2 == 0 { &b } else { &a };
                let _ = e.reload_from(dir);
                n += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            n
        })
    };
    let swapping = decide_times(&engine, &reqs, N);
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap_or(0);
    let mut reloads = Vec::new();
    for i in 0..20 {
        let t = Instant::now();
        let _ = engine.reload_from(if i % 2 == 0 { &a } else { &b });
        reloads.push(t.elapsed());
    }
    println!(
        "medium synthetic bundle ({} tracks, {} rules); one deciding thread, {N} decisions each",
        spec.tracks, spec.rules
    );
    println!("| measure                              |        p50 |        p99 |");
    println!(
        "| decide, steady                       | {:>10} | {:>10} |",
        us(pct(steady.clone(), 0.5)),
        us(pct(steady.clone(), 0.99))
    );
    println!(
        "| decide, swapping every 10 ms ({swaps:>4}) | {:>10} | {:>10} |",
        us(pct(swapping.clone(), 0.5)),
        us(pct(swapping.clone(), 0.99))
    );
    println!(
        "| reload (load, validate, publish)     | {:>10} | {:>10} |",
        us(pct(reloads.clone(), 0.5)),
        us(pct(reloads, 0.99))
    );
    println!(
        "p99 swapping / steady = {:.2}",
        pct(swapping, 0.99).as_secs_f64() / pct(steady, 0.99).as_secs_f64()
    );

    if Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk is not installed: no HTTP load test");
        return;
    }
    let secs: u32 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let (conns, threads) = (32, 1);
    let body = serde_json::to_string(&reqs[0]).expect("request JSON");
    let batch: String = format!(
        "{{\"requests\": [{}]}}",
        (0..100)
            .map(|i| serde_json::to_string(&reqs[i]).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "\nHTTP on 127.0.0.1, wrk {threads} thread(s) × {conns} connections, {secs} s each; server (2 tokio workers) and wrk share the 2 cores"
    );
    println!("| run                                          | decisions/s |        p50 |        p99 | errors |");
    for log in [false, true] {
        let mut cfg = talktrack_serve::Config::new(&a);
        cfg.addr = "127.0.0.1:0".parse().expect("addr");
        if log {
            cfg.decision_log = Some(talktrack_serve::LogConfig::new(root.path().join("d.jsonl")));
        }
        let running = rt
            .block_on(talktrack_serve::start(cfg))
            .expect("server starts");
        let base = format!("http://{}", running.addr);
        // A reload during the run (the bundle directory is rewritten as version b).
        let reloader = {
            let (base, a, b) = (base.clone(), a.clone(), b.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(u64::from(secs) / 2));
                let _ = std::fs::remove_dir_all(&a);
                let _ = copy(&b, &a);
                let _ = Command::new("curl")
                    .args(["-s", "-X", "POST", &format!("{base}/v1/reload")])
                    .output();
            })
        };
        let what = if log {
            "/v1/decide, decision log on, reload mid-run"
        } else {
            "/v1/decide, reload mid-run"
        };
        if let Some(out) = wrk(&format!("{base}/v1/decide"), &body, secs, conns, threads) {
            report(what, &out, 1);
        }
        let _ = reloader.join();
        if !log {
            if let Some(out) = wrk(
                &format!("{base}/v1/decide/batch?detail=compact"),
                &batch,
                secs,
                conns / 4,
                threads,
            ) {
                report("/v1/decide/batch?detail=compact (100/batch)", &out, 100);
            }
        }
        let _ = rt.block_on(running.stop());
        if log {
            let text = std::fs::read(root.path().join("d.jsonl")).unwrap_or_default();
            let lines = text.iter().filter(|b| **b == b'\n').count().max(1);
            println!(
                "decision log: {lines} lines in the current file, {} bytes per line",
                text.len() / lines
            );
        }
        // Restore version a for the next run.
        let _ = std::fs::remove_dir_all(&a);
        let _ = spec.write(&a);
    }

    // The decision log's cost, paired: two servers on the same bundle, one logging,
    // decided in alternating short runs so that a busy spell of the shared machine
    // weighs on both; the median of the rounds' throughput ratios.
    let _ = std::fs::remove_dir_all(&a);
    let _ = spec.write(&a);
    let mut servers = Vec::new();
    for log in [false, true] {
        let mut cfg = talktrack_serve::Config::new(&a);
        cfg.addr = "127.0.0.1:0".parse().expect("addr");
        if log {
            cfg.decision_log = Some(talktrack_serve::LogConfig::new(root.path().join("p.jsonl")));
        }
        servers.push(
            rt.block_on(talktrack_serve::start(cfg))
                .expect("server starts"),
        );
    }
    let rounds = 7;
    let round_secs = (secs / 2).max(1);
    let (mut ratios, mut off_all, mut on_all) = (Vec::new(), Vec::new(), Vec::new());
    // CPU time per decision of the server's threads (the log's writer apart) and of
    // the log's writer, by server: [without, with].
    let (mut cpu_server, mut cpu_writer, mut decided) = ([0u64; 2], [0u64; 2], [0f64; 2]);
    for _ in 0..rounds {
        let mut rps = [0.0f64; 2];
        for (i, s) in servers.iter().enumerate() {
            let url = format!("http://{}/v1/decide", s.addr);
            let before = thread_cpu_ns();
            if let Some(out) = wrk(&url, &body, round_secs, conns, threads) {
                rps[i] = field(&out, "Requests/sec:").parse().unwrap_or(0.0);
                // Let the writer finish the round's lines before reading its time.
                std::thread::sleep(Duration::from_millis(300));
                let after = thread_cpu_ns();
                cpu_server[i] += after.0.saturating_sub(before.0);
                cpu_writer[i] += after.1.saturating_sub(before.1);
                decided[i] += rps[i] * f64::from(round_secs);
            }
        }
        if rps[0] > 0.0 {
            ratios.push(rps[1] / rps[0]);
            off_all.push(rps[0]);
            on_all.push(rps[1]);
        }
    }
    for s in servers {
        let _ = rt.block_on(s.stop());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (lo, hi) = {
        let mut v = ratios.clone();
        v.sort_by(f64::total_cmp);
        (
            v.get(v.len() / 4).copied().unwrap_or(f64::NAN),
            v.get(v.len() * 3 / 4).copied().unwrap_or(f64::NAN),
        )
    };
    let cost = 1.0 - median(ratios);
    println!(
        "decision log cost, paired ({rounds} rounds of {round_secs} s per server, alternating): /v1/decide {:.0}/s without, {:.0}/s with (medians); cost {:.1}% (interquartile range of the rounds' ratios {:.2}–{:.2}); limit 10%: {}",
        median(off_all),
        median(on_all),
        cost * 100.0,
        lo,
        hi,
        if cost <= 0.10 { "within" } else { "OVER" }
    );
    let per = |ns: u64, i: usize| ns as f64 / 1e3 / decided[i].max(1.0);
    println!(
        "CPU per decision (this process's threads, over the same rounds): {:.1} µs without the log; with it {:.1} µs in the server's threads and {:.1} µs in the log's writer, so the log adds {:.1} µs",
        per(cpu_server[0] + cpu_writer[0], 0),
        per(cpu_server[1], 1),
        per(cpu_writer[1], 1),
        per(cpu_server[1] + cpu_writer[1], 1) - per(cpu_server[0] + cpu_writer[0], 0),
    );
}

/// CPU time so far of this process's threads, in ns: (all but the decision log's
/// writer, the writer), from `/proc/self/task/*/schedstat` (Linux; zero elsewhere).
fn thread_cpu_ns() -> (u64, u64) {
    let (mut others, mut writer) = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for t in tasks.flatten() {
        let ns: u64 = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == "decision-log" {
            writer += ns;
        } else {
            others += ns;
        }
    }
    (others, writer)
}

fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.path().is_dir() {
            copy(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}
