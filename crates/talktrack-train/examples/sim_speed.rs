//! Measures simulator throughput with uniformly random allowed actions on the reference
//! MDP: `cargo run --features train --example sim_speed`.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use talktrack_train::sim::reference::p4g_reference_env;
use talktrack_train::train::env::MaskedEnv;

fn main() -> anyhow::Result<()> {
    let (mut env, _) = p4g_reference_env()?;
    let mut rng = StdRng::seed_from_u64(1);
    let mut obs = vec![0.0; env.obs_dim()];
    let mut mask = vec![false; env.n_actions()];
    let mut allowed = Vec::with_capacity(env.n_actions());
    let steps = 5_000_000u64;
    let start = Instant::now();
    env.reset(&mut rng, &mut obs, &mut mask);
    for _ in 0..steps {
        allowed.clear();
        allowed.extend((0..mask.len()).filter(|&a| mask[a]));
        let a = allowed[rng.random_range(0..allowed.len())];
        if env.step(a, &mut rng, &mut obs, &mut mask).done {
            env.reset(&mut rng, &mut obs, &mut mask);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:.2} M steps/s ({} violations)",
        steps as f64 / secs / 1e6,
        env.violations()
    );
    Ok(())
}
