//! The ONNX target: bytes as the telecom bundle's policy file, through the loader
//! (import, shape checks, optimisation, the load-time probe) and, when it loads,
//! one forward pass.

use talktrack::tooling::Policy;

use crate::fixtures::telecom;

/// Runs one ONNX model given as bytes.
pub fn onnx(data: &[u8]) {
    let b = telecom();
    let io = b.policy().io().clone();
    if let Ok(p) = Policy::from_bytes(data, &io) {
        let obs = vec![0.5f32; io.obs_dim];
        let mut out = vec![0.0f32; io.n_tracks];
        let _ = p.scores(&obs, &mut out);
    }
}
