//! Name → position lookup for the names a request carries (track ids, reply
//! categories, context attributes).
//!
//! Every request names its history and context by string, and the policy's
//! forward pass has usually pushed the bundle's tables out of cache by the time
//! the next request arrives. A general hash map keeps each name in its own heap
//! allocation, so a lookup costs a cache miss on the bucket and another on the
//! stored name. Here the names sit back to back in one buffer and the table is
//! a short array of positions, so a request's lookups share a few cache lines.

use std::hash::Hasher;

use rustc_hash::FxHasher;

/// An immutable set of distinct names, each with its position in the list it was built from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NameIndex {
    /// Every name back to back.
    text: String,
    /// Per position: where its name ends in `text` (it starts where the previous one ends).
    ends: Vec<u32>,
    /// Open addressing over `position + 1` (0 is empty); the length is a power of two.
    table: Vec<u32>,
}

impl NameIndex {
    /// Indexes `names` by position; a repeated name returns the first repeat as the error.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut ix = NameIndex::default();
        for name in names {
            ix.text.push_str(name);
            ix.ends.push(ix.text.len() as u32);
        }
        let n = ix.ends.len();
        let size = (2 * n).next_power_of_two().max(8);
        ix.table = vec![0; size];
        for i in 0..n {
            let name = ix.name(i).unwrap_or_default();
            let mut at = hash(name) as usize & (size - 1);
            loop {
                match ix.table.get(at).copied() {
                    Some(0) => {
                        if let Some(slot) = ix.table.get_mut(at) {
                            *slot = i as u32 + 1;
                        }
                        break;
                    }
                    Some(j) if ix.name(j as usize - 1) == Some(name) => {
                        return Err(name.to_owned());
                    }
                    _ => at = (at + 1) & (size - 1),
                }
            }
        }
        Ok(ix)
    }

    /// The name at position `i`.
    pub fn name(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i.checked_sub(1) {
            Some(p) => *self.ends.get(p)? as usize,
            None => 0,
        };
        self.text.get(start..end)
    }

    /// Whether position `i` holds `name`.
    #[inline]
    pub fn is_at(&self, i: usize, name: &str) -> bool {
        self.name(i).is_some_and(|n| same(n, name))
    }

    /// The position of `name`.
    pub fn get(&self, name: &str) -> Option<usize> {
        let mask = self.table.len().checked_sub(1)?;
        let mut at = hash(name) as usize & mask;
        // The table is at most half full, so a probe always reaches an empty slot.
        for _ in 0..self.table.len() {
            match self.table.get(at).copied()? {
                0 => return None,
                j if self.is_at(j as usize - 1, name) => return Some(j as usize - 1),
                _ => at = (at + 1) & mask,
            }
        }
        None
    }
}

fn hash(name: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(name.as_bytes());
    h.finish()
}

/// String equality for short names: an inlined byte fold rather than a library
/// call per comparison.
#[inline]
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_name_and_nothing_else() {
        let names: Vec<String> = (0..300).map(|i| format!("track_{i}")).collect();
        let ix = NameIndex::new(names.iter().map(String::as_str)).unwrap();
        assert!(ix.name(299).is_some() && ix.name(300).is_none());
        for (i, n) in names.iter().enumerate() {
            assert_eq!(ix.get(n), Some(i));
            assert_eq!(ix.name(i), Some(n.as_str()));
            assert!(ix.is_at(i, n));
        }
        for miss in ["", "track_", "track_300", "track_1 ", "TRACK_1"] {
            assert_eq!(ix.get(miss), None, "{miss}");
        }
    }

    #[test]
    fn repeated_names_and_empty_sets() {
        assert_eq!(NameIndex::new(["a", "b", "a"]), Err("a".to_owned()));
        let empty = NameIndex::new(std::iter::empty()).unwrap();
        assert_eq!(empty.name(0), None);
        assert_eq!(empty.get("a"), None);
        let ix = NameIndex::new(["", "x"]).unwrap();
        assert_eq!(ix.get(""), Some(0));
        assert_eq!(ix.get("x"), Some(1));
    }
}
