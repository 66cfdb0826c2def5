//! The package's exceptions: one base class, one subclass per kind of failure,
//! with the messages the C ABI and the command line give.
//!
//! `BundleError` carries `.problems`: every problem the bundle loader found, as
//! dicts (`severity`, `code`, `message`, `location`, `help`).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

create_exception!(
    talktrack,
    TalktrackError,
    PyException,
    "Base class of every talktrack error."
);
create_exception!(
    talktrack,
    BundleError,
    TalktrackError,
    "A bundle that does not load; `.problems` lists every problem found. On reload the version in service keeps serving."
);
create_exception!(
    talktrack,
    RequestError,
    TalktrackError,
    "A request (or outcome) the engine cannot take: malformed, unknown fields, a context that does not fit the schema, unknown tracks or replies."
);
create_exception!(
    talktrack,
    RollbackError,
    TalktrackError,
    "A rollback with no previous version to go back to."
);
create_exception!(
    talktrack,
    ConfigError,
    TalktrackError,
    "A trainer config (or its template and aggregates) the simulator cannot be built from."
);
create_exception!(
    talktrack,
    EnvError,
    TalktrackError,
    "A simulator used out of turn: a step after the episode ended, an action outside the catalog."
);

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TalktrackError", py.get_type::<TalktrackError>())?;
    m.add("BundleError", py.get_type::<BundleError>())?;
    m.add("RequestError", py.get_type::<RequestError>())?;
    m.add("RollbackError", py.get_type::<RollbackError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("EnvError", py.get_type::<EnvError>())?;
    Ok(())
}

/// One problem as a dict.
pub(crate) fn problem_dict<'py>(
    py: Python<'py>,
    p: &talktrack::Problem,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("severity", if p.is_error() { "error" } else { "warning" })?;
    d.set_item("code", p.code.as_str())?;
    d.set_item("message", &p.message)?;
    d.set_item("location", p.location())?;
    d.set_item("help", p.help.as_deref())?;
    Ok(d)
}

/// A bundle that failed to load, as `BundleError`: the message of the C ABI (the
/// summary, then every problem rendered with file, line and column) and `.problems`.
pub(crate) fn bundle_error(py: Python<'_>, e: &talktrack::LoadError) -> PyErr {
    let message = format!("{e}\n{}", talktrack::render(&e.problems));
    let err = BundleError::new_err(message);
    let problems = e
        .problems
        .iter()
        .map(|p| problem_dict(py, p))
        .collect::<PyResult<Vec<_>>>()
        .and_then(|list| PyList::new(py, list));
    let attached = problems.and_then(|list| err.value(py).setattr("problems", list));
    match attached {
        Ok(()) => err,
        Err(e) => e,
    }
}
