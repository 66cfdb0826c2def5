//! Batched inference: many observations scored by one forward pass.
//!
//! A host that decides for many conversations at once (a dialler scoring a call
//! list, an evaluation over logged states) asks for a batched plan with
//! [`PolicyLimits::max_batch`](super::PolicyLimits::max_batch). The loader then binds the model's symbolic
//! batch a second time, to that many rows, checks that plan against the same
//! [`PolicyLimits`](super::PolicyLimits) as the single-row one, and probes it: every row of a batch
//! must score as that observation alone does (a model whose rows influence each
//! other is refused, since its batched scores would not be the scores it serves one
//! by one). [`Policy::scores_batch`] then scores any number of rows in chunks of
//! that size, the last chunk padded with zero rows; without a batched plan it
//! scores row by row, with the same results.

use super::error::PolicyError;
use super::runner::Policy;
use crate::trackset::TrackSet;

/// How far a row's batched score may be from its score alone: 1e-5, relative for
/// scores above 1 in magnitude (matrix kernels sum in a different order by batch).
const BATCH_TOLERANCE: f32 = 1e-5;

impl Policy {
    /// Scores many observations: `obs` holds them back to back (`rows × obs_dim`
    /// values), `out` receives `rows × n_tracks` scores in the same order.
    /// `allowed`, one set per row, feeds the model's mask input when the manifest
    /// maps one (ignored otherwise; every track allowed when `None`).
    ///
    /// The rows run through the batched plan when the policy was loaded with
    /// [`PolicyLimits::max_batch`](super::PolicyLimits::max_batch) above 1, one by one
    /// otherwise; either way row `i`'s scores are those [`Policy::scores_masked`]
    /// gives for it.
    pub fn scores_batch(
        &self,
        obs: &[f32],
        allowed: Option<&[TrackSet]>,
        out: &mut [f32],
    ) -> Result<(), PolicyError> {
        let (width, n) = (self.io.obs_dim, self.io.n_tracks);
        let rows = out.len() / n;
        self.check_lengths(obs, out, rows)?;
        if let Some(sets) = allowed {
            if sets.len() != rows {
                return Err(PolicyError::BufferLength {
                    what: "allowed-track sets (one per row)",
                    expected: rows,
                    found: sets.len(),
                });
            }
            if let Some(bad) = sets.iter().find(|a| a.universe() != n) {
                return Err(PolicyError::BufferLength {
                    what: "allowed-track set",
                    expected: n,
                    found: bad.universe(),
                });
            }
        }
        // Without a batched plan, the single-row plan takes the rows one by one.
        let pass = self.batched.as_ref().unwrap_or(&self.single);
        let mut start = 0;
        while start < rows {
            let end = (start + pass.rows).min(rows);
            let obs_chunk = &obs[start * width..end * width];
            let out_chunk = &mut out[start * n..end * n];
            let allowed = allowed.map(|sets| &sets[start..end]);
            if end - start == pass.rows {
                self.run(pass, obs_chunk, allowed, out_chunk)?;
            } else {
                // The last, partial chunk: padded with zero rows (every track allowed).
                let mut padded = vec![0.0; pass.rows * width];
                padded[..obs_chunk.len()].copy_from_slice(obs_chunk);
                let mut scores = vec![0.0; pass.rows * n];
                self.run(pass, &padded, allowed, &mut scores)?;
                out_chunk.copy_from_slice(&scores[..out_chunk.len()]);
            }
            start = end;
        }
        Ok(())
    }

    /// The batch the batched plan is bound to; 1 when the policy has none.
    pub fn batch_rows(&self) -> usize {
        self.batched.as_ref().map_or(1, |p| p.rows)
    }

    /// Checks at load that every row of the batched plan scores as that
    /// observation alone: rows of distinct values, compared with the single-row plan.
    pub(super) fn probe_batch(&self) -> Result<(), PolicyError> {
        let Some(pass) = self.batched.as_ref() else {
            return Ok(());
        };
        let (width, n) = (self.io.obs_dim, self.io.n_tracks);
        let obs: Vec<f32> = (0..pass.rows * width)
            .map(|i| ((i * 7919) % 23) as f32 / 11.0 - 1.0)
            .collect();
        let mut batched = vec![0.0; pass.rows * n];
        self.run(pass, &obs, None, &mut batched)?;
        let mut alone = vec![0.0; n];
        for r in 0..pass.rows {
            self.run(
                &self.single,
                &obs[r * width..(r + 1) * width],
                None,
                &mut alone,
            )?;
            let row = &batched[r * n..(r + 1) * n];
            let differs = row.iter().zip(&alone).position(|(&b, &a)| {
                let scale = a.abs().max(1.0);
                !((b - a).abs() <= BATCH_TOLERANCE * scale || (a.is_nan() && b.is_nan()))
            });
            if let Some(t) = differs {
                return Err(PolicyError::BatchMismatch {
                    origin: self.origin.clone(),
                    rows: pass.rows,
                    row: r,
                    track: t,
                    batched: row[t],
                    alone: alone[t],
                });
            }
        }
        Ok(())
    }
}
