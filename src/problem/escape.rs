//! Text from requests, bundles and logs shown to a person, with the characters
//! that would act instead of showing made visible.
//!
//! A conversation id holding `ESC ] 0 ; … BEL` retitles the terminal, `ESC [ 2 J`
//! clears it, a newline forges a line of an explanation, and a bidi override
//! makes `forbid` read as something else. Every human-readable output (the
//! explanation of a decision, diagnostics and the source lines they echo, the
//! rule test report, the trainer's report) passes what it did not write itself
//! through [`escape_controls`] or [`escape_controls_in_lines`], which print such a
//! character as a Rust-style escape (`\u{1b}`). JSON output stays standard JSON.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` acts on a terminal or reorders text instead of showing as itself:
/// C0 and C1 controls and DEL, the bidi embeddings, overrides, isolates and
/// marks, and the Unicode line and paragraph separators.
fn acts(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// What a text may keep as layout.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One line: every control is escaped, `\n` and `\t` too.
    Line,
    /// Lines: `\n`, `\t` and the `\r` of a `\r\n` are kept.
    Lines,
}

/// Whether the character at `c`, followed by `next`, is escaped under `layout`.
fn escaped(c: char, next: Option<char>, layout: Layout) -> bool {
    if !acts(c) {
        return false;
    }
    match (layout, c) {
        (Layout::Lines, '\n' | '\t') => false,
        (Layout::Lines, '\r') => next != Some('\n'),
        _ => true,
    }
}

/// The one escaping walk: `s` with every character [`escaped`] under `layout`
/// written as `\u{…}`; borrowed when nothing needs escaping.
fn escape(s: &str, layout: Layout) -> Cow<'_, str> {
    let mut chars = s.char_indices().peekable();
    let first = loop {
        let Some((i, c)) = chars.next() else {
            return Cow::Borrowed(s);
        };
        if escaped(c, chars.peek().map(|&(_, n)| n), layout) {
            break i;
        }
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(s.get(..first).unwrap_or_default());
    let mut rest = s.get(first..).unwrap_or_default().chars().peekable();
    while let Some(c) = rest.next() {
        if escaped(c, rest.peek().copied(), layout) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` as one line with every control character, line break and bidi control
/// shown as an escape (`\u{1b}`, `\u{a}`, `\u{202e}`); borrowed when there is none.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape(s, Layout::Line)
}

/// Like [`escape_controls`], but line breaks (`\n`, `\r\n`) and tabs are kept: for
/// multi-line text such as a source file or a Markdown report.
pub fn escape_controls_in_lines(s: &str) -> Cow<'_, str> {
    escape(s, Layout::Lines)
}

/// Byte offsets into `s` moved to where they land in
/// [`escape_controls_in_lines`]`(s)`; an offset inside a character moves with
/// the character's start, one past the end stays past the end.
pub(crate) fn offsets_in_escaped_lines<const N: usize>(s: &str, offsets: [usize; N]) -> [usize; N] {
    let mut out = offsets;
    let mut grown = 0usize;
    let mut chars = s.char_indices().peekable();
    let mut moved = [false; N];
    while let Some((i, c)) = chars.next() {
        for (k, &o) in offsets.iter().enumerate() {
            if !moved[k] && o < i + c.len_utf8() {
                out[k] = i.saturating_add(grown);
                moved[k] = true;
            }
        }
        if escaped(c, chars.peek().map(|&(_, n)| n), Layout::Lines) {
            // `\u{` + hex digits + `}` instead of the character's own bytes.
            let digits = format!("{:x}", u32::from(c)).len();
            grown = grown.saturating_add(4 + digits - c.len_utf8());
        }
    }
    for (k, &o) in offsets.iter().enumerate() {
        if !moved[k] {
            out[k] = o.saturating_add(grown);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            escape_controls("café — ok"),
            Cow::Borrowed("café — ok")
        ));
        assert!(matches!(
            escape_controls_in_lines("a\n\tb\r\n"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn controls_and_bidi_become_visible() {
        assert_eq!(
            escape_controls("\u{1b}]0;PWNED\u{7}\u{1b}[2J\nfake"),
            "\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\\u{a}fake"
        );
        assert_eq!(
            escape_controls("a\u{202e}b\u{2066}c\u{85}d\u{7f}\u{200f}"),
            "a\\u{202e}b\\u{2066}c\\u{85}d\\u{7f}\\u{200f}"
        );
        assert_eq!(escape_controls("x\ty\r\n"), "x\\u{9}y\\u{d}\\u{a}");
    }

    #[test]
    fn lines_keep_their_breaks_but_not_a_lone_carriage_return() {
        assert_eq!(
            escape_controls_in_lines("a\r\nb\rc\n\u{1b}[2J\td"),
            "a\r\nb\\u{d}c\n\\u{1b}[2J\td"
        );
    }

    #[test]
    fn offsets_follow_the_escapes() {
        let s = "é\u{1b}x\r\u{202e}y";
        let e = escape_controls_in_lines(s);
        for (want, o) in [
            ("é", 0),
            ("\\u{1b}", 2),
            ("x", 3),
            ("\\u{d}", 4),
            ("\\u{202e}", 5),
        ] {
            let [at] = offsets_in_escaped_lines(s, [o]);
            assert!(e[at..].starts_with(want), "{o}: {:?}", &e[at..]);
        }
        assert_eq!(offsets_in_escaped_lines(s, [s.len()]), [e.len()]);
        // Inside a character: its start.
        assert_eq!(offsets_in_escaped_lines(s, [1]), [0]);
    }
}
