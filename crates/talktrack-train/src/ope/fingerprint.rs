//! The fingerprint of a bundle's training conversations, recorded in its
//! `[training.conversations_fingerprint]` table, so that an evaluation can tell whether the logs
//! it reads overlap what the bundle was trained on.
//!
//! It is a Bloom filter of the conversation ids (never the ids themselves): `bits`
//! bits (about 10 per conversation, at most [`MAX_BITS`]), each id setting the bits
//! of `hashes` seeded hashes ([`crate::aggregate::split::id_hash`]). A logged
//! conversation whose bits are all set was probably trained on; one that was not
//! can match by chance with probability about `(1 − e^(−hashes · n / bits))^hashes`.

use serde::{Deserialize, Serialize};

use crate::aggregate::split::id_hash;

/// The largest filter, in bits (64 KiB, 128 KiB as hex in the manifest).
pub const MAX_BITS: u64 = 1 << 19;

/// Hashes per id.
const HASHES: u32 = 7;

/// The key of the fingerprint in the manifest's `[training]` table.
pub const TRAINING_KEY: &str = "conversations_fingerprint";

/// The fingerprint of a set of conversation ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Conversations it holds.
    pub count: u64,
    /// Bits of the filter.
    pub bits: u64,
    /// Hashes per id.
    pub hashes: u32,
    /// The filter, hex, lowest bit first within each byte.
    pub filter: String,
}

impl Fingerprint {
    /// The fingerprint of `ids`.
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let ids: Vec<&str> = ids.into_iter().collect();
        let bits = (ids.len() as u64 * 10)
            .clamp(64, MAX_BITS)
            .next_multiple_of(8);
        let mut filter = vec![0u8; (bits / 8) as usize];
        for id in &ids {
            for i in 0..HASHES {
                let b = id_hash(id, u64::from(i)) % bits;
                if let Some(byte) = filter.get_mut((b / 8) as usize) {
                    *byte |= 1 << (b % 8);
                }
            }
        }
        Self {
            count: ids.len() as u64,
            bits,
            hashes: HASHES,
            filter: hex::encode(filter),
        }
    }

    /// Whether `id` was probably among the fingerprinted conversations (`false` for a
    /// malformed filter).
    pub fn contains(&self, id: &str) -> bool {
        let Ok(filter) = hex::decode(&self.filter) else {
            return false;
        };
        if self.bits == 0 || filter.len() as u64 * 8 < self.bits {
            return false;
        }
        (0..self.hashes).all(|i| {
            let b = id_hash(id, u64::from(i)) % self.bits;
            filter
                .get((b / 8) as usize)
                .is_some_and(|byte| byte & (1 << (b % 8)) != 0)
        })
    }

    /// The chance that an id not fingerprinted matches.
    pub fn false_positive_rate(&self) -> f64 {
        let k = f64::from(self.hashes);
        (1.0 - (-k * self.count as f64 / self.bits.max(1) as f64).exp()).powf(k)
    }

    /// The fingerprint in a bundle's `[training]` table, when there is one.
    pub fn from_training(training: Option<&toml::Table>) -> Option<Self> {
        training?.get(TRAINING_KEY)?.clone().try_into().ok()
    }

    /// As a TOML value for the `[training]` table.
    pub fn to_toml(&self) -> Option<toml::Value> {
        toml::Value::try_from(self).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprinted_ids_match_and_others_rarely_do() {
        let ids: Vec<String> = (0..300).map(|i| format!("c-{i}")).collect();
        let f = Fingerprint::of(ids.iter().map(String::as_str));
        assert!(ids.iter().all(|i| f.contains(i)));
        let others = (0..10_000)
            .filter(|i| f.contains(&format!("other-{i}")))
            .count();
        // About 0.8% expected with 10 bits per id and 7 hashes.
        assert!(f.false_positive_rate() < 0.01);
        assert!(others < 200, "{others} false matches");
        let back: Fingerprint = f.to_toml().unwrap().try_into().unwrap();
        assert_eq!(back, f);
    }
}
