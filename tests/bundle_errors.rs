//! Bad bundles: every problem is reported at once, names its file (and line and
//! column where it can), and never panics or aborts.

mod common;

use common::*;
use talktrack::render;
use talktrack::Bundle;

#[test]
fn a_good_bundle_loads() {
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    let b = Bundle::load(dir.path()).unwrap();
    assert_eq!(b.catalog().len(), 4);
    assert_eq!(b.digest().len(), 64);
}

#[test]
fn malformed_manifest_points_at_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    let m = std::fs::read_to_string(dir.path().join("bundle.toml")).unwrap();
    std::fs::write(
        dir.path().join("bundle.toml"),
        m.replace("max_turns = 5", "max_turns = = 5"),
    )
    .unwrap();
    insta::assert_snapshot!(bundle_load_err(dir.path()));
}

#[test]
fn unknown_manifest_key_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    let m = std::fs::read_to_string(dir.path().join("bundle.toml")).unwrap();
    std::fs::write(
        dir.path().join("bundle.toml"),
        m.replace("max_turns = 5", "max_turns = 5\nmax_turn = 6"),
    )
    .unwrap();
    let out = bundle_load_err(dir.path());
    assert!(out.contains("unknown field `max_turn`"), "{out}");
}

#[test]
fn all_semantic_problems_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SMALL_MANIFEST
        .replace("fallback = \"human\"", "fallback = \"nobody\"")
        .replace("kind = \"turn_one_hot\"", "kind = \"attr\"\nname = \"age\"")
        .replace(
            "replies = [\"yes\", \"no\", \"angry\"]",
            "replies = [\"yes\", \"yes\"]",
        );
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", MINORS_RULES)],
        &constant_policy([1., 2., 3., 4.]),
    );
    let out = bundle_load_err(dir.path());
    assert!(
        out.contains("fallback track `nobody` is not in the catalog"),
        "{out}"
    );
    assert!(out.contains("protected attribute"), "{out}");
    assert!(
        out.contains("reply category `yes` is listed twice"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn empty_catalog_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cut = SMALL_MANIFEST.find("[[tracks]]").unwrap();
    let manifest = SMALL_MANIFEST[..cut].replacen(
        "rules = [\"main.rules\"]",
        "rules = [\"main.rules\"]\ntracks = []",
        1,
    );
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", "")],
        &constant_policy([1., 2., 3., 4.]),
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains("the catalog has no tracks"), "{out}");
}

#[test]
fn checksum_mismatch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    std::fs::write(
        dir.path().join("policy.onnx"),
        constant_policy([9., 2., 3., 4.]),
    )
    .unwrap();
    let out = bundle_load_err(dir.path());
    assert!(out.contains("bundle::checksum"), "{out}");
    assert!(out.contains("re-export the bundle"), "{out}");
}

#[test]
fn missing_and_corrupt_policies_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    std::fs::remove_file(dir.path().join("policy.onnx")).unwrap();
    let out = bundle_load_err(dir.path());
    assert!(
        out.contains("policy.onnx") && out.contains("cannot read policy file"),
        "{out}"
    );

    let garbage = b"this is not an onnx model at all".to_vec();
    write_bundle(
        dir.path(),
        SMALL_MANIFEST,
        &[("main.rules", MINORS_RULES)],
        &garbage,
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains("bundle::policy"), "{out}");

    let mut truncated = constant_policy([1., 2., 3., 4.]);
    truncated.truncate(truncated.len() / 2);
    write_bundle(
        dir.path(),
        SMALL_MANIFEST,
        &[("main.rules", MINORS_RULES)],
        &truncated,
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains("bundle::policy"), "{out}");
}

#[test]
fn policy_shape_and_name_mismatches_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // Three outputs for a four-track catalog.
    let p = linear_policy(
        ndarray::Array2::zeros((SMALL_OBS, 3)),
        ndarray::Array1::zeros(3),
    );
    write_bundle(
        dir.path(),
        SMALL_MANIFEST,
        &[("main.rules", MINORS_RULES)],
        &p,
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains('3') && out.contains('4'), "{out}");

    // Input width 7 for a 9-float feature spec.
    let p = linear_policy(ndarray::Array2::zeros((7, 4)), ndarray::Array1::zeros(4));
    write_bundle(
        dir.path(),
        SMALL_MANIFEST,
        &[("main.rules", MINORS_RULES)],
        &p,
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains('7') && out.contains('9'), "{out}");

    // The manifest names an output the model does not have.
    let manifest = SMALL_MANIFEST.replace("output = \"scores\"", "output = \"q\"");
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", MINORS_RULES)],
        &constant_policy([1., 2., 3., 4.]),
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains("`q`") && out.contains("scores"), "{out}");
}

