//! The native module of the `talktrack` Python package (`talktrack._talktrack`):
//! the engine (`engine`), its typed exceptions (`errors`) and the trainer's
//! simulator stepped in batches (`sim`), which the package's gymnasium
//! environments wrap.
//!
//! pyo3's `extension-module` feature is switched on only by maturin (see
//! `pyproject.toml`), so this crate also links as an ordinary library against the
//! machine's libpython, and the workspace's tests keep building.

mod engine;
mod errors;
mod sim;

use pyo3::prelude::*;

/// The module: `Engine`, `VecSim`, the exceptions and the version.
#[pymodule]
fn _talktrack(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_class::<sim::VecSim>()?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
