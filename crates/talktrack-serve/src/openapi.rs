//! The OpenAPI 3.1 document of the API, served at `/v1/openapi.json` and committed
//! as `crates/talktrack-serve/openapi.json` (a test keeps the two equal).

use serde_json::{json, Value};

fn error_response(what: &str) -> Value {
    json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(what: &str, schema: Value) -> Value {
    json!({"description": what, "content": {"application/json": {"schema": schema}}})
}

/// Routes a named deployment has too, at `/v1/{name}/...`.
const PER_DEPLOYMENT: [&str; 7] = [
    "decide",
    "decide/batch",
    "outcome",
    "reload",
    "rollback",
    "unpin",
    "promote",
];

/// The OpenAPI document.
pub fn openapi() -> Value {
    let mut doc = document();
    let name = json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"},
        "description": "The deployment's name (its deployment file's `name`; `default` for `--bundle`)."});
    for route in PER_DEPLOYMENT {
        let mut item = doc["paths"][format!("/v1/{route}")].clone();
        if let Some(ops) = item.as_object_mut() {
            for op in ops.values_mut() {
                if let Some(sum) = op["summary"].as_str() {
                    op["summary"] = json!(format!("{sum}, in a named deployment"));
                }
                let mut params = op["parameters"].as_array().cloned().unwrap_or_default();
                params.insert(0, name.clone());
                op["parameters"] = Value::Array(params);
                if let Some(r) = op["responses"].as_object_mut() {
                    r.insert("404".into(), error_response("No such deployment"));
                }
            }
        }
        doc["paths"][format!("/v1/{{name}}/{route}")] = item;
    }
    doc
}

