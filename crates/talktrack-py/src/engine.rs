//! `talktrack.Engine`: load a bundle, decide from a dict, reload, roll back, record
//! outcomes; the engine is shared between Python threads and the GIL is released
//! while it decides or loads.
//!
//! Requests and decisions cross as JSON (Python's `json` module on one side, the
//! engine's own parser on the other), so a request is checked exactly as the C ABI
//! and the HTTP server check it and errors carry the same messages.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors::{bundle_error, RequestError, RollbackError, TalktrackError};

/// An engine serving one bundle version at a time.
#[pyclass(frozen, module = "talktrack")]
pub(crate) struct Engine {
    inner: Arc<talktrack::Engine>,
    dumps: Py<PyAny>,
    loads: Py<PyAny>,
}

impl Engine {
    /// `obj` as JSON text: a `str` as it is, anything else through `json.dumps`.
    fn json_text(&self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<String> {
        if obj.is_instance_of::<PyString>() {
            return obj.extract();
        }
        self.dumps
            .bind(py)
            .call1((obj,))
            .map_err(|e| {
                RequestError::new_err(format!("the request cannot be encoded as JSON: {e}"))
            })?
            .extract()
    }

    fn to_py<'py>(&self, py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyAny>> {
        self.loads.bind(py).call1((json,))
    }

    fn version_dict<'py>(
        &self,
        py: Python<'py>,
        v: &talktrack::serving::Version,
    ) -> PyResult<Bound<'py, PyAny>> {
        let json = serde_json::to_string(v)
            .map_err(|e| TalktrackError::new_err(format!("the version cannot be encoded: {e}")))?;
        self.to_py(py, &json)
    }
}

#[pymethods]
impl Engine {
    /// Loads and validates the bundle in the directory `path`.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let json = py.import("json")?;
        let loaded = py.detach(|| talktrack::Engine::load(&path));
        let inner = loaded.map_err(|e| bundle_error(py, &e))?;
        Ok(Self {
            inner: Arc::new(inner),
            dumps: json.getattr("dumps")?.unbind(),
            loads: json.getattr("loads")?.unbind(),
        })
    }

    /// Decides the next track for `request` (a dict shaped like the JSON request, or
    /// the JSON text itself) and returns the decision as a dict, with its
    /// `decision_id` (the id its decision-log record carries).
    fn decide<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let text = self.json_text(py, request)?;
        let engine = Arc::clone(&self.inner);
        let decided = py.detach(move || {
            let req = talktrack::Request::from_json(&text)?;
            let (id, decision) = engine.decide_with_id(&req)?;
            Ok::<_, talktrack::DecideError>((id, serde_json::to_string(&decision)))
        });
        let (id, json) = decided.map_err(|e| RequestError::new_err(e.to_string()))?;
        let json = json.map_err(|e| {
            TalktrackError::new_err(format!("the decision cannot be encoded as JSON: {e}"))
        })?;
        let out = self.to_py(py, &json)?;
        if let Ok(d) = out.cast::<PyDict>() {
            d.set_item("decision_id", id.as_str())?;
        }
        Ok(out)
    }

    /// Hands the outcome of a conversation (a dict: `conversation_id`, `converted`,
    /// and optionally `decision_id`, `value`, `final_reply`) to the decision log.
    fn record_outcome(&self, py: Python<'_>, outcome: &Bound<'_, PyAny>) -> PyResult<()> {
        let text = self.json_text(py, outcome)?;
        let outcome: talktrack::serving::Outcome = serde_json::from_str(&text).map_err(|e| {
            RequestError::new_err(format!(
                "outcome JSON line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })?;
        let engine = Arc::clone(&self.inner);
        py.detach(move || engine.record_outcome(&outcome));
        Ok(())
    }

    /// Loads the bundle in `path` and, if it is valid, puts it in service; returns
    /// the version now in service. If it is not valid, raises `BundleError` and the
    /// version in service keeps serving.
    fn reload<'py>(&self, py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
        let engine = Arc::clone(&self.inner);
        py.detach(move || engine.reload(&path))
            .map_err(|e| bundle_error(py, &e))?;
        self.version(py)
    }

    /// Puts the previous version back in service and pins it until a bundle with
    /// another digest is loaded; returns the version now in service. Raises
    /// `RollbackError` when there is no previous version.
    fn rollback<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self
            .inner
            .rollback()
            .map_err(|e| RollbackError::new_err(e.to_string()))?;
        self.version_dict(py, &v)
    }

    /// The version in service: `name`, `version`, `digest`, `loaded_at`, `source`,
    /// `serial`.
    fn version<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.version_dict(py, &self.inner.version())
    }

    /// The identity of the version in service, as the C ABI gives it: `name`,
    /// `version`, `digest`.
    fn identity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let b = self.inner.bundle();
        let d = PyDict::new(py);
        d.set_item("name", b.name())?;
        d.set_item("version", b.version())?;
        d.set_item("digest", b.digest())?;
        Ok(d)
    }

    /// What the engine serves and could roll back to: `current`, `previous` (or
    /// None), `pinned`, `last_error` (the last failed reload: `at` in milliseconds
    /// since the epoch, `source`, `problems`; or None), `reloads_ok`,
    /// `reloads_failed`.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.status();
        let d = PyDict::new(py);
        d.set_item("current", self.version_dict(py, &s.current)?)?;
        match &s.previous {
            Some(v) => d.set_item("previous", self.version_dict(py, v)?)?,
            None => d.set_item("previous", py.None())?,
        }
        d.set_item("pinned", s.pinned)?;
        match &s.last_error {
            Some(f) => {
                let e = PyDict::new(py);
                e.set_item("at", f.at)?;
                e.set_item("source", &f.source)?;
                let problems = f
                    .problems
                    .iter()
                    .map(|p| crate::errors::problem_dict(py, p))
                    .collect::<PyResult<Vec<_>>>()?;
                e.set_item("problems", problems)?;
                d.set_item("last_error", e)?;
            }
            None => d.set_item("last_error", py.None())?,
        }
        d.set_item("reloads_ok", s.reloads_ok)?;
        d.set_item("reloads_failed", s.reloads_failed)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let v = self.inner.version();
        format!(
            "<talktrack.Engine serving {} {} ({})>",
            v.name, v.version, v.digest
        )
    }
}
