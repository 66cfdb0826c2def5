//! Running the `talktrack` binary the tests were built with, from the workspace
//! root, as the README's commands run it.

use std::path::Path;
use std::process::Command;

/// The workspace root, where the example bundles, configs and data live.
pub fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Runs `talktrack args…` from the workspace root: exit code, stdout, stderr.
pub fn talktrack(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_talktrack"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
