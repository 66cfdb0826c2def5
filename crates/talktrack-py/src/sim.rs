//! `VecSim`: copies of the trainer's simulator, built from a `talktrack-train`
//! config, reset and stepped together in one call with numpy arrays in and out.
//! The package's `TalkTrackEnv` (one copy) and `TalkTrackVecEnv` (many) wrap it.
//!
//! A masked action (one the rules or the data forbid in that state) is not taken:
//! the episode ends with reward 0 and the action is reported as masked, so random
//! agents and environment checkers run; the simulator counts no rule violation.
//! With `autoreset`, a copy whose episode ended starts a new one at once, and the
//! observation returned for it is the new episode's first.

use std::path::PathBuf;
use std::sync::Mutex;

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use talktrack_train::config::SimSetup;
use talktrack_train::train::env::MaskedEnv;

use crate::errors::{ConfigError, EnvError};

/// Observations and masks of every copy: `(obs [n, d] float32, mask [n, a] bool)`.
type Arrays<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<bool>>);

/// What one step of every copy returns: observations, rewards, which episodes
/// ended, which actions were masked, the masks.
type StepArrays<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<f32>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray2<bool>>,
);

/// Copies of one simulator, stepped together.
#[pyclass(module = "talktrack._talktrack")]
pub(crate) struct VecSim {
    /// Behind a mutex only to be `Sync`: every method that steps takes `&mut self`
    /// and reaches them with `get_mut`, without locking.
    envs: Mutex<Vec<Box<dyn MaskedEnv>>>,
    obs_dim: usize,
    n_actions: usize,
    rngs: Vec<StdRng>,
    /// Row-major `[n, obs_dim]`.
    obs: Vec<f32>,
    /// Row-major `[n, n_actions]`.
    mask: Vec<bool>,
    /// Whether each copy's episode is running.
    running: Vec<bool>,
    rewards: Vec<f32>,
    dones: Vec<bool>,
    masked: Vec<bool>,
    autoreset: bool,
    tracks: Vec<String>,
}

impl VecSim {
    fn len(&self) -> usize {
        self.running.len()
    }

    fn reset_copy(&mut self, i: usize) {
        let (d, a) = (self.obs_dim, self.n_actions);
        let obs = &mut self.obs[i * d..(i + 1) * d];
        let mask = &mut self.mask[i * a..(i + 1) * a];
        let envs = self.envs.get_mut().unwrap_or_else(|e| e.into_inner());
        envs[i].reset(&mut self.rngs[i], obs, mask);
        self.running[i] = true;
    }

    fn arrays<'py>(&self, py: Python<'py>) -> PyResult<Arrays<'py>> {
        let n = self.len();
        let obs = PyArray1::from_slice(py, &self.obs).reshape([n, self.obs_dim])?;
        let mask = PyArray1::from_slice(py, &self.mask).reshape([n, self.n_actions])?;
        Ok((obs, mask))
    }
}

/// The seed of copy `i` for a reset seeded with `seed`.
fn copy_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_add(i as u64)
}

#[pymethods]
impl VecSim {
    /// Builds `num_envs` copies of the simulator `talktrack-train train` learns on
    /// for the config file `config` (its template and aggregates, or its log).
    #[new]
    #[pyo3(signature = (config, num_envs = 1, autoreset = false))]
    fn new(py: Python<'_>, config: PathBuf, num_envs: usize, autoreset: bool) -> PyResult<Self> {
        if num_envs == 0 {
            return Err(ConfigError::new_err(
                "`num_envs` is 0: ask for at least one environment",
            ));
        }
        let built = py.detach(|| {
            let setup = SimSetup::load(&config).map_err(|e| e.to_string())?;
            let env = talktrack_train::job::environment(&setup).map_err(|e| e.to_string())?;
            Ok::<_, String>((setup.data.tracks, env))
        });
        let (tracks, env) = built.map_err(ConfigError::new_err)?;
        if env.n_actions() == 0 {
            return Err(ConfigError::new_err("the simulator has no actions"));
        }
        let (d, a) = (env.obs_dim(), env.n_actions());
        let mut envs = Vec::with_capacity(num_envs);
        for _ in 1..num_envs {
            envs.push(env.boxed_clone());
        }
        envs.push(env);
        Ok(Self {
            rngs: (0..num_envs).map(|_| StdRng::from_os_rng()).collect(),
            obs: vec![0.0; num_envs * d],
            mask: vec![false; num_envs * a],
            running: vec![false; num_envs],
            rewards: vec![0.0; num_envs],
            dones: vec![false; num_envs],
            masked: vec![false; num_envs],
            envs: Mutex::new(envs),
            obs_dim: d,
            n_actions: a,
            autoreset,
            tracks,
        })
    }

