//! `.env` files (the project's, `--env-file`, and a service's `env_file:`), in compose's dotenv format:
//! `KEY=value` lines, `export KEY=value`, `#` comments; a single-quoted value is literal, a double-quoted one
//! knows `\n`, `\t`, `\"`, `\\` and may span lines; an unquoted value is trimmed and ends at ` #`. Values
//! (unless single-quoted) are interpolated with the variables defined above them and the `lookup` given.
use crate::interpolate::interpolate;

/// One `KEY=value` per entry, in file order. `line` numbers for errors are 1-based.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, rest)) = line.split_once('=') else {
            // `KEY` alone: the value comes from the environment, if it has one.
            let key = line.trim();
            if !is_key(key) {
                return Err((
                    line_no,
                    format!("unexpected character in variable name {key:?}"),
                ));
            }
            if let Some(v) = lookup(key) {
                vars.push((key.to_string(), v));
            }
            continue;
        };
        let key = key.trim();
        if !is_key(key) {
            return Err((
                line_no,
                format!("unexpected character in variable name {key:?}"),
            ));
        }
        let rest = rest.trim_start();
        let known = |name: &str| -> Option<String> {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| lookup(name))
        };
        let value = if let Some(body) = rest.strip_prefix('\'') {
            match body.find('\'') {
                Some(end) => body[..end].to_string(),
                None => return Err((line_no, "unterminated single-quoted value".into())),
            }
        } else if let Some(body) = rest.strip_prefix('"') {
            // A double-quoted value may go on over the next lines until its closing quote.
            let mut raw = body.to_string();
            let closed = loop {
                if let Some(end) = closing_quote(&raw) {
                    raw.truncate(end);
                    break true;
                }
                if i >= lines.len() {
                    break false;
                }
                raw.push('\n');
                raw.push_str(lines[i]);
                i += 1;
            };
            if !closed {
                return Err((line_no, "unterminated double-quoted value".into()));
            }
            let unescaped = unescape(&raw);
            expand(&unescaped, &known, line_no)?
        } else {
            let value = match rest.find(" #") {
                Some(at) => &rest[..at],
                None => rest,
            };
            expand(value.trim_end(), &known, line_no)?
        };
        vars.push((key.to_string(), value));
    }
    Ok(vars)
}

fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn expand(
    value: &str,
    known: &dyn Fn(&str) -> Option<String>,
    line_no: usize,
) -> Result<String, (usize, String)> {
    interpolate(value, known)
        .map(|r| r.text)
        .map_err(|e| (line_no, e.to_string()))
}

/// The byte index of the first `"` not escaped by a backslash.
fn closing_quote(raw: &str) -> Option<usize> {
    let mut escaped = false;
    for (at, c) in raw.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(at),
            _ => {}
        }
    }
    None
}

fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn forms() {
        let text = "# comment\n\nA=1\nexport B = two \nC='lit $A'\nD=\"q\\n$A\"\nE=x #note\nF=${A}-${NOPE:-d}\nG=\"multi\nline\"\n";
        let vars = parse(text, &no_env).unwrap();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two"));
        assert_eq!(get("C"), Some("lit $A"));
        assert_eq!(get("D"), Some("q\n1"));
        assert_eq!(get("E"), Some("x"));
        assert_eq!(get("F"), Some("1-d"));
        assert_eq!(get("G"), Some("multi\nline"));
    }

    #[test]
    fn bad_lines_name_their_line() {
        assert_eq!(parse("A=1\nB C=2\n", &no_env).unwrap_err().0, 2);
        assert_eq!(parse("A='x\n", &no_env).unwrap_err().0, 1);
    }
}
