//! `job::environment`: the simulator a config trains on, built without training.

use rand::rngs::StdRng;
use rand::SeedableRng;
use talktrack_train::config::SimSetup;
use talktrack_train::job::{environment, JobError};

fn p4g() -> SimSetup {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/p4g_reference.toml"
    );
    SimSetup::load(std::path::Path::new(path)).unwrap()
}

#[test]
fn the_p4g_config_builds_the_environment_the_trainer_learns_on() {
    let setup = p4g();
    let mut env = environment(&setup).unwrap();
    assert_eq!(env.n_actions(), setup.data.tracks.len());
    let mut rng = StdRng::seed_from_u64(7);
    let mut obs = vec![0.0; env.obs_dim()];
    let mut mask = vec![false; env.n_actions()];
    env.reset(&mut rng, &mut obs, &mut mask);
    assert!(mask.iter().any(|&m| m), "nothing allowed at the start");
    assert!(
        obs.iter().any(|&x| x != 0.0),
        "an all-zero first observation"
    );
    let mut steps = 0;
    loop {
        let a = mask.iter().position(|&m| m).unwrap();
        steps += 1;
        if env.step(a, &mut rng, &mut obs, &mut mask).done {
            break;
        }
        assert!(steps <= 10, "an episode longer than max_turns");
    }
    assert_eq!(env.violations(), 0);
}

#[test]
fn a_config_without_a_template_is_a_setup_error() {
    let mut setup = p4g();
    setup.data.template = None;
    let err = environment(&setup).err().unwrap();
    assert!(matches!(err, JobError::Setup(_)), "{err:?}");
    assert!(err.to_string().contains("template"), "{err}");
}
