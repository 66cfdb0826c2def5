//! libFuzzer entry for the `log` target (`talktrack_fuzz::log`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talktrack_fuzz::log(data));
