//! Bundle files stay inside the bundle: rule, case and policy files that lead out
//! of the bundle's directory (by `..`, an absolute path or a symlink) are refused
//! without their content being read or echoed; named pipes and devices are refused
//! by the file reader without waiting or reading; a bundle reached through a symlink
//! loads.

mod common;

use common::*;
use talktrack::{render, Bundle};

fn beside_a_secret(root: &std::path::Path) -> std::path::PathBuf {
    let b = root.join("b");
    write_good_bundle(&b);
    std::fs::write(
        root.join("secret.rules"),
        "TOPSECRET the first line of a file outside the bundle\n",
    )
    .unwrap();
    b
}

#[test]
fn rule_files_outside_the_bundle_directory_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let b = beside_a_secret(dir.path());
    with_manifest(
        &b,
        "rules = [\"main.rules\"]",
        "rules = [\"main.rules\", \"../secret.rules\"]",
    );
    let out = bundle_load_err(&b);
    assert!(!out.contains("TOPSECRET"), "{out}");
    insta::assert_snapshot!(out);

    // An absolute path.
    let abs = dir.path().join("secret.rules");
    with_manifest(&b, "\"../secret.rules\"", &format!("\"{}\"", abs.display()));
    let out = load_err_lines(&b);
    assert!(!out.contains("TOPSECRET"), "{out}");
    assert!(
        out.contains("bundle::outside")
            && out.contains("`rules[1]`")
            && out.contains("(an absolute path)"),
        "{out}"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_that_lead_out_of_the_bundle_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = beside_a_secret(dir.path());
    // A rule file that is a symlink to a file outside.
    std::os::unix::fs::symlink("../secret.rules", b.join("link.rules")).unwrap();
    with_manifest(
        &b,
        "rules = [\"main.rules\"]",
        "rules = [\"main.rules\", \"link.rules\"]",
    );
    let out = load_err_lines(&b);
    assert!(!out.contains("TOPSECRET"), "{out}");
    assert!(
        out.contains("bundle::outside")
            && out.contains("`rules[1]` names `link.rules`")
            && out.contains("a symlink leads out of it")
            && out.contains("bundle.toml:8:"),
        "{out}"
    );

    // A directory on the way that is a symlink to a directory outside.
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    std::fs::copy(
        dir.path().join("secret.rules"),
        dir.path().join("elsewhere/x.rules"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../elsewhere", b.join("more")).unwrap();
    with_manifest(&b, "\"link.rules\"", "\"more/x.rules\"");
    let out = load_err_lines(&b);
    assert!(!out.contains("TOPSECRET"), "{out}");
    assert!(out.contains("`rules[1]` names `more/x.rules`"), "{out}");
}

#[test]
fn a_policy_outside_the_bundle_directory_is_refused_without_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let b = beside_a_secret(dir.path());
    let outside = constant_policy([4., 3., 2., 1.]);
    std::fs::write(dir.path().join("policy.onnx"), &outside).unwrap();
    with_manifest(&b, "file = \"policy.onnx\"", "file = \"../policy.onnx\"");
    let out = bundle_load_err(&b);
    insta::assert_snapshot!(out);
    use sha2::Digest as _;
    let sha = hex::encode(sha2::Sha256::digest(&outside));
    assert!(!out.contains(&sha), "{out}");
}

#[test]
fn test_case_files_outside_the_bundle_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = beside_a_secret(dir.path());
    with_manifest(
        &b,
        "rules = [\"main.rules\"]",
        "rules = [\"main.rules\"]\ntests = [\"../secret.rules\"]",
    );
    let bundle = std::sync::Arc::new(Bundle::load(&b).unwrap());
    let Err(problems) = talktrack::tooling::run_all(&bundle) else {
        panic!("the case file must be refused")
    };
    let out = render(&problems);
    assert!(!out.contains("TOPSECRET"), "{out}");
    assert!(
        out.contains("bundle::outside") && out.contains("`tests[0]` names `../secret.rules`"),
        "{out}"
    );
}

#[cfg(unix)]
#[test]
fn a_bundle_reached_through_a_symlink_loads_and_inner_symlinks_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("v1");
    write_good_bundle(&b);
    // A rule file that is a symlink to another file inside the bundle.
    std::fs::create_dir(b.join("shared")).unwrap();
    std::fs::rename(b.join("main.rules"), b.join("shared/main.rules")).unwrap();
    std::os::unix::fs::symlink("shared/main.rules", b.join("main.rules")).unwrap();
    // The bundle directory itself is a `current` link, as a deploy tool flips.
    let current = dir.path().join("current");
    std::os::unix::fs::symlink("v1", &current).unwrap();
    let loaded = Bundle::load(&current).unwrap();
    assert_eq!(loaded.rules().len(), 1);
    assert_eq!(loaded.dir(), current);
}

/// Makes a named pipe at `path` with the system's `mkfifo`; `false` when the
/// system has none (the caller then skips).
fn mkfifo(path: &std::path::Path) -> bool {
    std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn named_pipes_in_a_bundle_are_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["main.rules", "policy.onnx", "bundle.toml"]
        .into_iter()
        .enumerate()
    {
        let b = dir.path().join(format!("b{i}"));
        write_good_bundle(&b);
        std::fs::remove_file(b.join(name)).unwrap();
        if !mkfifo(&b.join(name)) {
            eprintln!("skipped: no `mkfifo` on this system");
            return;
        }
        // Opening a FIFO for reading would wait here for a writer forever.
        let out = load_err_lines(&b);
        assert!(
            out.contains(name) && out.contains("it is a named pipe (FIFO), not a regular file"),
            "{out}"
        );
    }
}

#[cfg(unix)]
#[test]
fn devices_are_refused_by_the_file_reader() {
    let zero = std::path::Path::new("/dev/zero");
    if !zero.exists() {
        return;
    }
    // `/dev/zero` reports a size of 0 and never ends: refused, not read.
    let p = talktrack::tooling::read_text(zero, zero).unwrap_err();
    assert_eq!(
        p.one_line(),
        "error[bundle::unreadable]: /dev/zero: cannot read file: it is a character device, not a regular file"
    );
}