#[test]
fn rule_file_problems_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SMALL_MANIFEST.replace(
        "rules = [\"main.rules\"]",
        "rules = [\"main.rules\", \"more.rules\"]",
    );
    let more = "rule minors\n  because \"duplicate id\"\n  forbid track zz\n";
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", MINORS_RULES), ("more.rules", more)],
        &constant_policy([1., 2., 3., 4.]),
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains("more.rules:"), "{out}");
    assert!(out.contains("zz"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn missing_non_utf8_and_oversized_rule_files() {
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    std::fs::write(
        dir.path().join("main.rules"),
        b"rule a\n  forbid track \xff\xfe\n",
    )
    .unwrap();
    let out = bundle_load_err(dir.path());
    assert!(
        out.contains("not valid UTF-8") && out.contains("main.rules"),
        "{out}"
    );

    let big = "# padding\n".repeat(200_000);
    std::fs::write(dir.path().join("main.rules"), big).unwrap();
    let out = bundle_load_err(dir.path());
    assert!(out.contains("bytes allowed"), "{out}");

    std::fs::remove_file(dir.path().join("main.rules")).unwrap();
    let out = bundle_load_err(dir.path());
    assert!(
        out.contains("main.rules") && out.contains("cannot read file"),
        "{out}"
    );
}

#[test]
fn deeply_nested_rules_do_not_overflow_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    let depth = 100_000;
    let cond = format!("{}customer.age < 3{}", "(".repeat(depth), ")".repeat(depth));
    let nots = format!("{}customer.age < 3", "not ".repeat(depth));
    for c in [cond, nots] {
        std::fs::write(
            dir.path().join("main.rules"),
            format!("rule deep\n  because \"x\"\n  when {c}\n  forbid track a\n"),
        )
        .unwrap();
        let out = bundle_load_err(dir.path());
        assert!(out.contains("main.rules"), "{out}");
    }
}

#[test]
fn oversized_manifest_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    // Past the limit (a sparse tail: refused from its size, never read).
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("bundle.toml"))
        .unwrap();
    file.set_len(talktrack::tooling::MAX_MANIFEST_BYTES + 1)
        .unwrap();
    drop(file);
    let out = bundle_load_err(dir.path());
    assert!(
        out.contains("bundle.toml") && out.contains("bytes allowed"),
        "{out}"
    );
}

#[test]
fn problems_in_every_section_are_reported_together_each_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SMALL_MANIFEST
        // Context: an unknown type (line 20); templates and features reading
        // `name` must not repeat it.
        .replace(
            "name = { type = \"string\", optional = true }",
            "name = \"integer\"",
        )
        // Features: the second block one-hot encodes a bool (line 28).
        .replace(
            "kind = \"last_reply_one_hot\"",
            "kind = \"attr_one_hot\"\nname = \"vip\"",
        )
        // Tracks: the second track repeats the id of the first (line 39), the
        // third has a wrongly typed attribute (line 48, column 11).
        .replace("id = \"b\"", "id = \"a\"")
        .replace(
            "tags = [\"closing\"]\nattrs = { min_age = 0 }",
            "tags = [\"closing\"]\nattrs = { min_age = \"zero\" }",
        );
    let rules = "rule minors\n  because \"no credit under 18\"\n  when customer.agee < 18\n  forbid track nope\n\nrule named\n  because \"reads the broken attribute\"\n  when has customer.name\n  forbid tracks tagged credit\n";
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", rules)],
        &constant_policy([1., 2., 3., 4.]),
    );
    let e = Bundle::load(dir.path()).expect_err("the bundle must be rejected");
    let located: Vec<String> = e.problems.iter().map(|p| p.one_line()).collect();
    assert_eq!(
        located,
        [
            "error[bundle::context]: bundle.toml:20:1: attribute `name` has unknown type `integer` (expected bool, int, float, string, enum, set, timestamp or duration)",
            "error[bundle::catalog]: bundle.toml:39:1: track id `a` is declared twice",
            "error[bundle::catalog]: bundle.toml:48:11: track `c` attribute `min_age` must be int",
            "error[bundle::features]: bundle.toml:28:1: feature 2: `vip` is bool; `attr_one_hot` encodes enums only",
            "error[rules::unknown-attribute]: main.rules:3:17: unknown context attribute `agee`",
            "error[rules::unknown-track]: main.rules:4:16: unknown track `nope`",
        ],
        "{}",
        render(&e.problems)
    );
    insta::assert_snapshot!(render(&e.problems));
}