    /// Number of copies.
    #[getter]
    fn num_envs(&self) -> usize {
        self.len()
    }

    /// Length of an observation.
    #[getter(obs_dim)]
    fn py_obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Number of actions: the catalog's tracks, in catalog order.
    #[getter(n_actions)]
    fn py_n_actions(&self) -> usize {
        self.n_actions
    }

    /// The track id of every action.
    #[getter]
    fn tracks(&self) -> Vec<String> {
        self.tracks.clone()
    }

    /// Starts a new episode in every copy; with `seed`, copy `i` is reseeded with
    /// `seed + i` first. Returns `(obs [n, d] float32, mask [n, a] bool)`.
    #[pyo3(signature = (seed = None))]
    fn reset<'py>(&mut self, py: Python<'py>, seed: Option<u64>) -> PyResult<Arrays<'py>> {
        for i in 0..self.len() {
            if let Some(s) = seed {
                self.rngs[i] = StdRng::seed_from_u64(copy_seed(s, i));
            }
            self.reset_copy(i);
        }
        self.arrays(py)
    }

    /// Starts a new episode in copy `index` only (reseeded with `seed` when given).
    /// Returns the arrays of every copy.
    #[pyo3(signature = (index, seed = None))]
    fn reset_one<'py>(
        &mut self,
        py: Python<'py>,
        index: usize,
        seed: Option<u64>,
    ) -> PyResult<Arrays<'py>> {
        if index >= self.len() {
            return Err(EnvError::new_err(format!(
                "environment {index} does not exist: there are {}",
                self.len()
            )));
        }
        if let Some(s) = seed {
            self.rngs[index] = StdRng::seed_from_u64(s);
        }
        self.reset_copy(index);
        self.arrays(py)
    }

    /// Takes `actions[i]` in copy `i`. Returns `(obs, rewards, dones, masked,
    /// mask)`: a masked action ends its episode with reward 0 and `masked[i]` true.
    /// Without autoreset, stepping a copy whose episode ended is an error; the
    /// observation of an ended episode is the last one the simulator wrote.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        actions: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<StepArrays<'py>> {
        let actions = actions.as_slice()?;
        let n = self.len();
        if actions.len() != n {
            return Err(EnvError::new_err(format!(
                "{} actions for {n} environments: give one action per environment",
                actions.len()
            )));
        }
        let a_count = self.n_actions;
        if let Some((i, &a)) = actions
            .iter()
            .enumerate()
            .find(|(_, &a)| a < 0 || a as usize >= a_count)
        {
            return Err(EnvError::new_err(format!(
                "action {a} (environment {i}) is not a track: actions are 0..{a_count}"
            )));
        }
        if !self.autoreset {
            if let Some(i) = self.running.iter().position(|r| !r) {
                return Err(EnvError::new_err(format!(
                    "environment {i} has no episode running: call reset() first"
                )));
            }
        }
        let d = self.obs_dim;
        for (i, &a) in actions.iter().enumerate() {
            let a = a as usize;
            if !self.running[i] {
                self.reset_copy(i);
            }
            if self.mask[i * a_count + a] {
                let obs = &mut self.obs[i * d..(i + 1) * d];
                let mask = &mut self.mask[i * a_count..(i + 1) * a_count];
                let envs = self.envs.get_mut().unwrap_or_else(|e| e.into_inner());
                let step = envs[i].step(a, &mut self.rngs[i], obs, mask);
                self.rewards[i] = step.reward;
                self.dones[i] = step.done;
                self.masked[i] = false;
            } else {
                self.rewards[i] = 0.0;
                self.dones[i] = true;
                self.masked[i] = true;
            }
            if self.dones[i] {
                self.running[i] = false;
                if self.autoreset {
                    self.reset_copy(i);
                }
            }
        }
        let (obs, mask) = self.arrays(py)?;
        Ok((
            obs,
            PyArray1::from_slice(py, &self.rewards),
            PyArray1::from_slice(py, &self.dones),
            PyArray1::from_slice(py, &self.masked),
            mask,
        ))
    }

    /// Rule violations the simulator counted (forbidden actions it was made to
    /// take), summed over copies; masked actions are refused before it sees them,
    /// so this stays 0.
    fn violations(&self) -> u64 {
        let envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
        envs.iter().map(|e| e.violations()).sum()
    }
}
