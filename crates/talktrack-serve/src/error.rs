//! Errors: what an API call answers when it cannot do what was asked, and why the
//! server could not start.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use talktrack::Problem;

/// What an API call could not do; answered as JSON `{"error": {"kind", "message", ...}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not a valid request: bad JSON, unknown or mistyped fields, a
    /// context the schema refuses (the message is the one `talktrack decide` prints).
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the configured limit.
    #[error("the body is more than the {limit} bytes allowed")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A batch has more requests than the configured limit.
    #[error("the batch has {count} requests, more than the {limit} allowed")]
    BatchTooLarge {
        /// Requests sent.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An unknown query parameter or a bad value for one.
    #[error("{0}")]
    BadQuery(String),
    /// An admin endpoint without the bearer token.
    #[error("this endpoint needs `Authorization: Bearer <admin token>`")]
    Unauthorized,
    /// The bundle on disk does not validate; the version in service keeps serving.
    #[error("the bundle was rejected; the version in service keeps serving")]
    InvalidBundle(Vec<Problem>),
    /// A rollback with nothing to roll back to.
    #[error("{0}")]
    Conflict(String),
    /// No such deployment or route.
    #[error("{0}")]
    NotFound(String),
    /// The deployment file does not parse or names bad values; the arms in service
    /// keep serving.
    #[error("{0}")]
    InvalidDeployment(String),
}

impl ApiError {
    fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::TooLarge { .. } => "too_large",
            Self::BatchTooLarge { .. } => "batch_too_large",
            Self::BadQuery(_) => "bad_query",
            Self::Unauthorized => "unauthorized",
            Self::InvalidBundle(_) => "invalid_bundle",
            Self::Conflict(_) => "conflict",
            Self::NotFound(_) => "not_found",
            Self::InvalidDeployment(_) => "invalid_deployment",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } | Self::BatchTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InvalidBundle(_) | Self::InvalidDeployment(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> serde_json::Value {
        let mut e = json!({"kind": self.kind(), "message": self.to_string()});
        if let Self::InvalidBundle(ps) = self {
            e["problems"] = problems_json(ps);
        }
        json!({ "error": e })
    }
}

/// Problems as JSON: each with its severity, code, location and message.
pub fn problems_json(ps: &[Problem]) -> serde_json::Value {
    ps.iter()
        .map(|p| {
            json!({
                "severity": if p.is_error() { "error" } else { "warning" },
                "code": p.code,
                "at": p.location(),
                "message": p.message,
            })
        })
        .collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = axum::Json(self.body()).into_response();
        *r.status_mut() = self.status();
        if matches!(self, Self::Unauthorized) {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StartError {
    /// The start bundle does not validate.
    #[error("{}{}", talktrack::render(&.0.problems), .0)]
    Bundle(#[from] talktrack::LoadError),
    /// A deployment file is unusable, or two deployments share a name.
    #[error(transparent)]
    Deployment(#[from] crate::deployment::DeploymentError),
    /// A verification key file is unusable.
    #[error(transparent)]
    Key(#[from] talktrack::serving::KeyError),
    /// Neither a bundle nor a deployment file was given.
    #[error("nothing to serve: give a bundle or a deployment file")]
    NothingToServe,
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A non-loopback address without an admin token.
    #[error("listening on {0}, which is not loopback, needs `--admin-token-file`")]
    NeedsToken(std::net::SocketAddr),
    /// The admin token file cannot be read or is empty.
    #[error("admin token file `{path}`: {message}")]
    Token {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The decision log cannot be opened.
    #[error("decision log `{path}`: {source}")]
    Log {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The watcher cannot start.
    #[error("cannot watch `{path}`: {message}")]
    Watch {
        /// The bundle path.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// The server stopped with an I/O error.
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}
