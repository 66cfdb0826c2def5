//! The `talktrack` commands that write a bundle's files (`fmt`, `seal`, `keygen`
//! with a signed seal, `promote`), never outside the bundle, and the special
//! files every command refuses to read. The other commands are in `cli.rs`.

mod run;

use std::process::Command;

use run::talktrack;

/// These tests read the example bundles, configs and data by their paths from the
/// workspace root, as the README's commands do; cargo runs them from this crate.
fn at_root() {
    std::env::set_current_dir(run::root()).expect("the workspace root exists");
}

#[test]
fn fmt_check_passes_on_formatted_rules_and_fixes_others() {
    at_root();
    let (code, out, err) = talktrack(&[
        "fmt",
        "--check",
        "policies/telecom-upsell",
        "policies/persuasion",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("messy.rules");
    std::fs::write(
        &f,
        "rule   a\nbecause   \"x\"\nwhen customer.age<18\nforbid   track b\n",
    )
    .unwrap();
    let (code, out, _) = talktrack(&["fmt", "--check", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("not formatted"), "{out}");
    let (code, _, _) = talktrack(&["fmt", f.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, _, _) = talktrack(&["fmt", "--check", f.to_str().unwrap()]);
    assert_eq!(code, 0);
}

#[test]
fn fmt_check_fails_when_it_cannot_find_what_to_check() {
    at_root();
    // No path at all: nothing would be checked.
    let (code, out, err) = talktrack(&["fmt", "--check"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("<PATHS>"), "{err}");

    // A bundle whose manifest does not parse, with an unformatted rule file: the
    // manifest is reported (file, line and column) and the check fails.
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b9");
    std::fs::create_dir_all(b.join("rules")).unwrap();
    let manifest = std::fs::read_to_string("policies/telecom-upsell/bundle.toml").unwrap();
    std::fs::write(b.join("bundle.toml"), format!("bogus = = 1\n{manifest}")).unwrap();
    for f in ["compliance.rules", "business.rules", "contact-policy.rules"] {
        std::fs::copy(
            format!("policies/telecom-upsell/rules/{f}"),
            b.join("rules").join(f),
        )
        .unwrap();
    }
    let messy = "rule   a\nbecause   \"x\"\nwhen customer.age<18\nforbid   track b\n";
    let compliance = b.join("rules/compliance.rules");
    let text = std::fs::read_to_string(&compliance).unwrap();
    std::fs::write(&compliance, format!("{text}\n{messy}")).unwrap();
    let (code, out, err) = talktrack(&["fmt", "--check", b.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("bundle.toml:1:"), "{err}");
    assert!(
        err.contains(&format!(
            "`{}` could not be read",
            b.join("bundle.toml").display()
        )),
        "{err}"
    );

    // A directory with neither a manifest nor rule files.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = talktrack(&["fmt", "--check", empty.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("neither a bundle.toml nor any `.rules` file"),
        "{err}"
    );

    // A directory of rule files without a manifest is still checked file by file.
    let loose = dir.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    std::fs::write(loose.join("messy.rules"), messy).unwrap();
    let (code, out, _) = talktrack(&["fmt", "--check", loose.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("not formatted"), "{out}");
}

#[test]
fn fmt_never_writes_outside_the_bundle_directory() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let messy = "rule   a\nbecause   \"x\"\nwhen customer.age<18\nforbid   track b\n";
    let outside = dir.path().join("outside.rules");
    std::fs::write(&outside, messy).unwrap();

    // A bundle whose manifest lists a rule file outside its directory.
    let b = dir.path().join("b");
    std::fs::create_dir_all(b.join("rules")).unwrap();
    let manifest = std::fs::read_to_string("policies/telecom-upsell/bundle.toml").unwrap();
    let listed = "rules = [\"rules/compliance.rules\", \"rules/business.rules\", \"rules/contact-policy.rules\"]";
    assert!(manifest.contains(listed));
    std::fs::write(
        b.join("bundle.toml"),
        manifest.replace(
            listed,
            "rules = [\"rules/compliance.rules\", \"../outside.rules\"]",
        ),
    )
    .unwrap();
    std::fs::copy(
        "policies/telecom-upsell/rules/compliance.rules",
        b.join("rules/compliance.rules"),
    )
    .unwrap();
    let (code, out, err) = talktrack(&["fmt", b.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("`rules[1]` names `../outside.rules`, which is outside the bundle"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), messy);

    // A directory of rule files holding a symlink to a file outside it.
    #[cfg(unix)]
    {
        let loose = dir.path().join("loose");
        std::fs::create_dir(&loose).unwrap();
        std::os::unix::fs::symlink(&outside, loose.join("link.rules")).unwrap();
        let (code, out, err) = talktrack(&["fmt", loose.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains("leads outside"), "{err}");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), messy);
    }
}

#[cfg(unix)]
#[test]
fn special_files_are_refused_not_read() {
    at_root();
    let zero = std::path::Path::new("/dev/zero");
    if zero.exists() {
        // A rule file or a request that never ends: refused at once.
        let (code, _, err) = talktrack(&["fmt", "--check", "/dev/zero"]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("it is a character device, not a regular file"),
            "{err}"
        );
        let (code, _, err) = talktrack(&[
            "decide",
            "policies/telecom-upsell",
            "--request",
            "/dev/zero",
        ]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("it is a character device, not a regular file"),
            "{err}"
        );
    }
    // A request that is a named pipe no one writes to: refused, no wait.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("request.json");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if made {
        let (code, _, err) = talktrack(&[
            "decide",
            "policies/telecom-upsell",
            "--request",
            fifo.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("it is a named pipe (FIFO), not a regular file"),
            "{err}"
        );
    }
}

#[test]
fn seal_writes_the_policy_checksum_and_keeps_the_rest_of_the_manifest() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b");
    std::fs::create_dir_all(b.join("rules")).unwrap();
    for f in [
        "bundle.toml",
        "policy.onnx",
        "cases.toml",
        "rules/compliance.rules",
        "rules/business.rules",
        "rules/contact-policy.rules",
    ] {
        std::fs::copy(format!("policies/telecom-upsell/{f}"), b.join(f)).unwrap();
    }
    let original = std::fs::read_to_string(b.join("bundle.toml")).unwrap();
    let (code, out, err) = talktrack(&["seal", b.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("unchanged: `policy.onnx` has SHA-256 "),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(b.join("bundle.toml")).unwrap(),
        original
    );

    // A new policy file: `check` refuses the bundle until it is sealed.
    let mut policy = std::fs::read(b.join("policy.onnx")).unwrap();
    // A field the ONNX schema does not know (number 1000, varint 1): the same model.
    policy.extend_from_slice(&[0xC0, 0x3E, 0x01]);
    std::fs::write(b.join("policy.onnx"), &policy).unwrap();
    let (code, _, err) = talktrack(&["check", b.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("bundle::checksum"), "{err}");
    use sha2::Digest as _;
    let new = hex::encode(sha2::Sha256::digest(&policy));
    let line = original
        .lines()
        .find(|l| l.starts_with("sha256"))
        .unwrap()
        .to_owned();
    let old = line.split('"').nth(1).unwrap().to_owned();
    let (code, out, err) = talktrack(&["seal", b.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("sealed: bundle.toml `policy.sha256` = {new} (was {old}), the SHA-256 of `policy.onnx`\n")
    );
    // Only the checksum changed: every other line, comments included, is as written.
    let sealed = std::fs::read_to_string(b.join("bundle.toml")).unwrap();
    assert_eq!(sealed, original.replace(&old, &new));
    let (code, _, err) = talktrack(&["check", b.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    // A policy outside the bundle is never read, so never sealed.
    std::fs::write(
        b.join("bundle.toml"),
        sealed.replace("file = \"policy.onnx\"", "file = \"../policy.onnx\""),
    )
    .unwrap();
    std::fs::write(dir.path().join("policy.onnx"), &policy).unwrap();
    let (code, _, err) = talktrack(&["seal", b.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("bundle::outside"), "{err}");
}

#[test]
fn keygen_then_seal_with_the_key_signs_the_bundle_and_promote_edits_the_file() {
    at_root();
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("release");
    let (code, out, err) = talktrack(&["keygen", name.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("wrote `"), "{out}");
    // Never overwrites a key.
    let (code, _, err) = talktrack(&["keygen", name.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not overwriting a key"), "{err}");

    let b = dir.path().join("b");
    std::fs::create_dir_all(b.join("rules")).unwrap();
    for f in [
        "bundle.toml",
        "policy.onnx",
        "cases.toml",
        "rules/compliance.rules",
        "rules/business.rules",
        "rules/contact-policy.rules",
    ] {
        std::fs::copy(format!("policies/telecom-upsell/{f}"), b.join(f)).unwrap();
    }
    let key = dir.path().join("release.key");
    let (code, out, err) = talktrack(&[
        "seal",
        b.to_str().unwrap(),
        "--sign-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("signed: `"), "{out}");
    let trusted = talktrack::serving::VerifyKey::read(&dir.path().join("release.pub")).unwrap();
    talktrack::Bundle::load(&b)
        .unwrap()
        .verify(&[trusted])
        .unwrap();

    let file = dir.path().join("d.toml");
    std::fs::write(
        &file,
        "name = \"sales\"\nchampion = \"v1\"\n[challenger]\nbundle = \"v2\"\npercent = 5\n",
    )
    .unwrap();
    let (code, out, err) = talktrack(&["promote", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("now serves `v2`"), "{out}");
    let (code, _, err) = talktrack(&["promote", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("there is no challenger to promote"), "{err}");
}
