//! What [`State::new`](super::State::new) reads at start: the admin token
//! (required off loopback) and the deployments the configuration names.

use std::net::SocketAddr;
use std::sync::Arc;

use talktrack::serving::VerifyKey;

use super::DEFAULT;
use crate::deployment::{Deployment, DeploymentError, OpenError};
use crate::error::StartError;
use crate::Config;

fn is_loopback(a: &SocketAddr) -> bool {
    a.ip().is_loopback()
}

pub(super) fn read_token(cfg: &Config) -> Result<Option<String>, StartError> {
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
pub(super) fn open_deployments(cfg: &Config) -> Result<Vec<Arc<Deployment>>, StartError> {
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