#[test]
fn a_broken_declaration_is_reported_once_where_it_is_declared() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SMALL_MANIFEST
        .replace("min_age = \"int\"", "min_age = \"integr\"")
        .replace(
            "age = { type = \"int\", protected = true }",
            "age = \"years\"",
        );
    let rules = "rule minors\n  because \"too young for the track\"\n  forbid tracks where track.min_age > customer.age\n";
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", rules)],
        &constant_policy([1., 2., 3., 4.]),
    );
    let e = Bundle::load(dir.path()).expect_err("the bundle must be rejected");
    let located: Vec<String> = e.problems.iter().map(|p| p.one_line()).collect();
    assert_eq!(
        located,
        [
            "error[bundle::context]: bundle.toml:18:1: attribute `age` has unknown type `years` (expected bool, int, float, string, enum, set, timestamp or duration)",
            "error[bundle::track-attributes]: bundle.toml:23:1: attribute `min_age` has unknown type `integr` (expected bool, int, float, string, enum, set, timestamp or duration)",
        ],
        "{}",
        render(&e.problems)
    );
}

#[test]
fn oversized_embedding_is_rejected_naming_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SMALL_MANIFEST.replace(
        "kind = \"last_reply_one_hot\"",
        "kind = \"last_reply_one_hot\"\n\n[[features]]\nkind = \"embedding\"\ndim = 20000000000",
    );
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", MINORS_RULES)],
        &constant_policy([1., 2., 3., 4.]),
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains("bundle::features"), "{out}");
    assert!(
        out.contains("feature 3") && out.contains("dim = 20000000000"),
        "{out}"
    );
    assert!(out.contains("65536"), "{out}");
}

#[test]
fn observation_wider_than_the_limit_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // 105 one-hot blocks of 10 000 turns each: 1 050 000 floats.
    let many = "\n\n[[features]]\nkind = \"turn_one_hot\"".repeat(104);
    let manifest = SMALL_MANIFEST
        .replace("max_turns = 5", "max_turns = 10000")
        .replace(
            "kind = \"last_reply_one_hot\"",
            &format!("kind = \"last_reply_one_hot\"{many}"),
        );
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", MINORS_RULES)],
        &constant_policy([1., 2., 3., 4.]),
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains("bundle::features"), "{out}");
    assert!(
        out.contains("feature 106") && out.contains("more than the 1048576"),
        "{out}"
    );
    // Reported once, at the feature that crosses the limit.
    assert_eq!(out.matches("1048576").count(), 1, "{out}");
}

#[test]
fn oversized_policy_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    // A sparse file: the bundle must refuse it from its size, without reading it.
    let file = std::fs::File::create(dir.path().join("policy.onnx")).unwrap();
    file.set_len(talktrack::tooling::MAX_POLICY_BYTES + 1)
        .unwrap();
    drop(file);
    let out = bundle_load_err(dir.path());
    assert!(out.contains("bundle::policy"), "{out}");
    assert!(
        out.contains("policy.onnx") && out.contains("bytes, more than the 268435456 allowed"),
        "{out}"
    );
}

#[test]
fn policy_errors_name_the_policy_file() {
    let dir = tempfile::tempdir().unwrap();
    // Input width 7 for a 9-float feature spec.
    let p = linear_policy(ndarray::Array2::zeros((7, 4)), ndarray::Array1::zeros(4));
    write_bundle(
        dir.path(),
        SMALL_MANIFEST,
        &[("main.rules", MINORS_RULES)],
        &p,
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains("`policy.onnx` input `obs`"), "{out}");
    assert!(!out.contains("<bytes>"), "{out}");
}

