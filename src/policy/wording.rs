//! tract's wording turned into the user's: shapes as `[batch, 21]`, no internal
//! type names, no `Sym(..)`/`Val(..)` wrappers.
//!
//! tract's error text is written for tract's developers. What reaches a person
//! loading a bundle goes through [`reason`], and every shape the loader prints
//! goes through [`shape`], so a message and its help line agree.

use std::fmt::Display;

/// Renders dimensions as `[batch, 21]`.
pub(crate) fn shape<D: Display>(dims: impl IntoIterator<Item = D>) -> String {
    let dims: Vec<String> = dims.into_iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// Phrases of tract's that name its own internals, and what to say instead.
const PHRASES: &[(&str, &str)] = &[
    (" ToTypedTranslator", ""),
    ("ToTypedTranslator", ""),
    ("Infering facts: ", ""),
    ("Failed analyse for node", "cannot infer shapes at node"),
    ("Translating node", "cannot prepare node"),
    ("Applying rule ", "checking "),
    ("Impossible to unify", "cannot reconcile"),
    (
        "Eager eval during inference",
        "evaluating a constant part of the graph",
    ),
    ("Unimplemented(", "unsupported operator("),
];

/// Rewrites a tract error chain (one line, outermost first) in the user's words.
pub(crate) fn reason(text: &str) -> String {
    let mut out = unwrap_dims(text);
    for (from, to) in PHRASES {
        out = out.replace(from, to);
    }
    out
}

/// `Sym(batch)` → `batch`, `Val(1)` → `1`: tract's debug form of a dimension.
fn unwrap_dims(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = ["Sym(", "Val("]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
            .min();
        let Some((at, len)) = next else {
            out.push_str(rest);
            return out;
        };
        let inner = &rest[at + len..];
        match inner.find(')') {
            Some(close)
                if inner[..close]
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-') =>
            {
                out.push_str(&rest[..at]);
                out.push_str(&inner[..close]);
                rest = &inner[close + 1..];
            }
            _ => {
                out.push_str(&rest[..at + len]);
                rest = inner;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tract_dimensions_read_as_plain_values() {
        let tract = "Failed analyse for node #7 \"node_linear\" Gemm: Infering facts: Applying rule inputs[0].shape[0] == outputs[0].shape[0]: Impossible to unify Val(1) with Sym(batch).";
        assert_eq!(
            reason(tract),
            "cannot infer shapes at node #7 \"node_linear\" Gemm: checking inputs[0].shape[0] == outputs[0].shape[0]: cannot reconcile 1 with batch."
        );
    }

    #[test]
    fn internal_names_are_dropped() {
        let tract = "Translating node #3 \"x\" Foo ToTypedTranslator: boom";
        assert_eq!(reason(tract), "cannot prepare node #3 \"x\" Foo: boom");
        assert_eq!(reason("Sym(a b)"), "Sym(a b)");
    }

    #[test]
    fn shapes_print_like_the_help() {
        assert_eq!(shape(["batch", "21"]), "[batch, 21]");
        assert_eq!(shape([1, 21]), "[1, 21]");
    }
}
