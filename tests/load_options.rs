//! A host sets the bounds a bundle's policy network must fit: a bundle over them
//! is refused at load with the node named, and an engine keeps loading with the
//! same bounds on every reload (the version in service keeps serving).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use talktrack::serving::{LoadOptions, PolicyLimits};
use talktrack::{Bundle, Engine};

fn telecom() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/telecom-upsell")
}

fn tight() -> LoadOptions {
    LoadOptions::new().policy_limits(PolicyLimits {
        max_tensor_elements: 8,
        max_total_bytes: PolicyLimits::DEFAULT_MAX_TOTAL_BYTES,
        ..PolicyLimits::default()
    })
}

#[test]
fn the_default_options_load_the_example_bundle() {
    let with = Bundle::load_with(telecom(), &LoadOptions::new()).unwrap();
    let plain = Bundle::load(telecom()).unwrap();
    assert_eq!(with.digest(), plain.digest());
}

#[test]
fn a_policy_over_the_host_limits_is_refused_naming_the_node() {
    let err = Bundle::load_with(telecom(), &tight()).unwrap_err();
    let text = err.to_string();
    let problem = err
        .problems
        .iter()
        .find(|p| p.message.contains("more than the 8 allowed"))
        .unwrap_or_else(|| panic!("no limit problem in: {text}"));
    assert!(problem.message.contains("node `"), "{}", problem.message);
    assert!(problem.file.ends_with("policy.onnx"), "{problem:?}");
}

#[test]
fn an_engine_reloads_with_the_options_it_was_given() {
    assert!(Engine::load_with(telecom(), tight()).is_err());
    let engine = Engine::load(telecom()).unwrap().with_options(tight());
    let before = engine.version();
    assert!(engine.reload(telecom()).is_err());
    assert_eq!(engine.version(), before);
    assert_eq!(engine.status().reloads_failed, 1);
}
