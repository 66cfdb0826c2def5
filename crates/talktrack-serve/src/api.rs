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
use axum::extract::{DefaultBodyLimit, Path as UrlPath, RawQuery, State as Axs};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use talktrack::serving::{
    Arm, ArmMode, ChallengerStatus, DecisionId, Outcome, Reloaded, VerifyKey, SPLIT_HASH,
};
use talktrack::{Decision, Request};

use crate::deployment::{Deployment, DeploymentError, OpenError, ReloadError, Source};
use crate::error::{problems_json, ApiError, StartError};
use crate::log::{self, LogWriter};
use crate::metrics::Metrics;
use crate::Config;

/// Outcomes remembered for idempotency (oldest forgotten first).
const OUTCOMES_REMEMBERED: usize = 1 << 20;

/// An outcome's identity: the deployment, the conversation and, when sent, the decision.
type OutcomeKey = (String, String, Option<DecisionId>);

/// Outcomes recorded, and the order to forget them in.
type Seen = (HashMap<OutcomeKey, Outcome>, VecDeque<OutcomeKey>);

/// What every handler shares.
pub struct State {
    /// The deployments, the default first.
    pub(crate) deployments: Vec<Arc<Deployment>>,
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

fn read_token(cfg: &Config) -> Result<Option<String>, StartError> {
    match &cfg.admin_token_file {
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
            Ok(Some(t))
        }
        None if !is_loopback(&cfg.addr) => Err(StartError::NeedsToken(cfg.addr)),
        None => Ok(None),
    }
}

