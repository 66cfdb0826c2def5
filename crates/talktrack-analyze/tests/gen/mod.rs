//! Small rule sets generated from a seed, shared by the oracle tests: four
//! tracks (`t0`, `t1` tagged `s`, `t2`, the fallback `fb`) with an int
//! attribute `lvl`, and a schema of two ints, a flag and an optional int.
#![allow(dead_code)]

use std::collections::BTreeMap;

use talktrack::tooling::{AttrDecl, AttrType, Track};
use talktrack::Value;

/// A small deterministic generator (64-bit LCG), so a failure names its seed.
pub struct Gen(pub u64);

impl Gen {
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
    pub fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.next(v.len() as u64) as usize]
    }
}

pub const MAX_TURNS: u32 = 4;

pub fn atom(g: &mut Gen) -> String {
    let op = g.pick(&["<", "<=", ">", ">=", "==", "!="]);
    let k = g.next(7) as i64 - 1; // constants in -1..=5
    match g.next(6) {
        0 => format!("customer.a {op} {k}"),
        1 => format!("customer.b {op} {k}"),
        2 => g.pick(&["customer.flag", "not customer.flag"]).to_owned(),
        3 => format!("customer.opt {op} {k}"),
        4 => format!("turn {op} {}", g.next(6)),
        _ => g
            .pick(&[
                "last_reply == yes",
                "last_reply in [no]",
                "has last_reply",
                "has customer.opt",
                "used(t0)",
                "count(t1) >= 2",
            ])
            .to_owned(),
    }
}

pub fn cond(g: &mut Gen) -> String {
    match g.next(4) {
        0 => atom(g),
        1 => format!("{} and {}", atom(g), atom(g)),
        2 => format!("{} or {}", atom(g), atom(g)),
        _ => format!("not ({} and {})", atom(g), atom(g)),
    }
}

pub fn rules(g: &mut Gen) -> String {
    let mut out = String::new();
    for i in 0..(1 + g.next(4)) {
        let targets = match g.next(4) {
            0 => format!("track {}", g.pick(&["t0", "t1", "t2", "fb"])),
            1 => "tracks tagged s".to_owned(),
            2 => format!("tracks where track.lvl > customer.{}", g.pick(&["a", "b"])),
            _ => format!(
                "tracks {}, {}",
                g.pick(&["t0", "t1"]),
                g.pick(&["t2", "fb"])
            ),
        };
        let effect = match g.next(5) {
            0 | 1 | 2 => format!("forbid {targets}"),
            3 => format!("only {targets}"),
            _ => format!("boost {targets} by 1"),
        };
        let when = if g.next(5) == 0 {
            String::new()
        } else {
            format!("when {} ", cond(g))
        };
        out.push_str(&format!("rule r{i} because \"x\" {when}{effect}\n"));
    }
    out
}

pub fn decl(name: &str, ty: AttrType, optional: bool) -> AttrDecl {
    AttrDecl {
        name: name.into(),
        ty,
        optional,
        protected: false,
        range: None,
    }
}

pub fn track(id: &str, tags: &[&str], lvl: i64) -> Track {
    let mut attrs = BTreeMap::new();
    attrs.insert("lvl".to_owned(), Value::Int(lvl));
    Track {
        id: id.into(),
        text: id.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        product: None,
        attrs,
    }
}

/// The values of `opt` the enumerations try: absent, and around every constant.
pub const OPTS: [Option<i64>; 10] = [
    None,
    Some(-2),
    Some(-1),
    Some(0),
    Some(1),
    Some(2),
    Some(3),
    Some(4),
    Some(5),
    Some(6),
];

/// Every request of a box that meets every cell of a generated rule set's
/// split (constants in -1..=5, turns around `MAX_TURNS`, usage around 1 and
/// 2), as context values `[a, b, flag, opt]`, turn, last reply and use counts.
pub fn each_request(mut f: impl FnMut([Option<i64>; 4], bool, u32, Option<u32>, [u16; 4])) {
    for a in -2..=6i64 {
        for b in -2..=6i64 {
            for flag in [false, true] {
                for opt in OPTS {
                    for turn in 0..=6u32 {
                        for reply in [None, Some(0), Some(1)] {
                            for (u0, u1) in [(0, 0), (1, 0), (0, 1), (0, 2), (1, 3)] {
                                f(
                                    [Some(a), Some(b), None, opt],
                                    flag,
                                    turn,
                                    reply,
                                    [u0, u1, 0, 0],
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
