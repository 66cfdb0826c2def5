//! The request target: a JSON request through the decoder and `decide` on the
//! telecom example bundle; a decision never chooses a masked track, and its
//! explanation and JSON are produced without failing.

use std::sync::OnceLock;

use talktrack::{Engine, Request};

use crate::fixtures::telecom_dir;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::load(telecom_dir()).expect("the telecom example bundle loads"))
}

/// Runs one request given as bytes.
pub fn request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(req) = Request::from_json(text) else {
        return;
    };
    let Ok(d) = engine().decide(&req) else {
        return;
    };
    if let Some(chosen) = d.chosen_id() {
        assert!(
            !d.masked().iter().any(|m| m.id == chosen),
            "chose the masked track `{chosen}`"
        );
    }
    let _ = d.explain();
    let json = serde_json::to_string(&d).expect("a decision serialises");
    let _: serde_json::Value = serde_json::from_str(&json).expect("decision JSON parses");
}
