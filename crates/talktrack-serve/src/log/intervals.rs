//! The intervals protected attributes are logged as: per numeric protected
//! attribute, the values the bundle's rules compare it with, and the interval
//! between consecutive ones a value falls in, so those rules stay decidable on replay.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use talktrack::Bundle;

/// Per protected attribute, the sorted values the rules compare it with.
pub(super) type Thresholds = BTreeMap<String, Vec<f64>>;

/// Per numeric protected attribute, the values the bundle's rules compare
/// `customer.<attr>` with (number literals, and every track's value of a track
/// attribute compared with it), sorted.
pub(super) fn rule_thresholds(b: &Bundle) -> Thresholds {
    let mut texts = Vec::new();
    for rel in &b.manifest().rules {
        if let Ok(t) = std::fs::read_to_string(b.dir().join(rel)) {
            texts.push(t);
        }
    }
    let mut out = BTreeMap::new();
    for a in b.schema().attrs() {
        if !a.protected || !a.ty.is_numeric() {
            continue;
        }
        let mut ts: Vec<f64> = Vec::new();
        for other in texts
            .iter()
            .flat_map(|t| literals_compared(t, &format!("customer.{}", a.name)))
        {
            match other {
                Other::Number(n) => ts.push(n),
                Other::TrackAttr(name) => {
                    ts.extend(b.catalog().tracks().iter().filter_map(
                        |t| match t.attrs.get(&name) {
                            Some(talktrack::Value::Int(i)) => Some(*i as f64),
                            Some(talktrack::Value::Float(f)) => Some(*f),
                            _ => None,
                        },
                    ));
                }
            }
        }
        ts.sort_by(f64::total_cmp);
        ts.dedup();
        out.insert(a.name.clone(), ts);
    }
    out
}

/// What a comparison with the attribute compares it with.
#[derive(Debug, PartialEq)]
enum Other {
    /// A number literal.
    Number(f64),
    /// A track attribute (`track.<name>`): every track's value counts.
    TrackAttr(String),
}

/// The other side of each comparison with `path` in `text`, either way round.
fn literals_compared(text: &str, path: &str) -> Vec<Other> {
    const OPS: [&str; 6] = ["<=", ">=", "==", "!=", "<", ">"];
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut from = 0;
        while let Some(i) = line[from..].find(path) {
            let start = from + i;
            let end = start + path.len();
            from = end;
            let ident = |c: char| c.is_alphanumeric() || c == '_';
            if line[end..].starts_with(ident) || line[..start].ends_with(ident) {
                continue;
            }
            let after = line[end..].trim_start();
            if let Some(op) = OPS.iter().find(|o| after.starts_with(**o)) {
                out.extend(leading_other(after[op.len()..].trim_start()));
            }
            let before = line[..start].trim_end();
            if let Some(op) = OPS.iter().find(|o| before.ends_with(**o)) {
                out.extend(trailing_other(before[..before.len() - op.len()].trim_end()));
            }
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

fn leading_other(s: &str) -> Option<Other> {
    if let Some(rest) = s.strip_prefix("track.") {
        let end = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
        return Some(Other::TrackAttr(rest[..end].to_owned()));
    }
    leading_number(s).map(Other::Number)
}

fn trailing_other(s: &str) -> Option<Other> {
    let start = s.rfind(|c: char| !is_word(c)).map_or(0, |i| i + 1);
    if let Some(name) = s[start..].strip_prefix("track.") {
        return Some(Other::TrackAttr(name.to_owned()));
    }
    trailing_number(s).map(Other::Number)
}

fn is_num(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || c == '-' || c == '_'
}

fn leading_number(s: &str) -> Option<f64> {
    let end = s.find(|c: char| !is_num(c)).unwrap_or(s.len());
    s[..end].replace('_', "").parse().ok()
}

fn trailing_number(s: &str) -> Option<f64> {
    let start = s.rfind(|c: char| !is_num(c)).map_or(0, |i| i + 1);
    s[start..].replace('_', "").parse().ok()
}

/// The interval of `v` between consecutive `thresholds`.
pub(super) fn interval(v: f64, thresholds: &[f64]) -> Value {
    if thresholds.contains(&v) {
        return json!({ "eq": v });
    }
    let mut m = Map::new();
    if let Some(lo) = thresholds.iter().rev().find(|t| **t < v) {
        m.insert("gt".into(), json!(lo));
    }
    if let Some(hi) = thresholds.iter().find(|t| **t > v) {
        m.insert("lt".into(), json!(hi));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literals_either_side_of_a_comparison() {
        let rules = "rule a\n  when customer.age < 18 and 65 <= customer.age # customer.age > 99\n  forbid track x\nrule b\n  when customer.ages > 3 or customer.age == 21\n  forbid track y\n";
        assert_eq!(
            literals_compared(rules, "customer.age"),
            [18.0, 65.0, 21.0].map(Other::Number)
        );
        let rules = "rule c\n  forbid tracks where track.min_age > customer.age\n";
        assert_eq!(
            literals_compared(rules, "customer.age"),
            [Other::TrackAttr("min_age".into())]
        );
    }

    #[test]
    fn intervals_keep_comparisons_decidable() {
        let ts = [18.0, 21.0, 65.0];
        assert_eq!(interval(30.0, &ts), json!({"gt": 21.0, "lt": 65.0}));
        assert_eq!(interval(18.0, &ts), json!({"eq": 18.0}));
        assert_eq!(interval(10.0, &ts), json!({"lt": 18.0}));
        assert_eq!(interval(70.0, &ts), json!({"gt": 65.0}));
        assert_eq!(interval(70.0, &[]), json!({}));
    }
}
