//! libFuzzer entry for the `request` target (`talktrack_fuzz::request`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talktrack_fuzz::request(data));
