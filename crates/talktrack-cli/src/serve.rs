//! `talktrack serve` and `talktrack promote`: the HTTP sidecar and its deployment files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Bundle directory, or a `current` symlink to one: deployment `default`,
    /// served at /v1/decide.
    #[arg(long, required_unless_present = "deployment")]
    bundle: Option<PathBuf>,
    /// Deployment file naming a deployment, its champion bundle and optionally a
    /// challenger (split or shadow); served at /v1/{name}/decide (repeatable).
    #[arg(long)]
    deployment: Vec<PathBuf>,
    /// Reload the bundle when it changes on disk.
    #[arg(long)]
    watch: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8181")]
    addr: std::net::SocketAddr,
    /// Serve only bundles signed by this public key (from `talktrack keygen`);
    /// repeatable, for key rotation.
    #[arg(long, value_name = "KEY")]
    verify_key: Vec<PathBuf>,
    /// Append every decision and outcome to this JSONL file.
    #[arg(long)]
    decision_log: Option<PathBuf>,
    /// Rotate the decision log past this many MiB.
    #[arg(long, default_value_t = 64)]
    decision_log_mib: u64,
    /// How protected attributes are logged: intervals, raw or omit; `ATTR=MODE`
    /// sets one attribute (repeatable).
    #[arg(long = "log-protected", value_name = "MODE|ATTR=MODE")]
    log_protected: Vec<String>,
    /// File holding the bearer token the admin endpoints require (needed when not on loopback).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// Most requests in one batch.
    #[arg(long, default_value_t = 1000)]
    batch_limit: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    body_limit: usize,
}

pub(crate) fn serve(a: ServeArgs) -> Result<(), ExitCode> {
    let mut cfg = talktrack_serve::Config::deployments(a.deployment);
    cfg.bundle = a.bundle;
    cfg.verify_keys = a.verify_key;
    cfg.addr = a.addr;
    cfg.watch = a.watch;
    cfg.admin_token_file = a.admin_token_file;
    cfg.batch_limit = a.batch_limit;
    cfg.body_limit = a.body_limit;
    if let Some(path) = a.decision_log {
        let mut lc = talktrack_serve::LogConfig::new(path);
        lc.max_bytes = a.decision_log_mib.saturating_mul(1 << 20);
        for p in &a.log_protected {
            let parsed = match p.split_once('=') {
                Some((attr, mode)) => mode.parse().map(|m| {
                    lc.per_attribute.insert(attr.to_owned(), m);
                }),
                None => p.parse().map(|m| lc.protected = m),
            };
            if let Err(e) = parsed {
                eprintln!("error: --log-protected: {e}");
                return Err(ExitCode::FAILURE);
            }
        }
        cfg.decision_log = Some(lc);
    } else if !a.log_protected.is_empty() {
        eprintln!("error: --log-protected needs --decision-log");
        return Err(ExitCode::FAILURE);
    }
    talktrack_serve::run(cfg).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}

/// `talktrack promote`: the challenger becomes the champion in the file.
pub(crate) fn promote(deployment: &Path) -> Result<(), ExitCode> {
    match talktrack_serve::deployment::promote_file(deployment) {
        Ok(champion) => {
            say!(
                "promoted: `{}` now serves `{champion}` to every conversation",
                deployment.display()
            );
            Ok(())
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}
