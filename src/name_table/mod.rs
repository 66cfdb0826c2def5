//! Name → position lookup for the names a request carries (track ids, reply
//! categories, context attributes, contact outcomes).
//!
//! Every request names its history, context and past contacts by string, and
//! the policy's forward pass has usually pushed the bundle's tables out of cache
//! by the time the next request arrives. A general hash map keeps each name in
//! its own heap allocation, so a lookup costs a cache miss on the bucket and
//! another on the stored name. Here each slot of the table holds a name's
//! length and its first and last eight bytes, which for names of up to 16 bytes
//! (most ids) are the whole name: such a lookup reads one slot per probe and
//! never the names themselves. Longer names are confirmed against the names,
//! which sit back to back in one buffer.

/// An immutable set of distinct names, each with its position in the list it was built from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NameIndex {
    /// Every name back to back.
    text: String,
    /// Per position: where its name ends in `text` (it starts where the previous one ends).
    ends: Vec<u32>,
    /// Open addressing by [`Key`]; the length is a power of two, at most half full.
    table: Vec<Slot>,
}

/// A name's length and its first and last eight bytes (fewer, packed, for
/// shorter names): the whole name when it is at most 16 bytes long.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Key {
    head: u64,
    tail: u64,
    len: usize,
}

impl Key {
    #[inline(always)]
    fn of(name: &str) -> Key {
        let b = name.as_bytes();
        let len = b.len();
        let word = |c: Option<&[u8; 8]>| c.map_or(0, |c| u64::from_le_bytes(*c));
        let half = |c: Option<&[u8; 4]>| c.map_or(0, |c| u64::from(u32::from_le_bytes(*c)));
        let (head, tail) = if len >= 8 {
            (word(b.first_chunk()), word(b.last_chunk()))
        } else if len >= 4 {
            (half(b.first_chunk()) | half(b.last_chunk()) << 32, 0)
        } else {
            // Bytes 0, len/2 and len − 1 cover names of up to three bytes.
            let at = |i: usize| b.get(i).map_or(0, |&x| u64::from(x));
            (at(0) | at(len / 2) << 8 | at(len.wrapping_sub(1)) << 16, 0)
        };
        Key { head, tail, len }
    }

    /// Whether the key alone tells the name (no need to compare the text).
    #[inline]
    fn is_whole(&self) -> bool {
        self.len <= 16
    }

    #[inline]
    fn hash(&self) -> usize {
        let h = (self.head.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.tail ^ self.len as u64)
            .wrapping_mul(0xff51_afd7_ed55_8ccd);
        h.rotate_left(24) as usize
    }
}

/// A table slot: a name's key and its position + 1 (0: empty).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    key: Key,
    pos: u32,
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
        ix.table = vec![Slot::default(); size];
        for i in 0..n {
            let name = ix.name(i).unwrap_or_default();
            if ix.get(name).is_some() {
                return Err(name.to_owned());
            }
            let key = Key::of(name);
            let mut at = key.hash() & (size - 1);
            loop {
                match ix.table.get_mut(at) {
                    Some(slot) if slot.pos == 0 => {
                        *slot = Slot {
                            key,
                            pos: i as u32 + 1,
                        };
                        break;
                    }
                    Some(_) => at = (at + 1) & (size - 1),
                    None => break,
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
    #[inline(always)]
    pub fn get(&self, name: &str) -> Option<usize> {
        let mask = self.table.len().checked_sub(1)?;
        let key = Key::of(name);
        let mut at = key.hash() & mask;
        // The table is at most half full, so a probe always reaches an empty slot.
        for _ in 0..self.table.len() {
            let slot = self.table.get(at)?;
            if slot.pos == 0 {
                return None;
            }
            let pos = slot.pos as usize - 1;
            if slot.key == key && (key.is_whole() || self.is_at(pos, name)) {
                return Some(pos);
            }
            at = (at + 1) & mask;
        }
        None
    }
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

    #[test]
    fn names_of_every_length_up_to_and_past_the_key() {
        // Names that share their first and last eight bytes, or differ in one
        // byte only, at every length from 1 to 40 bytes.
        let mut names = Vec::new();
        for len in 1..=40 {
            for fill in [b'a', b'b'] {
                let mut n = vec![b'x'; len];
                if len > 2 {
                    n[len / 2] = fill;
                }
                names.push(String::from_utf8(n).unwrap());
            }
            let mut n = vec![b'y'; len];
            n[len - 1] = b'z';
            names.push(String::from_utf8(n).unwrap());
        }
        names.sort();
        names.dedup();
        let ix = NameIndex::new(names.iter().map(String::as_str)).unwrap();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(ix.get(n), Some(i), "{n}");
        }
        for len in 1..=40 {
            for miss in [vec![b'x'; len + 41], {
                let mut m = vec![b'x'; len];
                m[0] = b'w';
                m
            }] {
                let miss = String::from_utf8(miss).unwrap();
                assert_eq!(ix.get(&miss), None, "{miss}");
            }
            let mut m = vec![b'x'; len];
            if len > 2 {
                m[len / 2] = b'c';
                let miss = String::from_utf8(m).unwrap();
                assert_eq!(ix.get(&miss), None, "{miss}");
            }
        }
        // Multi-byte characters.
        let ix = NameIndex::new(["café", "cafe", "naïve_long_name_ü"]).unwrap();
        assert_eq!(ix.get("café"), Some(0));
        assert_eq!(ix.get("cafe"), Some(1));
        assert_eq!(ix.get("naïve_long_name_ü"), Some(2));
        assert_eq!(ix.get("naïve_long_name_u"), None);
    }
}
