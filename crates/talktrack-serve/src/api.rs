//! The routes and their handlers, and the state they share.
//!
//! Bodies are read as bytes under the configured limit and parsed by talktrack
//! itself, so a bad request gets the message `talktrack decide` prints for it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, RawQuery, State as Axs};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use talktrack::{Decision, DecisionId, Engine, Outcome, Reloaded, Request, Version};

use crate::error::{problems_json, ApiError, StartError};
use crate::log::{self, LogWriter};
use crate::metrics::Metrics;
use crate::Config;

/// Outcomes remembered for idempotency (oldest forgotten first).
const OUTCOMES_REMEMBERED: usize = 1 << 20;

/// An outcome's identity: the conversation and, when sent, the decision.
type OutcomeKey = (String, Option<DecisionId>);

/// Outcomes recorded, and the order to forget them in.
type Seen = (HashMap<OutcomeKey, Outcome>, VecDeque<OutcomeKey>);

/// What every handler shares.
pub struct State {
    pub(crate) engine: Engine,
    pub(crate) bundle_dir: std::path::PathBuf,
    pub(crate) metrics: Arc<Metrics>,
    admin_token: Option<String>,
    batch_limit: usize,
    body_limit: usize,
    ready: AtomicBool,
    outcomes: Mutex<Seen>,
}

fn is_loopback(a: &SocketAddr) -> bool {
    a.ip().is_loopback()
}

impl State {
    /// Loads the start bundle, reads the token, opens the decision log.
    pub fn new(cfg: &Config) -> Result<(Self, Option<LogWriter>), StartError> {
        let admin_token = match &cfg.admin_token_file {
            Some(path) => {
                let t = std::fs::read_to_string(path).map_err(|e| StartError::Token {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let t = t.trim().to_owned();
                if t.is_empty() {
                    return Err(StartError::Token {
                        path: path.clone(),
                        message: "the file is empty".into(),
                    });
                }
                Some(t)
            }
            None if !is_loopback(&cfg.addr) => return Err(StartError::NeedsToken(cfg.addr)),
            None => None,
        };
        let engine = Engine::load(&cfg.bundle)?;
        let metrics = Arc::new(Metrics::default());
        let writer = match &cfg.decision_log {
            Some(lc) => {
                let (sink, writer) = log::start(
                    lc.clone(),
                    Arc::clone(&metrics.log_written),
                    Arc::clone(&metrics.log_dropped),
                )
                .map_err(|source| StartError::Log {
                    path: lc.path.clone(),
                    source,
                })?;
                engine.set_sink(Some(Box::new(sink)));
                Some(writer)
            }
            None => None,
        };
        Ok((
            Self {
                engine,
                bundle_dir: cfg.bundle.clone(),
                metrics,
                admin_token,
                batch_limit: cfg.batch_limit,
                body_limit: cfg.body_limit,
                ready: AtomicBool::new(true),
                outcomes: Mutex::new((HashMap::new(), VecDeque::new())),
            },
            writer,
        ))
    }

    /// Marks the server not ready and lets the decision log close.
    pub fn shutting_down(&self) {
        self.ready.store(false, Ordering::Relaxed);
        self.engine.set_sink(None);
    }

    /// Reloads the bundle directory, counting and logging the result.
    pub fn reload(&self) -> Result<Reloaded, talktrack::LoadError> {
        let r = self.engine.reload_from(&self.bundle_dir);
        match &r {
            Ok(what) => {
                self.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
                let v = self.engine.version();
                eprintln!(
                    "talktrack serve: reload of `{}`: {what:?}; serving {} {} ({})",
                    self.bundle_dir.display(),
                    v.name,
                    v.version,
                    v.digest
                );
            }
            Err(e) => {
                self.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "talktrack serve: reload of `{}` rejected, the version in service keeps serving:\n{}",
                    self.bundle_dir.display(),
                    talktrack::render(&e.problems)
                );
            }
        }
        r
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.admin_token else {
            return Ok(());
        };
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare every byte whatever the first difference, so the time taken does
        // not tell how much of a guess was right.
        let same = sent.len() == token.len()
            && sent
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

type S = Arc<State>;

/// Every route.
pub fn router(state: S) -> Router {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/decide/batch", post(batch))
        .route("/v1/outcome", post(outcome))
        .route("/v1/reload", post(reload))
        .route("/v1/rollback", post(rollback))
        .route("/v1/unpin", post(unpin))
        .route("/v1/bundles", get(bundles))
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /v1/openapi.json".into())
}

/// Reads the body under the limit, as UTF-8.
async fn body_text(st: &State, body: Body) -> Result<String, ApiError> {
    let bytes: Bytes = axum::body::to_bytes(body, st.body_limit)
        .await
        .map_err(|_| ApiError::TooLarge {
            limit: st.body_limit,
        })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|e| ApiError::BadRequest(format!("the body is not UTF-8: {e}")))
}

#[derive(Clone, Copy, Default)]
struct DecideQuery {
    explain: bool,
    compact: bool,
}

fn decide_query(q: Option<String>) -> Result<DecideQuery, ApiError> {
    let mut out = DecideQuery::default();
    for pair in q
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match (k, v) {
            ("explain", "true" | "") => out.explain = true,
            ("explain", "false") => out.explain = false,
            ("detail", "compact") => out.compact = true,
            ("detail", "full") => out.compact = false,
            ("explain", _) => {
                return Err(ApiError::BadQuery(format!(
                    "`explain={v}`: use `true` or `false`"
                )))
            }
            ("detail", _) => {
                return Err(ApiError::BadQuery(format!(
                    "`detail={v}`: use `full` or `compact`"
                )))
            }
            _ => {
                return Err(ApiError::BadQuery(format!(
                    "unknown query parameter `{k}` (known: explain, detail)"
                )))
            }
        }
    }
    Ok(out)
}

fn bad(st: &State, e: impl std::fmt::Display) -> ApiError {
    st.metrics.bad_request();
    ApiError::BadRequest(e.to_string())
}

/// Decides one parsed request and renders it as the query asks (JSON text).
fn decide_one(st: &State, req: &Request, q: DecideQuery) -> Result<String, ApiError> {
    let t0 = Instant::now();
    let (id, d) = st.engine.decide_with_id(req).map_err(|e| bad(st, e))?;
    st.metrics.decision(&version_of(&d), &d, t0.elapsed());
    render(&d, &id, q)
}

fn version_of(d: &Decision) -> Version {
    let b = d.bundle();
    Version {
        name: b.name().to_owned(),
        version: b.version().to_owned(),
        digest: b.digest().to_owned(),
        loaded_at: 0,
        source: b.dir().to_owned(),
        serial: 0,
    }
}

#[derive(Serialize)]
struct BundleRef<'a> {
    name: &'a str,
    version: &'a str,
    digest: &'a str,
}

