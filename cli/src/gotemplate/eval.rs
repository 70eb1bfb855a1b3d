//! Nodes → text, with Go's rules for truth, printing and comparison.
use serde_json::Value;

use super::parse::{Node, Operand, Pipeline};

/// What a field an object does not have becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// `<no value>` (Go's map lookup; `docker inspect -f` over raw JSON).
    NoValue,
    /// An error naming the field (Docker's `--format` over its typed rows).
    Error,
}

struct Scope {
    vars: Vec<(String, Value)>,
    missing: Missing,
}

pub(super) fn render(
    nodes: &[Node],
    dot: &Value,
    missing: Missing,
    out: &mut String,
) -> Result<(), String> {
    let mut scope = Scope {
        vars: vec![("$".to_string(), dot.clone())],
        missing,
    };
    walk(nodes, dot, &mut scope, out)
}

fn walk(nodes: &[Node], dot: &Value, scope: &mut Scope, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let value = pipeline(p, dot, scope)?;
                if p.declare.is_empty() {
                    out.push_str(&go_text(&value));
                }
            }
            Node::If {
                branches,
                otherwise,
            } => {
                let depth = scope.vars.len();
                let mut taken = false;
                for (condition, body) in branches {
                    if truth(&pipeline(condition, dot, scope)?) {
                        walk(body, dot, scope, out)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    walk(otherwise, dot, scope, out)?;
                }
                scope.vars.truncate(depth);
            }
            Node::With {
                pipeline: p,
                body,
                otherwise,
            } => {
                let depth = scope.vars.len();
                let value = pipeline(p, dot, scope)?;
                if truth(&value) {
                    walk(body, &value, scope, out)?;
                } else {
                    walk(otherwise, dot, scope, out)?;
                }
                scope.vars.truncate(depth);
            }
            Node::Range {
                pipeline: p,
                body,
                otherwise,
            } => {
                let depth = scope.vars.len();
                let declare = p.declare.clone();
                let mut bare = p.clone();
                bare.declare.clear();
                let value = pipeline(&bare, dot, scope)?;
                let items: Vec<(Value, Value)> = match &value {
                    Value::Array(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (Value::from(i), v.clone()))
                        .collect(),
                    // Go ranges over a map in key order.
                    Value::Object(m) => {
                        let mut keys: Vec<&String> = m.keys().collect();
                        keys.sort();
                        keys.into_iter()
                            .map(|k| (Value::String(k.clone()), m[k].clone()))
                            .collect()
                    }
                    Value::Null => Vec::new(),
                    Value::Number(n) if n.as_i64().is_some() => (0..n.as_i64().unwrap_or(0))
                        .map(|i| (Value::from(i), Value::from(i)))
                        .collect(),
                    other => {
                        return Err(format!(
                            "template: :{}: range can't iterate over {}",
                            p.at,
                            go_text(other)
                        ))
                    }
                };
                if items.is_empty() {
                    walk(otherwise, dot, scope, out)?;
                }
                for (key, item) in items {
                    let inner = scope.vars.len();
                    match declare.as_slice() {
                        [] => {}
                        [v] => scope.vars.push((v.clone(), item.clone())),
                        [k, v, ..] => {
                            scope.vars.push((k.clone(), key));
                            scope.vars.push((v.clone(), item.clone()));
                        }
                    }
                    walk(body, &item, scope, out)?;
                    scope.vars.truncate(inner);
                }
                scope.vars.truncate(depth);
            }
        }
    }
    Ok(())
}

fn pipeline(p: &Pipeline, dot: &Value, scope: &mut Scope) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for command in &p.commands {
        piped = Some(run_command(command, piped, dot, scope, &p.at)?);
    }
    let value = piped.unwrap_or(Value::Null);
    for name in &p.declare {
        scope.vars.push((name.clone(), value.clone()));
    }
    Ok(value)
}

fn run_command(
    command: &[Operand],
    piped: Option<Value>,
    dot: &Value,
    scope: &mut Scope,
    at: &str,
) -> Result<Value, String> {
    let Some(first) = command.first() else {
        return Err(format!("template: :{at}: empty command"));
    };
    if let Operand::Func(name) = first {
        let mut args = Vec::with_capacity(command.len());
        for a in &command[1..] {
            args.push(operand(a, dot, scope, at)?);
        }
        if let Some(v) = piped {
            args.push(v);
        }
        return call(name, args, at);
    }
    if command.len() > 1 || piped.is_some() {
        return Err(format!(
            "template: :{at}: can't give argument to non-function {}",
            describe(first)
        ));
    }
    operand(first, dot, scope, at)
}

