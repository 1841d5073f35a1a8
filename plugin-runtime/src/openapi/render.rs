//! Writes a document as serde_json's pretty printer would, from pieces printed once.
//!
//! Operations and components sit at the same depth in every document (`paths` → path → method,
//! `components` → group → name), so each is pretty-printed once at that depth and spliced into
//! every document that has it. The result is byte for byte what `serde_json::to_vec_pretty`
//! writes for the whole document, a test checks: keys in order, two spaces an indent level.

use super::Piece;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The depth of an operation or a component: root → `paths` → path → method.
pub(super) const PIECE_DEPTH: usize = 3;

/// `value` pretty-printed as if it were nested `depth` levels deep.
pub(super) fn pretty_at(value: &impl Serialize, depth: usize) -> String {
    let mut out = Indented {
        out: Vec::with_capacity(1024),
        indent: depth * 2,
    };
    if serde_json::to_writer_pretty(&mut out, value).is_err() {
        return "null".into();
    }
    String::from_utf8(out.out).unwrap_or_else(|_| "null".into())
}

/// Adds `indent` spaces after every line break written through it. A JSON string never holds a
/// raw line break, so each one starts a line of the printout.
struct Indented {
    out: Vec<u8>,
    indent: usize,
}

impl std::io::Write for Indented {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for (i, line) in buf.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                self.out.push(b'\n');
                self.out.resize(self.out.len() + self.indent, b' ');
            }
            self.out.extend_from_slice(line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The whole document: `root`'s members (`info`, `openapi`, `tags`), `paths` from `ops` and
/// `components` from `components`, with a final line break.
pub(super) fn document(
    root: &Map<String, Value>,
    ops: &[&Piece],
    components: &[&Piece],
) -> Vec<u8> {
    let mut members: BTreeMap<&str, String> = root
        .iter()
        .filter(|(k, _)| *k != "paths" && *k != "components")
        .map(|(k, v)| (k.as_str(), pretty_at(v, 1)))
        .collect();
    members.insert("paths", nested(ops, 1));
    if !components.is_empty() {
        members.insert("components", nested(components, 1));
    }
    let size: usize = members.values().map(|v| v.len() + 64).sum();
    let mut out = String::with_capacity(size);
    object(&mut out, 0, members.iter().map(|(k, v)| (*k, v.as_str())));
    out.push('\n');
    out.into_bytes()
}

/// `{group: {key: piece}}` at `depth`, both levels sorted by key.
fn nested(pieces: &[&Piece], depth: usize) -> String {
    let mut groups: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for p in pieces {
        groups.entry(&p.group).or_default().insert(&p.key, &p.json);
    }
    let inner: Vec<(&str, String)> = groups
        .iter()
        .map(|(group, entries)| {
            let size: usize = entries.iter().map(|(k, v)| k.len() + v.len() + 16).sum();
            let mut s = String::with_capacity(size);
            object(&mut s, depth + 1, entries.iter().map(|(k, v)| (*k, *v)));
            (*group, s)
        })
        .collect();
    let size: usize = inner.iter().map(|(k, v)| k.len() + v.len() + 16).sum();
    let mut out = String::with_capacity(size);
    object(&mut out, depth, inner.iter().map(|(k, v)| (*k, v.as_str())));
    out
}

/// An object at `depth` whose values are already printed for the depth below it.
fn object<'a>(out: &mut String, depth: usize, entries: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut empty = true;
    out.push('{');
    for (key, value) in entries {
        out.push_str(if empty { "\n" } else { ",\n" });
        empty = false;
        push_indent(out, depth + 1);
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        out.push_str(": ");
        out.push_str(value);
    }
    if !empty {
        out.push('\n');
        push_indent(out, depth);
    }
    out.push('}');
}

fn push_indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}