fn document() -> Value {
    let admin = json!([{"bearer": []}, {}]);
    let decide_params = json!([
        {"name": "explain", "in": "query", "required": false, "schema": {"type": "boolean"},
         "description": "Add the readable explanation."},
        {"name": "detail", "in": "query", "required": false, "schema": {"type": "string", "enum": ["full", "compact"]},
         "description": "`compact`: only the chosen track, its propensity, the bundle version and the decision id."}
    ]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "talktrack serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Decides the next talk track; reloads, rolls back and reports the bundle versions in service."
        },
        "paths": {
            "/v1/decide": {"post": {
                "summary": "Decide the next track for one request",
                "parameters": decide_params,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Request"}}}},
                "responses": {
                    "200": ok("The decision", json!({"oneOf": [{"$ref": "#/components/schemas/Decision"}, {"$ref": "#/components/schemas/CompactDecision"}]})),
                    "400": error_response("Bad JSON, unknown or mistyped fields, a context the bundle refuses, a bad query"),
                    "413": error_response("The body is too large")
                }
            }},
            "/v1/decide/batch": {"post": {
                "summary": "Decide many requests; one result or error per item, in order",
                "parameters": decide_params,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": false, "required": ["requests"],
                    "properties": {"requests": {"type": "array", "items": {"$ref": "#/components/schemas/Request"}}}
                }}}},
                "responses": {
                    "200": ok("One result per request", json!({"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": {"oneOf": [
                        {"$ref": "#/components/schemas/Decision"}, {"$ref": "#/components/schemas/CompactDecision"}, {"$ref": "#/components/schemas/Error"}
                    ]}}}})),
                    "400": error_response("The batch is not valid JSON of the right shape"),
                    "413": error_response("The body or the number of requests is over the limit")
                }
            }},
            "/v1/outcome": {"post": {
                "summary": "Record what became of a conversation (idempotent)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Outcome"}}}},
                "responses": {
                    "201": ok("Recorded", json!({"$ref": "#/components/schemas/Recorded"})),
                    "200": ok("Already recorded with the same values", json!({"$ref": "#/components/schemas/Recorded"})),
                    "400": error_response("Bad outcome"),
                    "409": error_response("Already recorded with other values"),
                    "413": error_response("The body is too large")
                }
            }},
            "/v1/reload": {"post": {
                "summary": "Reload the bundle from disk",
                "security": admin,
                "responses": {
                    "200": ok("Published, unchanged, or held by a rollback pin", json!({"type": "object", "required": ["result", "serving"], "properties": {
                        "result": {"type": "string", "enum": ["published", "unchanged", "pinned"]},
                        "serving": {"$ref": "#/components/schemas/Version"},
                        "challenger": {"oneOf": [{"$ref": "#/components/schemas/Challenger"}, {"type": "null"}]}}})),
                    "401": error_response("Missing or wrong admin token"),
                    "422": error_response("The bundle or the deployment file does not validate; the versions in service keep serving")
                }
            }},
            "/v1/rollback": {"post": {
                "summary": "Serve the previous version again and pin it",
                "security": admin,
                "responses": {
                    "200": ok("Rolled back", json!({"type": "object", "required": ["serving", "pinned"], "properties": {
                        "serving": {"$ref": "#/components/schemas/Version"}, "pinned": {"type": "boolean"}}})),
                    "401": error_response("Missing or wrong admin token"),
                    "409": error_response("No previous version")
                }
            }},
            "/v1/promote": {"post": {
                "summary": "Serve the challenger to every conversation (pinned like a rollback)",
                "security": admin,
                "responses": {
                    "200": ok("Promoted", json!({"type": "object", "required": ["serving", "pinned"], "properties": {
                        "serving": {"$ref": "#/components/schemas/Version"}, "pinned": {"type": "boolean"}}})),
                    "401": error_response("Missing or wrong admin token"),
                    "409": error_response("No challenger")
                }
            }},
            "/v1/unpin": {"post": {
                "summary": "End a rollback pin",
                "security": admin,
                "responses": {
                    "200": ok("Unpinned", json!({"type": "object", "properties": {"pinned": {"type": "boolean"}}})),
                    "401": error_response("Missing or wrong admin token")
                }
            }},
            "/v1/bundles": {"get": {
                "summary": "The versions in service",
                "responses": {"200": ok("Deployments", json!({"type": "object", "required": ["split_hash", "deployments"], "properties": {
                    "split_hash": {"type": "string", "description": "How conversations are assigned to arms: `sha256-mod-10000`, the first eight bytes of the SHA-256 of the conversation id, big-endian, mod 10,000, against the challenger's share in hundredths of a percent."},
                    "deployments": {"type": "array", "items": {"$ref": "#/components/schemas/Deployment"}}}}))}
            }},
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": ok("OpenAPI 3.1", json!({"type": "object"}))}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": ok("Alive", json!({"type": "object", "properties": {"status": {"type": "string"}}}))}}},
            "/readyz": {"get": {"summary": "Readiness: a valid bundle serves", "responses": {
                "200": ok("Ready", json!({"type": "object", "properties": {"ready": {"type": "boolean"}, "serving": {"$ref": "#/components/schemas/Version"}}})),
                "503": ok("Shutting down", json!({"type": "object", "properties": {"ready": {"type": "boolean"}}}))
            }}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "The token in `--admin-token-file`; required when the server listens on anything but loopback, or when a token file is given."}},
            "schemas": {
                "Request": {"type": "object", "additionalProperties": false, "required": ["conversation_id", "time"], "properties": {
                    "conversation_id": {"type": "string"},
                    "time": {"type": "string", "format": "date-time"},
                    "context": {"type": "object", "description": "Attributes the bundle's schema declares; `null` means not sent."},
                    "history": {"type": "object", "additionalProperties": false, "properties": {
                        "turn": {"type": "integer", "minimum": 0},
                        "tracks": {"type": "array", "items": {"type": "string"}},
                        "replies": {"type": "array", "items": {"type": "string"}}}},
                    "embedding": {"type": "array", "items": {"type": "number"}},
                    "seed": {"type": "integer", "minimum": 0}}},
                "Version": {"type": "object", "required": ["name", "version", "digest", "loaded_at", "source", "serial"], "properties": {
                    "name": {"type": "string"}, "version": {"type": "string"}, "digest": {"type": "string"},
                    "loaded_at": {"type": "string", "format": "date-time"}, "source": {"type": "string"}, "serial": {"type": "integer"}}},
                "BundleRef": {"type": "object", "required": ["name", "version", "digest"], "properties": {
                    "name": {"type": "string"}, "version": {"type": "string"}, "digest": {"type": "string"}}},
                "Arm": {"type": "string", "enum": ["champion", "challenger"], "description": "The arm whose decision is served (a shadow's decision is only logged)."},
                "Challenger": {"type": "object", "required": ["version", "mode", "percent"], "properties": {
                    "version": {"$ref": "#/components/schemas/Version"},
                    "mode": {"type": "string", "enum": ["split", "shadow"]},
                    "percent": {"type": "number", "minimum": 0, "maximum": 100}}},
                "Decision": {"type": "object", "required": ["decision_id", "arm", "conversation_id", "turn", "bundle", "chosen", "ranked", "masked"], "properties": {
                    "decision_id": {"type": "string", "format": "uuid"},
                    "arm": {"$ref": "#/components/schemas/Arm"},
                    "conversation_id": {"type": "string"}, "turn": {"type": "integer"},
                    "bundle": {"$ref": "#/components/schemas/BundleRef"},
                    "chosen": {"type": ["object", "null"]},
                    "fallback_used": {"type": "boolean"}, "no_choice": {"type": ["string", "null"]},
                    "policy": {"type": "object"}, "ranked": {"type": "array"}, "masked": {"type": "array"},
                    "boosts": {"type": "array"}, "rule_errors": {"type": "array"},
                    "explanation": {"type": "string"}}},
                "CompactDecision": {"type": "object", "required": ["decision_id", "arm", "track", "propensity", "bundle"], "properties": {
                    "decision_id": {"type": "string", "format": "uuid"},
                    "arm": {"$ref": "#/components/schemas/Arm"},
                    "track": {"type": ["string", "null"]}, "propensity": {"type": ["number", "null"]},
                    "bundle": {"$ref": "#/components/schemas/BundleRef"}, "explanation": {"type": "string"}}},
                "Outcome": {"type": "object", "additionalProperties": false, "required": ["conversation_id", "converted"], "properties": {
                    "conversation_id": {"type": "string"}, "decision_id": {"type": "string"},
                    "converted": {"type": "boolean"}, "value": {"type": "number"}, "final_reply": {"type": "string"}}},
                "Recorded": {"type": "object", "required": ["recorded", "duplicate"], "properties": {"recorded": {"type": "boolean"}, "duplicate": {"type": "boolean"}}},
                "Deployment": {"type": "object", "required": ["name", "serving", "pinned", "split"], "properties": {
                    "name": {"type": "string"},
                    "bundle_path": {"type": ["string", "null"], "description": "The bundle directory, for the deployment `--bundle` serves."},
                    "deployment_file": {"type": ["string", "null"], "description": "The deployment file, for one `--deployment` serves."},
                    "serving": {"$ref": "#/components/schemas/Version"},
                    "previous": {"oneOf": [{"$ref": "#/components/schemas/Version"}, {"type": "null"}]},
                    "pinned": {"type": "boolean"},
                    "challenger": {"oneOf": [{"$ref": "#/components/schemas/Challenger"}, {"type": "null"}]},
                    "split": {"type": "array", "items": {"type": "object", "required": ["arm", "digest", "percent"], "properties": {
                        "arm": {"type": "string", "enum": ["champion", "challenger", "shadow"]},
                        "digest": {"type": "string"}, "percent": {"type": "number"}}}},
                    "reloads": {"type": "object"}, "last_reload_error": {"type": ["object", "null"]}}},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["kind", "message"], "properties": {
                    "kind": {"type": "string", "enum": ["bad_request", "too_large", "batch_too_large", "bad_query", "unauthorized", "invalid_bundle", "invalid_deployment", "conflict", "not_found"]},
                    "message": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "object"}}}}}}
            }
        }
    })
}
