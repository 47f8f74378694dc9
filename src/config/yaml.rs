//! A YAML tree that remembers where every node came from, so each finding can say
//! `file:line:column`. Built from saphyr-parser events with hard limits: nesting depth,
//! alias expansion (billion laughs) and duplicate keys are errors, never silent.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Deepest nesting accepted; real user-data is < 15 levels.
pub const MAX_DEPTH: usize = 64;
/// Most nodes an input may expand to through aliases.
pub const MAX_NODES: usize = 100_000;
/// Most scalar and key bytes that aliases and anchors may copy: a 1 MiB input aliasing one
/// long string 100,000 times would otherwise be 100 GB of copies within the node cap.
pub const MAX_COPIED_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    /// 1-based.
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A scalar with its style: plain scalars are typed by YAML rules, quoted ones are strings.
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Keys keep their own positions (for "unknown key" findings).
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Finds the node at a dotted path (`cluster.networking.serviceSubnet`, `bootstrapTokens.0.token`),
    /// returning the deepest existing ancestor when the path is only partly present.
    pub fn locate(&self, path: &str) -> Pos {
        let mut cur = self;
        let mut pos = self.pos;
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            let next = match &cur.kind {
                Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == seg).map(|(k, v)| {
                    pos = k.pos;
                    v
                }),
                Kind::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
                Kind::Scalar { .. } => None,
            };
            match next {
                Some(n) => {
                    cur = n;
                    if !matches!(n.kind, Kind::Map(_)) {
                        pos = n.pos;
                    }
                }
                None => break,
            }
        }
        pos
    }

    /// A short description for type errors: "a mapping", "a list", "the string `x`".
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

fn pos_of(span: &Span) -> Pos {
    Pos { line: span.start.line(), column: span.start.col() + 1 }
}

enum Frame {
    Seq { pos: Pos, items: Vec<Node>, anchor: usize },
    Map { pos: Pos, entries: Vec<(Key, Node)>, pending_key: Option<Key>, anchor: usize },
}

/// Parses every document of a YAML stream into position-carrying trees.
pub fn parse(text: &str) -> Result<Vec<Node>, ParseError> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: Vec<(usize, Node)> = Vec::new();
    let mut node_count = 0usize;
    let mut copied_bytes = 0usize;
    let mut doc_root: Option<Node> = None;

    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| ParseError {
            pos: Pos { line: e.marker().line(), column: e.marker().col() + 1 },
            message: if e.info().contains("recursion limit") {
                "nesting deeper than the parser's limit; user-data this deep is not a node config".to_string()
            } else {
                format!("YAML syntax error: {}", e.info())
            },
        })?;
        let pos = pos_of(&span);
        let completed: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                doc_root = None;
                None
            }
            Event::DocumentEnd => {
                if let Some(root) = doc_root.take() {
                    docs.push(root);
                }
                None
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let plain = matches!(style, ScalarStyle::Plain);
                Some((Node { kind: Kind::Scalar { value: value.into_owned(), plain }, pos }, anchor))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError {
                        pos,
                        message: format!(
                            "nesting deeper than {MAX_DEPTH} levels; user-data this deep is not a node config"
                        ),
                    });
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq { pos, items: vec![], anchor }
                } else {
                    Frame::Map { pos, entries: vec![], pending_key: None, anchor }
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { pos, items, anchor }) => Some((Node { kind: Kind::Seq(items), pos }, anchor)),
                Some(Frame::Map { pos, entries, anchor, .. }) => Some((Node { kind: Kind::Map(entries), pos }, anchor)),
                None => None,
            },
            Event::Alias(id) => {
                let anchored = anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n)
                    .ok_or_else(|| ParseError { pos, message: "alias refers to an unknown anchor".into() })?;
                // Counted before the copy is made, so a bomb never allocates.
                let (nodes, bytes) = weight(anchored);
                node_count += nodes;
                copied_bytes += bytes;
                if node_count > MAX_NODES || copied_bytes > MAX_COPIED_BYTES {
                    return Err(ParseError {
                        pos,
                        message: format!(
                            "aliases expand to more than {MAX_NODES} nodes or {MAX_COPIED_BYTES} bytes \
                             (an alias bomb?); remove the aliases"
                        ),
                    });
                }
                let node = anchored.clone();
                Some((Node { pos, ..node }, 0))
            }
        };

        if let Some((node, anchor)) = completed {
            node_count += 1;
            if node_count > MAX_NODES {
                return Err(ParseError { pos, message: format!("more than {MAX_NODES} YAML nodes") });
            }
            if anchor != 0 {
                // The anchor's copy counts too (nested anchors copy their subtrees again).
                copied_bytes += weight(&node).1;
                if copied_bytes > MAX_COPIED_BYTES {
                    return Err(ParseError {
                        pos,
                        message: format!("anchors copy more than {MAX_COPIED_BYTES} bytes; remove the anchors"),
                    });
                }
                anchors.push((anchor, node.clone()));
            }
            match stack.last_mut() {
                None => doc_root = Some(node),
                Some(Frame::Seq { items, .. }) => items.push(node),
                Some(Frame::Map { entries, pending_key, .. }) => match pending_key.take() {
                    None => {
                        let name = match &node.kind {
                            Kind::Scalar { value, .. } => value.clone(),
                            _ => {
                                return Err(ParseError {
                                    pos: node.pos,
                                    message: "mapping keys must be plain strings, not lists or mappings".into(),
                                });
                            }
                        };
                        if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name) {
                            return Err(ParseError {
                                pos: node.pos,
                                message: format!(
                                    "duplicate key `{name}` (first defined at line {}); remove one of them",
                                    first.pos.line
                                ),
                            });
                        }
                        *pending_key = Some(Key { name, pos: node.pos });
                    }
                    Some(key) => entries.push((key, node)),
                },
            }
        }
    }
    if let Some(root) = doc_root.take() {
        docs.push(root);
    }
    Ok(docs)
}