/// A bundle in `root/b` beside a file outside it, `root/secret.rules`, whose
/// content must never appear in a diagnostic.
#[test]
fn a_misspelt_track_key_is_an_error_with_a_suggestion() {
    // `tag` for `tags` would leave track `b` out of every rule that targets
    // credit tracks: it must not load.
    let dir = tempfile::tempdir().unwrap();
    write_good_bundle(dir.path());
    with_manifest(
        dir.path(),
        "tags = [\"sales\", \"credit\"]",
        "tag = [\"sales\", \"credit\"]",
    );
    let out = bundle_load_err(dir.path());
    assert!(out.contains("bundle.toml:40:1"), "{out}");
    assert!(out.contains("did you mean `tags`?"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn unknown_keys_are_errors_in_every_table_of_the_manifest() {
    let cases = [
        (
            "min_age = \"int\"",
            "min_age = { type = \"int\", optionl = true }",
            "optional",
        ),
        (
            "mode = \"greedy\"",
            "mode = \"greedy\"\ntemprature = 1.0",
            "temperature",
        ),
        (
            "scores = \"logits\"",
            "scores = \"logits\"\nsha265 = \"\"",
            "sha256",
        ),
        (
            "kind = \"turn_one_hot\"",
            "kind = \"turn_one_hot\"\nscale = 2.0",
            "",
        ),
        (
            "kind = \"turn_one_hot\"",
            "kind = \"turn_onehot\"",
            "turn_one_hot",
        ),
        (
            "fallback = \"human\"",
            "fallback = \"human\"\nfalback = \"human\"",
            "fallback",
        ),
    ];
    for (from, to, suggested) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_good_bundle(dir.path());
        let m = std::fs::read_to_string(dir.path().join("bundle.toml")).unwrap();
        let m = if m.contains(from) {
            m
        } else {
            // `[selection]` is optional: add it to hold the key.
            format!("{m}\n[selection]\nmode = \"greedy\"\n")
        };
        std::fs::write(dir.path().join("bundle.toml"), m.replacen(from, to, 1)).unwrap();
        assert!(Bundle::load(dir.path()).is_err(), "{to} must be refused");
        let out = load_err_lines(dir.path());
        assert!(
            out.contains("error[bundle::manifest]: bundle.toml:"),
            "{to}: {out}"
        );
        let e = Bundle::load(dir.path()).unwrap_err();
        let help = e.problems[0].help.clone().unwrap_or_default();
        if suggested.is_empty() {
            assert!(!help.contains("did you mean"), "{to}: {help}");
        } else {
            assert_eq!(help, format!("did you mean `{suggested}`?"), "{to}: {out}");
        }
    }
}

#[test]
fn a_catalog_of_ten_thousand_tracks_loads() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let cut = SMALL_MANIFEST.find("[[tracks]]").unwrap();
    let mut m = SMALL_MANIFEST[..cut].to_owned();
    for i in 0..N {
        let (id, tags) = if i + 1 == N {
            ("human".to_owned(), "[\"handover\"]")
        } else {
            (
                format!("offer_{i:05}"),
                "[\"sales\", \"credit\", \"seasonal\"]",
            )
        };
        m.push_str(&format!(
            "[[tracks]]\nid = \"{id}\"\ntext = \"Hello {{name|there}}, may I tell you about offer number {i} of our autumn range?\"\ntags = {tags}\nproduct = \"product_{i:05}\"\nattrs = {{ min_age = {} }}\n\n",
            18 + i % 3
        ));
    }
    let policy = linear_policy(
        ndarray::Array2::zeros((SMALL_OBS, N)),
        ndarray::Array1::zeros(N),
    );
    write_bundle(dir.path(), &m, &[("main.rules", MINORS_RULES)], &policy);
    let len = std::fs::metadata(dir.path().join("bundle.toml"))
        .unwrap()
        .len();
    assert!(
        len > 1 << 20,
        "{len} bytes: more than the rule files' limit"
    );
    let b = Bundle::load(dir.path()).unwrap();
    assert_eq!(b.catalog().len(), N);
    assert_eq!(b.catalog().index("human"), Some(N - 1));
}

#[test]
fn bad_value_ranges_are_reported_where_they_are_declared() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SMALL_MANIFEST
        .replace(
            "age = { type = \"int\", protected = true }",
            "age = { type = \"int\", protected = true, min = 130, max = 0 }\nspend = { type = \"float\", min = \"none\" }\nwait = { type = \"duration\", max = \"2 weeks\" }\nvip2 = { type = \"bool\", min = 1 }",
        )
        .replace("min_age = \"int\"", "min_age = { type = \"int\", min = 0 }");
    write_bundle(
        dir.path(),
        &manifest,
        &[("main.rules", "")],
        &constant_policy([1., 2., 3., 4.]),
    );
    insta::assert_snapshot!(bundle_load_err(dir.path()));
}
