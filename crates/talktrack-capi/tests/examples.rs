//! The C example (compiled with the machine's `cc`) and the Python ctypes example
//! (run with `python3` if present) decide from several threads on the example bundle.
#![allow(clippy::unwrap_used, clippy::panic)] // tests may fail loudly

mod common;

use std::path::PathBuf;
use std::process::Command;

/// The directory holding the built `libtalktrack_capi.so`: `deps/` beside this test
/// (where a workspace-wide `cargo test` leaves it), or the profile directory above
/// it (where cargo copies it when the crate is built on its own).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    let candidates = [deps.clone(), deps.parent().unwrap().to_path_buf()];
    candidates
        .iter()
        .find(|d| d.join("libtalktrack_capi.so").is_file())
        .unwrap_or_else(|| panic!("libtalktrack_capi.so not found in {candidates:?}"))
        .clone()
}

fn check_output(stdout: &str) {
    assert!(stdout.contains("serving {\"digest\":"), "{stdout}");
    assert!(
        stdout.contains("\"name\":\"telecom-upsell\"")
            || stdout.contains("\"name\": \"telecom-upsell\""),
        "{stdout}"
    );
    for t in 0..4 {
        assert!(stdout.contains(&format!("thread {t}: {{")), "{stdout}");
    }
    assert!(stdout.contains("bad request: status 5"), "{stdout}");
    assert!(stdout.contains("100 decisions, 0 failures"), "{stdout}");
}

#[test]
fn the_c_example_compiles_and_decides_from_threads() {
    let root = common::root();
    let out = tempfile::tempdir().unwrap();
    let exe = out.path().join("decide");
    let lib = lib_dir();
    let status = Command::new("cc")
        .arg(root.join("examples/c/decide.c"))
        .arg("-I")
        .arg(root.join("crates/talktrack-capi/include"))
        .arg("-L")
        .arg(&lib)
        .arg("-ltalktrack_capi")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lpthread")
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success());
    let run = Command::new(&exe)
        .arg(root.join("policies/telecom-upsell"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    check_output(&stdout);
}

#[test]
fn the_python_ctypes_example_decides_from_threads() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: the ctypes example is not run");
        return;
    }
    let root = common::root();
    let run = Command::new("python3")
        .arg(root.join("examples/python-ctypes/decide.py"))
        .arg(lib_dir().join("libtalktrack_capi.so"))
        .arg(root.join("policies/telecom-upsell"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    check_output(&stdout);
}
