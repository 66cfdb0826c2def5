//! libFuzzer entry for the `onnx` target (`talktrack_fuzz::onnx`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| talktrack_fuzz::onnx(data));
