//! `talktrack serve`: the HTTP sidecar a contact center runs next to its software.
//!
//! One [`Engine`](talktrack::Engine) per named deployment serves the bundle given
//! at start (deployment `default`) or a deployment file's champion, with its
//! challenger or shadow when the file names one; the API
//! decides (one request or a batch), records outcomes, reloads, rolls back and
//! reports the versions in service, metrics and health. With `--watch` the bundle
//! directory (or the `current` symlink it is reached through) is watched and a new
//! version is picked up when it validates. With `--decision-log` every decision and
//! outcome is appended to a JSONL file by a writer thread.
//!
//! The deployments are in `deployment`, the routes and handlers in `api`, the metrics in `metrics`, the watcher in
//! `watch`, the decision log in `log`, the OpenAPI document in `openapi`.

#![recursion_limit = "512"]

mod api;
pub mod deployment;
mod error;
mod log;
mod metrics;
mod openapi;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::{ApiError, StartError};
pub use log::{LogConfig, Protected};
pub use openapi::openapi;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The bundle directory (or a symlink to one) of the deployment named `default`.
    pub bundle: Option<PathBuf>,
    /// Deployment files, one named deployment each (see [`deployment`]).
    pub deployments: Vec<PathBuf>,
    /// Public key files: with any, only bundles signed by one of them serve.
    pub verify_keys: Vec<PathBuf>,
    /// Where to listen.
    pub addr: SocketAddr,
    /// Watch the bundle and reload on change.
    pub watch: bool,
    /// Write a decision log.
    pub decision_log: Option<LogConfig>,
    /// File holding the bearer token the admin endpoints require.
    pub admin_token_file: Option<PathBuf>,
    /// Most requests in one batch.
    pub batch_limit: usize,
    /// Largest body, in bytes.
    pub body_limit: usize,
    /// Quiet time after the last change on disk before a watched reload.
    pub debounce: std::time::Duration,
}

impl Config {
    /// Serving the bundle in `bundle` as deployment `default`. Defaults: 127.0.0.1:8181, no watch, no log, batches of 1,000, bodies of at
    /// most 16 MiB (one request is also held to `talktrack::MAX_REQUEST_BYTES`),
    /// 250 ms debounce.
    pub fn new(bundle: impl Into<PathBuf>) -> Self {
        let mut c = Self::deployments(Vec::new());
        c.bundle = Some(bundle.into());
        c
    }

    /// Serving the deployment files in `files` (the defaults of [`Config::new`]).
    pub fn deployments(files: Vec<PathBuf>) -> Self {
        Self {
            bundle: None,
            deployments: files,
            verify_keys: Vec::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8181)),
            watch: false,
            decision_log: None,
            admin_token_file: None,
            batch_limit: 1_000,
            body_limit: 16 << 20,
            debounce: std::time::Duration::from_millis(250),
        }
    }
}

/// A running server: its address, and how to stop it.
pub struct Running {
    /// The address it listens on (the port chosen when 0 was asked for).
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl Running {
    /// Stops accepting, drains in-flight requests, flushes the decision log.
    pub async fn stop(mut self) -> Result<(), StartError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e.to_string())))?
    }
}

/// Loads the bundle, binds, and serves in the current tokio runtime until
/// [`Running::stop`]. Every problem of an invalid start bundle is in the error.
pub async fn start(cfg: Config) -> Result<Running, StartError> {
    let (state, writer) = api::State::new(&cfg)?;
    let state = Arc::new(state);
    let mut watchers = Vec::new();
    if cfg.watch {
        for d in &state.deployments {
            watchers.push(watch::spawn(
                Arc::clone(&state),
                Arc::clone(d),
                cfg.debounce,
            )?);
        }
    }
    let listener = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: cfg.addr,
            source,
        })?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = api::router(Arc::clone(&state));
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        drop(watchers);
        state.shutting_down();
        let logged = match writer {
            Some(w) => w.finish().map_err(StartError::Io),
            None => Ok(()),
        };
        served.map_err(StartError::Io)?;
        logged
    });
    Ok(Running {
        addr,
        shutdown: Some(tx),
        task,
    })
}

/// Runs the server until SIGTERM or Ctrl-C, then shuts down gracefully.
pub fn run(cfg: Config) -> Result<(), StartError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = start(cfg).await?;
        eprintln!("talktrack serve: listening on http://{}", running.addr);
        wait_for_signal().await;
        eprintln!("talktrack serve: shutting down");
        running.stop().await
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
