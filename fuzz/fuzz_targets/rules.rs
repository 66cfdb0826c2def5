//! libFuzzer entry for the `rules` target (`talktrack_fuzz::rules`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talktrack_fuzz::rules(data));