#[derive(Serialize)]
struct Compact<'a> {
    decision_id: &'a DecisionId,
    track: Option<&'a str>,
    propensity: Option<f32>,
    bundle: BundleRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<String>,
}

fn json_text(v: &impl Serialize) -> Result<String, ApiError> {
    serde_json::to_string(v)
        .map_err(|e| ApiError::BadRequest(format!("the decision cannot be written as JSON: {e}")))
}

/// The decision as JSON text: exactly what `talktrack decide` prints for it (floats
/// written as the library writes them), with the decision id first.
fn render(d: &Decision, id: &DecisionId, q: DecideQuery) -> Result<String, ApiError> {
    let explanation = q.explain.then(|| d.explain());
    if q.compact {
        let b = d.bundle();
        let propensity = d.chosen().map(|c| {
            d.ranked()
                .iter()
                .find(|r| r.track as usize == c)
                .map_or(1.0, |r| r.probability)
        });
        return json_text(&Compact {
            decision_id: id,
            track: d.chosen_id(),
            propensity,
            bundle: BundleRef {
                name: b.name(),
                version: b.version(),
                digest: b.digest(),
            },
            explanation,
        });
    }
    let full = json_text(d)?;
    let body = full
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or("");
    let mut out = String::with_capacity(full.len() + 64);
    out.push_str("{\"decision_id\":");
    out.push_str(&json_text(id)?);
    if !body.is_empty() {
        out.push(',');
        out.push_str(body);
    }
    if let Some(e) = explanation {
        out.push_str(",\"explanation\":");
        out.push_str(&json_text(&e)?);
    }
    out.push('}');
    Ok(out)
}

