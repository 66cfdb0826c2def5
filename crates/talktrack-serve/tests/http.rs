//! The API over a real socket on 127.0.0.1: every endpoint, every class of bad
//! input, the admin token, the decision log, graceful shutdown and the watcher.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use talktrack_serve::{Config, LogConfig, Running};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/telecom-upsell");

fn copy_dir(from: &Path, to: &Path) {
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

struct Server {
    rt: tokio::runtime::Runtime,
    running: Option<Running>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(f: impl FnOnce(&mut Config, &Path)) -> Server {
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

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.stop()).unwrap();
        }
    }

    /// One HTTP/1.1 request; returns status and body.
    fn call(
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

    fn json(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
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

fn request(conv: &str) -> String {
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

fn is_uuid_v7(s: &str) -> bool {
    s.len() == 36 && &s[14..15] == "7" && s.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn decide_full_compact_and_explained() {
    let s = Server::start(|_, _| {});
    let (st, d) = s.json("POST", "/v1/decide", &request("c-1"));
    assert_eq!(st, 200, "{d}");
    assert!(is_uuid_v7(d["decision_id"].as_str().unwrap()), "{d}");
    assert_eq!(d["conversation_id"], "c-1");
    assert_eq!(d["bundle"]["name"], "telecom-upsell");
    assert!(d["chosen"]["track"].is_string());
    assert!(d["ranked"].as_array().unwrap().len() > 1);
    assert!(d.get("explanation").is_none());

    // The same decision as the library gives (the CLI prints this JSON).
    let engine = talktrack::Engine::load(EXAMPLE).unwrap();
    let lib = engine
        .decide(&talktrack::Request::from_json(&request("c-1")).unwrap())
        .unwrap();
    let mut lib: Value = serde_json::from_str(&serde_json::to_string(&lib).unwrap()).unwrap();
    lib["decision_id"] = d["decision_id"].clone();
    lib["arm"] = json!("champion");
    assert_eq!(d, lib);

    let (st, c) = s.json("POST", "/v1/decide?detail=compact", &request("c-1"));
    assert_eq!(st, 200);
    let keys: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["arm", "bundle", "decision_id", "propensity", "track"]
    );
    assert_eq!(c["track"], d["chosen"]["track"]);
    assert_eq!(c["propensity"], d["chosen"]["probability"]);
    assert_ne!(c["decision_id"], d["decision_id"]);

    let (st, e) = s.json("POST", "/v1/decide?explain=true", &request("c-1"));
    assert_eq!(st, 200);
    assert!(
        e["explanation"]
            .as_str()
            .unwrap()
            .contains("no-credit-to-minors")
            || e["explanation"].as_str().unwrap().len() > 20
    );
}

/// Every class of bad input: the answer is 4xx with the CLI's message, and the
/// server keeps serving.
#[test]
fn bad_input_gets_precise_4xx_and_the_server_keeps_serving() {
    let s = Server::start(|c, _| c.body_limit = 4096);
    let big = format!("{{\"conversation_id\": \"{}\"}}", "x".repeat(5000));
    let unknown_track = request("x").replace("\"greet\"", "\"nope\"");
    let bodies = [
        ("not_json", "{\"conversation_id\": "),
        (
            "unknown_field",
            r#"{"conversation_id": "x", "time": "2026-01-01T00:00:00Z", "contxt": {}}"#,
        ),
        (
            "wrong_type",
            r#"{"conversation_id": 7, "time": "2026-01-01T00:00:00Z"}"#,
        ),
        (
            "bad_time",
            r#"{"conversation_id": "x", "time": "yesterday"}"#,
        ),
        (
            "unknown_context",
            r#"{"conversation_id": "x", "time": "2026-01-01T00:00:00Z", "context": {"agee": 3}}"#,
        ),
        ("unknown_track", unknown_track.as_str()),
        ("oversized", big.as_str()),
    ];
    let mut snap = String::new();
    for (name, body) in &bodies {
        let (st, v) = s.json("POST", "/v1/decide", body);
        assert!((400..500).contains(&st), "{name}: {st} {v}");
        // The CLI's message for the same text, where the library can say it.
        if *name != "oversized" {
            if let Err(e) = talktrack::Request::from_json(body) {
                assert_eq!(v["error"]["message"], e.to_string(), "{name}");
            }
        }
        snap.push_str(&format!("{name}: {st} {v}\n"));
    }
    for (name, path, body) in [
        ("bad_query", "/v1/decide?detail=tiny", request("x")),
        ("unknown_query", "/v1/decide?verbose=1", request("x")),
        ("batch_not_object", "/v1/decide/batch", "[1, 2]".to_owned()),
        (
            "batch_unknown_field",
            "/v1/decide/batch",
            r#"{"requests": [], "extra": 1}"#.to_owned(),
        ),
        (
            "outcome_missing_field",
            "/v1/outcome",
            r#"{"conversation_id": "x"}"#.to_owned(),
        ),
        (
            "outcome_wrong_type",
            "/v1/outcome",
            r#"{"conversation_id": "x", "converted": "yes"}"#.to_owned(),
        ),
        ("no_such_route", "/v1/decid", "{}".to_owned()),
    ] {
        let (st, v) = s.json("POST", path, &body);
        assert!((400..500).contains(&st), "{name}: {st} {v}");
        snap.push_str(&format!("{name}: {st} {v}\n"));
    }
    let (st, text) = s.call("POST", "/v1/decide", &[], b"\xff\xfe{}");
    assert_eq!(st, 400, "{text}");
    snap.push_str(&format!("not_utf8: {st} {text}\n"));
    insta::assert_snapshot!(snap);

    let (st, _) = s.json("POST", "/v1/decide", &request("still-here"));
    assert_eq!(st, 200);
    let (_, m) = s.call("GET", "/metrics", &[], b"");
    assert!(m.contains("talktrack_bad_requests_total "), "{m}");
    assert!(!m.contains("talktrack_bad_requests_total 0\n"), "{m}");
}

#[test]
fn batch_answers_each_item_and_enforces_the_limit() {
    let s = Server::start(|c, _| c.batch_limit = 3);
    let body = format!(
        "{{\"requests\": [{}, {{\"conversation_id\": \"bad\"}}, {}]}}",
        request("b-1"),
        request("b-2")
    );
    let (st, v) = s.json("POST", "/v1/decide/batch?detail=compact", &body);
    assert_eq!(st, 200, "{v}");
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    assert!(r[0]["track"].is_string());
    assert_eq!(r[1]["error"]["kind"], "bad_request");
    assert_eq!(
        r[1]["error"]["message"],
        "requests[1]: missing field `time`"
    );
    assert!(is_uuid_v7(r[2]["decision_id"].as_str().unwrap()));

    let four = format!("{{\"requests\": [{0}, {0}, {0}, {0}]}}", request("b"));
    let (st, v) = s.json("POST", "/v1/decide/batch", &four);
    assert_eq!(st, 413);
    assert_eq!(
        v["error"]["message"],
        "the batch has 4 requests, more than the 3 allowed"
    );
}

#[test]
fn outcomes_are_idempotent_and_everything_is_logged() {
    let mut s = Server::start(|c, dir| {
        c.decision_log = Some(LogConfig::new(dir.join("decisions.jsonl")));
    });
    let (_, d) = s.json("POST", "/v1/decide", &request("c-9"));
    let id = d["decision_id"].as_str().unwrap().to_owned();
    let outcome = json!({"conversation_id": "c-9", "decision_id": id, "converted": true, "value": 30.0, "final_reply": "positive"}).to_string();
    let (st, v) = s.json("POST", "/v1/outcome", &outcome);
    assert_eq!(
        (st, v),
        (201, json!({"recorded": true, "duplicate": false}))
    );
    let (st, v) = s.json("POST", "/v1/outcome", &outcome);
    assert_eq!(
        (st, v),
        (200, json!({"recorded": false, "duplicate": true}))
    );
    let other = outcome.replace("30.0", "31.0");
    let (st, _) = s.json("POST", "/v1/outcome", &other);
    assert_eq!(st, 409);

    s.stop(); // graceful: the log is flushed before stop returns
    let log = std::fs::read_to_string(s.dir.path().join("decisions.jsonl")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    let dec = &lines[0];
    assert_eq!(dec["kind"], "decision");
    assert_eq!(dec["decision_id"], id.as_str());
    assert_eq!(dec["chosen"], d["chosen"]["track"]);
    assert_eq!(dec["propensity"], d["chosen"]["probability"]);
    assert_eq!(dec["bundle"]["digest"], d["bundle"]["digest"]);
    // age is protected: logged as the interval between the values the rules compare
    // it with (18, and the tracks' min_age: 0, 16, 18, 21), not raw.
    assert_eq!(dec["protected"]["age"], "intervals");
    assert_eq!(dec["context"]["age"], json!({"gt": 21.0}));
    assert_eq!(dec["context"]["region"], "north");
    assert_eq!(lines[1]["kind"], "outcome");
    assert_eq!(lines[1]["decision_id"], id.as_str());
}

#[test]
fn reload_rollback_bundles_health_and_metrics() {
    let s = Server::start(|_, _| {});
    let (st, h) = s.json("GET", "/healthz", "");
    assert_eq!((st, h), (200, json!({"status": "ok"})));
    let (st, r) = s.json("GET", "/readyz", "");
    assert_eq!(st, 200);
    assert_eq!(r["ready"], true);
    let (_, b) = s.json("GET", "/v1/bundles", "");
    let dep = &b["deployments"][0];
    let first = dep["serving"]["digest"].as_str().unwrap().to_owned();
    assert_eq!(dep["pinned"], false);
    assert_eq!(dep["last_reload_error"], Value::Null);
    assert_eq!(dep["serving"]["source"], s.bundle().to_str().unwrap());

    let (st, v) = s.json("POST", "/v1/rollback", "");
    assert_eq!(st, 409, "{v}");
    let (st, v) = s.json("POST", "/v1/reload", "");
    assert_eq!((st, &v["result"]), (200, &json!("unchanged")));

    // A new version on disk.
    let rules = s.bundle().join("rules/business.rules");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(&rules, format!("{text}\n# a comment changes the digest\n")).unwrap();
    let (st, v) = s.json("POST", "/v1/reload", "");
    assert_eq!((st, &v["result"]), (200, &json!("published")), "{v}");
    let second = v["serving"]["digest"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let (_, d) = s.json("POST", "/v1/decide", &request("c"));
    assert_eq!(d["bundle"]["digest"], second.as_str());

    // A broken version: rejected with every problem, the second keeps serving.
    std::fs::write(
        &rules,
        "rule broken\n  when customer.agee > 3\n  forbid track greet\n",
    )
    .unwrap();
    let (st, v) = s.json("POST", "/v1/reload", "");
    assert_eq!(st, 422, "{v}");
    let agee = json!({
        "at": "rules/business.rules:2:17", "code": "rules::unknown-attribute",
        "message": "unknown context attribute `agee`", "severity": "error"
    });
    assert!(
        v["error"]["problems"].as_array().unwrap().contains(&agee),
        "{v}"
    );
    let (_, b) = s.json("GET", "/v1/bundles", "");
    let reported = &b["deployments"][0]["last_reload_error"]["problems"];
    assert!(reported.as_array().unwrap().contains(&agee), "{b}");
    assert_eq!(b["deployments"][0]["serving"]["digest"], second.as_str());

    // Rollback to the first, pinned.
    let (st, v) = s.json("POST", "/v1/rollback", "");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["serving"]["digest"], first.as_str());
    let (_, b) = s.json("GET", "/v1/bundles", "");
    assert_eq!(b["deployments"][0]["pinned"], true);
    assert_eq!(b["deployments"][0]["previous"]["digest"], second.as_str());
    let (_, d) = s.json("POST", "/v1/decide", &request("c"));
    assert_eq!(d["bundle"]["digest"], first.as_str());
    let (st, v) = s.json("POST", "/v1/unpin", "");
    assert_eq!((st, v), (200, json!({"pinned": false})));

    let (st, m) = s.call("GET", "/metrics", &[], b"");
    assert_eq!(st, 200);
    for needle in [
        &format!("talktrack_decisions_total{{deployment=\"default\",arm=\"champion\",bundle=\"telecom-upsell\",version=\"0.1.0\",digest=\"{second}\"}} 1") as &str,
        "talktrack_reloads_total{result=\"ok\"} 2",
        "talktrack_reloads_total{result=\"failed\"} 1",
        "talktrack_decide_seconds_count 2",
        "talktrack_decision_log_records_total{result=\"dropped\"} 0",
        "talktrack_fallback_total 0",
        "talktrack_masked_tracks_total{rule=",
    ] {
        assert!(m.contains(needle), "{needle} not in\n{m}");
    }
}

#[test]
fn admin_endpoints_need_the_token_when_one_is_set() {
    let s = Server::start(|c, dir| {
        std::fs::write(dir.join("token"), "s3cret\n").unwrap();
        c.admin_token_file = Some(dir.join("token"));
    });
    for path in ["/v1/reload", "/v1/rollback", "/v1/unpin"] {
        let (st, v) = s.json("POST", path, "");
        assert_eq!(st, 401, "{path}: {v}");
        let (st, _) = s.call("POST", path, &[("Authorization", "Bearer wrong!")], b"");
        assert_eq!(st, 401, "{path}");
    }
    let (st, v) = s.call(
        "POST",
        "/v1/reload",
        &[("Authorization", "Bearer s3cret")],
        b"",
    );
    assert_eq!(st, 200, "{v}");
    let (st, _) = s.json("POST", "/v1/decide", &request("x"));
    assert_eq!(st, 200, "deciding needs no token");
}

#[test]
fn refuses_to_start_on_a_bad_bundle_or_an_open_address_without_a_token() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new(EXAMPLE), dir.path());
    std::fs::write(
        dir.path().join("rules/business.rules"),
        "rule x\n  when customer.agee > 3\n  forbid track greet\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules/compliance.rules"),
        "rule y\n  when customer.regio == north\n  forbid track greet\n",
    )
    .unwrap();
    let mut cfg = Config::new(dir.path());
    cfg.addr = "127.0.0.1:0".parse().unwrap();
    let err = rt
        .block_on(talktrack_serve::start(cfg))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("agee") && err.contains("regio") && err.contains("rejected"),
        "{err}"
    );

    let mut cfg = Config::new(EXAMPLE);
    cfg.addr = "0.0.0.0:0".parse().unwrap();
    let err = rt
        .block_on(talktrack_serve::start(cfg))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--admin-token-file"), "{err}");
}

