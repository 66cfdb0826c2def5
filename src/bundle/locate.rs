//! Where things are in `bundle.toml`: the byte span of a key, of one `[[tracks]]`
//! or `[[features]]` entry, or of one array element, so that each problem points
//! at the line that causes it.

use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, Value};

/// One step of a path into the manifest: a key, or a position in an array.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seg<'a> {
    /// The value under this key.
    Key(&'a str),
    /// The entry at this position of an array or array of tables.
    Index(usize),
}

/// Finds spans in the text of a manifest.
pub(crate) struct Locator<'t> {
    text: &'t str,
    doc: Option<ImDocument<&'t str>>,
}

/// A node reached while walking a path.
#[derive(Clone, Copy)]
enum Node<'d> {
    Table(&'d Table),
    Item(&'d Item),
    Value(&'d Value),
}

impl<'t> Locator<'t> {
    /// Parses `text` once more, keeping the spans.
    pub(crate) fn new(text: &'t str) -> Self {
        Self {
            text,
            doc: ImDocument::parse(text).ok(),
        }
    }

    /// The span of the deepest part of `path` that the manifest has: the key for a
    /// key, the `[[header]]` line for an entry of an array of tables, the value for
    /// an element of an inline array. `None` when not even the first step is found.
    pub(crate) fn find(&self, path: &[Seg<'_>]) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut found = None;
        for seg in path {
            let Some((next, span)) = self.step(node, *seg) else {
                break;
            };
            if span.is_some() {
                found = span;
            }
            node = next;
        }
        found
    }

    fn step<'d>(&self, node: Node<'d>, seg: Seg<'_>) -> Option<(Node<'d>, Option<Range<usize>>)> {
        match (node, seg) {
            (Node::Table(t) | Node::Item(Item::Table(t)), Seg::Key(k)) => {
                let (key, item) = t.get_key_value(k)?;
                Some((Node::Item(item), key.span()))
            }
            (
                Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)),
                Seg::Key(k),
            ) => {
                let (key, item) = t.get_key_value(k)?;
                Some((Node::Item(item), key.span()))
            }
            (Node::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => {
                let t = a.get(i)?;
                let span = t.span().map(|s| self.header(s.start));
                Some((Node::Table(t), span))
            }
            (
                Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)),
                Seg::Index(i),
            ) => {
                let v = a.get(i)?;
                Some((Node::Value(v), v.span()))
            }
            _ => None,
        }
    }

    /// The line that starts at `start`, without its line break and trailing spaces.
    fn header(&self, start: usize) -> Range<usize> {
        let rest = self.text.get(start..).unwrap_or("");
        let line = rest.split('\n').next().unwrap_or("");
        start..start + line.trim_end().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\nreplies = [\"yes\", \"no\"]\n\n[context]\nage = \"int\"\n\n[[tracks]]\nid = \"a\"\n\n[[tracks]]  \nid = \"b\"\nattrs = { min_age = 3 }\n";

    fn at(path: &[Seg<'_>]) -> Option<&'static str> {
        Locator::new(TEXT).find(path).map(|r| &TEXT[r])
    }

    #[test]
    fn keys_entries_and_elements() {
        use Seg::{Index, Key};
        assert_eq!(at(&[Key("name")]), Some("name"));
        assert_eq!(at(&[Key("context"), Key("age")]), Some("age"));
        assert_eq!(at(&[Key("replies"), Index(1)]), Some("\"no\""));
        assert_eq!(at(&[Key("tracks"), Index(1)]), Some("[[tracks]]"));
        let r = Locator::new(TEXT).find(&[Key("tracks"), Index(1), Key("id")]);
        assert_eq!(
            r.map(|r| crate::problem::line_col(TEXT, r.start)),
            Some((11, 1))
        );
        assert_eq!(
            at(&[Key("tracks"), Index(1), Key("attrs"), Key("min_age")]),
            Some("min_age")
        );
        // What is missing falls back to the deepest part that exists.
        assert_eq!(
            at(&[Key("tracks"), Index(0), Key("attrs"), Key("min_age")]),
            Some("[[tracks]]")
        );
        assert_eq!(at(&[Key("nothing")]), None);
    }
}
