//! The committed C header is what cbindgen generates from this crate.
#![allow(clippy::unwrap_used, clippy::panic)] // tests may fail loudly

use std::path::PathBuf;

#[test]
fn the_committed_header_is_up_to_date() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .unwrap()
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = crate_dir.join("include/talktrack.h");
    if std::env::var_os("TALKTRACK_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/talktrack.h is out of date: rerun this test with TALKTRACK_BLESS_HEADER=1"
    );
}