#[test]
fn the_committed_openapi_document_is_the_one_served() {
    let s = Server::start(|_, _| {});
    let (st, v) = s.json("GET", "/v1/openapi.json", "");
    assert_eq!(st, 200);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let served = serde_json::to_string_pretty(&v).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &served).unwrap();
    }
    assert_eq!(
        committed, served,
        "run with UPDATE_OPENAPI=1 to rewrite openapi.json"
    );
}

/// Polls `f` until it holds or `secs` pass.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn the_watcher_picks_up_edits_rejects_broken_rules_and_follows_a_symlink_flip() {
    // Versions in their own directories, served through a `current` symlink.
    let root = tempfile::tempdir().unwrap();
    copy_dir(Path::new(EXAMPLE), &root.path().join("v1"));
    std::os::unix::fs::symlink(root.path().join("v1"), root.path().join("current")).unwrap();
    let s = Server::start(|c, _| {
        c.bundle = Some(root.path().join("current"));
        c.watch = true;
        c.debounce = Duration::from_millis(100);
    });
    let digest = |s: &Server| {
        let (_, d) = s.json("POST", "/v1/decide", &request("w"));
        d["bundle"]["digest"].as_str().unwrap().to_owned()
    };
    let first = digest(&s);

    // An edited rule is served.
    let rules = root.path().join("v1/rules/business.rules");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(&rules, format!("{text}\n# edited\n")).unwrap();
    assert!(
        eventually(10, || digest(&s) != first),
        "the edit was not picked up"
    );
    let second = digest(&s);

    // A syntax error: rejected, reported, the edited version keeps serving.
    std::fs::write(&rules, format!("{text}\nrule broken\n  when\n")).unwrap();
    assert!(eventually(10, || {
        let (_, b) = s.json("GET", "/v1/bundles", "");
        !b["deployments"][0]["last_reload_error"].is_null()
    }));
    assert_eq!(digest(&s), second);
    let (_, m) = s.call("GET", "/metrics", &[], b"");
    assert!(
        m.contains("talktrack_reloads_total{result=\"failed\"} 1"),
        "{m}"
    );

    // Fixing it is picked up.
    std::fs::write(&rules, format!("{text}\n# fixed\n")).unwrap();
    assert!(eventually(10, || {
        let d = digest(&s);
        d != second && d != first
    }));
    let third = digest(&s);

    // Publishing v2 by flipping the symlink atomically.
    copy_dir(Path::new(EXAMPLE), &root.path().join("v2"));
    let v2_rules = root.path().join("v2/rules/business.rules");
    std::fs::write(&v2_rules, format!("{text}\n# version 2\n")).unwrap();
    std::os::unix::fs::symlink(root.path().join("v2"), root.path().join("next")).unwrap();
    std::fs::rename(root.path().join("next"), root.path().join("current")).unwrap();
    let expected = talktrack::Bundle::load(root.path().join("v2"))
        .unwrap()
        .digest()
        .to_owned();
    assert!(
        eventually(10, || digest(&s) == expected),
        "the flip was not followed"
    );
    assert_ne!(expected, third);

    // Edits inside the new target are watched too.
    std::fs::write(&v2_rules, format!("{text}\n# version 2, edited\n")).unwrap();
    assert!(eventually(10, || digest(&s) != expected));
}

