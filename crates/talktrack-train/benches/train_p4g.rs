//! Trainer benchmark: PPO and DQN on the PersuasionForGood reference MDP, five seeds
//! each, printing environment steps per second, training seconds to 95 / 98 / 99.5%
//! of the optimum and the final fraction (min and median over seeds).
//!
//! `TALKTRACK_BENCH_SEEDS` changes the number of seeds.

/// The allocator the `talktrack-train` binary uses, so the figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use talktrack_train::sim::reference::p4g_reference_env;
use talktrack_train::train::env::{Evaluator, MaskedEnv};
use talktrack_train::train::{
    train_dqn, train_ppo, DqnConfig, NoObserver, PpoConfig, RunConfig, TrainOutcome,
};

struct Row {
    steps_per_sec: f64,
    to: [Option<f64>; 3],
    final_fraction: f64,
}

const FRACTIONS: [f64; 3] = [0.95, 0.98, 0.995];

fn row(out: &TrainOutcome, ev: &dyn Evaluator) -> Row {
    Row {
        steps_per_sec: out.steps_per_sec(),
        to: FRACTIONS.map(|f| out.curve.secs_to(f)),
        // The exact value of the network the run returns (the best evaluated one).
        final_fraction: ev.value(&out.greedy()) / ev.optimum(),
    }
}

fn min_med(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (
        v.first().copied().unwrap_or(f64::NAN),
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN),
    )
}

fn fmt_secs(v: &[Option<f64>]) -> String {
    // A seed that never reached the fraction counts as infinitely slow.
    let xs: Vec<f64> = v.iter().map(|x| x.unwrap_or(f64::INFINITY)).collect();
    let (min, med) = min_med(xs);
    let reached = v.iter().filter(|x| x.is_some()).count();
    format!("{min:>6.2} {med:>6.2} ({reached}/{})", v.len())
}

fn report(name: &str, rows: &[Row]) {
    let (sps_min, sps_med) = min_med(rows.iter().map(|r| r.steps_per_sec).collect());
    let (fin_min, fin_med) = min_med(rows.iter().map(|r| r.final_fraction).collect());
    let to: Vec<String> = (0..3)
        .map(|k| fmt_secs(&rows.iter().map(|r| r.to[k]).collect::<Vec<_>>()))
        .collect();
    println!(
        "{name:<5} {sps_min:>9.0} {sps_med:>9.0}  {}  {}  {}  {fin_min:>7.4} {fin_med:>7.4}",
        to[0], to[1], to[2]
    );
}

fn main() -> anyhow::Result<()> {
    let seeds: u64 = std::env::var("TALKTRACK_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let (env, eval) = p4g_reference_env()?;
    let env: &dyn MaskedEnv = &env;
    let eval: &dyn Evaluator = &eval;
    println!("optimum {:.4}", eval.optimum());
    println!(
        "{:<5} {:>9} {:>9}  {:^20}  {:^20}  {:^20}  {:>7} {:>7}",
        "algo",
        "steps/s",
        "",
        "s to 95% min med",
        "s to 98% min med",
        "s to 99.5% min med",
        "final",
        ""
    );
    println!(
        "{:<5} {:>9} {:>9}  {:20}  {:20}  {:20}  {:>7} {:>7}",
        "", "min", "median", "", "", "", "min", "median"
    );

    let mut ppo_rows = vec![];
    for seed in 0..seeds {
        let cfg = PpoConfig {
            run: RunConfig {
                seed,
                total_steps: 1_000_000,
                eval_every: 16_384,
                stop_at_fraction: None,
                keep_best: true,
            },
            ..PpoConfig::default()
        };
        match train_ppo(env, Some(eval), &cfg, &mut NoObserver) {
            Ok(out) => ppo_rows.push(row(&out, eval)),
            Err(e) => eprintln!("ppo seed {seed}: {e}"),
        }
    }
    report("ppo", &ppo_rows);

    let mut dqn_rows = vec![];
    for seed in 0..seeds {
        let cfg = DqnConfig {
            run: RunConfig {
                seed,
                total_steps: 300_000,
                eval_every: 10_000,
                stop_at_fraction: None,
                keep_best: true,
            },
            ..DqnConfig::default()
        };
        match train_dqn(env, Some(eval), &cfg, &mut NoObserver) {
            Ok(out) => dqn_rows.push(row(&out, eval)),
            Err(e) => eprintln!("dqn seed {seed}: {e}"),
        }
    }
    report("dqn", &dqn_rows);
    Ok(())
}
