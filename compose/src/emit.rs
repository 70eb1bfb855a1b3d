//! The resolved project as `docker compose config` prints it: YAML (2-space indents, list items indented
//! under their key as Go's yaml.v3 writes them, keys sorted) or JSON.
use serde_json::Value;

use crate::model::Project;

impl Project {
    /// The model as JSON values, top-level keys in compose's order (name, services, networks, volumes).
    fn top_level(&self) -> Vec<(&'static str, Value)> {
        let mut out = vec![("name", Value::String(self.name.clone()))];
        out.push(("services", to_value(&self.services)));
        if !self.networks.is_empty() {
            out.push(("networks", to_value(&self.networks)));
        }
        if !self.volumes.is_empty() {
            out.push(("volumes", to_value(&self.volumes)));
        }
        out
    }

    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for (key, value) in self.top_level() {
            write_entry(&mut out, 0, key, &value);
        }
        out
    }

    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, Value> = self
            .top_level()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default()
    }
}

/// A part of the model as a JSON value. The model holds only strings, numbers, booleans and maps with string
/// keys, so this cannot fail.
fn to_value<T: serde::Serialize>(part: &T) -> Value {
    serde_json::to_value(part).unwrap_or(Value::Null)
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

/// `key: value` at `level`, nested values below it.
fn write_entry(out: &mut String, level: usize, key: &str, value: &Value) {
    indent(out, level);
    out.push_str(&scalar_text(key));
    out.push(':');
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            for (k, v) in map {
                write_entry(out, level + 1, k, v);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                write_item(out, level + 1, item);
            }
        }
        _ => {
            out.push(' ');
            out.push_str(&inline(value));
            out.push('\n');
        }
    }
}

/// `- value` at `level`; a mapping's first key goes on the dash's line.
fn write_item(out: &mut String, level: usize, value: &Value) {
    indent(out, level);
    out.push_str("- ");
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut first = true;
            for (k, v) in map {
                if first {
                    // Written as if at level+1, without its indent (the dash stands there).
                    let mut entry = String::new();
                    write_entry(&mut entry, level + 1, k, v);
                    out.push_str(entry.trim_start_matches(' '));
                    first = false;
                } else {
                    write_entry(out, level + 1, k, v);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                write_item(out, level + 1, item);
            }
        }
        _ => {
            out.push_str(&inline(value));
            out.push('\n');
        }
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_text(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string, quoted when YAML would read it as something else (a number, a boolean, null, a structure).
fn scalar_text(s: &str) -> String {
    if needs_quotes(s) {
        // JSON string syntax is valid YAML double-quoted syntax.
        serde_json::to_string(s).unwrap_or_default()
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    ) {
        return true;
    }
    if s.parse::<f64>().is_ok() || s.starts_with("0x") || s.starts_with("0o") {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-x` and `:x` are plain in YAML, but quoting them is always safe and what yaml.v3 does for most.
        return true;
    }
    // `1000:1000` is a base-60 number to YAML 1.1 readers (yaml.v3 quotes it too).
    if first.is_ascii_digit() && s.contains(':') {
        return true;
    }
    s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        for (text, quoted) in [
            ("busybox", false),
            ("8080", true),
            ("no", true),
            ("", true),
            ("a: b", true),
            ("/abs/path", false),
            ("*x", true),
            ("line\nbreak", true),
            ("10.10.10.0/16", false),
        ] {
            assert_eq!(needs_quotes(text), quoted, "{text:?}");
        }
    }

    #[test]
    fn nested_lists_and_maps() {
        let value: Value = serde_json::json!({
            "a": [{"x": 1, "z": "2"}, "plain"],
            "b": {},
            "c": null
        });
        let mut out = String::new();
        write_entry(&mut out, 0, "root", &value);
        assert_eq!(
            out,
            "root:\n  a:\n    - x: 1\n      z: \"2\"\n    - plain\n  b: {}\n  c: null\n"
        );
    }
}
