//! Timestamps and durations as rules and requests write them.
//!
//! Inside, both are integer milliseconds so comparisons on the hot path are
//! integer comparisons; outside, timestamps are RFC 3339 and durations are a
//! number with a unit (`500ms`, `30s`, `15m`, `36h`, `14d`, `2w`).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses an RFC 3339 timestamp into milliseconds since the Unix epoch.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("`{s}` is not an RFC 3339 timestamp: {e}"))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Formats milliseconds since the Unix epoch as RFC 3339 (UTC).
pub fn format_timestamp(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms}ms"))
}

/// Parses a duration such as `14d` or `90m` into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{s}` has no unit (use ms, s, m, h, d or w)"))?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` does not start with a whole number"))?;
    let per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => {
            return Err(format!(
                "`{unit}` is not a duration unit (use ms, s, m, h, d or w)"
            ))
        }
    };
    n.checked_mul(per)
        .ok_or_else(|| format!("duration `{s}` is too long"))
}

/// Formats milliseconds with the largest unit that divides them exactly.
pub fn format_duration(ms: i64) -> String {
    for (per, unit) in [
        (7 * 86_400_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ] {
        if ms != 0 && ms % per == 0 {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("14d"), Ok(14 * 86_400_000));
        assert_eq!(format_duration(parse_duration("36h").unwrap()), "36h");
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn timestamps() {
        let t = parse_timestamp("2026-11-26T12:00:00Z").unwrap();
        assert_eq!(format_timestamp(t), "2026-11-26T12:00:00Z");
        assert!(parse_timestamp("yesterday").is_err());
    }
}
