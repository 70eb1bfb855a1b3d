//! YAML text → a tree of nodes that keep their line and column, built from yaml-rust2's parser events.
//!
//! yaml-rust2's own `Yaml` tree drops positions, so the tree is built here from the marked events: aliases are
//! replaced by (copies of) their anchored node, `<<` merge keys (YAML 1.1, which compose files use and the Go
//! YAML library behind compose accepts) are applied, and a key given twice in one mapping is an error, as it is
//! for compose.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::error::{Error, Pos, Result};

/// One YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing at all (`key:`).
    Null,
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Keys in file order; keys are scalars (compose has no other kind).
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Written without quotes: its text may be a number or a boolean. A quoted scalar is always a string.
    pub plain: bool,
}

impl Node {
    /// The node's text when it is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// What kind of node this is, in words for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar(s) if s.plain && s.text.parse::<f64>().is_ok() => "a number",
            Value::Scalar(s) if s.plain && matches!(s.text.as_str(), "true" | "false") => {
                "a boolean"
            }
            Value::Scalar(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses one compose file. An empty file is a null node.
pub fn parse(text: &str, file: &Path) -> Result<Node> {
    let file: Arc<Path> = Arc::from(file);
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
        root: None,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|e| Error::Syntax {
            pos: pos_of(&file, e.marker()),
            message: e.info().to_string(),
        })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Null,
        pos: Pos {
            file,
            line: 1,
            col: 1,
        },
    }))
}

fn pos_of(file: &Arc<Path>, mark: &Marker) -> Pos {
    Pos {
        file: file.clone(),
        line: mark.line(),
        col: mark.col() + 1,
    }
}

/// Far more than any real compose file copies through aliases.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// How many nodes a tree holds.
fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

/// A collection being filled: its node (with an empty seq/map), and its anchor id (0: none).
struct Open {
    node: Node,
    anchor: usize,
    /// For a mapping: the key read, waiting for its value.
    pending_key: Option<Node>,
    /// For a mapping: the entries of its `<<` merge sources.
    merged: Vec<(Node, Node)>,
}

struct Builder {
    file: Arc<Path>,
    stack: Vec<Open>,
    /// Anchored nodes and their sizes in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes copied for aliases so far: bounded, so that a file of nested aliases (a "billion laughs")
    /// fails instead of filling memory.
    alias_nodes: usize,
    root: Option<Node>,
    /// The first structural error (a duplicate key, a bad merge); yaml-rust2's receiver cannot fail.
    error: Option<Error>,
}

impl Builder {
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size(&node)));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut parent.node.value {
            Value::Seq(items) => items.push(node),
            Value::Map(_) => match parent.pending_key.take() {
                None => parent.pending_key = Some(node),
                Some(key) => {
                    if let Err(e) = insert(parent, key, node) {
                        self.error.get_or_insert(e);
                    }
                }
            },
            _ => {}
        }
    }
}

/// Adds one entry to the mapping being filled: `<<` sources are kept aside (the map's own keys win over them,
/// wherever they are written), a repeated key is an error.
fn insert(open: &mut Open, key: Node, value: Node) -> Result<()> {
    let is_merge = matches!(&key.value, Value::Scalar(s) if s.plain && s.text == "<<");
    if is_merge {
        // `<<: *a` or `<<: [*a, *b]`: earlier sources win over later ones.
        let sources = match value.value {
            Value::Seq(items) => items,
            _ => vec![value],
        };
        for source in sources {
            let Value::Map(src_entries) = source.value else {
                return Err(Error::Syntax {
                    pos: source.pos,
                    message: "map merge requires map or sequence of maps as the value".into(),
                });
            };
            for (k, v) in src_entries {
                if !open
                    .merged
                    .iter()
                    .any(|(have, _)| have.as_str() == k.as_str())
                {
                    open.merged.push((k, v));
                }
            }
        }
        return Ok(());
    }
    let Value::Map(entries) = &mut open.node.value else {
        return Ok(());
    };
    let Some(name) = key.as_str() else {
        return Err(Error::Syntax {
            pos: key.pos,
            message: "a mapping key must be a string".into(),
        });
    };
    if let Some((earlier, _)) = entries.iter().find(|(k, _)| k.as_str() == Some(name)) {
        return Err(Error::Syntax {
            pos: key.pos.clone(),
            message: format!(
                "mapping key {name:?} already defined at line {}",
                earlier.pos.line
            ),
        });
    }
    entries.push((key, value));
    Ok(())
}

