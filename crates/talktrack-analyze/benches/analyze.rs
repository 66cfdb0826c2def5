//! Analysis benchmark: `analyze` on the large synthetic bundle (1,000 rules,
//! 256 tracks) and on a bundle of the same schema and catalog whose rules have
//! nested `and` / `or` / `not` conditions. Prints a table: bundle, rules,
//! tracks, seconds, findings by kind, undecided count. The target is 10 s each.
//!
//! Run with `cargo bench -p talktrack-analyze --bench analyze` (release build).
//! `TALKTRACK_BENCH_SMALL=1` runs the medium spec instead (100 rules, 64 tracks),
//! to check the bench itself quickly. The most frequent reasons for undecided
//! questions go to standard error.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use talktrack::synth::{Lcg, SynthSpec};
use talktrack::Bundle;
use talktrack_analyze::{analyze_bundle, Kind, Options};

/// A condition of `depth` levels of `and` / `or` / `not` over the synthetic
/// schema's attributes (ints `i0..i7` in 0..100, floats `f0..f3`, enums
/// `e0..e3`, bools `b0..b3`) and the turn.
fn nested(rng: &mut Lcg, depth: u32) -> String {
    if depth == 0 || rng.below(4) == 0 {
        return match rng.below(5) {
            0 => format!("customer.i{} < {}", rng.below(8), rng.below(100)),
            1 => format!("customer.f{} > 0.{}", rng.below(4), rng.below(10)),
            2 => format!("customer.e{} == v{}", rng.below(4), rng.below(5)),
            3 => format!("customer.b{}", rng.below(4)),
            _ => format!("turn >= {}", rng.below(20)),
        };
    }
    let a = nested(rng, depth - 1);
    let b = nested(rng, depth - 1);
    match rng.below(3) {
        0 => format!("({a} and {b})"),
        1 => format!("({a} or {b})"),
        _ => format!("not ({a} and {b})"),
    }
}

/// Rules with nested conditions for the synthetic catalog (`k0..` tracks,
/// tags `t0..`): forbids mostly, some `only` and boost rules.
fn nested_rules(spec: &SynthSpec) -> String {
    let mut rng = Lcg::new(spec.seed ^ 0xa11);
    let tags = (spec.tracks / 4).max(4);
    let mut s = String::from("# Nested conditions for the analysis benchmark.\n\n");
    for i in 0..spec.rules {
        let cond = nested(&mut rng, 3);
        let targets = if rng.below(3) == 0 {
            format!("tracks tagged t{}", rng.below(tags))
        } else {
            format!(
                "tracks k{}, k{}",
                rng.below(spec.tracks),
                rng.below(spec.tracks)
            )
        };
        let effect = match rng.below(20) {
            0 => format!(
                "only tracks tagged t{}, t{}",
                rng.below(tags),
                rng.below(tags)
            ),
            1 | 2 => format!("boost {targets} by 0.5"),
            _ => format!("forbid {targets}"),
        };
        let _ = writeln!(
            s,
            "rule n{i}\n  because \"nested rule {i}\"\n  when {cond}\n  {effect}\n"
        );
    }
    s
}

fn run(name: &str, dir: &std::path::Path, spec: &SynthSpec) {
    let bundle = match Bundle::load(dir) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            eprintln!("{name}: the bundle does not load: {e}");
            return;
        }
    };
    let (rules, tracks) = (bundle.rules().len(), bundle.catalog().len());
    let t = Instant::now();
    let report = analyze_bundle(bundle, &Options::default());
    let secs = t.elapsed().as_secs_f64();
    cross_check(name, dir, &report, spec);
    let mut by_kind: BTreeMap<Kind, usize> = BTreeMap::new();
    for f in &report.findings {
        *by_kind.entry(f.kind).or_default() += 1;
    }
    let undecided = by_kind.get(&Kind::Undecided).copied().unwrap_or(0);
    // Why questions were left undecided, most frequent first (the first reason of
    // each, with rule ids blanked so that alike reasons count together).
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    for f in report.findings.iter().filter(|f| f.kind == Kind::Undecided) {
        if let Some(r) = f.reasons.first() {
            let general = match r.split_once("`: ") {
                Some((_, rest)) => format!("rule `..`: {rest}"),
                None => r.clone(),
            };
            *why.entry(general).or_default() += 1;
        }
    }
    let mut why: Vec<(String, usize)> = why.into_iter().collect();
    why.sort_by(|a, b| b.1.cmp(&a.1));
    let kinds: Vec<String> = by_kind
        .iter()
        .filter(|(k, _)| **k != Kind::Undecided)
        .map(|(k, n)| format!("{} {n}", k.code().trim_start_matches("analyze::")))
        .collect();
    println!(
        "| {name:<8} | {rules:>5} | {tracks:>6} | {secs:>7.2} | {:<60} | {undecided:>9} |",
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds.join(", ")
        }
    );
    for (r, n) in why.iter().take(3) {
        eprintln!("  {name}: {n} undecided because {r}");
    }
}

