//! The customer's past contacts as `contacts(..)` in rules counts them: resolved
//! against the bundle and kept sorted by time in a compact form, so that a window
//! `now − d ≤ time ≤ now` is one contiguous run, found by binary search, and a
//! count reads only the contacts inside it.
//!
//! A request lists its contacts in any order; the log sorts them once per turn
//! (in place, without allocating: the engine reuses one log per thread). Hosts
//! usually send a contact log in time order, which the log notes as contacts
//! are added, and then does not sort at all.

/// A past contact with the customer, resolved against the bundle; what
/// `contacts(..)` in rules counts (gathered into a [`ContactLog`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastContact {
    /// When, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Catalog index of its track; `None` for a track the catalog no longer has.
    pub track: Option<u32>,
    /// Index of its outcome in the bundle's `contact_outcomes`, if it has one.
    pub outcome: Option<u32>,
    /// Its position in the request's `contacts`, for explanations.
    pub index: u32,
}

/// The track of a contact about a track the catalog no longer has.
pub(crate) const RETIRED: u32 = u32::MAX;

/// One contact in a [`ContactLog`]: what a count reads, in 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Logged {
    /// When, milliseconds since the Unix epoch.
    pub(crate) time_ms: i64,
    /// Bit `o` set for outcome `o`; 0 for a contact without an outcome (or with an
    /// outcome index past 63, which a bundle's vocabulary of at most 64 never has).
    pub(crate) outcome_bit: u64,
    /// Catalog index of its track, or [`RETIRED`].
    pub(crate) track: u32,
    /// Its position in the request's `contacts`.
    pub(crate) index: u32,
}

impl Logged {
    fn new(c: PastContact) -> Self {
        Logged {
            time_ms: c.time_ms,
            outcome_bit: c.outcome.map_or(0, |o| 1u64.checked_shl(o).unwrap_or(0)),
            track: c.track.unwrap_or(RETIRED),
            index: c.index,
        }
    }

    /// The contact as it was resolved.
    fn past(&self) -> PastContact {
        PastContact {
            time_ms: self.time_ms,
            track: (self.track != RETIRED).then_some(self.track),
            outcome: (self.outcome_bit != 0).then(|| self.outcome_bit.trailing_zeros()),
            index: self.index,
        }
    }
}

/// The past contacts a turn's rules count, sorted by time.
///
/// Build one from resolved contacts in any order (`collect()`), or let the
/// engine build it from a request; [`past_contacts`](crate::tooling::past_contacts)
/// resolves a request's `contacts` into one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactLog {
    // INVARIANT: sorted by (time, index) whenever a count reads it: every
    // public way to build or fill a log ends with `sort`.
    entries: Vec<Logged>,
    /// Whether some contact is about a track the catalog no longer has (set by `sort`).
    retired: bool,
    /// Whether a contact was pushed before an older one (`sort` must reorder).
    unsorted: bool,
}

/// The log of no contacts.
static EMPTY: ContactLog = ContactLog {
    entries: Vec::new(),
    retired: false,
    unsorted: false,
};

impl ContactLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The log of no contacts, for turns with no contact history.
    pub fn empty() -> &'static ContactLog {
        &EMPTY
    }

    /// How many contacts the log holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log holds no contact.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The contacts, oldest first (contacts at the same time in request order).
    pub fn iter(&self) -> impl Iterator<Item = PastContact> + '_ {
        self.entries.iter().map(Logged::past)
    }

    /// Empties the log, keeping its buffer.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.unsorted = false;
    }

    /// The log, moved out without copying; `self` is left empty with a buffer of
    /// the same capacity, so that refilling it does not regrow it.
    pub(crate) fn take(&mut self) -> ContactLog {
        let fresh = Vec::with_capacity(self.entries.capacity());
        ContactLog {
            entries: std::mem::replace(&mut self.entries, fresh),
            retired: std::mem::take(&mut self.retired),
            unsorted: std::mem::take(&mut self.unsorted),
        }
    }

    /// Appends a contact, noting whether it is older than the last one; the log
    /// may be out of order until [`ContactLog::sort`]. Contacts are pushed in
    /// request order (rising `index`), so contacts at the same time are in order.
    #[inline]
    pub(crate) fn push(&mut self, c: PastContact) {
        if let Some(last) = self.entries.last() {
            self.unsorted |= c.time_ms < last.time_ms;
        }
        self.entries.push(Logged::new(c));
    }

    /// Puts the contacts in time order, in place; nothing to do when they were
    /// pushed in time order, as hosts usually send them.
    pub(crate) fn sort(&mut self) {
        if self.unsorted {
            self.entries.sort_unstable_by_key(|e| (e.time_ms, e.index));
            self.unsorted = false;
        }
        self.retired = self.entries.iter().any(|e| e.track == RETIRED);
    }

    /// Whether some contact is about a track the catalog no longer has.
    #[inline]
    pub(crate) fn has_retired(&self) -> bool {
        self.retired
    }

    /// The contacts at or before `to`, oldest first.
    #[inline]
    pub(crate) fn until(&self, to: i64) -> &[Logged] {
        let e = &self.entries[..];
        // Every contact of a request is at most its time: search only when one is later.
        match e.last() {
            Some(last) if last.time_ms > to => e
                .get(..e.partition_point(|c| c.time_ms <= to))
                .unwrap_or(&[]),
            _ => e,
        }
    }
}

impl FromIterator<PastContact> for ContactLog {
    fn from_iter<I: IntoIterator<Item = PastContact>>(iter: I) -> Self {
        let mut log = ContactLog {
            entries: iter.into_iter().map(Logged::new).collect(),
            retired: false,
            // In any order, with indices in any order.
            unsorted: true,
        };
        log.sort();
        log
    }
}

impl Extend<PastContact> for ContactLog {
    fn extend<I: IntoIterator<Item = PastContact>>(&mut self, iter: I) {
        self.entries.extend(iter.into_iter().map(Logged::new));
        self.unsorted = true;
        self.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(index: u32, time_ms: i64) -> PastContact {
        PastContact {
            time_ms,
            track: (index % 3 != 0).then_some(index % 5),
            outcome: (index % 4 != 0).then_some(index % 4),
            index,
        }
    }

    #[test]
    fn pushed_in_any_order_the_log_ends_sorted_as_a_collected_one() {
        // Times with repeats, in time order, reversed and shuffled; pushed in
        // request order (rising index) as the engine pushes them.
        let in_order: Vec<i64> = vec![1, 2, 2, 2, 5, 7, 7, 9, 12, 12];
        let mut reversed = in_order.clone();
        reversed.reverse();
        let shuffled: Vec<i64> = vec![7, 2, 12, 1, 9, 2, 7, 5, 12, 2];
        for times in [in_order, reversed, shuffled] {
            let contacts: Vec<PastContact> = times
                .iter()
                .enumerate()
                .map(|(i, &t)| contact(i as u32, t))
                .collect();
            let mut log = ContactLog::new();
            log.push(contact(99, 100));
            log.clear();
            for &c in &contacts {
                log.push(c);
            }
            log.sort();
            let collected: ContactLog = contacts.iter().copied().collect();
            assert_eq!(log, collected, "{times:?}");
            let seen: Vec<(i64, u32)> = log.iter().map(|c| (c.time_ms, c.index)).collect();
            let mut want = seen.clone();
            want.sort();
            assert_eq!(seen, want);
            assert!(log.has_retired());
            let moved = log.take();
            assert_eq!(moved, collected);
            assert!(log.is_empty());
        }
    }
}