/// The Node.js example (built-in fetch, no packages) against a real server: decide,
/// report the outcome, publish a new version by flipping `current`, see the new
/// digest in the next decision.
#[test]
fn the_node_example_decides_reports_and_sees_a_new_version() {
    let root = tempfile::tempdir().unwrap();
    copy_dir(Path::new(EXAMPLE), &root.path().join("v1"));
    std::os::unix::fs::symlink(root.path().join("v1"), root.path().join("current")).unwrap();
    let s = Server::start(|c, _| {
        c.bundle = Some(root.path().join("current"));
        c.watch = true;
        c.debounce = Duration::from_millis(100);
    });
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let node = |conv: &str| -> Value {
        let req = root.path().join(format!("{conv}.json"));
        std::fs::write(&req, request(conv)).unwrap();
        let out = std::process::Command::new("node")
            .arg(format!("{workspace}/examples/node/client.mjs"))
            .arg(format!("http://{}", s.addr))
            .arg(&req)
            .output()
            .expect("node is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let first = node("n-1");
    assert!(
        is_uuid_v7(first["decision_id"].as_str().unwrap()),
        "{first}"
    );
    assert_eq!(first["outcome_status"], 201);

    copy_dir(Path::new(EXAMPLE), &root.path().join("v2"));
    let rules = root.path().join("v2/rules/business.rules");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(&rules, format!("{text}\n# version 2\n")).unwrap();
    std::os::unix::fs::symlink(root.path().join("v2"), root.path().join("next")).unwrap();
    std::fs::rename(root.path().join("next"), root.path().join("current")).unwrap();
    let mut n = 0;
    assert!(eventually(10, || {
        n += 1;
        node(&format!("n-{}", n + 1))["digest"] != first["digest"]
    }));
}

/// Copies the example bundle to `dir` with a comment appended to a rule file, so
/// that each copy has a digest of its own.
fn version_of_example(dir: &Path, tag: &str) -> String {
    copy_dir(Path::new(EXAMPLE), dir);
    let rules = dir.join("rules/business.rules");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(&rules, format!("{text}\n# {tag}\n")).unwrap();
    talktrack::Bundle::load(dir).unwrap().digest().to_owned()
}

fn log_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A deployment file with a champion and a challenger: the sticky split by the
/// named hash, the arm in answers, metrics and the log; shadow mode; promotion with
/// its pin; a bad file rejected while the arms keep serving.
#[test]
fn named_deployments_split_shadow_and_promote() {
    let mut s = Server::start(|c, dir| {
        let v1 = version_of_example(&dir.join("v1"), "v1");
        let v2 = version_of_example(&dir.join("v2"), "v2");
        std::fs::write(dir.join("v1.digest"), v1).unwrap();
        std::fs::write(dir.join("v2.digest"), v2).unwrap();
        std::fs::write(
            dir.join("retention.toml"),
            "# retention line\nname = \"retention\"\nchampion = \"v1\"\n\n[challenger]\nbundle = \"v2\"\npercent = 50\n",
        )
        .unwrap();
        c.deployments = vec![dir.join("retention.toml")];
        c.decision_log = Some(LogConfig::new(dir.join("decisions.jsonl")));
    });
    let root = s.dir.path().to_owned();
    let v1 = std::fs::read_to_string(root.join("v1.digest")).unwrap();
    let v2 = std::fs::read_to_string(root.join("v2.digest")).unwrap();

    let mut arms = std::collections::BTreeMap::new();
    for i in 0..40 {
        let conv = format!("r-{i}");
        let (st, d) = s.json("POST", "/v1/retention/decide", &request(&conv));
        assert_eq!(st, 200, "{d}");
        let challenger = talktrack::serving::bucket(&conv) < 5_000;
        let (arm, digest) = if challenger {
            ("challenger", &v2)
        } else {
            ("champion", &v1)
        };
        assert_eq!(d["arm"], arm, "{conv}");
        assert_eq!(d["bundle"]["digest"], digest.as_str(), "{conv}");
        // Sticky: the next turn of the conversation lands on the same arm.
        let (_, again) = s.json(
            "POST",
            "/v1/retention/decide?detail=compact",
            &request(&conv),
        );
        assert_eq!(again["arm"], arm);
        *arms.entry(arm).or_insert(0) += 1;
    }
    assert_eq!(arms.len(), 2, "{arms:?}");
    // The default deployment is untouched by the other's split.
    let (_, d) = s.json("POST", "/v1/decide", &request("r-0"));
    assert_eq!(d["arm"], "champion");

    let (_, b) = s.json("GET", "/v1/bundles", "");
    assert_eq!(b["split_hash"], "sha256-mod-10000");
    let names: Vec<_> = b["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["default", "retention"]);
    let r = &b["deployments"][1];
    assert_eq!(
        r["split"],
        json!([
            {"arm": "champion", "digest": v1, "percent": 50.0},
            {"arm": "challenger", "digest": v2, "percent": 50.0}
        ])
    );
    assert_eq!(r["challenger"]["mode"], "split");
    let (_, m) = s.call("GET", "/metrics", &[], b"");
    let line = format!("talktrack_decisions_total{{deployment=\"retention\",arm=\"challenger\",bundle=\"telecom-upsell\",version=\"0.1.0\",digest=\"{v2}\"}} {}", 2 * arms["challenger"]);
    assert!(m.contains(&line), "{line} not in\n{m}");

    // Shadow: the challenger decides for every conversation, the champion is served.
    let file = root.join("retention.toml");
    std::fs::write(
        &file,
        "name = \"retention\"\nchampion = \"v1\"\n[challenger]\nbundle = \"v2\"\npercent = 100\nmode = \"shadow\"\n",
    )
    .unwrap();
    let (st, v) = s.json("POST", "/v1/retention/reload", "");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["challenger"]["mode"], "shadow");
    for i in 0..5 {
        let (_, d) = s.json("POST", "/v1/retention/decide", &request(&format!("s-{i}")));
        assert_eq!(
            (&d["arm"], &d["bundle"]["digest"]),
            (&json!("champion"), &json!(v1))
        );
    }
    let (_, m) = s.call("GET", "/metrics", &[], b"");
    assert!(
        m.contains(&format!("deployment=\"retention\",arm=\"shadow\",bundle=\"telecom-upsell\",version=\"0.1.0\",digest=\"{v2}\"}} 5")),
        "{m}"
    );

    // A file that does not validate is rejected whole; the arms keep serving.
    std::fs::write(
        &file,
        "name = \"retention\"\nchampion = \"v1\"\n[challenger]\nbundle = \"v2\"\npercent = 150\n",
    )
    .unwrap();
    let (st, v) = s.json("POST", "/v1/retention/reload", "");
    assert_eq!(st, 422, "{v}");
    let (_, b) = s.json("GET", "/v1/bundles", "");
    assert_eq!(b["deployments"][1]["challenger"]["mode"], "shadow");
    let reported = b["deployments"][1]["last_reload_error"]["message"].clone();
    std::fs::write(
        &file,
        "name = \"retention\"\nchampion = \"v1\"\nchallenger = 3\n",
    )
    .unwrap();
    let (_, typed) = s.json("POST", "/v1/retention/reload", "");
    let (_, unknown) = s.json("POST", "/v1/nope/decide", &request("x"));
    let (_, no_challenger) = s.json("POST", "/v1/promote", "");
    insta::assert_snapshot!(
        "deployment_errors",
        format!(
            "{}\n{reported}\n{}\n{}\n{}",
            serde_json::to_string_pretty(&v).unwrap(),
            serde_json::to_string_pretty(&typed).unwrap(),
            serde_json::to_string_pretty(&unknown).unwrap(),
            serde_json::to_string_pretty(&no_challenger).unwrap()
        )
        .replace(root.to_str().unwrap(), "[DIR]")
    );

    // Promotion: the challenger serves every conversation, pinned against the
    // champion the file still names.
    std::fs::write(
        &file,
        "name = \"retention\"\nchampion = \"v1\"\n[challenger]\nbundle = \"v2\"\npercent = 10\n",
    )
    .unwrap();
    let (st, _) = s.json("POST", "/v1/retention/reload", "");
    assert_eq!(st, 200);
    let (st, v) = s.json("POST", "/v1/retention/promote", "");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["serving"]["digest"], v2.as_str());
    for i in 0..10 {
        let (_, d) = s.json("POST", "/v1/retention/decide", &request(&format!("p-{i}")));
        assert_eq!(d["bundle"]["digest"], v2.as_str());
    }
    let (_, v) = s.json("POST", "/v1/retention/reload", "");
    assert_eq!(v["result"], "pinned", "{v}");
    let (st, v) = s.json("POST", "/v1/retention/rollback", "");
    assert_eq!((st, &v["serving"]["digest"]), (200, &json!(v1)));

    // Every record names its deployment and arm; shadow decisions are in the log.
    let (st, _) = s.json(
        "POST",
        "/v1/retention/outcome",
        r#"{"conversation_id": "r-1", "converted": true, "value": 3, "final_reply": "positive"}"#,
    );
    assert_eq!(st, 201);
    s.stop(); // graceful: the log is flushed before stop returns
    let lines = log_lines(&root.join("decisions.jsonl"));
    let ret: Vec<_> = lines
        .iter()
        .filter(|l| l["deployment"] == "retention")
        .collect();
    assert!(ret
        .iter()
        .filter(|l| l["kind"] == "decision")
        .all(|l| l["arm"].is_string()));
    let shadows: Vec<_> = ret.iter().filter(|l| !l["shadow"].is_null()).collect();
    assert_eq!(shadows.len(), 5);
    assert_eq!(shadows[0]["shadow"]["bundle"]["digest"], v2.as_str());
    assert!(shadows[0]["shadow"]["chosen"].is_string());
    assert!(ret.iter().any(|l| l["kind"] == "outcome"));
    assert!(lines.iter().any(|l| l["deployment"] == "default"));
}

#[test]
fn promote_rewrites_the_deployment_file_keeping_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.toml");
    std::fs::write(
        &file,
        "# sales line\nname = \"sales\"\nchampion = \"v1\" # the old one\n\n[challenger]\nbundle = \"v2\"\npercent = 5\n",
    )
    .unwrap();
    assert_eq!(
        talktrack_serve::deployment::promote_file(&file).unwrap(),
        "v2"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# sales line\nname = \"sales\"\n"),
        "{text}"
    );
    let spec = talktrack_serve::deployment::read_spec(&file).unwrap();
    assert_eq!(spec.champion, dir.path().join("v2"));
    assert!(spec.challenger.is_none());
    let err = talktrack_serve::deployment::promote_file(&file).unwrap_err();
    assert!(
        err.to_string().contains("no challenger to promote"),
        "{err}"
    );
}

