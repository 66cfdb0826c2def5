//! Names a request repeats, looked up once: a customer's past contacts are
//! mostly about a handful of tracks, with a handful of outcomes, so resolving
//! them checks a small direct-mapped memo (on the stack, one per request and
//! vocabulary) before the bundle's name tables.

use crate::names::same;

/// Memo slots; a power of two.
const SLOTS: usize = 16;

/// The names of one vocabulary looked up so far, with what the lookup found
/// (`None`: no such name).
pub(super) struct NameMemo<'r> {
    slots: [Option<(&'r str, Option<u32>)>; SLOTS],
}

impl<'r> NameMemo<'r> {
    /// An empty memo.
    pub(super) fn new() -> Self {
        NameMemo {
            slots: [None; SLOTS],
        }
    }

    /// What `lookup` finds for `name`, calling it only when the memo does not
    /// hold `name` already.
    #[inline]
    pub(super) fn get(
        &mut self,
        name: &'r str,
        lookup: impl FnOnce(&str) -> Option<u32>,
    ) -> Option<u32> {
        let slot = slot(name);
        if let Some(Some((held, found))) = self.slots.get(slot) {
            if same(held, name) {
                return *found;
            }
        }
        let found = lookup(name);
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some((name, found));
        }
        found
    }
}

/// The slot of `name`: from its length and last two bytes, which tell apart
/// ids that differ in a number or a suffix.
#[inline]
fn slot(name: &str) -> usize {
    let b = name.as_bytes();
    let last = b.last().map_or(0, |&x| usize::from(x));
    let before = b
        .len()
        .checked_sub(2)
        .and_then(|i| b.get(i))
        .map_or(0, |&x| usize::from(x));
    (b.len() ^ last ^ (before << 2) ^ (before >> 2)) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_the_lookup_finds_whatever_the_collisions() {
        // 300 ids, many of them sharing a slot, in an order that revisits them.
        let ids: Vec<String> = (0..300).map(|i| format!("k{}", (i * 37) % 150)).collect();
        let lookup = |s: &str| {
            s.strip_prefix('k')
                .and_then(|d| d.parse::<u32>().ok())
                .filter(|v| v % 7 != 0)
        };
        let mut memo = NameMemo::new();
        for id in &ids {
            assert_eq!(memo.get(id, lookup), lookup(id), "{id}");
        }
        assert_eq!(memo.get("", lookup), None);
    }

    #[test]
    fn a_repeated_name_is_looked_up_once() {
        let mut memo = NameMemo::new();
        let mut calls = 0;
        for name in ["offered", "offered", "offered"] {
            let found = memo.get(name, |_| {
                calls += 1;
                Some(3)
            });
            assert_eq!(found, Some(3));
        }
        assert_eq!(calls, 1);
    }
}
