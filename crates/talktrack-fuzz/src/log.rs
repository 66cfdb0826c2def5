//! The trainer's log target: a JSONL conversation log through the reader and the
//! aggregation, with the PersuasionForGood reference vocabulary, non-strict (bad
//! lines are counted and skipped) and strict (the first bad line is an error).

use std::sync::OnceLock;

use talktrack_train::aggregate::aggregate_log;
use talktrack_train::config::SimSetup;
use talktrack_train::log::{ReadOptions, Vocab};
use talktrack_train::sim::reference::p4g_reference_setup;

fn setup() -> &'static (SimSetup, Vocab) {
    static S: OnceLock<(SimSetup, Vocab)> = OnceLock::new();
    S.get_or_init(|| {
        let s = p4g_reference_setup().expect("the reference config loads");
        let v = s.vocab();
        (s, v)
    })
}

/// Runs one log given as bytes.
pub fn log(data: &[u8]) {
    let (setup, vocab) = setup();
    for strict in [false, true] {
        let opts = ReadOptions {
            strict,
            ..ReadOptions::default()
        };
        let _ = aggregate_log(data, vocab, setup.aggregate.clone(), opts);
    }
}
