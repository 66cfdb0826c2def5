//! A fixed-size set of catalog tracks, one bit per track.
//!
//! Masks, restrictions and rule targets are all sets of tracks; keeping them as
//! bit words makes "forbid everything tagged `credit`" one OR per 64 tracks on the
//! decision hot path.

/// A set of track indices `0..len`, stored as 64-bit words.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct TrackSet {
    words: Vec<u64>,
    len: usize,
}

impl TrackSet {
    /// The empty set over `len` tracks.
    pub fn empty(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// The set of all `len` tracks.
    pub fn full(len: usize) -> Self {
        let mut s = Self::empty(len);
        s.fill();
        s
    }

    /// Builds a set from track indices; indices `>= len` are ignored.
    pub fn from_indices(len: usize, indices: impl IntoIterator<Item = usize>) -> Self {
        let mut s = Self::empty(len);
        for i in indices {
            s.insert(i);
        }
        s
    }

    /// Number of tracks the set ranges over (not the number of members).
    pub fn universe(&self) -> usize {
        self.len
    }

    /// The raw words, lowest track first.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Adds track `i` (ignored when out of range).
    #[inline]
    pub fn insert(&mut self, i: usize) {
        if i < self.len {
            self.words[i / 64] |= 1 << (i % 64);
        }
    }

    /// Removes track `i`.
    #[inline]
    pub fn remove(&mut self, i: usize) {
        if i < self.len {
            self.words[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Whether track `i` is a member.
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Removes every member.
    #[inline]
    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
    }

    /// Makes every track a member.
    pub fn fill(&mut self) {
        self.words.iter_mut().for_each(|w| *w = u64::MAX);
        let rem = self.len % 64;
        if rem != 0 {
            if let Some(last) = self.words.last_mut() {
                *last = (1u64 << rem) - 1;
            }
        }
    }

    /// `self ∪= other` (sets over different universes combine word by word).
    #[inline]
    pub fn union_with(&mut self, other: &TrackSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
        }
    }

    /// `self ∩= other`.
    #[inline]
    pub fn intersect_with(&mut self, other: &TrackSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= *b;
        }
    }

    /// `self \= other`.
    #[inline]
    pub fn subtract(&mut self, other: &TrackSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !*b;
        }
    }

    /// `self ∪= words` for raw words of a set over the same universe.
    #[inline]
    pub fn union_words(&mut self, words: &[u64]) {
        for (a, b) in self.words.iter_mut().zip(words) {
            *a |= *b;
        }
    }

    /// `self ∩= words` for raw words of a set over the same universe.
    #[inline]
    pub fn intersect_words(&mut self, words: &[u64]) {
        for (a, b) in self.words.iter_mut().zip(words) {
            *a &= *b;
        }
    }

    /// Copies `other` into `self` without reallocating when the sizes agree.
    #[inline]
    pub fn copy_from(&mut self, other: &TrackSet) {
        self.words.clear();
        self.words.extend_from_slice(&other.words);
        self.len = other.len;
    }

    /// Number of members.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set has no members.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// Whether the two sets share a member.
    #[inline]
    pub fn intersects(&self, other: &TrackSet) -> bool {
        self.words.iter().zip(&other.words).any(|(a, b)| a & b != 0)
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        members(&self.words)
    }
}

/// The members of a set given as its words (bit `i % 64` of word `i / 64`), in
/// increasing order: for runs of words that are not a [`TrackSet`] of their own.
pub(crate) fn members(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(wi, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            if w == 0 {
                None
            } else {
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let mut a = TrackSet::from_indices(130, [0, 64, 129]);
        let b = TrackSet::from_indices(130, [64, 100]);
        assert_eq!(a.count(), 3);
        assert!(a.intersects(&b));
        a.subtract(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![0, 129]);
        let full = TrackSet::full(130);
        assert_eq!(full.count(), 130);
        assert!(!full.contains(130));
    }
}