/// Nodes and bytes (scalars and keys, plus a node's own size) a copy of `n` costs.
fn weight(n: &Node) -> (usize, usize) {
    let node = std::mem::size_of::<Node>();
    match &n.kind {
        Kind::Scalar { value, .. } => (1, node + value.len()),
        Kind::Seq(items) => items.iter().map(weight).fold((1, node), |(a, b), (c, d)| (a + c, b + d)),
        Kind::Map(entries) => entries.iter().fold((1, node), |(a, b), (k, v)| {
            let (c, d) = weight(v);
            (a + 1 + c, b + k.name.len() + std::mem::size_of::<Key>() + d)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_styles() {
        let docs = parse("a: 1\nb:\n  c: 'x'\n  d: [1, 2]\n").unwrap();
        assert_eq!(docs.len(), 1);
        let b = docs[0].get("b").unwrap();
        let c = b.get("c").unwrap();
        assert_eq!(c.kind, Kind::Scalar { value: "x".into(), plain: false });
        assert_eq!(c.pos, Pos { line: 3, column: 6 });
        assert_eq!(docs[0].locate("b.d.1"), Pos { line: 4, column: 10 });
        assert_eq!(docs[0].locate("b.missing"), Pos { line: 2, column: 1 });
    }

    #[test]
    fn rejects_duplicates_depth_and_bombs() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.pos.line, 3);
        assert!(e.message.contains("duplicate key `a`"));
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse(&deep).unwrap_err().message.contains("nesting"));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            bomb += &format!(
                "{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n",
                (b'a' + i) as char,
                (b'a' + i) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char
            );
        }
        assert!(parse(&bomb).unwrap_err().message.contains("alias"));
    }

    /// Issue 16 item 3: few aliases of one long string stay under the node cap but would copy
    /// hundreds of MiB; the copied bytes are counted before any copy is made.
    #[test]
    fn aliases_of_a_long_string_are_counted_in_bytes() {
        // 1,000 copies of 8 KiB: 8 MiB, far under the node cap (harmless to parse without the fix).
        let bomb = format!("a: &x \"{}\"\nb: [{}]\n", "x".repeat(8 * 1024), vec!["*x"; 1000].join(", "));
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.contains("bytes"), "{}", e.message);
        // The same shape, small, still parses.
        assert!(parse("a: &x \"long\"\nb: [*x, *x]\n").is_ok());
    }

    #[test]
    fn multiple_documents() {
        let docs = parse("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].pos.line, 3);
    }
}
