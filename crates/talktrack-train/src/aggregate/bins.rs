//! Numeric context values are published by bin: a [`Bin`] is one interval between
//! the configured edges, written in the aggregate file as `[a, b)` (or `[a, b]` for
//! the last bin) and read back by the simulator, which draws inside it.

use std::fmt;
use std::str::FromStr;

/// One interval of a numeric attribute's bins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bin {
    /// Lower edge, included.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Whether the upper edge is included (the last bin).
    pub closed: bool,
}

impl Bin {
    /// The bin of `x` among `edges` (at least two); values outside the range go to
    /// the nearest bin.
    pub fn of(edges: &[f64], x: f64) -> Self {
        let n = edges.len().saturating_sub(1).max(1);
        let i = edges
            .iter()
            .skip(1)
            .position(|&e| x < e)
            .unwrap_or(n - 1)
            .min(n - 1);
        Self {
            lo: edges.get(i).copied().unwrap_or(0.0),
            hi: edges.get(i + 1).copied().unwrap_or(0.0),
            closed: i + 1 == n,
        }
    }
}

impl fmt::Display for Bin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let close = if self.closed { ']' } else { ')' };
        write!(f, "[{}, {}{close}", self.lo, self.hi)
    }
}

/// The label is not a bin as [`Bin`]'s `Display` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotABin;

impl FromStr for Bin {
    type Err = NotABin;

    fn from_str(label: &str) -> Result<Self, NotABin> {
        let inner = label.strip_prefix('[').ok_or(NotABin)?;
        let (inner, closed) = match inner.strip_suffix(']') {
            Some(i) => (i, true),
            None => (inner.strip_suffix(')').ok_or(NotABin)?, false),
        };
        let (a, b) = inner.split_once(", ").ok_or(NotABin)?;
        Ok(Self {
            lo: a.parse().map_err(|_| NotABin)?,
            hi: b.parse().map_err(|_| NotABin)?,
            closed,
        })
    }
}
