//! Parser directives (`# syntax=`, `# escape=`, `# check=`): only comment lines of the form
//! `# key=value` at the very top count; the first line that is anything else ends them.

use crate::ast::Directives;
use nom::bytes::complete::take_while;
use nom::character::complete::{char, satisfy};
use nom::combinator::recognize;
use nom::sequence::pair;
use nom::{IResult, Parser};

/// Whitespace as Go's regexp `\s` sees it (ASCII only).
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `#`, spaces, a key (`[a-zA-Z][a-zA-Z0-9]*`), spaces, `=`: returns the key and what follows `=`.
fn directive_head(line: &str) -> IResult<&str, &str> {
    let key = recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic()),
        take_while(|c: char| c.is_ascii_alphanumeric()),
    ));
    let (rest, (_, _, key, _, _)) = (
        char('#'),
        take_while(is_re_space),
        key,
        take_while(is_re_space),
        char('='),
    )
        .parse(line)?;
    Ok((rest, key))
}

/// Splits a line into a directive key and value, as `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` would.
fn split_directive(line: &str) -> Option<(&str, &str)> {
    let (after_equals, key) = directive_head(line).ok()?;
    let value_start = after_equals.trim_start_matches(is_re_space);
    let value = value_start.trim_end_matches(is_re_space);
    if !value.is_empty() {
        return Some((key, value));
    }
    // Only whitespace after `=`: the lazy value group still needs one character, which the regex
    // takes from that whitespace.
    let first = after_equals.chars().next()?;
    Some((key, &after_equals[..first.len_utf8()]))
}

#[derive(Debug, Default)]
pub(super) struct DirectiveParser {
    done: bool,
    directives: Directives,
    seen: Vec<String>,
}

impl DirectiveParser {
    pub fn escape(&self) -> char {
        self.directives.escape
    }

    pub fn into_directives(self) -> Directives {
        self.directives
    }

    /// Looks at one line (newline and, for instruction lines, leading whitespace removed).
    pub fn parse_line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = split_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "escape" => {
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        ))
                    }
                }
            }
            "syntax" => self.directives.syntax = Some(value.to_string()),
            _ => self.directives.check = Some(value.to_string()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_key_and_value_with_spaces() {
        assert_eq!(split_directive("# escape = `"), Some(("escape", "`")));
        assert_eq!(
            split_directive("#syntax=docker/dockerfile:1  "),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(split_directive("# not a directive"), None);
        assert_eq!(split_directive("# 1x=y"), None);
        assert_eq!(split_directive("#escape="), None);
        assert_eq!(split_directive("#escape= "), Some(("escape", " ")));
    }

    #[test]
    fn first_non_directive_line_ends_directives() {
        let mut p = DirectiveParser::default();
        p.parse_line("# escape=`").unwrap();
        p.parse_line("# hello").unwrap();
        p.parse_line("# syntax=x").unwrap();
        assert_eq!(p.escape(), '`');
        assert_eq!(p.into_directives().syntax, None);
    }

    #[test]
    fn repeated_or_invalid_directive_is_an_error() {
        let mut p = DirectiveParser::default();
        p.parse_line("# escape=\\").unwrap();
        assert!(p
            .parse_line("# ESCAPE=`")
            .unwrap_err()
            .contains("only one escape"));
        let mut p = DirectiveParser::default();
        assert!(p
            .parse_line("# escape=x")
            .unwrap_err()
            .contains("invalid escape token"));
    }

    #[test]
    fn unknown_key_ends_directives() {
        let mut p = DirectiveParser::default();
        p.parse_line("# foo=bar").unwrap();
        p.parse_line("# escape=`").unwrap();
        assert_eq!(p.escape(), '\\');
    }
}