/// The deployments the configuration names: `default` for the bundle, then one per
/// deployment file; the one named `default` (else the first) serves `/v1/decide`.
fn open_deployments(cfg: &Config) -> Result<Vec<Arc<Deployment>>, StartError> {
    let opened = |r: Result<Deployment, OpenError>| match r {
        Ok(d) => Ok(Arc::new(d)),
        Err(OpenError::Bundle(e)) => Err(StartError::Bundle(e)),
        Err(OpenError::File(e)) => Err(StartError::Deployment(e)),
    };
    let keys = cfg
        .verify_keys
        .iter()
        .map(|p| VerifyKey::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    if let Some(dir) = &cfg.bundle {
        out.push(opened(Deployment::from_bundle(DEFAULT, dir, &keys))?);
    }
    for f in &cfg.deployments {
        let d = opened(Deployment::from_file(f, &keys))?;
        if out.iter().any(|o: &Arc<Deployment>| o.name == d.name) {
            return Err(DeploymentError::Duplicate(d.name.clone()).into());
        }
        out.push(d);
    }
    if let Some(i) = out.iter().position(|d| d.name == DEFAULT) {
        out.swap(0, i);
    }
    if out.is_empty() {
        return Err(StartError::NothingToServe);
    }
    Ok(out)
}

/// The name of the deployment `--bundle` serves.
pub const DEFAULT: &str = "default";

impl State {
    /// Loads every deployment, reads the token, opens the decision log.
    pub fn new(cfg: &Config) -> Result<(Self, Option<LogWriter>), StartError> {
        let admin_token = read_token(cfg)?;
        let deployments = open_deployments(cfg)?;
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
                let sink = Arc::new(sink);
                for d in &deployments {
                    d.engine
                        .set_sink(Some(Box::new(log::Named::new(&d.name, Arc::clone(&sink)))));
                }
                Some(writer)
            }
            None => None,
        };
        Ok((
            Self {
                deployments,
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
        for d in &self.deployments {
            d.engine.set_sink(None);
        }
    }

    /// The deployment `/v1/decide` and the other unnamed routes serve.
    fn default_deployment(&self) -> Result<&Arc<Deployment>, ApiError> {
        self.deployments
            .first()
            .ok_or_else(|| ApiError::NotFound("no deployment is served".into()))
    }

    fn deployment(&self, name: &str) -> Result<&Arc<Deployment>, ApiError> {
        self.deployments
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no deployment `{name}` (served: {})",
                    self.deployments
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// Reloads a deployment, counting and logging the result.
    pub fn reload(&self, dep: &Deployment) -> Result<Reloaded, ReloadError> {
        let r = dep.reload();
        match &r {
            Ok(what) => {
                self.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
                let v = dep.engine.version();
                let challenger = dep.engine.challenger().map_or(String::new(), |c| {
                    format!(
                        "; challenger {} {} ({}) on {}% ({:?})",
                        c.version.name,
                        c.version.version,
                        c.version.digest,
                        c.split.percent(),
                        c.split.mode
                    )
                });
                eprintln!(
                    "talktrack serve: reload of `{}`: {what:?}; serving {} {} ({}){challenger}",
                    dep.name, v.name, v.version, v.digest
                );
            }
            Err(ReloadError::Bundle(e)) => {
                self.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "talktrack serve: reload of `{}` rejected, the version in service keeps serving:\n{}",
                    dep.name,
                    talktrack::render(&e.problems)
                );
            }
            Err(ReloadError::File(e)) => {
                self.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "talktrack serve: reload of `{}` rejected, the arms in service keep serving: {e}",
                    dep.name
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
        .route("/v1/promote", post(promote))
        .route("/v1/{name}/decide", post(decide_in))
        .route("/v1/{name}/decide/batch", post(batch_in))
        .route("/v1/{name}/outcome", post(outcome_in))
        .route("/v1/{name}/reload", post(reload_in))
        .route("/v1/{name}/rollback", post(rollback_in))
        .route("/v1/{name}/unpin", post(unpin_in))
        .route("/v1/{name}/promote", post(promote_in))
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

/// Reads the body under the limit.
async fn body_bytes(st: &State, body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, st.body_limit)
        .await
        .map_err(|_| ApiError::TooLarge {
            limit: st.body_limit,
        })
}

/// The body as UTF-8 text (borrowed, not copied).
fn utf8(bytes: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not UTF-8: {e}")))
}

#[derive(Clone, Copy, Default)]
struct DecideQuery {
    explain: bool,
    compact: bool,
}

impl DecideQuery {
    /// Room for one decision rendered as this query asks.
    fn room(self) -> usize {
        if self.compact {
            COMPACT_BYTES
        } else {
            DECISION_BYTES
        }
    }
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

/// Decides one parsed request and appends it to `out`, rendered as the query asks.
fn decide_one(
    st: &State,
    dep: &Deployment,
    req: &Request,
    q: DecideQuery,
    out: &mut Vec<u8>,
) -> Result<(), ApiError> {
    let t0 = Instant::now();
    let a = dep.engine.decide_assigned(req).map_err(|e| bad(st, e))?;
    st.metrics
        .decision(&dep.name, a.arm, &a.version, &a.decision, t0.elapsed());
    if let Some(s) = &a.shadow {
        st.metrics.shadow(&dep.name, &s.version, s.result.is_ok());
    }
    render(&a.decision, &a.id, a.arm, q, out)
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
    arm: Arm,
    track: Option<&'a str>,
    propensity: Option<f32>,
    bundle: BundleRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<String>,
}

fn write_json(out: &mut Vec<u8>, v: &impl Serialize) -> Result<(), ApiError> {
    serde_json::to_writer(out, v)
        .map_err(|e| ApiError::BadRequest(format!("the decision cannot be written as JSON: {e}")))
}

/// Room for one full decision (it grows with the tracks and the rules that masked
/// them: about 16 KiB for 64 tracks and 100 rules).
const DECISION_BYTES: usize = 24 << 10;

/// Room for one compact decision.
const COMPACT_BYTES: usize = 256;

/// The most a batch response reserves up front; a larger one grows as it is written.
const BATCH_PRESIZE: usize = 1 << 20;

/// Appends the decision as JSON text to `out`: exactly what `talktrack decide`
/// prints for it (floats written as the library writes them), with the decision id
/// and the arm first. The decision's own object is written in place, its opening
/// brace turned into the comma after the arm.
fn render(
    d: &Decision,
    id: &DecisionId,
    arm: Arm,
    q: DecideQuery,
    out: &mut Vec<u8>,
) -> Result<(), ApiError> {
    let explanation = q.explain.then(|| d.explain());
    if q.compact {
        let b = d.bundle();
        let propensity = d.chosen().map(|c| {
            d.ranked()
                .iter()
                .find(|r| r.track as usize == c)
                .map_or(1.0, |r| r.probability)
        });
        return write_json(
            out,
            &Compact {
                decision_id: id,
                arm,
                track: d.chosen_id(),
                propensity,
                bundle: BundleRef {
                    name: b.name(),
                    version: b.version(),
                    digest: b.digest(),
                },
                explanation,
            },
        );
    }
    out.extend_from_slice(b"{\"decision_id\":");
    write_json(out, id)?;
    out.extend_from_slice(b",\"arm\":");
    write_json(out, &arm)?;
    let at = out.len();
    write_json(out, d)?;
    match &out[at..] {
        b"{}" => out.truncate(at),
        [b'{', .., b'}'] => {
            out[at] = b',';
            out.pop();
        }
        _ => {
            return Err(ApiError::BadRequest(
                "the decision is not a JSON object".into(),
            ))
        }
    }
    if let Some(e) = explanation {
        out.extend_from_slice(b",\"explanation\":");
        write_json(out, &e)?;
    }
    out.push(b'}');
    Ok(())
}

fn json_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

async fn decide(Axs(st): Axs<S>, RawQuery(q): RawQuery, body: Body) -> Result<Response, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    decide_for(&st, &dep, q, body).await
}

async fn decide_in(
    Axs(st): Axs<S>,
    UrlPath(name): UrlPath<String>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let dep = Arc::clone(st.deployment(&name)?);
    decide_for(&st, &dep, q, body).await
}

async fn decide_for(
    st: &State,
    dep: &Deployment,
    q: Option<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let q = decide_query(q)?;
    let bytes = body_bytes(st, body).await?;
    let req = Request::from_json(utf8(&bytes)?).map_err(|e| bad(st, e))?;
    let mut out = Vec::with_capacity(q.room());
    decide_one(st, dep, &req, q, &mut out)?;
    Ok(json_response(out))
}

async fn batch(Axs(st): Axs<S>, RawQuery(q): RawQuery, body: Body) -> Result<Response, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    batch_for(&st, &dep, q, body).await
}

async fn batch_in(
    Axs(st): Axs<S>,
    UrlPath(name): UrlPath<String>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let dep = Arc::clone(st.deployment(&name)?);
    batch_for(&st, &dep, q, body).await
}

async fn batch_for(
    st: &State,
    dep: &Deployment,
    q: Option<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let q = decide_query(q)?;
    let bytes = body_bytes(st, body).await?;
    let text = utf8(&bytes)?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch<'a> {
        #[serde(borrow)]
        requests: Vec<&'a RawValue>,
    }
    let b: Batch = serde_json::from_str(text).map_err(|e| {
        bad(
            st,
            format!("batch JSON line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    if b.requests.len() > st.batch_limit {
        return Err(ApiError::BatchTooLarge {
            count: b.requests.len(),
            limit: st.batch_limit,
        });
    }
    // Presized for the batch, up to a bound: a large batch of small decisions does
    // not reserve room for full ones it will not use.
    let mut out = Vec::with_capacity((16 + b.requests.len() * q.room()).min(BATCH_PRESIZE));
    out.extend_from_slice(b"{\"results\":[");
    for (i, raw) in b.requests.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let at = out.len();
        let one = serde_json::from_str::<Request>(raw.get())
            .map_err(|e| bad(st, format!("requests[{i}]: {}", item_error(&e))))
            .and_then(|r| {
                decide_one(st, dep, &r, q, &mut out)
                    .map_err(|e| ApiError::BadRequest(format!("requests[{i}]: {e}")))
            });
        if let Err(e) = one {
            out.truncate(at);
            write_json(&mut out, &e.body())?;
        }
    }
    out.extend_from_slice(b"]}");
    Ok(json_response(out))
}

/// What serde says about one batch item, without the position inside the item's
/// text (the item is named by its index).
fn item_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&at) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

async fn outcome(Axs(st): Axs<S>, body: Body) -> Result<Response, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    outcome_for(&st, &dep, body).await
}

async fn outcome_in(
    Axs(st): Axs<S>,
    UrlPath(name): UrlPath<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let dep = Arc::clone(st.deployment(&name)?);
    outcome_for(&st, &dep, body).await
}

async fn outcome_for(st: &State, dep: &Deployment, body: Body) -> Result<Response, ApiError> {
    let bytes = body_bytes(st, body).await?;
    let o: Outcome = serde_json::from_str(utf8(&bytes)?).map_err(|e| {
        bad(
            st,
            format!("outcome JSON line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    if !o.value.is_finite() {
        return Err(bad(st, "`value` is not a finite number"));
    }
    let key = (
        dep.name.clone(),
        o.conversation_id.clone(),
        o.decision_id.clone(),
    );
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
    dep.engine.record_outcome(&o);
    Ok((
        StatusCode::CREATED,
        Json(json!({"recorded": true, "duplicate": false})),
    )
        .into_response())
}

async fn reload(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    reload_for(st, dep, headers).await
}

async fn reload_in(
    Axs(st): Axs<S>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.deployment(&name)?);
    reload_for(st, dep, headers).await
}

async fn reload_for(
    st: S,
    dep: Arc<Deployment>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    st.authorize(&headers)?;
    let (st2, dep2) = (Arc::clone(&st), Arc::clone(&dep));
    let r = tokio::task::spawn_blocking(move || st2.reload(&dep2))
        .await
        .map_err(|e| ApiError::Conflict(format!("the reload stopped: {e}")))?;
    match r {
        Ok(what) => Ok(Json(json!({
            "result": what,
            "serving": dep.engine.version(),
            "challenger": dep.engine.challenger().map(|c| challenger_json(&c)),
        }))),
        Err(ReloadError::Bundle(e)) => Err(ApiError::InvalidBundle(e.problems)),
        Err(ReloadError::File(e)) => Err(ApiError::InvalidDeployment(e.to_string())),
    }
}

async fn rollback(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    rollback_for(&st, &dep, &headers)
}

async fn rollback_in(
    Axs(st): Axs<S>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.deployment(&name)?);
    rollback_for(&st, &dep, &headers)
}

fn rollback_for(
    st: &State,
    dep: &Deployment,
    headers: &HeaderMap,
) -> Result<Json<Value>, ApiError> {
    st.authorize(headers)?;
    let v = dep
        .engine
        .rollback()
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    eprintln!(
        "talktrack serve: `{}` rolled back to {} {} ({}), pinned",
        dep.name, v.name, v.version, v.digest
    );
    Ok(Json(json!({"serving": v, "pinned": true})))
}

async fn unpin(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    unpin_for(&st, &dep, &headers)
}

async fn unpin_in(
    Axs(st): Axs<S>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.deployment(&name)?);
    unpin_for(&st, &dep, &headers)
}

fn unpin_for(st: &State, dep: &Deployment, headers: &HeaderMap) -> Result<Json<Value>, ApiError> {
    st.authorize(headers)?;
    dep.engine.unpin();
    Ok(Json(json!({"pinned": false})))
}

async fn promote(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    promote_for(&st, &dep, &headers)
}

async fn promote_in(
    Axs(st): Axs<S>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.deployment(&name)?);
    promote_for(&st, &dep, &headers)
}

/// Serves the challenger to every conversation; pinned like a rollback, so the
/// old champion on disk does not come back until the deployment changes on disk.
fn promote_for(st: &State, dep: &Deployment, headers: &HeaderMap) -> Result<Json<Value>, ApiError> {
    st.authorize(headers)?;
    let v = dep
        .engine
        .promote()
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    eprintln!(
        "talktrack serve: `{}` promoted its challenger {} {} ({}), pinned",
        dep.name, v.name, v.version, v.digest
    );
    Ok(Json(json!({"serving": v, "pinned": true})))
}

fn challenger_json(c: &ChallengerStatus) -> Value {
    json!({
        "version": c.version,
        "mode": c.split.mode,
        "percent": c.split.percent(),
    })
}

async fn bundles(Axs(st): Axs<S>) -> Json<Value> {
    let deployments: Vec<Value> = st.deployments.iter().map(|d| deployment_json(d)).collect();
    Json(json!({ "split_hash": SPLIT_HASH, "deployments": deployments }))
}

fn deployment_json(d: &Deployment) -> Value {
    let s = d.engine.status();
    let mut err = s.last_error.map(|f| {
        json!({
            "at": talktrack_time(f.at),
            "source": f.source,
            "problems": problems_json(&f.problems),
        })
    });
    if let Some(e) = d.file_error() {
        err = Some(json!({"message": e.to_string(), "problems": []}));
    }
    let challenger_percent = s
        .challenger
        .as_ref()
        .filter(|c| c.split.mode == ArmMode::Split)
        .map_or(0.0, |c| c.split.percent());
    let mut split = vec![json!({
        "arm": "champion",
        "digest": s.current.digest,
        "percent": 100.0 - challenger_percent,
    })];
    if let Some(c) = &s.challenger {
        split.push(json!({
            "arm": match c.split.mode { ArmMode::Split => "challenger", ArmMode::Shadow => "shadow" },
            "digest": c.version.digest,
            "percent": c.split.percent(),
        }));
    }
    let (bundle_path, file) = match &d.source {
        Source::Bundle(p) => (Some(p.clone()), None),
        Source::File(f) => (None, Some(f.clone())),
    };
    json!({
        "name": d.name,
        "bundle_path": bundle_path,
        "deployment_file": file,
        "serving": s.current,
        "previous": s.previous,
        "pinned": s.pinned,
        "challenger": s.challenger.as_ref().map(challenger_json),
        "split": split,
        "reloads": {"ok": s.reloads_ok, "failed": s.reloads_failed},
        "last_reload_error": err,
    })
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
        let serving = st.deployments.first().map(|d| d.engine.version());
        Json(json!({"ready": true, "serving": serving})).into_response()
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
