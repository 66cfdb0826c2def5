//! The `talktrack-train` command line: aggregate logs, train and evaluate policies, export bundles.

fn main() {}