thread_local! {
    /// The cross-checks' lines, printed under the table.
    static CHECKS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A cross-check of the claims no witness shows: 2,000 synthetic requests (turns
/// 0..20) decided by the real engine; none may allow a track the analysis calls
/// never allowed (the fallback aside), and a `never-fires` rule may not mask a
/// track on any of them.
fn cross_check(
    name: &str,
    dir: &std::path::Path,
    report: &talktrack_analyze::Report,
    spec: &SynthSpec,
) {
    let Ok(bundle) = Bundle::load(dir) else {
        return;
    };
    let engine = talktrack::Engine::new(bundle);
    let never: std::collections::HashSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.kind == Kind::NeverAllowed)
        .filter_map(|f| f.track.as_deref())
        .collect();
    let silent: std::collections::HashSet<&str> = report
        .findings
        .iter()
        .filter(|f| f.kind == Kind::NeverFires)
        .filter_map(|f| f.rule.as_ref().map(|r| r.id.as_str()))
        .collect();
    let (mut decided, mut allowed_any, mut wrong) = (0, 0, Vec::new());
    for n in 0..2_000u64 {
        let mut req = spec.request(n);
        req.history.turn = Some((n % 20) as u32);
        let Ok(d) = engine.decide(&req) else {
            continue;
        };
        decided += 1;
        if !d.ranked().is_empty() {
            allowed_any += 1;
        }
        for r in d.ranked() {
            let id = d
                .bundle()
                .catalog()
                .track(r.track as usize)
                .map_or("?", |t| t.id.as_str());
            if never.contains(id) && !d.fallback_used() {
                wrong.push(format!("track {id} allowed on request {n}"));
            }
        }
        for m in d.masked() {
            for by in m.by.iter().filter(|b| silent.contains(b.rule.id.as_str())) {
                wrong.push(format!(
                    "rule {} masked {} on request {n}",
                    by.rule.id, m.id
                ));
            }
        }
    }
    let line = format!(
        "{name}: cross-check through decide on {decided} requests ({allowed_any} allowed some track): {}",
        if wrong.is_empty() {
            format!("no never-allowed track allowed, no never-fires rule fired ({} and {} claims)", never.len(), silent.len())
        } else {
            format!("{} CONTRADICTIONS, first: {}", wrong.len(), wrong[0])
        }
    );
    CHECKS.with(|c| c.borrow_mut().push(line));
}

fn main() {
    let small = std::env::var_os("TALKTRACK_BENCH_SMALL").is_some();
    let spec = if small {
        SynthSpec::medium()
    } else {
        SynthSpec::large()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (flat, deep) = (dir.path().join("large"), dir.path().join("nested"));
    spec.write(&flat).expect("writes the synthetic bundle");
    spec.write(&deep).expect("writes the synthetic bundle");
    std::fs::write(deep.join("synthetic.rules"), nested_rules(&spec)).expect("writes the rules");
    println!(
        "| bundle   | rules | tracks | seconds | findings by kind{} | undecided |",
        " ".repeat(44)
    );
    println!(
        "|{:-<10}|{:-<7}|{:-<8}|{:-<9}|{:-<62}|{:-<11}|",
        "", "", "", "", "", ""
    );
    run(if small { "medium" } else { "large" }, &flat, &spec);
    run("nested", &deep, &spec);
    println!("{}", CHECKS.with(|c| c.borrow().join("\n")));
}
