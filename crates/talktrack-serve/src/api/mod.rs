//! The routes and their handlers, and the state they share.
//!
//! Bodies are read as bytes under the configured limit and parsed by talktrack
//! itself, so a bad request gets the message `talktrack decide` prints for it.
//!
//! This file holds the shared state, the router and the body helpers every
//! handler uses; the handlers are grouped by concern: deciding in `decide`,
//! outcomes in `outcome`, the admin routes in `admin`, the read-only status
//! routes in `status`, and what the state reads at start in `start`.

mod admin;
mod decide;
mod outcome;
mod start;
mod status;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use talktrack::serving::{DecisionId, Outcome, Reloaded};

use crate::deployment::{Deployment, ReloadError};
use crate::error::{ApiError, StartError};
use crate::log::{self, LogWriter};
use crate::metrics::Metrics;
use crate::Config;
use admin::{promote, promote_in, reload, reload_in, rollback, rollback_in, unpin, unpin_in};
use decide::{batch, batch_in, decide, decide_in};
use outcome::{outcome, outcome_in};
use start::{open_deployments, read_token};
use status::{bundles, healthz, metrics, openapi, readyz};

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

fn bad(st: &State, e: impl std::fmt::Display) -> ApiError {
    st.metrics.bad_request();
    ApiError::BadRequest(e.to_string())
}

fn json_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}
