//! `/v1/decide` and `/v1/decide/batch`: the query they take, deciding each
//! request, and rendering decisions (full or compact) straight into the
//! response body.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State as Axs};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use talktrack::serving::{Arm, DecisionId};
use talktrack::{Decision, Request};

use super::{bad, body_bytes, json_response, utf8, State, S};
use crate::deployment::Deployment;
use crate::error::ApiError;

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

pub(super) async fn decide(
    Axs(st): Axs<S>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    decide_for(&st, &dep, q, body).await
}

pub(super) async fn decide_in(
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

pub(super) async fn batch(
    Axs(st): Axs<S>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let dep = Arc::clone(st.default_deployment()?);
    batch_for(&st, &dep, q, body).await
}

pub(super) async fn batch_in(
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
