//! The manifest target: a `bundle.toml` through the whole loader, in a scratch
//! bundle directory holding the telecom example's rules, cases and policy, so
//! every section of the manifest reaches the code that checks it.

use std::path::PathBuf;
use std::sync::OnceLock;

use talktrack::Bundle;

use crate::fixtures::telecom_dir;

/// A scratch bundle directory for this process, filled once with the example's
/// files; each input overwrites only `bundle.toml`.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("talktrack-fuzz-manifest-{}", std::process::id()));
        copy_tree(&telecom_dir(), &dir);
        dir
    })
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("scratch directory");
    for e in std::fs::read_dir(from).expect("example bundle").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy example file");
        }
    }
}

/// Runs one manifest given as bytes. Inputs in one process run one at a time
/// (libFuzzer and the tests call it from one thread).
pub fn manifest(data: &[u8]) {
    let dir = scratch();
    if std::fs::write(dir.join("bundle.toml"), data).is_err() {
        return;
    }
    if let Ok(b) = Bundle::load(dir) {
        assert!(!b.digest().is_empty());
    }
}