/// A finished mapping: the merged-in entries its own keys do not override.
fn close(mut open: Open) -> Node {
    if let Value::Map(entries) = &mut open.node.value {
        for (k, v) in open.merged.drain(..) {
            if !entries.iter().any(|(have, _)| have.as_str() == k.as_str()) {
                entries.push((k, v));
            }
        }
    }
    open.node
}

/// Deeper than any compose file; the tree is walked recursively later.
const MAX_DEPTH: usize = 200;

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let pos = pos_of(&self.file, &mark);
        if self.error.is_some() {
            return;
        }
        if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            self.error = Some(Error::Syntax {
                pos,
                message: format!("nested more than {MAX_DEPTH} levels deep"),
            });
            return;
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == TScalarStyle::Plain && tag.is_none();
                let is_null = plain && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL");
                let value = if is_null {
                    Value::Null
                } else {
                    Value::Scalar(Scalar { text, plain })
                };
                self.finish(Node { value, pos }, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open {
                node: Node {
                    value: Value::Seq(Vec::new()),
                    pos,
                },
                anchor,
                pending_key: None,
                merged: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Open {
                node: Node {
                    value: Value::Map(Vec::new()),
                    pos,
                },
                anchor,
                pending_key: None,
                merged: Vec::new(),
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(open) = self.stack.pop() {
                    let anchor = open.anchor;
                    self.finish(close(open), anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, nodes)) => {
                    self.alias_nodes += nodes;
                    if self.alias_nodes > MAX_ALIAS_NODES {
                        self.error.get_or_insert(Error::Syntax {
                            pos,
                            message: "document contains excessive aliasing".into(),
                        });
                        return;
                    }
                    // The copy keeps the anchor's position: that is where its content is written.
                    let node = node.clone();
                    self.finish(node, 0);
                }
                None => {
                    self.error.get_or_insert(Error::Syntax {
                        pos,
                        message: "unknown anchor".into(),
                    });
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Node> {
        parse(text, Path::new("compose.yaml"))
    }

    fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
        match &node.value {
            Value::Map(entries) => {
                &entries
                    .iter()
                    .find(|(k, _)| k.as_str() == Some(key))
                    .unwrap()
                    .1
            }
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let root = parse_str("services:\n  web:\n    image: busybox\n").unwrap();
        let image = get(get(get(&root, "services"), "web"), "image");
        assert_eq!((image.pos.line, image.pos.col), (3, 12));
        assert_eq!(image.as_str(), Some("busybox"));
    }

    #[test]
    fn malformed_yaml_has_line_and_column() {
        let err = parse_str("services:\n  web:\n    image: [busybox\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("compose.yaml:"), "{text}");
        let Error::Syntax { pos, .. } = err else {
            panic!()
        };
        assert!(pos.line >= 3, "{pos}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let root = parse_str(
            "x-base: &base\n  image: busybox\n  restart: always\nservices:\n  a: *base\n  b:\n    <<: *base\n    restart: \"no\"\n",
        )
        .unwrap();
        let services = get(&root, "services");
        assert_eq!(get(get(services, "a"), "image").as_str(), Some("busybox"));
        let b = get(services, "b");
        assert_eq!(get(b, "image").as_str(), Some("busybox"));
        assert_eq!(get(b, "restart").as_str(), Some("no"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        let err = parse_str(&text).unwrap_err();
        assert!(err.to_string().contains("excessive aliasing"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "- ".repeat(5000) + "x\n";
        let err = parse_str(&text).unwrap_err();
        assert!(err.to_string().contains("levels deep"), "{err}");
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let err = parse_str("services:\n  a:\n    image: x\n    image: y\n").unwrap_err();
        assert!(
            err.to_string().contains("already defined at line 3"),
            "{err}"
        );
    }

    #[test]
    fn quoted_scalars_are_not_plain() {
        let root = parse_str("a: \"5\"\nb: 5\nc:\n").unwrap();
        assert_eq!(get(&root, "a").kind(), "a string");
        assert_eq!(get(&root, "b").kind(), "a number");
        assert_eq!(get(&root, "c").value, Value::Null);
    }
}
