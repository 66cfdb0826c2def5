//! Named deployments over a real socket on 127.0.0.1: a champion with a
//! challenger on a split or in shadow, promotion and its pin, the deployment file
//! promote rewrites, and only signed bundles served with verify keys.

mod common;

use std::path::Path;

use serde_json::{json, Value};
use talktrack_serve::{Config, LogConfig};

use common::{copy_dir, request, Server, EXAMPLE};

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