/// With `verify_keys`, only bundles signed by a trusted key serve: an unsigned
/// start bundle is refused; an edited (so no longer signed) one, or one signed by
/// another key, is rejected at reload and the signed version keeps serving.
#[test]
fn only_signed_bundles_serve_with_verify_keys() {
    use talktrack::tooling::{sign, SignKey};
    let key = SignKey::from_seed([7; 32]);
    let other = SignKey::from_seed([8; 32]);
    let s = Server::start(|c, dir| {
        std::fs::write(dir.join("trusted.pub"), key.verify_key().to_file_text()).unwrap();
        sign(&dir.join("bundle"), &key).unwrap();
        c.verify_keys = vec![dir.join("trusted.pub")];
    });
    let (_, d) = s.json("POST", "/v1/decide", &request("k"));
    let signed = d["bundle"]["digest"].as_str().unwrap().to_owned();

    let rules = s.bundle().join("rules/business.rules");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(&rules, format!("{text}\n# edited after signing\n")).unwrap();
    let (st, stale) = s.json("POST", "/v1/reload", "");
    assert_eq!(st, 422, "{stale}");
    sign(&s.bundle(), &other).unwrap();
    let (st, untrusted) = s.json("POST", "/v1/reload", "");
    assert_eq!(st, 422, "{untrusted}");
    let (_, d) = s.json("POST", "/v1/decide", &request("k"));
    assert_eq!(d["bundle"]["digest"], signed.as_str());
    insta::assert_snapshot!(
        "signature_errors",
        format!(
            "{}\n{}",
            serde_json::to_string_pretty(&stale).unwrap(),
            serde_json::to_string_pretty(&untrusted).unwrap()
        )
    );

    // Signed with the trusted key: published.
    sign(&s.bundle(), &key).unwrap();
    let (st, v) = s.json("POST", "/v1/reload", "");
    assert_eq!((st, &v["result"]), (200, &json!("published")), "{v}");

    // An unsigned bundle at start is refused with the reason.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new(EXAMPLE), dir.path());
    let mut cfg = Config::new(dir.path());
    cfg.addr = "127.0.0.1:0".parse().unwrap();
    cfg.verify_keys = vec![s.dir.path().join("trusted.pub")];
    let err =
        s.rt.block_on(talktrack_serve::start(cfg))
            .err()
            .unwrap()
            .to_string();
    assert!(
        err.contains("bundle::signature") && err.contains("bundle.sig"),
        "{err}"
    );
}
