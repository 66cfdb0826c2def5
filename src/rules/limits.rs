//! The size limits of a rules file and of each condition in it, and the nesting
//! check that runs on the raw text before the parser: pest parses by recursive
//! descent, so a condition nested ten thousand parentheses deep would overflow
//! the stack instead of returning an error. Depth and size are enforced while
//! the tree is built (`parse.rs`); see the module documentation of `rules` for
//! the limits as a rules author meets them.

/// Largest rules file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Deepest nesting of parentheses and `not`s in one condition.
pub const MAX_NESTING: usize = 64;
/// Most items in one `[..]` list.
pub const MAX_LIST_ITEMS: usize = 4096;
/// Most operators on one path from a condition down to a value: every operator
/// is a level, each one of a chain `a + b + c` too (the tree is left-deep). Every later stage (checker,
/// compiler, evaluator, formatter) walks the tree recursively; this bound keeps
/// them well inside a 2 MB thread stack.
pub const MAX_DEPTH: usize = 128;
/// Most nodes (values and operators, each list item counted) in one condition.
pub const MAX_NODES: usize = 16_384;

/// Byte offset where nesting first exceeds [`MAX_NESTING`], skipping strings and comments.
pub(super) fn too_deep(text: &str) -> Option<usize> {
    // One frame per open parenthesis, counting the `not`s applied in it; `and`,
    // `or` and clause keywords end a chain of `not`s.
    let mut frames: Vec<usize> = vec![0];
    let mut nots = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' => {
                frames.push(0);
                if frames.len() - 1 + nots > MAX_NESTING {
                    return Some(i);
                }
            }
            b')' if frames.len() > 1 => {
                nots = nots.saturating_sub(frames.pop().unwrap_or(0));
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                match word {
                    "not" => {
                        if let Some(top) = frames.last_mut() {
                            *top += 1;
                        }
                        nots += 1;
                        if frames.len() - 1 + nots > MAX_NESTING {
                            return Some(start);
                        }
                    }
                    "and" | "or" | "rule" | "when" | "where" | "forbid" | "only" | "boost"
                    | "penalize" | "penalise" => {
                        if let Some(top) = frames.last_mut() {
                            nots = nots.saturating_sub(*top);
                            *top = 0;
                        }
                        if word == "rule" {
                            frames.truncate(1);
                            nots = 0;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_parentheses_and_chained_nots() {
        assert_eq!(too_deep("rule r when ((a)) forbid track t"), None);
        let deep = format!("when {}a", "(".repeat(MAX_NESTING + 1));
        assert_eq!(too_deep(&deep), Some(5 + MAX_NESTING));
        let nots = format!("when {}a", "not ".repeat(MAX_NESTING + 1));
        assert!(too_deep(&nots).is_some());
        // `and` ends a chain of `not`s; closing parentheses unwind.
        let flat = format!("when {}", vec!["not a"; 200].join(" and "));
        assert_eq!(too_deep(&flat), None);
        let seq = format!("when {}", vec!["(not (a))"; 200].join(" or "));
        assert_eq!(too_deep(&seq), None);
        // Parentheses in strings and comments do not count.
        let quoted = format!("because \"{}\" # {}", "(".repeat(100), "(".repeat(100));
        assert_eq!(too_deep(&quoted), None);
    }
}
