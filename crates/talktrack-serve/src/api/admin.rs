//! The admin routes, behind the bearer token: reload, rollback, unpin and
//! promote, for the default deployment or a named one.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State as Axs};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::status::challenger_json;
use super::{State, S};
use crate::deployment::{Deployment, ReloadError};
use crate::error::ApiError;

pub(super) async fn reload(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    reload_for(st, dep, headers).await
}

pub(super) async fn reload_in(
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

pub(super) async fn rollback(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    rollback_for(&st, &dep, &headers)
}

pub(super) async fn rollback_in(
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

pub(super) async fn unpin(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    unpin_for(&st, &dep, &headers)
}

pub(super) async fn unpin_in(
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

pub(super) async fn promote(Axs(st): Axs<S>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    promote_for(&st, &dep, &headers)
}

pub(super) async fn promote_in(
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
