//! `/v1/outcome`: recording an outcome once, with the outcomes remembered so a
//! repeat is recognised as a duplicate and a contradicting one refused.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State as Axs};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use talktrack::serving::Outcome;

use super::{bad, body_bytes, utf8, State, S};
use crate::deployment::Deployment;
use crate::error::ApiError;

/// Outcomes remembered for idempotency (oldest forgotten first).
const OUTCOMES_REMEMBERED: usize = 1 << 20;

pub(super) async fn outcome(Axs(st): Axs<S>, body: Body) -> Result<Response, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    outcome_for(&st, &dep, body).await
}

pub(super) async fn outcome_in(
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