fn describe(op: &Operand) -> String {
    match op {
        Operand::Dot(f) => format!(".{}", f.join(".")),
        Operand::Var(n, f) if f.is_empty() => n.clone(),
        Operand::Var(n, f) => format!("{n}.{}", f.join(".")),
        Operand::Str(s) => format!("{s:?}"),
        Operand::Int(i) => i.to_string(),
        Operand::Float(f) => f.to_string(),
        Operand::Bool(b) => b.to_string(),
        Operand::Nil => "nil".into(),
        Operand::Func(f) => f.clone(),
        Operand::Sub(..) => "(…)".into(),
    }
}

fn operand(op: &Operand, dot: &Value, scope: &mut Scope, at: &str) -> Result<Value, String> {
    match op {
        Operand::Dot(fields) => lookup(dot, fields, scope.missing, at),
        Operand::Var(name, fields) => {
            let Some((_, value)) = scope.vars.iter().rev().find(|(n, _)| n == name) else {
                return Err(format!("template: :{at}: undefined variable: {name}"));
            };
            let value = value.clone();
            lookup(&value, fields, scope.missing, at)
        }
        Operand::Str(s) => Ok(Value::String(s.clone())),
        Operand::Int(i) => Ok(Value::from(*i)),
        Operand::Float(f) => {
            Ok(serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number))
        }
        Operand::Bool(b) => Ok(Value::Bool(*b)),
        Operand::Nil => Ok(Value::Null),
        Operand::Func(name) => call(name, Vec::new(), at),
        Operand::Sub(p, fields) => {
            let value = pipeline(p, dot, scope)?;
            lookup(&value, fields, scope.missing, at)
        }
    }
}

