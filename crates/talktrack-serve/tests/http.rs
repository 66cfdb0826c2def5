//! The API over a real socket on 127.0.0.1: every endpoint, every class of bad
//! input, the admin token, the decision log, graceful shutdown and the watcher.
//! Named deployments and signed bundles are in `deployments.rs`; the server the
//! tests start is in `common`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use talktrack_serve::{Config, LogConfig};

use common::{copy_dir, request, Server, EXAMPLE};

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
