//! A JSON Schema checker for the keywords `docs/diagnostics.schema.json` uses
//! (`type`, `const`, `enum`, `required`, `properties`, `additionalProperties:
//! false`, `items`, `anyOf`, `allOf`, `minimum`, `$ref` into `$defs`); any other
//! keyword fails the check, so that the schema cannot say more than is checked.

use serde_json::Value;

/// The schema the `--format json` documents follow.
pub fn diagnostics_schema() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/diagnostics.schema.json"
    ))
    .expect("docs/diagnostics.schema.json exists");
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// Every way `doc` breaks `schema`, each with the JSON path where.
pub fn violations(schema: &Value, doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, schema, doc, "$", &mut out);
    out
}

/// Panics with every violation when `doc` does not follow the diagnostics schema.
pub fn assert_valid(doc: &Value) {
    let v = violations(&diagnostics_schema(), doc);
    assert!(v.is_empty(), "{}\n{doc:#}", v.join("\n"));
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown type `{other}` in the schema"),
    }
}

fn check(root: &Value, s: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let Some(s) = s.as_object() else {
        panic!("schema at {at} is not an object");
    };
    for (k, x) in s {
        match k.as_str() {
            "$schema" | "$id" | "title" | "description" | "comment" | "$defs" => {}
            "$ref" => {
                let name = x
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .unwrap_or_else(|| panic!("unsupported $ref {x}"));
                let target = &root["$defs"][name];
                assert!(!target.is_null(), "no $defs/{name}");
                check(root, target, v, at, out);
            }
            "type" => {
                let ok = match x {
                    Value::String(t) => type_ok(t, v),
                    Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)),
                    _ => panic!("bad type at {at}"),
                };
                if !ok {
                    out.push(format!("{at}: {v} is not of type {x}"));
                }
            }
            "const" => {
                if v != x {
                    out.push(format!("{at}: {v} is not {x}"));
                }
            }
            "enum" => {
                if !x.as_array().is_some_and(|a| a.contains(v)) {
                    out.push(format!("{at}: {v} is not one of {x}"));
                }
            }
            "minimum" => {
                if let (Some(n), Some(m)) = (v.as_f64(), x.as_f64()) {
                    if n < m {
                        out.push(format!("{at}: {n} is below {m}"));
                    }
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for r in x.as_array().into_iter().flatten() {
                        let r = r.as_str().unwrap_or("");
                        if !o.contains_key(r) {
                            out.push(format!("{at}: missing `{r}`"));
                        }
                    }
                }
            }
            "properties" => {
                if let (Some(o), Some(ps)) = (v.as_object(), x.as_object()) {
                    for (name, ps) in ps {
                        if let Some(pv) = o.get(name) {
                            check(root, ps, pv, &format!("{at}.{name}"), out);
                        }
                    }
                }
            }
            "additionalProperties" => {
                assert_eq!(x, &Value::Bool(false), "only `additionalProperties: false`");
                let known = s.get("properties").and_then(Value::as_object);
                if let Some(o) = v.as_object() {
                    for name in o.keys() {
                        if !known.is_some_and(|k| k.contains_key(name)) {
                            out.push(format!("{at}: unexpected `{name}`"));
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, item) in a.iter().enumerate() {
                        check(root, x, item, &format!("{at}[{i}]"), out);
                    }
                }
            }
            "anyOf" => {
                let branches = x.as_array().expect("anyOf is a list");
                let fits = branches.iter().any(|b| {
                    let mut e = Vec::new();
                    check(root, b, v, at, &mut e);
                    e.is_empty()
                });
                if !fits {
                    out.push(format!("{at}: fits none of the anyOf branches"));
                }
            }
            "allOf" => {
                for b in x.as_array().expect("allOf is a list") {
                    check(root, b, v, at, out);
                }
            }
            other => panic!("the schema uses `{other}` at {at}, which this checker does not check"),
        }
    }
}

#[test]
fn the_checker_rejects_what_breaks_the_schema() {
    let schema = diagnostics_schema();
    let good = serde_json::json!({
        "version": 1, "command": "fmt", "ok": false,
        "diagnostics": [{
            "code": "rules::unformatted", "severity": "error", "message": "m",
            "help": null, "label": null, "file": "a.rules", "line": 2, "column": 1,
            "end_line": 2, "end_column": 5, "related": []
        }],
        "result": { "checked": 1, "unformatted": ["a.rules"] }
    });
    assert!(
        violations(&schema, &good).is_empty(),
        "{:?}",
        violations(&schema, &good)
    );
    for (path, bad) in [
        ("/version", serde_json::json!(2)),
        ("/command", serde_json::json!("lint")),
        ("/diagnostics/0/severity", serde_json::json!("fatal")),
        ("/diagnostics/0/line", serde_json::json!(0)),
        ("/diagnostics/0/column", serde_json::json!("1")),
        ("/result/checked", serde_json::json!(-1)),
        ("/result", serde_json::json!({ "checked": 1 })),
    ] {
        let mut doc = good.clone();
        *doc.pointer_mut(path).unwrap() = bad;
        assert!(!violations(&schema, &doc).is_empty(), "{path} accepted");
    }
    let mut extra = good.clone();
    extra["diagnostics"][0]["extra"] = serde_json::json!(1);
    assert!(!violations(&schema, &extra).is_empty());
    let mut missing = good;
    missing["diagnostics"][0]
        .as_object_mut()
        .unwrap()
        .remove("end_column");
    assert!(!violations(&schema, &missing).is_empty());
}
