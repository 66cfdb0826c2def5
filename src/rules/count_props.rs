//! Property test of the contact count: counting over the time-sorted log (a walk
//! back from the newest contact to the window's start, one loop per case) gives
//! what a naive count over the contacts in request order gives — the same number,
//! or the same first retired contact — whatever the order the contacts came in,
//! with windows ending exactly on a contact, one millisecond either side of it,
//! empty, or longer than the history; catalogs of one word and of several; with
//! and without an outcome filter.

use proptest::prelude::*;

use super::truth::count_in;
use super::typed::ContactQuery;
use super::EvalError;
use crate::trackset::TrackSet;
use crate::turn_view::{ContactLog, PastContact};

const NOW: i64 = 1_767_225_600_000;

/// The count as the window's definition says it, over the contacts in request
/// order: `now − within ≤ time ≤ now`, one of the tracks, one of the outcomes; a
/// matching contact about a retired track makes it unknown where it could count.
fn naive(q: &ContactQuery, contacts: &[PastContact], now: i64) -> Result<i64, EvalError> {
    let mut n = 0;
    for c in contacts {
        let in_window = now.saturating_sub(q.within_ms) <= c.time_ms && c.time_ms <= now;
        let outcome = match (q.outcomes, c.outcome) {
            (None, _) => true,
            (Some(mask), Some(o)) => o < 64 && mask & (1u64 << o) != 0,
            (Some(_), None) => false,
        };
        if !(in_window && outcome) {
            continue;
        }
        match c.track {
            Some(t) => n += i64::from(q.tracks.contains(t as usize)),
            None if q.retired_may_match => {
                return Err(EvalError::RetiredTrack { contact: c.index });
            }
            None => {}
        }
    }
    Ok(n)
}

/// One contact: how long before `NOW` (negative: after it), its track (`None`:
/// retired) and its outcome.
fn contact(n_tracks: u32) -> impl Strategy<Value = (i64, Option<u32>, Option<u32>)> {
    (
        prop_oneof![
            8 => 0i64..(40 * 86_400_000),
            2 => 0i64..4,
            1 => -3i64..0,
        ],
        prop_oneof![6 => (0..n_tracks).prop_map(Some), 1 => Just(None)],
        prop_oneof![8 => (0u32..5).prop_map(Some), 2 => Just(None), 1 => Just(Some(70))],
    )
}

fn case() -> impl Strategy<Value = (u32, Vec<(i64, Option<u32>, Option<u32>)>, Vec<u32>)> {
    prop_oneof![Just(3u32), Just(64), Just(130)].prop_flat_map(|n| {
        (
            Just(n),
            proptest::collection::vec(contact(n), 0..60),
            proptest::collection::vec(0..n, 0..12),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_count_over_the_sorted_log_is_the_naive_count(
        (n, raw, members) in case(),
        // Which window: ending on a contact's time, a millisecond inside or
        // outside it, or any length.
        pick in 0usize..64,
        shift in -1i64..=1,
        free in 0i64..(60 * 86_400_000),
        outcomes in prop_oneof![Just(None), (0u64..32).prop_map(Some)],
        retired_may_match in any::<bool>(),
        now_shift in prop_oneof![4 => Just(0i64), 1 => -2i64..=2],
    ) {
        let contacts: Vec<PastContact> = raw
            .iter()
            .enumerate()
            .map(|(i, &(ago, track, outcome))| PastContact {
                time_ms: NOW - ago,
                track,
                outcome,
                index: i as u32,
            })
            .collect();
        let within_ms = match raw.get(pick) {
            Some(&(ago, ..)) => (ago + shift).max(0),
            None => free,
        };
        let q = ContactQuery {
            tracks: TrackSet::from_indices(n as usize, members.iter().map(|&t| t as usize)),
            retired_may_match,
            outcomes,
            within_ms,
            text: "contacts(..)".into(),
        };
        let now = NOW + now_shift;
        let log: ContactLog = contacts.iter().copied().collect();
        prop_assert_eq!(log.len(), contacts.len());
        prop_assert_eq!(count_in(&q, &log, now), naive(&q, &contacts, now));
        // The order the contacts came in does not matter.
        let reversed: ContactLog = contacts.iter().rev().copied().collect();
        prop_assert_eq!(count_in(&q, &reversed, now), naive(&q, &contacts, now));
    }
}