fn json_response(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

async fn decide(Axs(st): Axs<S>, RawQuery(q): RawQuery, body: Body) -> Result<Response, ApiError> {
    let q = decide_query(q)?;
    let text = body_text(&st, body).await?;
    let req = Request::from_json(&text).map_err(|e| bad(&st, e))?;
    decide_one(&st, &req, q).map(json_response)
}

async fn batch(Axs(st): Axs<S>, RawQuery(q): RawQuery, body: Body) -> Result<Response, ApiError> {
    let q = decide_query(q)?;
    let text = body_text(&st, body).await?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        requests: Vec<Value>,
    }
    let b: Batch = serde_json::from_str(&text).map_err(|e| {
        bad(
            &st,
            format!("batch JSON line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    if b.requests.len() > st.batch_limit {
        return Err(ApiError::BatchTooLarge {
            count: b.requests.len(),
            limit: st.batch_limit,
        });
    }
    let mut out = String::from("{\"results\":[");
    for (i, v) in b.requests.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let one = Request::deserialize(v)
            .map_err(|e| bad(&st, format!("requests[{i}]: {e}")))
            .and_then(|r| {
                decide_one(&st, &r, q)
                    .map_err(|e| ApiError::BadRequest(format!("requests[{i}]: {e}")))
            });
        match one {
            Ok(text) => out.push_str(&text),
            Err(e) => out.push_str(&e.body().to_string()),
        }
    }
    out.push_str("]}");
    Ok(json_response(out))
}

async fn outcome(Axs(st): Axs<S>, body: Body) -> Result<Response, ApiError> {
    let text = body_text(&st, body).await?;
    let o: Outcome = serde_json::from_str(&text).map_err(|e| {
        bad(
            &st,
            format!("outcome JSON line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    if !o.value.is_finite() {
        return Err(bad(&st, "`value` is not a finite number"));
    }
    let key = (o.conversation_id.clone(), o.decision_id.clone());
    {
        let mut seen = st.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prev) = seen.0.get(&key) {
            if *prev == o {
                return Ok(Json(json!({"recorded": false, "duplicate": true})).into_response());
            }
            return Err(ApiError::Conflict(format!(
                "an outcome for conversation `{}`{} was already recorded with other values",
                o.conversation_id,
                o.decision_id
                    .as_ref()
                    .map_or(String::new(), |d| format!(" and decision `{d}`"))
            )));
        }
        if seen.1.len() >= OUTCOMES_REMEMBERED {
            if let Some(old) = seen.1.pop_front() {
                seen.0.remove(&old);
            }
        }
        seen.0.insert(key.clone(), o.clone());
        seen.1.push_back(key);
    }
    st.engine.record_outcome(&o);
    Ok((
        StatusCode::CREATED,
        Json(json!({"recorded": true, "duplicate": false})),
    )
        .into_response())
}

async fn reload(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    st.authorize(&headers)?;
    let st2 = Arc::clone(&st);
    let r = tokio::task::spawn_blocking(move || st2.reload())
        .await
        .map_err(|e| ApiError::Conflict(format!("the reload stopped: {e}")))?;
    match r {
        Ok(what) => Ok(Json(
            json!({"result": what, "serving": st.engine.version()}),
        )),
        Err(e) => Err(ApiError::InvalidBundle(e.problems)),
    }
}

async fn rollback(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    st.authorize(&headers)?;
    let v = st
        .engine
        .rollback()
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    eprintln!(
        "talktrack serve: rolled back to {} {} ({}), pinned",
        v.name, v.version, v.digest
    );
    Ok(Json(json!({"serving": v, "pinned": true})))
}

async fn unpin(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    st.authorize(&headers)?;
    st.engine.unpin();
    Ok(Json(json!({"pinned": false})))
}

async fn bundles(Axs(st): Axs<S>) -> Json<Value> {
    let s = st.engine.status();
    let err = s.last_error.map(|f| {
        json!({
            "at": talktrack_time(f.at),
            "source": f.source,
            "problems": problems_json(&f.problems),
        })
    });
    Json(json!({
        "deployments": [{
            "name": "default",
            "bundle_path": st.bundle_dir,
            "serving": s.current,
            "previous": s.previous,
            "pinned": s.pinned,
            "split": [{"arm": "champion", "digest": s.current.digest, "percent": 100}],
            "reloads": {"ok": s.reloads_ok, "failed": s.reloads_failed},
            "last_reload_error": err,
        }]
    }))
}

fn talktrack_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(Axs(st): Axs<S>) -> Response {
    if st.ready.load(Ordering::Relaxed) {
        Json(json!({"ready": true, "serving": st.engine.version()})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false})),
        )
            .into_response()
    }
}

async fn metrics(Axs(st): Axs<S>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi())
}
