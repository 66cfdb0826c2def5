//! The `talktrack` command line: check, decide, fmt and test bundles.

fn main() {}
