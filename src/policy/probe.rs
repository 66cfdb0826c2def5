//! The load-time probe's check of the declared score kind.
//!
//! The engine reads probabilities through their logarithm and logits or Q-values
//! as they are; a kind declared wrong does not fail, it silently ranks by boosts
//! alone (negative "probabilities") or samples from the wrong distribution. The
//! probe's scores (a zero observation, every track allowed) must therefore look
//! like what the manifest declares, and the error says what they look like.

use super::runner::ScoreKind;

/// How far from 1 a sum of probabilities may be (f32 softmax over a large catalog).
const SUM_TOLERANCE: f32 = 1e-3;

/// Whether `scores` are a probability distribution over the catalog.
fn is_distribution(scores: &[f32]) -> bool {
    scores.iter().all(|p| (0.0..=1.0).contains(p))
        && (scores.iter().map(|p| f64::from(*p)).sum::<f64>() - 1.0).abs()
            <= f64::from(SUM_TOLERANCE)
}

/// Checks the probe's scores against the declared kind; on mismatch, says what
/// the scores are and which kind to declare.
pub(crate) fn check_kind(scores: &[f32], declared: ScoreKind) -> Result<(), String> {
    let shown = preview(scores);
    match declared {
        ScoreKind::Probabilities if !is_distribution(scores) => {
            let sum: f64 = scores.iter().map(|p| f64::from(*p)).sum();
            Err(format!(
                "probabilities must lie in [0, 1] and sum to 1 over the {} tracks; on a zero observation the model gives {shown} (sum {sum:.4}): declare `scores = \"logits\"` (or `\"q_values\"` for action values)",
                scores.len()
            ))
        }
        ScoreKind::Logits | ScoreKind::QValues if scores.len() > 1 && is_distribution(scores) => {
            Err(format!(
                "on a zero observation the model gives {shown}, values in [0, 1] that sum to 1 over the {} tracks: a softmax head's probabilities; declare `scores = \"probabilities\"`",
                scores.len()
            ))
        }
        _ => Ok(()),
    }
}

/// The first scores, for a message.
fn preview(scores: &[f32]) -> String {
    const SHOWN: usize = 4;
    let mut parts: Vec<String> = scores
        .iter()
        .take(SHOWN)
        .map(|s| format!("{s:.4}"))
        .collect();
    if scores.len() > SHOWN {
        parts.push(format!("… ({} more)", scores.len() - SHOWN));
    }
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_distribution_passes_as_probabilities_only() {
        let p = [0.25, 0.25, 0.5];
        assert!(check_kind(&p, ScoreKind::Probabilities).is_ok());
        let e = check_kind(&p, ScoreKind::Logits).unwrap_err();
        assert!(e.contains("declare `scores = \"probabilities\"`"), "{e}");
        assert!(check_kind(&p, ScoreKind::QValues).is_err());
    }

    #[test]
    fn logits_are_not_probabilities() {
        let l = [-1.5, 2.0, 0.3];
        assert!(check_kind(&l, ScoreKind::Logits).is_ok());
        assert!(check_kind(&l, ScoreKind::QValues).is_ok());
        let e = check_kind(&l, ScoreKind::Probabilities).unwrap_err();
        assert!(e.contains("declare `scores = \"logits\"`"), "{e}");
        // In range but not summing to one.
        assert!(check_kind(&[0.2, 0.2, 0.2], ScoreKind::Probabilities).is_err());
    }

    #[test]
    fn a_single_track_catalog_is_never_second_guessed_as_probabilities() {
        assert!(check_kind(&[1.0], ScoreKind::Logits).is_ok());
        assert!(check_kind(&[1.0], ScoreKind::Probabilities).is_ok());
    }
}
