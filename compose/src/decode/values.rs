//! Decoding of the value shapes compose uses everywhere: strings, booleans, numbers, string lists, and the
//! "list or map" form (`environment`, `labels`, `args` …).
use crate::error::{Error, Result};
use crate::units;
use crate::yaml::{Node, Value};

use super::wrong;

/// A scalar's text (a number or boolean written plainly is still text here: compose's schema casts them).
pub fn string(node: &Node, path: &str) -> Result<String> {
    match &node.value {
        Value::Scalar(s) => Ok(s.text.clone()),
        _ => Err(wrong(node, path, "a string")),
    }
}

/// A string, or nothing for `null`.
pub fn opt_string(node: &Node, path: &str) -> Result<Option<String>> {
    match &node.value {
        Value::Null => Ok(None),
        _ => string(node, path).map(Some),
    }
}

pub fn boolean(node: &Node, path: &str) -> Result<bool> {
    match node.as_str() {
        Some("true" | "True" | "TRUE") => Ok(true),
        Some("false" | "False" | "FALSE") => Ok(false),
        _ => Err(wrong(node, path, "a boolean")),
    }
}

pub fn unsigned(node: &Node, path: &str) -> Result<u64> {
    node.as_str()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| wrong(node, path, "a whole number"))
}

pub fn float(node: &Node, path: &str) -> Result<f64> {
    node.as_str()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f >= 0.0)
        .ok_or_else(|| wrong(node, path, "a number"))
}

pub fn duration(node: &Node, path: &str) -> Result<std::time::Duration> {
    let text = string(node, path)?;
    units::parse_duration(&text).ok_or_else(|| {
        Error::invalid(
            &node.pos,
            path,
            format!("{text:?} is not a duration (like 30s, 1m30s, 500ms)"),
        )
    })
}

pub fn bytes(node: &Node, path: &str) -> Result<u64> {
    let text = string(node, path)?;
    units::parse_bytes(&text).ok_or_else(|| {
        Error::invalid(
            &node.pos,
            path,
            format!("{text:?} is not a size (like 512m, 1g, 1048576)"),
        )
    })
}

/// A list of strings.
pub fn string_list(node: &Node, path: &str) -> Result<Vec<String>> {
    match &node.value {
        Value::Seq(items) => items.iter().map(|item| string(item, path)).collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(wrong(node, path, "a list of strings")),
    }
}

/// One string or a list of them (`dns`, `tmpfs`, `env_file`).
pub fn string_or_list(node: &Node, path: &str) -> Result<Vec<String>> {
    match &node.value {
        Value::Scalar(s) => Ok(vec![s.text.clone()]),
        Value::Seq(_) | Value::Null => string_list(node, path),
        _ => Err(wrong(node, path, "a string or a list of strings")),
    }
}

/// A command: a string split into words as compose does, or a list taken as it is.
pub fn command(node: &Node, path: &str) -> Result<Option<Vec<String>>> {
    match &node.value {
        Value::Null => Ok(None),
        Value::Scalar(s) => units::shell_split(&s.text)
            .map(Some)
            .map_err(|e| Error::invalid(&node.pos, path, e)),
        Value::Seq(_) => string_list(node, path).map(Some),
        _ => Err(wrong(node, path, "a string or a list of strings")),
    }
}

/// `KEY=VALUE` list entries (`KEY` alone: no value) or a `KEY: VALUE` mapping (`KEY:` / `KEY: null`: no
/// value), in file order. `separator` is `=` for environment/labels/args and `:`-or-`=` for extra_hosts.
pub fn list_or_map(
    node: &Node,
    path: &str,
    separators: &[char],
) -> Result<Vec<(String, Option<String>)>> {
    match &node.value {
        Value::Null => Ok(Vec::new()),
        Value::Seq(items) => items
            .iter()
            .map(|item| {
                let text = string(item, path)?;
                Ok(match text.find(separators) {
                    Some(at) => (text[..at].to_string(), Some(text[at + 1..].to_string())),
                    None => (text, None),
                })
            })
            .collect(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                let key = k.as_str().unwrap_or_default().to_string();
                let value = match &v.value {
                    Value::Null => None,
                    Value::Scalar(s) => Some(s.text.clone()),
                    _ => {
                        return Err(wrong(
                            v,
                            &format!("{path}.{key}"),
                            "a string, number, boolean or null",
                        ))
                    }
                };
                Ok((key, value))
            })
            .collect(),
        _ => Err(wrong(node, path, "a list or a mapping")),
    }
}
