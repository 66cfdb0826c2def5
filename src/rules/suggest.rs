//! Help for a person reading a diagnostic: "did you mean" suggestions for a
//! misspelt name, and echoes of what they wrote kept short.

use std::borrow::Cow;

/// Longest echo of a user's input in a diagnostic message, in characters.
pub(crate) const MAX_ECHO: usize = 40;

/// `text` as echoed in a diagnostic: at most [`MAX_ECHO`] characters, then `…`,
/// so that a megabyte-long identifier makes a short message.
pub(crate) fn clip(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_ECHO) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// Levenshtein distance, for did-you-mean hints.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if close enough to be a likely typo.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    let len = word.chars().count();
    let limit = (len / 3).max(1);
    candidates
        // The distance is at least the difference in length: skip the quadratic
        // comparison when that alone is too far (a huge word against a catalog).
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= limit && *c != word)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean `x`?` for the closest candidate, if any is close enough.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_on_a_character() {
        assert_eq!(clip("customer.agee"), "customer.agee");
        let long = "é".repeat(1000);
        let c = clip(&long);
        assert_eq!(c.chars().count(), MAX_ECHO + 1);
        assert!(c.ends_with('…'));
    }

    #[test]
    fn closest_finds_typos_only() {
        let names = ["age", "segment", "region"];
        assert_eq!(closest("agee", names.into_iter()), Some("age"));
        assert_eq!(closest("segmnet", names.into_iter()), Some("segment"));
        assert_eq!(closest("xyz", names.into_iter()), None);
        assert_eq!(closest(&"a".repeat(1 << 20), names.into_iter()), None);
    }
}
