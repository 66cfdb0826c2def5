//! libFuzzer entry for the `manifest` target (`talktrack_fuzz::manifest`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talktrack_fuzz::manifest(data));
