//! Shell patterns in `${V#p}`, `${V%p}` and `${V/p/r}`: `*` and `?` wildcards (no bracket
//! expressions), turned into a regular expression.

use super::ShellErrorReason;
use regex::Regex;

/// Translates a shell pattern to a regex. `greedy` picks `.*` over `.*?` for `*`; `anchored` adds `^`.
fn shell_pattern_to_regex(
    pattern: &str,
    greedy: bool,
    anchored: bool,
) -> Result<Regex, ShellErrorReason> {
    let invalid = |reason: String| ShellErrorReason::InvalidPattern {
        pattern: pattern.to_string(),
        reason,
    };
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                // `\}` and `\/` only kept the delimiter out of the `${…}` syntax: the escape is not
                // part of the pattern.
                if matches!(chars.peek(), Some('}') | Some('/')) {
                    continue;
                }
                match chars.next() {
                    Some(c @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(c);
                    }
                    Some(c) => return Err(invalid(format!("invalid escape '\\{c}'"))),
                    None => return Err(invalid("trailing escape".to_string())),
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    Regex::new(&out).map_err(|e| invalid(e.to_string()))
}

/// `${V#p}` / `${V##p}`: drops the shortest (longest when `greedy`) prefix matching `pattern`.
pub(super) fn trim_prefix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, ShellErrorReason> {
    let re = shell_pattern_to_regex(pattern, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// `${V%p}` / `${V%%p}`: a regex cannot find the shortest match ending at the right, so both the
/// pattern and the value are reversed and the suffix becomes a prefix.
pub(super) fn trim_suffix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, ShellErrorReason> {
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern while keeping each escape in front of the character it escapes
/// (`a\*c` → `c\*a`).
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens: Vec<&[char]> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            tokens.push(&chars[i..i + 2]);
            i += 2;
        } else {
            tokens.push(&chars[i..i + 1]);
            i += 1;
        }
    }
    tokens.iter().rev().flat_map(|t| t.iter()).collect()
}

/// `${V/p/r}` (first match) and `${V//p/r}` (every match); `*` is greedy here.
pub(super) fn replace_pattern(
    pattern: &str,
    replacement: &str,
    value: &str,
    all: bool,
) -> Result<String, ShellErrorReason> {
    let re = shell_pattern_to_regex(pattern, true, false)?;
    // Like BuildKit: replacing every match goes through the regex engine's `$name` expansion, the
    // first-match form splices the replacement in verbatim.
    Ok(if all {
        re.replace_all(value, replacement).into_owned()
    } else {
        re.replace(value, regex::NoExpand(replacement)).into_owned()
    })
}