fn lookup(value: &Value, fields: &[String], missing: Missing, at: &str) -> Result<Value, String> {
    let mut current = value.clone();
    for field in fields {
        current = match current {
            Value::Object(mut m) => match m.remove(field) {
                Some(v) => v,
                None if missing == Missing::Error => {
                    return Err(format!(
                        "template: :{at}: executing \"\" at <.{field}>: can't evaluate field {field}"
                    ))
                }
                None => return Ok(Value::String("<no value>".into())),
            },
            Value::Null => return Ok(Value::Null),
            other => {
                return Err(format!(
                    "template: :{at}: executing \"\" at <.{field}>: can't evaluate field {field} in type {}",
                    go_type(&other)
                ))
            }
        };
    }
    Ok(current)
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
pub(super) fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Go's `%v`: strings bare, slices `[a b]`, maps `map[k:v]` in key order, nil `<nil>`.
pub(super) fn go_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_text).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_text(&m[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn compare(a: &Value, b: &Value, at: &str) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => x
                .partial_cmp(&y)
                .ok_or_else(|| format!("template: :{at}: incomparable values")),
            _ => Err(format!(
                "template: :{at}: incompatible types for comparison: {} and {}",
                go_type(a),
                go_type(b)
            )),
        },
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (as_f64(a), as_f64(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn string_arg(v: &Value) -> String {
    go_text(v)
}

fn arity(name: &str, args: &[Value], n: usize, at: &str) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "template: :{at}: wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn call(name: &str, args: Vec<Value>, at: &str) -> Result<Value, String> {
    let s = |v: String| Ok(Value::String(v));
    match name {
        "json" => {
            arity(name, &args, 1, at)?;
            s(super::key_order::to_string(&args[0])?)
        }
        "lower" => {
            arity(name, &args, 1, at)?;
            s(string_arg(&args[0]).to_lowercase())
        }
        "upper" => {
            arity(name, &args, 1, at)?;
            s(string_arg(&args[0]).to_uppercase())
        }
        "title" => {
            arity(name, &args, 1, at)?;
            let text = string_arg(&args[0]);
            let mut out = String::with_capacity(text.len());
            let mut start = true;
            for c in text.chars() {
                if start {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = !c.is_alphanumeric();
            }
            s(out)
        }
        "join" => {
            arity(name, &args, 2, at)?;
            let items = match &args[0] {
                Value::Array(a) => a.iter().map(go_text).collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => vec![go_text(other)],
            };
            s(items.join(&string_arg(&args[1])))
        }
        "split" => {
            arity(name, &args, 2, at)?;
            let text = string_arg(&args[0]);
            let sep = string_arg(&args[1]);
            Ok(Value::Array(
                text.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ))
        }
        "pad" => {
            arity(name, &args, 3, at)?;
            let (l, r) = (
                as_f64(&args[1]).unwrap_or(0.0) as usize,
                as_f64(&args[2]).unwrap_or(0.0) as usize,
            );
            s(format!(
                "{}{}{}",
                " ".repeat(l),
                string_arg(&args[0]),
                " ".repeat(r)
            ))
        }
        "truncate" => {
            arity(name, &args, 2, at)?;
            let n = as_f64(&args[1]).unwrap_or(0.0) as usize;
            s(string_arg(&args[0]).chars().take(n).collect())
        }
        "len" => {
            arity(name, &args, 1, at)?;
            match &args[0] {
                Value::String(t) => Ok(Value::from(t.len())),
                Value::Array(a) => Ok(Value::from(a.len())),
                Value::Object(m) => Ok(Value::from(m.len())),
                Value::Null => Ok(Value::from(0)),
                other => Err(format!(
                    "template: :{at}: error calling len: len of type {}",
                    go_type(other)
                )),
            }
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err(format!("template: :{at}: wrong number of args for index"));
            };
            let mut current = first.clone();
            for key in keys {
                current = match (&current, key) {
                    (Value::Object(m), k) => m.get(&string_arg(k)).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), k) => {
                        let i = as_f64(k).unwrap_or(-1.0);
                        if i < 0.0 || i as usize >= a.len() {
                            return Err(format!(
                                "template: :{at}: error calling index: index out of range: {}",
                                go_text(k)
                            ));
                        }
                        a[i as usize].clone()
                    }
                    (Value::Null, _) => Value::Null,
                    (other, _) => {
                        return Err(format!(
                            "template: :{at}: error calling index: can't index item of type {}",
                            go_type(other)
                        ))
                    }
                };
            }
            Ok(current)
        }
        "slice" => {
            let Some((first, bounds)) = args.split_first() else {
                return Err(format!("template: :{at}: wrong number of args for slice"));
            };
            let b: Vec<usize> = bounds
                .iter()
                .map(|v| as_f64(v).unwrap_or(0.0) as usize)
                .collect();
            match first {
                Value::String(t) => {
                    let end = b.get(1).copied().unwrap_or(t.len()).min(t.len());
                    let start = b.first().copied().unwrap_or(0).min(end);
                    s(t.get(start..end).unwrap_or("").to_string())
                }
                Value::Array(a) => {
                    let end = b.get(1).copied().unwrap_or(a.len()).min(a.len());
                    let start = b.first().copied().unwrap_or(0).min(end);
                    Ok(Value::Array(a[start..end].to_vec()))
                }
                other => Err(format!(
                    "template: :{at}: error calling slice: can't slice item of type {}",
                    go_type(other)
                )),
            }
        }
        "not" => {
            arity(name, &args, 1, at)?;
            Ok(Value::Bool(!truth(&args[0])))
        }
        // Go returns the first falsy (and) / truthy (or) argument, else the last.
        "and" => Ok(args
            .iter()
            .find(|v| !truth(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        "or" => Ok(args
            .iter()
            .find(|v| truth(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        "eq" => {
            let Some((first, rest)) = args.split_first() else {
                return Err(format!("template: :{at}: missing argument for comparison"));
            };
            Ok(Value::Bool(rest.iter().any(|v| equal(first, v))))
        }
        "ne" => {
            arity(name, &args, 2, at)?;
            Ok(Value::Bool(!equal(&args[0], &args[1])))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2, at)?;
            let o = compare(&args[0], &args[1], at)?;
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            }))
        }
        "print" => s(go_print(&args)),
        "println" => s(format!(
            "{}\n",
            args.iter().map(go_text).collect::<Vec<_>>().join(" ")
        )),
        "printf" => {
            let Some((format, rest)) = args.split_first() else {
                return Err(format!("template: :{at}: wrong number of args for printf"));
            };
            s(printf(&string_arg(format), rest))
        }
        other => Err(format!("template: :{at}: function {other:?} not defined")),
    }
}

/// Go's `fmt.Sprint`: spaces only between operands when neither is a string.
fn go_print(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        out.push_str(&go_text(a));
    }
    out
}

/// `printf` with the verbs scripts use: %s %v %d %q %x %%, and a width (`%-10s`, `%5d`).
fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        let mut width = String::new();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' if width.is_empty() => zero = true,
                d if d.is_ascii_digit() => width.push(d),
                _ => break,
            }
            chars.next();
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = next.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let text = match verb {
            'q' => format!("{:?}", go_text(arg)),
            'x' => match arg {
                Value::Number(n) => format!("{:x}", n.as_i64().unwrap_or(0)),
                other => go_text(other).bytes().map(|b| format!("{b:02x}")).collect(),
            },
            _ => go_text(arg),
        };
        let w: usize = width.parse().unwrap_or(0);
        let pad = w.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else {
            out.push_str(&(if zero { "0" } else { " " }).repeat(pad));
            out.push_str(&text);
        }
    }
    out
}
