//! What the HTTP tests share: a server on 127.0.0.1 serving a copy of the
//! example bundle, one HTTP/1.1 call at a time, and a request that decides.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use talktrack_serve::{Config, Running};

pub(crate) const EXAMPLE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/telecom-upsell");

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

pub(crate) struct Server {
    pub(crate) rt: tokio::runtime::Runtime,
    running: Option<Running>,
    pub(crate) addr: SocketAddr,
    pub(crate) dir: tempfile::TempDir,
}

impl Server {
    pub(crate) fn start(f: impl FnOnce(&mut Config, &Path)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(Path::new(EXAMPLE), &dir.path().join("bundle"));
        let mut cfg = Config::new(dir.path().join("bundle"));
        cfg.addr = "127.0.0.1:0".parse().unwrap();
        f(&mut cfg, dir.path());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = rt.block_on(talktrack_serve::start(cfg)).unwrap();
        Server {
            addr: running.addr,
            running: Some(running),
            rt,
            dir,
        }
    }

    pub(crate) fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    pub(crate) fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.stop()).unwrap();
        }
    }

    /// One HTTP/1.1 request; returns status and body.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // A server may answer (413) before reading all of a large body.
        let _ = s.write_all(body);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text.split_once("\r\n\r\n").map_or("", |x| x.1).to_owned();
        (status, body)
    }

    pub(crate) fn json(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let (status, text) = self.call(
            method,
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn request(conv: &str) -> String {
    json!({
        "conversation_id": conv,
        "time": "2026-11-26T10:05:00Z",
        "context": {
            "age": 34, "region": "north", "segment": "young_family", "plan": "basic",
            "tenure_months": 30, "monthly_spend": 25.0, "open_complaint": false,
            "marketing_consent": true, "credit_score": 700, "products": []
        },
        "history": {"tracks": ["greet", "fee_disclosure"], "replies": ["positive", "neutral"]}
    })
    .to_string()
}
