//! The read-only routes: the deployments and versions in service
//! (`/v1/bundles`), health, readiness, metrics and the OpenAPI document.

use std::sync::atomic::Ordering;

use axum::extract::State as Axs;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use talktrack::serving::{ArmMode, ChallengerStatus, SPLIT_HASH};

use super::S;
use crate::deployment::{Deployment, Source};
use crate::error::problems_json;

pub(super) fn challenger_json(c: &ChallengerStatus) -> Value {
    json!({
        "version": c.version,
        "mode": c.split.mode,
        "percent": c.split.percent(),
    })
}

pub(super) async fn bundles(Axs(st): Axs<S>) -> Json<Value> {
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

pub(super) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(super) async fn readyz(Axs(st): Axs<S>) -> Response {
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

pub(super) async fn metrics(Axs(st): Axs<S>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

pub(super) async fn openapi() -> Json<Value> {
    Json(crate::openapi())
}
